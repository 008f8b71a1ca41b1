//! [`SiteMetadata`]: what a site's home page says about the site.
//!
//! The same value is written to the fixed columns of the `domains` table and,
//! whole, to `meta_json`; the `extract` command prints it as JSON.

use std::collections::BTreeMap;

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
    /// Meta description, else og:description, else twitter:description.
    pub description: Option<String>,
    /// `<html lang>`, else `content-language` meta, else the response header.
    pub language: Option<String>,
    /// `<link rel=canonical>`.
    pub canonical_url: Option<String>,
    /// og:site_name, else the name of a JSON-LD Organization or WebSite.
    pub site_name: Option<String>,
    /// og:image, else twitter:image.
    pub image_url: Option<String>,
    /// The best icon the page declares, else `/favicon.ico`.
    pub favicon_url: Option<String>,
    /// True when `favicon_url` is the `/favicon.ico` guess, not a declared icon.
    pub favicon_is_fallback: bool,
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

/// The `tech_stack` column: the old service's four lists, which its readers
/// still expect, and beside them one list per other category.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TechStack {
    /// Content management systems and site builders.
    pub cms: Vec<String>,
    /// Front-end frameworks and libraries.
    pub frameworks: Vec<String>,
    /// Analytics and tracking (advertising pixels included, as before).
    pub analytics: Vec<String>,
    /// Chat, support, marketing and form widgets.
    pub widgets: Vec<String>,
    /// Every category the four lists do not hold, under its own name
    /// (`payments`, `advertising`, `consent`, `cdn`, ...); only the
    /// categories detected on the page appear.
    #[serde(flatten)]
    pub by_category: BTreeMap<String, Vec<String>>,
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

    /// The technologies grouped by category: the old
    /// `{cms, frameworks, analytics, widgets}` lists, and a list of its own
    /// for every other category. Advertising pixels were "analytics" in the
    /// old shape, so they stay in that list as well as in `advertising`.
    pub fn tech_stack(&self) -> TechStack {
        fn push(list: &mut Vec<String>, name: &str) {
            if !list.iter().any(|seen| seen == name) {
                list.push(name.to_owned());
            }
        }
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
                other => {
                    if other == "advertising" {
                        push(&mut stack.analytics, &tech.name);
                    }
                    stack.by_category.entry(other.to_owned()).or_default()
                }
            };
            push(list, &tech.name);
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
    fn tech_stack_gives_every_other_category_a_key_of_its_own() {
        let metadata = SiteMetadata {
            tech: vec![
                tech("Stripe", "payments"),
                tech("Cloudflare", "cdn"),
                tech("Fastly", "cdn"),
                tech("OneTrust", "consent"),
            ],
            ..SiteMetadata::default()
        };
        let json = serde_json::to_value(metadata.tech_stack()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "cms": [], "frameworks": [], "analytics": [], "widgets": [],
                "payments": ["Stripe"],
                "cdn": ["Cloudflare", "Fastly"],
                "consent": ["OneTrust"],
            })
        );
    }

    #[test]
    fn advertising_pixels_stay_in_the_old_analytics_list_too() {
        let metadata = SiteMetadata {
            tech: vec![
                tech("Facebook Pixel", "advertising"),
                tech("Google Analytics", "analytics"),
            ],
            ..SiteMetadata::default()
        };
        let stack = metadata.tech_stack();
        assert_eq!(stack.analytics, ["Facebook Pixel", "Google Analytics"]);
        assert_eq!(stack.by_category["advertising"], ["Facebook Pixel"]);
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
