//! The company behind the site (`meta_json.company`): what a page states
//! about the legal entity, read from the most trusted place first.
//!
//! On the home page: the JSON-LD Organization or LocalBusiness node, else
//! its microdata, then the footer's text. On an imprint, legal or contact page: its text. The
//! country is settled last, over everything read (`country`).
//!
//! # Layout
//!
//! - this file: assembling a [`Company`] from a page's parts.
//! - `context`: a text's segments, and whether the lines above a value
//!   introduce someone else (a hoster, a data protection officer, a
//!   partner).
//! - `address`: postal addresses by per-country patterns.
//! - `legal_name`: a registered name by its legal form.
//! - `identifiers`: VAT, register and company numbers by label and shape.
//! - `checksum`: their check digits.
//! - `country`: the company's country and what it came from.

mod address;
mod checksum;
mod context;
mod country;
mod identifiers;
mod legal_name;

use regex::Regex;
use scheduler_domain::{Company, CompanyPart, CompanySource, PostalAddress};

use crate::collected::Collected;
use crate::jsonld::{Business, WrittenAddress};
use crate::text::{MAX_NAME, clean};

pub(crate) use self::country::{of_cctld, of_language, settle};

fn compile(pattern: &str) -> Regex {
    #[allow(clippy::expect_used)] // A constant pattern; covered by every test.
    Regex::new(pattern).expect("constant regex compiles")
}

/// What the home page states: its JSON-LD business node (else its
/// microdata), then its footer's text for what they lack. `hints` are the
/// countries the site suggests (domain, language region), best first.
pub(crate) fn from_home_page(
    business: Option<&Business>,
    organization_name: Option<&str>,
    collected: &Collected,
    page_url: &str,
    hints: &[String],
) -> Company {
    let mut company = match (business, microdata(collected)) {
        (Some(business), _) => from_json_ld(business, page_url, hints, CompanyPart::JsonLd),
        (None, Some(business)) => from_json_ld(&business, page_url, hints, CompanyPart::Microdata),
        (None, None) => Company::default(),
    };
    if company.name.is_none()
        && let Some(name) = organization_name.and_then(|name| clean(name, MAX_NAME))
    {
        company.name = Some(name);
        add_source(&mut company, page_url, CompanyPart::JsonLd);
    }
    company.merge(from_text(
        &collected.footer_text,
        CompanyPart::Footer,
        page_url,
        hints,
    ));
    company
}

/// The business facts the page's microdata gives (elements' text, then
/// `<meta itemprop>` values), as a JSON-LD node would.
fn microdata(collected: &Collected) -> Option<Business> {
    let value = |property: &str| {
        collected
            .microdata
            .iter()
            .filter(|(name, _)| *name == property)
            .find_map(|(_, text)| clean(text, MAX_NAME))
            .or_else(|| collected.meta_value(&property.to_ascii_lowercase(), MAX_NAME))
    };
    let address = WrittenAddress {
        street_address: value("streetAddress"),
        postal_code: value("postalCode"),
        locality: value("addressLocality"),
        region: value("addressRegion"),
        country: value("addressCountry"),
        text: None,
    };
    let has_address = address.street_address.is_some() && address.locality.is_some();
    let business = Business {
        name: None,
        legal_name: value("legalName"),
        address: has_address.then_some(address),
        vat_id: value("vatID"),
        telephone: None,
    };
    let states =
        business.legal_name.is_some() || business.address.is_some() || business.vat_id.is_some();
    states.then_some(business)
}

/// What a text states: a legal name, the first address that is the
/// company's, and the identifiers not introduced as someone else's.
pub(crate) fn from_text(
    text: &str,
    part: CompanyPart,
    page_url: &str,
    hints: &[String],
) -> Company {
    let segments = context::segments(text);
    let offsets: Vec<usize> = segments
        .iter()
        .map(|segment| offset_in(text, segment))
        .collect();
    let identifiers: Vec<_> = identifiers::find(text)
        .into_iter()
        .filter(|(at, _)| {
            let index = offsets
                .partition_point(|start| start <= at)
                .saturating_sub(1);
            let value_start = at.saturating_sub(offsets.get(index).copied().unwrap_or(0));
            !context::is_someone_elses(&segments, index, value_start, index)
        })
        .map(|(_, identifier)| identifier)
        .collect();
    let mut country_hints: Vec<&str> = identifiers
        .iter()
        .filter_map(|identifier| identifier.country.as_deref())
        .collect();
    country_hints.extend(hints.iter().map(String::as_str));
    let address = address::find(&segments, &country_hints).map(|(address, _)| address);
    let legal_name = legal_name::find(&segments).map(|(name, _)| name);
    let mut company = Company {
        legal_name,
        address,
        identifiers,
        ..Company::default()
    };
    if company.is_stated() {
        add_source(&mut company, page_url, part);
    }
    company
}

/// The byte offset of `part`, a slice of `whole`, within it.
fn offset_in(whole: &str, part: &str) -> usize {
    (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize)
}

/// A JSON-LD node's facts, or microdata's read the same way (`part`).
fn from_json_ld(
    business: &Business,
    page_url: &str,
    hints: &[String],
    part: CompanyPart,
) -> Company {
    let hints: Vec<&str> = hints.iter().map(String::as_str).collect();
    let identifiers = business
        .vat_id
        .as_deref()
        .map(identifiers::find)
        .unwrap_or_default()
        .into_iter()
        .map(|(_, identifier)| identifier)
        .collect();
    let mut company = Company {
        name: business
            .name
            .as_deref()
            .and_then(|name| clean(name, MAX_NAME)),
        legal_name: business
            .legal_name
            .as_deref()
            .and_then(|name| clean(name, MAX_NAME)),
        address: business
            .address
            .as_ref()
            .and_then(|address| postal_address(address, &hints)),
        identifiers,
        ..Company::default()
    };
    if company.is_stated() || company.name.is_some() {
        add_source(&mut company, page_url, part);
    }
    company
}

/// A JSON-LD address: its parts cleaned and the country as a code; an
/// address given as one string is read as text.
fn postal_address(written: &WrittenAddress, hints: &[&str]) -> Option<PostalAddress> {
    if let Some(text) = &written.text {
        let segments = context::segments(text);
        return address::find(&segments, hints).map(|(address, _)| address);
    }
    let part = |value: &Option<String>| value.as_deref().and_then(|text| clean(text, MAX_NAME));
    Some(PostalAddress {
        street_address: part(&written.street_address),
        postal_code: part(&written.postal_code),
        locality: part(&written.locality),
        region: part(&written.region),
        country: written.country.as_deref().and_then(address::country_code),
    })
}

fn add_source(company: &mut Company, page_url: &str, part: CompanyPart) {
    let source = CompanySource {
        page: page_url.to_owned(),
        part,
    };
    if !company.sources.contains(&source) {
        company.sources.push(source);
    }
}

#[cfg(test)]
mod tests;
