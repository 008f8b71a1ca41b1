//! [`SiteMetadata`]: what a site's home page says about the site.
//!
//! The same value is written to the fixed columns of the `domains` table and,
//! whole, to `meta_json`; the `extract` command prints it as JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod company;

pub use company::{
    Company, CompanyIdentifier, CompanyPart, CompanySource, CountrySource, IdentifierKind,
    PostalAddress,
};

/// Everything extracted from one home page. Absent values are `None` or
/// empty; URLs are absolute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SiteMetadata {
    /// The final URL after redirects.
    pub url: String,
    /// Whether the page is the site's own content or a stand-in for it
    /// (a parking page, a web server's default page, a host's placeholder).
    /// `meta_json->>'site_kind'` filters on it.
    #[serde(default)]
    pub site_kind: SiteKind,
    /// What gave the kind away, for a page that is not the site's own:
    /// e.g. `for sale at Sedo`, `nginx default page`.
    #[serde(default)]
    pub site_kind_detail: Option<String>,
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
    /// Where each e-mail, phone and profile was found: the home page, or a
    /// contact, about or legal page of the same site read because the home
    /// page had too few e-mails.
    #[serde(default)]
    pub contact_sources: Vec<ContactSource>,
    /// The pages beyond the home page read for contacts, in the order read.
    #[serde(default)]
    pub contact_pages: Vec<ContactPage>,
    /// WordPress and what it reveals.
    pub wordpress: WordPressInfo,
    /// Every technology detected, with the evidence.
    pub tech: Vec<Technology>,
    /// The legal entity behind the site, as far as the site states it
    /// (`meta_json->'company'`); absent when it states nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<Company>,
    /// Which URL of the domain answered, and why it was that one. Always
    /// set by the HTTP extractor; absent (and left out of `meta_json`) for
    /// metadata read from a file or stored before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reached: Option<Reached>,
}

/// The URL a domain's home page was fetched from: `https://<name>/` when
/// it answered, else the first fallback that did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reached {
    /// The URL requested, before redirects (`url` of [`SiteMetadata`] is
    /// where they ended).
    pub url: String,
    /// Which of the tries it was.
    pub via: ReachedVia,
    /// Why `https://<name>/` was not used: its failure, as `last_error`
    /// would have read. Absent when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub because: Option<String>,
}

/// Which try reached a site: a browser's order, from the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReachedVia {
    /// `https://<name>/`, the first try.
    Https,
    /// `https://www.<name>/`: the bare name did not resolve, refused the
    /// connection, or failed TLS.
    Www,
    /// Plain `http://` (the bare name, or `www.` when the bare name does
    /// not resolve): HTTPS could not be had on either name.
    Http,
}

/// What a fetched page is. Only [`SiteKind::Site`] pages describe the
/// business; for the others the fields that would describe it (description,
/// images, contacts, profiles, technologies) are left empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SiteKind {
    /// The site's own content.
    #[default]
    Site,
    /// A registrar's or marketplace's parking or for-sale page.
    Parked,
    /// A web server's default page ("Welcome to nginx!", Apache, IIS).
    ServerDefault,
    /// A hosting provider's "account suspended" page.
    Suspended,
    /// A hosting provider's or site builder's "coming soon" placeholder.
    ComingSoon,
    /// A bot challenge (Cloudflare, Akamai, DataDome, PerimeterX, ...): the
    /// content was never seen. Never stored: the fetch fails instead.
    Challenge,
}

impl SiteKind {
    /// The name stored in `meta_json` (`site`, `parked`, `server-default`,
    /// `suspended`, `coming-soon`, `challenge`).
    pub fn as_str(self) -> &'static str {
        match self {
            SiteKind::Site => "site",
            SiteKind::Parked => "parked",
            SiteKind::ServerDefault => "server-default",
            SiteKind::Suspended => "suspended",
            SiteKind::ComingSoon => "coming-soon",
            SiteKind::Challenge => "challenge",
        }
    }
}

/// What kind of contact a [`ContactSource`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContactKind {
    /// An entry of `emails`.
    Email,
    /// An entry of `phones`.
    Phone,
    /// A profile of `social`.
    Social,
}

/// The page one contact value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactSource {
    /// E-mail, phone or social profile.
    pub kind: ContactKind,
    /// The value as it stands in `emails`, `phones` or `social`.
    pub value: String,
    /// The URL of the page it was found on.
    pub page: String,
}

/// A page read for contacts besides the home page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactPage {
    /// The URL followed (after redirects when it was read).
    pub url: String,
    /// Why it gave nothing: how it failed (a failed contact page never
    /// fails the domain), or that it was the home page again.
    pub error: Option<String>,
}

/// The contacts one page gave, to merge into a [`SiteMetadata`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageContacts {
    /// E-mail addresses, in the page's order.
    pub emails: Vec<String>,
    /// Phone numbers, normalized.
    pub phones: Vec<String>,
    /// Profiles.
    pub social: SocialProfiles,
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

impl SocialProfiles {
    /// The profile slots, one per network, in a fixed order.
    fn slots_mut(&mut self) -> [&mut Option<String>; 8] {
        [
            &mut self.facebook,
            &mut self.twitter,
            &mut self.linkedin,
            &mut self.instagram,
            &mut self.youtube,
            &mut self.tiktok,
            &mut self.pinterest,
            &mut self.github,
        ]
    }

    /// Every profile that is set.
    pub fn urls(&self) -> impl Iterator<Item = &String> {
        [
            &self.facebook,
            &self.twitter,
            &self.linkedin,
            &self.instagram,
            &self.youtube,
            &self.tiktok,
            &self.pinterest,
            &self.github,
        ]
        .into_iter()
        .flatten()
    }
}

impl SiteMetadata {
    /// Records `page` as the source of every contact the metadata holds
    /// (the home page's own contacts, before any other page is merged).
    pub fn attribute_contacts_to(&mut self, page: &str) {
        let source = |kind, value: &String| ContactSource {
            kind,
            value: value.clone(),
            page: page.to_owned(),
        };
        let sources: Vec<ContactSource> = self
            .emails
            .iter()
            .map(|email| source(ContactKind::Email, email))
            .chain(
                self.phones
                    .iter()
                    .map(|phone| source(ContactKind::Phone, phone)),
            )
            .chain(
                self.social
                    .urls()
                    .map(|url| source(ContactKind::Social, url)),
            )
            .collect();
        self.contact_sources = sources;
    }

    /// Adds another page's contacts after the ones already held: e-mails
    /// and phones not yet known (e-mails compared case-insensitively),
    /// profiles for networks still empty. Each addition is recorded with
    /// `page` as its source.
    pub fn merge_contacts(&mut self, page: &str, contacts: PageContacts) {
        let mut record = |kind, value: &str| {
            self.contact_sources.push(ContactSource {
                kind,
                value: value.to_owned(),
                page: page.to_owned(),
            });
        };
        for email in contacts.emails {
            if !self
                .emails
                .iter()
                .any(|known| known.eq_ignore_ascii_case(&email))
            {
                record(ContactKind::Email, &email);
                self.emails.push(email);
            }
        }
        for phone in contacts.phones {
            if !self.phones.contains(&phone) {
                record(ContactKind::Phone, &phone);
                self.phones.push(phone);
            }
        }
        let mut found = contacts.social;
        for (slot, profile) in self.social.slots_mut().into_iter().zip(found.slots_mut()) {
            if slot.is_none()
                && let Some(profile) = profile.take()
            {
                record(ContactKind::Social, &profile);
                *slot = Some(profile);
            }
        }
    }

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
mod tests;
