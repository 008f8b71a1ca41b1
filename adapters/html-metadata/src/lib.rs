//! Extracts a [`SiteMetadata`] from the bytes of an HTML page: title,
//! description, language, canonical URL, site name, images, favicon, logo,
//! contact e-mails and phones, social profiles, WordPress details, the
//! technologies the page runs on, and whether the page is the site's own
//! or a placeholder (parked, suspended, a bot challenge, ...).
//!
//! No network and no state. One extraction runs one way through the crate:
//! decode the bytes with the right charset, parse them once with html5ever
//! and walk the document as it parses, collecting everything later steps
//! read (no tree is built), then the fields, the contacts, the social
//! profiles, one pass of the technology rules over the collected signals,
//! and the page's kind. No step after the walk reads the page, and no
//! module calls back into this file.
//! `docs/extraction.md` lists each field's sources in order and the
//! precision rules.
//!
//! # Layout
//!
//! - this file: the public API and the pipeline, step by step.
//! - `page`: the input ([`Page`]) and [`is_html`].
//! - `charset`: BOM, `Content-Type` header and `<meta>` prescan, else
//!   chardetng's guess: the bytes into text.
//! - `parse`: the text through the parser into the walk, within a time
//!   budget.
//! - `walk`: the single walk, in document order; fills a `Collected`
//!   (`walk::sink`: the parser's tree-building steps as the walk's events;
//!   `walk::classify`: what an element says about itself; `walk::scope`:
//!   what each open element changed; `walk::head`: `<meta>`, `<link>` and
//!   `<script>`).
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
//!   home page lacks, and the imprint or legal pages among them.
//! - `company`: the legal entity behind the site (name, address, country,
//!   registration and VAT numbers) from JSON-LD, the footer and imprint
//!   text.

mod chains;
mod charset;
mod collected;
mod company;
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

use scheduler_domain::{Company, CompanyPart, PageContacts, SiteKind, SiteMetadata};
use url::Url;

use crate::collected::Collected;
use crate::jsonld::LinkedData;
use crate::resolve::Resolver;
use crate::text::language_tag;
use crate::walk::Reading;

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
    /// Of those, the imprint and legal notice pages, strongest first:
    /// where the company is stated when the home page does not.
    pub legal_pages: Vec<Url>,
}

/// [`extract`], and the contact page candidates, from one parse and walk.
pub fn extract_home_page(page: &Page<'_>) -> HomePage {
    let parsed = Parsed::read(page, Reading::Everything);
    let mut metadata = fields::read(page, &parsed.collected, &parsed.linked, &parsed.resolver);
    let host = page.url.host_str();
    let language = metadata.language.as_deref();
    let mut company = company::from_home_page(
        parsed.linked.business.as_ref(),
        parsed.linked.organization_name.as_deref(),
        &parsed.collected,
        page.url.as_str(),
        &country_hints(None, host, language),
    );
    let address_country = company.address.as_ref().and_then(|a| a.country.as_deref());
    let region = contacts::region_of(address_country, host, language);
    let (contacts, international_phones) = parsed.contacts(page, region);
    company::settle(&mut company, &international_phones, host, language);
    metadata.company = (company != Company::default()).then_some(company);
    metadata.emails = contacts.emails;
    metadata.phones = contacts.phones;
    metadata.social = contacts.social;
    (metadata.tech, metadata.wordpress) = tech::detect(page, &parsed.collected);
    let (site_kind, detail) = site_kind::detect(page, &parsed.collected, metadata.title.as_deref());
    let (contact_pages, legal_pages) = if site_kind == SiteKind::Site {
        let links =
            contact_pages::site_links(&parsed.collected.anchors, &parsed.resolver, page.url);
        (
            contact_pages::candidates(&links),
            contact_pages::legal_pages(&links),
        )
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
        (Vec::new(), Vec::new())
    };
    metadata.site_kind = site_kind;
    metadata.site_kind_detail = detail;
    metadata.attribute_contacts_to(page.url.as_str());
    HomePage {
        metadata,
        contact_pages,
        legal_pages,
    }
}

/// Only the e-mails, phones and profiles of a page (a contact or legal
/// page read for them): no other field, no technology rules.
pub fn extract_contacts(page: &Page<'_>) -> PageContacts {
    let parsed = Parsed::read(page, Reading::Contacts);
    // The fields step, with its other language sources, is skipped here:
    // `<html lang>` alone hints at the phones' country.
    let language = parsed.collected.html_lang.as_deref().and_then(language_tag);
    let region = contacts::region_of(None, page.url.host_str(), language.as_deref());
    parsed.contacts(page, region).0
}

/// What a contact, imprint or legal page of the site gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkedPage {
    /// Its e-mails, phones and profiles.
    pub contacts: PageContacts,
    /// What it states about the company, each part attributed to the page
    /// as `part`; its country settled from the page alone.
    pub company: Company,
}

/// [`extract_contacts`], and what the page's text states about the
/// company. `site_country` (the home page's company country) reads the
/// page's national phone numbers when the page states no address.
pub fn extract_linked_page(
    page: &Page<'_>,
    part: CompanyPart,
    site_country: Option<&str>,
) -> LinkedPage {
    let parsed = Parsed::read(page, Reading::Contacts);
    let host = page.url.host_str();
    let language = parsed.collected.html_lang.as_deref().and_then(language_tag);
    let language = language.as_deref();
    let mut company = company::from_text(
        &parsed.collected.visible_text,
        part,
        page.url.as_str(),
        &country_hints(site_country, host, language),
    );
    let address_country = company
        .address
        .as_ref()
        .and_then(|address| address.country.as_deref())
        .or(site_country);
    let region = contacts::region_of(address_country, host, language);
    let (contacts, international_phones) = parsed.contacts(page, region);
    company::settle(&mut company, &international_phones, host, language);
    LinkedPage { contacts, company }
}

/// The countries a site suggests, best first, to choose among the
/// countries a postal code could be of.
fn country_hints(
    site_country: Option<&str>,
    host: Option<&str>,
    language: Option<&str>,
) -> Vec<String> {
    site_country
        .map(str::to_owned)
        .into_iter()
        .chain(company::of_cctld(host))
        .chain(company::of_language(language))
        .collect()
}

/// A page decoded, parsed and walked: what every later step reads.
struct Parsed {
    collected: Collected,
    linked: LinkedData,
    resolver: Resolver,
}

impl Parsed {
    fn read(page: &Page<'_>, reading: Reading) -> Self {
        let text = charset::decode(page.body, page.header("content-type"), page.url.domain());
        let collected = parse::document(&text, reading);
        let linked = jsonld::read(&collected.json_ld);
        let resolver = Resolver::new(page.url, collected.base_href.as_deref());
        Self {
            collected,
            linked,
            resolver,
        }
    }

    /// The contacts step, then the social step; `region` gives national
    /// phone numbers their country. Also the phones written with their
    /// country code, which tell the site's country. The JSON-LD business
    /// node's telephone counts as a `tel:` link at the top of the page.
    fn contacts(
        &self,
        page: &Page<'_>,
        region: Option<phonenumber::country::Id>,
    ) -> (PageContacts, Vec<String>) {
        let Self {
            collected,
            linked,
            resolver,
        } = self;
        let host = page.url.host_str();
        let stated_telephone = linked
            .business
            .as_ref()
            .and_then(|business| business.telephone.as_ref())
            .map(|telephone| (format!("tel:{telephone}"), 0));
        let links: Vec<(String, usize)> = stated_telephone
            .into_iter()
            .chain(collected.contact_links.iter().cloned())
            .collect();
        let phones = contacts::found_phones(&links, &collected.visible_text, region);
        let international = phones
            .iter()
            .filter(|phone| phone.international)
            .map(|phone| phone.value.clone())
            .collect();
        let contacts = PageContacts {
            emails: contacts::emails(&collected.contact_links, &collected.visible_text, host),
            phones: phones.into_iter().map(|phone| phone.value).collect(),
            social: social::profiles(&social::candidates(collected, linked, resolver)),
        };
        (contacts, international)
    }
}

#[cfg(test)]
mod tests;
