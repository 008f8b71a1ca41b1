//! Extracts a [`SiteMetadata`] from the bytes of an HTML page: title,
//! description, language, canonical URL, site name, images, favicon, logo,
//! contact e-mails and phones, social profiles, WordPress details, the
//! technologies the page runs on, and whether the page is the site's own
//! or a placeholder (parked, suspended, a bot challenge, ...).
//!
//! No network and no state. One extraction runs one way through the crate:
//! decode the bytes with the right charset, parse them once with kuchikiki,
//! walk the tree once to collect everything later steps read, then the
//! fields, the contacts, the social profiles, one pass of the technology
//! rules over the collected signals, and the page's kind. No step after the
//! walk touches the tree, and no module calls back into this file.
//! `docs/extraction.md` lists each field's sources in order and the
//! precision rules.
//!
//! # Layout
//!
//! - this file: the public API and the pipeline, step by step.
//! - `page`: the input ([`Page`]) and [`is_html`].
//! - `charset`: BOM, `Content-Type` header and `<meta>` prescan, else
//!   chardetng's guess: the bytes into text.
//! - `parse`: the text into a tree, within a time budget.
//! - `walk`: the single tree walk; fills a `Collected` (`walk::classify`:
//!   what an element says about itself; `walk::scope`: what each open
//!   element changed).
//! - `collected`: what the walk collects, and the `<meta>` lookups over it.
//! - `resolve`: links against the final URL and `<base href>`.
//! - `text`: cleaning of values (whitespace, entities, length caps),
//!   language tags, and the string helpers every module shares.
//! - `jsonld`: WebSite/Organization/publisher names, logo, `sameAs`, the
//!   page's description and image from JSON-LD.
//! - `fields`: title, language and canonical URL, and the other
//!   descriptive fields through `chains` and `icons`.
//! - `chains`: the fallback chains of description, image, site name and
//!   logo.
//! - `icons`: the favicon and the site's best square icon.
//! - `contacts`: e-mail addresses and phone numbers.
//! - `social`: where the site's profiles are linked, and the profile per
//!   network.
//! - `tech`: the rule engine over `rules/technologies.toml` (`tech::rules`,
//!   `tech::signals`, `tech::needles`, `tech::matcher`), and WordPress
//!   theme/plugins (`tech::wordpress`).
//! - `site_kind`: bot challenges, parked, default, suspended and
//!   coming-soon pages.
//! - `contact_pages`: the same-site links likely to hold the contacts a
//!   home page lacks.

mod chains;
mod charset;
mod collected;
mod contact_pages;
mod contacts;
mod fields;
mod icons;
mod jsonld;
mod page;
mod parse;
mod resolve;
mod site_kind;
mod social;
mod tech;
mod text;
mod walk;

use scheduler_domain::{PageContacts, SiteKind, SiteMetadata};
use url::Url;

use crate::collected::Collected;
use crate::jsonld::LinkedData;
use crate::resolve::Resolver;
use crate::text::language_tag;

pub use crate::contact_pages::same_site;
pub use crate::page::{Page, is_html};

/// Everything the page says about the site. Never fails: a page with
/// nothing usable gives empty fields.
pub fn extract(page: &Page<'_>) -> SiteMetadata {
    extract_home_page(page).metadata
}

/// A home page's metadata and the pages it links to that likely hold the
/// contacts it lacks.
#[derive(Debug, Clone)]
pub struct HomePage {
    /// As [`extract`] gives it; every contact attributed to the page.
    pub metadata: SiteMetadata,
    /// Same-site links whose path or text says contact, about, legal or
    /// team (in the languages of the larger markets), strongest first.
    pub contact_pages: Vec<Url>,
}

/// [`extract`], and the contact page candidates, from one parse and walk.
pub fn extract_home_page(page: &Page<'_>) -> HomePage {
    let parsed = Parsed::read(page);
    let mut metadata = fields::read(page, &parsed.collected, &parsed.linked, &parsed.resolver);
    let contacts = parsed.contacts(page, metadata.language.as_deref());
    metadata.emails = contacts.emails;
    metadata.phones = contacts.phones;
    metadata.social = contacts.social;
    (metadata.tech, metadata.wordpress) = tech::detect(page, &parsed.collected);
    let (site_kind, detail) = site_kind::detect(page, &parsed.collected, metadata.title.as_deref());
    let contact_pages = if site_kind == SiteKind::Site {
        contact_pages::candidates(&parsed.collected.anchors, &parsed.resolver, page.url)
    } else {
        // The page is not the business: what it names (the parking
        // company's contacts, a host's logo) must not be taken for the
        // site's, and its links lead nowhere of the site's.
        metadata = SiteMetadata {
            url: metadata.url,
            title: metadata.title,
            og_title: metadata.og_title,
            language: metadata.language,
            canonical_url: metadata.canonical_url,
            tech: metadata.tech,
            ..SiteMetadata::default()
        };
        Vec::new()
    };
    metadata.site_kind = site_kind;
    metadata.site_kind_detail = detail;
    metadata.attribute_contacts_to(page.url.as_str());
    HomePage {
        metadata,
        contact_pages,
    }
}

/// Only the e-mails, phones and profiles of a page (a contact or legal
/// page read for them): no other field, no technology rules.
pub fn extract_contacts(page: &Page<'_>) -> PageContacts {
    let parsed = Parsed::read(page);
    // The fields step, with its other language sources, is skipped here:
    // `<html lang>` alone hints at the phones' country.
    let language = parsed.collected.html_lang.as_deref().and_then(language_tag);
    parsed.contacts(page, language.as_deref())
}

/// A page decoded, parsed and walked: what every later step reads.
struct Parsed {
    collected: Collected,
    linked: LinkedData,
    resolver: Resolver,
}

impl Parsed {
    fn read(page: &Page<'_>) -> Self {
        let text = charset::decode(page.body, page.header("content-type"), page.url.domain());
        let document = parse::document(&text);
        let collected = walk::collect(&document);
        let linked = jsonld::read(&collected.json_ld);
        let resolver = Resolver::new(page.url, collected.base_href.as_deref());
        Self {
            collected,
            linked,
            resolver,
        }
    }

    /// The contacts step, then the social step; `language` (with the host)
    /// gives national phone numbers their country.
    fn contacts(&self, page: &Page<'_>, language: Option<&str>) -> PageContacts {
        let Self {
            collected,
            linked,
            resolver,
        } = self;
        let host = page.url.host_str();
        let region = contacts::region_of(host, language);
        PageContacts {
            emails: contacts::emails(&collected.contact_links, &collected.visible_text, host),
            phones: contacts::phones(&collected.contact_links, &collected.visible_text, region),
            social: social::profiles(&social::candidates(collected, linked, resolver)),
        }
    }
}

#[cfg(test)]
mod tests;
