//! [`SiteMetadata`]: what a site's home page says about the site.
//!
//! The same value is written to the fixed columns of the `domains` table and,
//! whole, to `meta_json`; the `extract` command prints it as JSON.

use serde::{Deserialize, Serialize};

/// Everything extracted from one home page. Absent values are `None` or
/// empty; URLs are absolute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SiteMetadata {
    /// The final URL after redirects.
    pub url: String,
    /// The `<title>` text (else og:title, twitter:title, the first `<h1>`).
    pub title: Option<String>,
    /// The page's `og:title`.
    pub og_title: Option<String>,
    /// Meta description, og:description, twitter:description, JSON-LD
    /// description (a template's boilerplate skipped), else the first
    /// paragraph of the content.
    pub description: Option<String>,
    /// `<html lang>`, else `content-language` meta, else the response header.
    pub language: Option<String>,
    /// `<link rel=canonical>`.
    pub canonical_url: Option<String>,
    /// og:site_name, JSON-LD publisher, WebSite or Organization name,
    /// application-name, apple-mobile-web-app-title, else the title's part
    /// that names the host.
    pub site_name: Option<String>,
    /// og:image, twitter:image, JSON-LD image, `image_src`, itemprop=image,
    /// a video poster, else the first large content image.
    pub image_url: Option<String>,
    /// The best icon the page declares, else `/favicon.ico`.
    pub favicon_url: Option<String>,
    /// True when `favicon_url` is the `/favicon.ico` guess, not a declared icon.
    pub favicon_is_fallback: bool,
    /// The site's best square icon for showing it in a list: the largest
    /// declared `icon` or `apple-touch-icon` up to a sensible size (SVG
    /// counts as scalable), else `favicon_url`.
    #[serde(default)]
    pub icon_url: Option<String>,
    /// True when `icon_url` is the `/favicon.ico` guess, not a declared icon.
    #[serde(default)]
    pub icon_is_fallback: bool,
    /// JSON-LD Organization logo, og:logo, else a logo image in the header.
    pub logo_url: Option<String>,
    /// Contact e-mail addresses, the site's own domain first, in page order.
    pub emails: Vec<String>,
    /// Phone numbers, normalized (E.164 where the country is clear).
    pub phones: Vec<String>,
    /// Profile pages on social networks.
    pub social: SocialProfiles,
    /// WordPress and what it reveals.
    pub wordpress: WordPressInfo,
    /// Every technology detected, with the evidence.
    pub tech: Vec<Technology>,
}

/// Profile URLs on social networks (never share or intent links).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocialProfiles {
    /// facebook.com
    pub facebook: Option<String>,
    /// twitter.com or x.com
    pub twitter: Option<String>,
    /// linkedin.com
    pub linkedin: Option<String>,
    /// instagram.com
    pub instagram: Option<String>,
    /// youtube.com
    pub youtube: Option<String>,
    /// tiktok.com
    pub tiktok: Option<String>,
    /// pinterest.com
    pub pinterest: Option<String>,
    /// github.com
    pub github: Option<String>,
}

/// What the page reveals of WordPress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WordPressInfo {
    /// Whether the site runs WordPress.
    pub detected: bool,
    /// The version from the generator meta or asset query strings.
    pub version: Option<String>,
    /// The active theme's directory name.
    pub theme: Option<String>,
    /// Plugin directory names seen in asset paths, sorted.
    pub plugins: Vec<String>,
}

/// One detected technology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Technology {
    /// Its name, e.g. `WordPress`.
    pub name: String,
    /// Its category: `cms`, `framework`, `analytics`, `widget`, `ecommerce`,
    /// `plugin`, `ui`, `cdn`, `static-site-generator`, ...
    pub category: String,
    /// Its version, when the page tells.
    pub version: Option<String>,
    /// What gave it away, e.g. `meta generator` or a script URL.
    pub evidence: String,
}

/// The old service's `tech_stack` column: names grouped in four lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TechStack {
    /// Content management systems and site builders.
    pub cms: Vec<String>,
    /// Front-end frameworks and libraries.
    pub frameworks: Vec<String>,
    /// Analytics and tracking.
    pub analytics: Vec<String>,
    /// Chat, support, marketing and form widgets.
    pub widgets: Vec<String>,
}

/// The JSON document of a page's metadata, as the `extract` command prints
/// it and as `meta_json` stores it: every field of [`SiteMetadata`] plus
/// `tech_stack` in the old shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetadataDocument<'a> {
    /// The metadata, its fields inlined.
    #[serde(flatten)]
    pub metadata: &'a SiteMetadata,
    /// [`SiteMetadata::tech_stack`].
    pub tech_stack: TechStack,
}

impl SiteMetadata {
    /// The document to serialize for `meta_json` and the `extract` command.
    pub fn document(&self) -> MetadataDocument<'_> {
        MetadataDocument {
            metadata: self,
            tech_stack: self.tech_stack(),
        }
    }

    /// The technologies in the old `{cms, frameworks, analytics, widgets}`
    /// shape. Categories the old shape has no list for are left out of it
    /// (they stay in `tech`).
    pub fn tech_stack(&self) -> TechStack {
        let mut stack = TechStack::default();
        for tech in &self.tech {
            let list = match tech.category.as_str() {
                "cms" | "ecommerce" | "site-builder" | "static-site-generator" => &mut stack.cms,
                "framework" | "ui" | "javascript-library" | "css-framework" => {
                    &mut stack.frameworks
                }
                "analytics" | "tag-manager" => &mut stack.analytics,
                "widget" | "chat" | "marketing" | "forms" | "page-builder" | "plugin" => {
                    &mut stack.widgets
                }
                _ => continue,
            };
            if !list.contains(&tech.name) {
                list.push(tech.name.clone());
            }
        }
        stack
    }

    /// Whether the Elementor page builder was detected.
    pub fn has_elementor(&self) -> bool {
        self.tech.iter().any(|tech| tech.name == "Elementor")
    }

    /// The first `n` e-mail addresses (the `email_addresses` column keeps 5).
    pub fn first_emails(&self, n: usize) -> &[String] {
        &self.emails[..self.emails.len().min(n)]
    }

    /// The first `n` phone numbers (the `phone_numbers` column keeps 3).
    pub fn first_phones(&self, n: usize) -> &[String] {
        &self.phones[..self.phones.len().min(n)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tech(name: &str, category: &str) -> Technology {
        Technology {
            name: name.into(),
            category: category.into(),
            version: None,
            evidence: "test".into(),
        }
    }

    #[test]
    fn tech_stack_groups_names_in_the_old_shape_without_duplicates() {
        let metadata = SiteMetadata {
            tech: vec![
                tech("WordPress", "cms"),
                tech("jQuery", "javascript-library"),
                tech("Google Analytics", "analytics"),
                tech("Google Analytics", "analytics"),
                tech("Intercom", "chat"),
                tech("Cloudflare", "cdn"),
            ],
            ..SiteMetadata::default()
        };
        let stack = metadata.tech_stack();
        assert_eq!(stack.cms, ["WordPress"]);
        assert_eq!(stack.frameworks, ["jQuery"]);
        assert_eq!(stack.analytics, ["Google Analytics"]);
        assert_eq!(stack.widgets, ["Intercom"]);
    }

    #[test]
    fn document_inlines_the_fields_and_adds_the_old_tech_stack() {
        let metadata = SiteMetadata {
            url: "https://example.com/".into(),
            title: Some("Example".into()),
            tech: vec![tech("WordPress", "cms")],
            ..SiteMetadata::default()
        };
        let json = serde_json::to_value(metadata.document()).unwrap();
        assert_eq!(json["url"], "https://example.com/");
        assert_eq!(json["title"], "Example");
        assert_eq!(json["tech"][0]["name"], "WordPress");
        assert_eq!(json["tech_stack"]["cms"][0], "WordPress");
        assert_eq!(json["social"]["facebook"], serde_json::Value::Null);
    }

    #[test]
    fn column_caps_keep_the_first_values() {
        let metadata = SiteMetadata {
            emails: (0..7).map(|i| format!("a{i}@example.com")).collect(),
            phones: vec!["+1".into()],
            ..SiteMetadata::default()
        };
        assert_eq!(metadata.first_emails(5).len(), 5);
        assert_eq!(metadata.first_emails(5)[4], "a4@example.com");
        assert_eq!(metadata.first_phones(3), ["+1"]);
    }
}
