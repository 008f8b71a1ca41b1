//! Postal addresses in text, by the postal-code formats of the countries
//! businesses write them for and the code's place in the line.
//!
//! Two line shapes cover the countries read: the code before the town
//! (`10115 Berlin`, `D-10115 Berlin`, `1012 AB Amsterdam`, `411 14
//! Göteborg`, `00-950 Warszawa`, `20121 Milano (MI)`), and the town before
//! the code (`Leeds LS1 4AP`, `Springfield, IL 62701`, `Montréal, QC H2X
//! 1Y4`, `Sydney NSW 2000`, `Dublin D02 X285`). A code shared by several
//! countries (five digits: DE, FR, ES, IT; four: AT, CH, BE, DK, NO) takes
//! its country from a prefix (`D-`), a country name after it, the street's
//! words (`straße`, `rue`, `calle`, `via`), else the site's other hints.
//! Precision first: an address needs a street next to its code, and one
//! introduced as a host's, a data protection officer's or a partner's is
//! not the company's.

use std::sync::LazyLock;

use regex::Regex;
use scheduler_domain::PostalAddress;

use super::compile;
use super::context::is_someone_elses;

/// A town: capitalised words, with the small words of compound names
/// (`Frankfurt am Main`, `Saint-Maur-des-Fossés`, `Stratford upon Avon`).
const TOWN: &str = r"\p{Lu}[\p{L}\p{M}'’.\-]*(?:\s(?:(?:am|an|im|in|der|sur|sous|en|de|del|di|la|le|les|upon|on)\s)?\p{Lu}[\p{L}\p{M}'’.\-]*){0,3}?";

/// The code before the town.
static CODE_FIRST: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r"^(?:(?P<street>.*?),?\s+)??(?:(?P<prefix>[A-Z]{{1,3}})[\-\s])?(?P<postal>\d{{4}}\s?[A-Z]{{2}}|\d{{5}}|\d{{4}}|\d{{3}}\s\d{{2}}|\d{{2}}-\d{{3}})\s+(?P<town>{TOWN})(?:\s*\((?P<region>[A-Z]{{2}})\))?$"
    ))
});
/// The town before the code.
static TOWN_FIRST: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r"^(?:(?P<street>.*?),\s*)?(?P<town>{TOWN}),?\s+(?:(?P<region>[A-Z]{{2,3}})\s+)?(?P<postal>\d{{5}}(?:-\d{{4}})?|[A-Z]\d[A-Z]\s?\d[A-Z]\d|\d{{4}}|[A-Z]{{1,2}}\d[A-Z\d]?\s?\d[A-Z]{{2}}|[AC-FHKNPRTV-Y]\d{{2}}\s?[0-9AC-FHKNPRTV-Y]{{4}})$"
    ))
});
static US_ZIP: LazyLock<Regex> = LazyLock::new(|| compile(r"^\d{5}(?:-\d{4})?$"));
static CA_CODE: LazyLock<Regex> = LazyLock::new(|| compile(r"^[A-Z]\d[A-Z]\s?\d[A-Z]\d$"));
static GB_CODE: LazyLock<Regex> = LazyLock::new(|| compile(r"^[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}$"));
static EIRCODE: LazyLock<Regex> =
    LazyLock::new(|| compile(r"^[AC-FHKNPRTV-Y]\d{2}\s?[0-9AC-FHKNPRTV-Y]{4}$"));

const US_STATES: &[&str] = &[
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM",
    "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA",
    "WV", "WI", "WY",
];
const CA_PROVINCES: &[&str] = &[
    "AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT",
];
const AU_STATES: &[&str] = &["NSW", "VIC", "QLD", "SA", "WA", "TAS", "NT", "ACT"];

/// Country prefixes written before a postal code (`D-10115`).
const CODE_PREFIXES: &[(&str, &str)] = &[
    ("D", "DE"),
    ("DE", "DE"),
    ("A", "AT"),
    ("AT", "AT"),
    ("CH", "CH"),
    ("F", "FR"),
    ("FR", "FR"),
    ("B", "BE"),
    ("BE", "BE"),
    ("NL", "NL"),
    ("I", "IT"),
    ("IT", "IT"),
    ("E", "ES"),
    ("ES", "ES"),
    ("DK", "DK"),
    ("N", "NO"),
    ("NO", "NO"),
    ("S", "SE"),
    ("SE", "SE"),
    ("PL", "PL"),
];

/// Country names written after an address, lower-cased.
const COUNTRY_NAMES: &[(&str, &str)] = &[
    ("deutschland", "DE"),
    ("germany", "DE"),
    ("österreich", "AT"),
    ("austria", "AT"),
    ("schweiz", "CH"),
    ("suisse", "CH"),
    ("switzerland", "CH"),
    ("svizzera", "CH"),
    ("france", "FR"),
    ("belgique", "BE"),
    ("belgië", "BE"),
    ("belgium", "BE"),
    ("nederland", "NL"),
    ("netherlands", "NL"),
    ("the netherlands", "NL"),
    ("united kingdom", "GB"),
    ("uk", "GB"),
    ("england", "GB"),
    ("scotland", "GB"),
    ("wales", "GB"),
    ("ireland", "IE"),
    ("españa", "ES"),
    ("spain", "ES"),
    ("italia", "IT"),
    ("italy", "IT"),
    ("sverige", "SE"),
    ("sweden", "SE"),
    ("danmark", "DK"),
    ("denmark", "DK"),
    ("norge", "NO"),
    ("norway", "NO"),
    ("polska", "PL"),
    ("poland", "PL"),
    ("usa", "US"),
    ("united states", "US"),
    ("canada", "CA"),
    ("australia", "AU"),
    ("deu", "DE"),
    ("aut", "AT"),
    ("che", "CH"),
    ("fra", "FR"),
    ("bel", "BE"),
    ("nld", "NL"),
    ("gbr", "GB"),
    ("irl", "IE"),
    ("esp", "ES"),
    ("ita", "IT"),
    ("swe", "SE"),
    ("dnk", "DK"),
    ("nor", "NO"),
    ("pol", "PL"),
    ("can", "CA"),
    ("aus", "AU"),
];

/// Words of street names, lower-cased, by the countries that use them.
const STREET_WORDS: &[(&str, &[&str])] = &[
    ("straße", &["DE", "AT", "CH"]),
    ("strasse", &["DE", "AT", "CH"]),
    ("str.", &["DE", "AT", "CH"]),
    ("gasse", &["DE", "AT", "CH"]),
    ("platz", &["DE", "AT", "CH"]),
    ("allee", &["DE", "AT", "CH"]),
    ("weg ", &["DE", "AT", "CH", "NL"]),
    ("damm", &["DE"]),
    ("rue ", &["FR", "BE", "CH"]),
    ("avenue", &["FR", "BE", "CH"]),
    ("boulevard", &["FR", "BE"]),
    ("chemin", &["FR", "CH"]),
    ("allée", &["FR", "BE"]),
    ("impasse", &["FR"]),
    ("quai ", &["FR", "BE", "CH"]),
    ("straat", &["NL", "BE"]),
    ("laan", &["NL", "BE"]),
    ("steenweg", &["BE"]),
    ("gracht", &["NL"]),
    ("calle", &["ES"]),
    ("c/ ", &["ES"]),
    ("avda", &["ES"]),
    ("avenida", &["ES"]),
    ("plaza", &["ES"]),
    ("paseo", &["ES"]),
    ("carrer", &["ES"]),
    ("via ", &["IT"]),
    ("viale", &["IT"]),
    ("piazza", &["IT"]),
    ("corso", &["IT"]),
    ("gatan", &["SE"]),
    ("vägen", &["SE"]),
    ("vej", &["DK"]),
    ("gade", &["DK"]),
    ("veien", &["NO"]),
    ("gata", &["NO"]),
    ("ul.", &["PL"]),
];

/// Countries whose postal codes have the shape `postal` in the code-first
/// line.
fn code_first_countries(postal: &str) -> &'static [&'static str] {
    let digits = postal.bytes().filter(u8::is_ascii_digit).count();
    if postal.bytes().any(|b| b.is_ascii_uppercase()) {
        &["NL"]
    } else if postal.contains('-') {
        &["PL"]
    } else if postal.contains(' ') {
        &["SE"]
    } else if digits == 5 {
        &["DE", "FR", "ES", "IT"]
    } else {
        &["AT", "CH", "BE", "DK", "NO"]
    }
}

/// The country of a town-first line, from its code and region.
fn town_first_country(postal: &str, region: Option<&str>) -> Option<&'static str> {
    match region {
        Some(region) if US_STATES.contains(&region) && US_ZIP.is_match(postal) => Some("US"),
        Some(region) if CA_PROVINCES.contains(&region) && CA_CODE.is_match(postal) => Some("CA"),
        Some(region) if AU_STATES.contains(&region) && postal.len() == 4 => Some("AU"),
        Some(_) => None,
        None if GB_CODE.is_match(postal) => Some("GB"),
        None if EIRCODE.is_match(postal) => Some("IE"),
        None => None,
    }
}

/// The first address of the company in `segments`, and the index of the
/// segment it ends in. `hints` are countries the site suggests, best
/// first, used only to choose among the countries a code could be of.
pub(crate) fn find(segments: &[&str], hints: &[&str]) -> Option<(PostalAddress, usize)> {
    (0..segments.len()).find_map(|index| {
        let address = read(segments, index, hints)?;
        Some((address, index))
    })
}

/// A longer segment is prose: an address line is short, and the patterns
/// are not run over paragraphs.
const MAX_LINE_BYTES: usize = 240;

fn read(segments: &[&str], index: usize, hints: &[&str]) -> Option<PostalAddress> {
    let segment = segments[index];
    if segment.len() > MAX_LINE_BYTES
        || !segment.bytes().any(|b| b.is_ascii_digit())
        || is_copyright_line(segment)
    {
        return None;
    }
    let (line, named_country) = without_country_name(segment);
    let named_country =
        named_country.or_else(|| segments.get(index + 1).and_then(|next| country_named(next)));
    let (captures, code_first) = match CODE_FIRST.captures(line) {
        Some(captures) => (captures, true),
        None => (TOWN_FIRST.captures(line)?, false),
    };
    let postal = captures.name("postal")?.as_str();
    let town = captures.name("town")?.as_str();
    let region = captures.name("region").map(|region| region.as_str());
    let street_in_line = captures
        .name("street")
        .map(|street| street.as_str().trim())
        .filter(|street| looks_like_street(street));
    let (street, block_start, value_start) = match street_in_line {
        Some(street) => (
            street,
            index,
            captures.name("street").map_or(0, |m| m.start()),
        ),
        None if captures.name("street").is_some() => return None,
        None => {
            let previous = index.checked_sub(1)?;
            let street = segments[previous];
            if !looks_like_street(street) {
                return None;
            }
            (street, previous, 0)
        }
    };
    let street = street_after_lead_in(street);
    let value_start = segments[block_start].find(street).unwrap_or(value_start);
    if is_someone_elses(segments, block_start, value_start, block_start) {
        return None;
    }
    let country = if code_first {
        let prefixed = captures.name("prefix").map(|prefix| {
            CODE_PREFIXES
                .iter()
                .find(|(written, _)| *written == prefix.as_str())
                .map(|(_, country)| *country)
        });
        if prefixed == Some(None) {
            return None;
        }
        choose(
            code_first_countries(postal),
            prefixed.flatten().or(named_country),
            street,
            hints,
        )
    } else {
        town_first_country(postal, region)
            .or(named_country)
            .filter(|country| named_country.is_none_or(|named| named == *country))
    };
    // A code without a country is too weak a sign: `1010 WINS` is a radio
    // station, `2017, PIXNET` a year.
    country?;
    Some(PostalAddress {
        street_address: Some(street.to_owned()),
        postal_code: Some(postal.to_owned()),
        locality: Some(town.to_owned()),
        region: region.map(str::to_owned),
        country: country.map(str::to_owned),
    })
}

/// Of the countries a code could be of: the one the address names, else
/// those the street's words fit, then the first hint among them.
fn choose(
    candidates: &[&'static str],
    named: Option<&'static str>,
    street: &str,
    hints: &[&str],
) -> Option<&'static str> {
    if let Some(named) = named {
        return candidates.contains(&named).then_some(named);
    }
    let lower = format!("{} ", street.to_lowercase());
    let by_street: Vec<&'static str> = candidates
        .iter()
        .copied()
        .filter(|country| {
            STREET_WORDS
                .iter()
                .any(|(word, countries)| countries.contains(country) && lower.contains(word))
        })
        .collect();
    let left: &[&'static str] = if by_street.is_empty() {
        candidates
    } else {
        &by_street
    };
    if let [only] = left {
        return Some(only);
    }
    hints
        .iter()
        .find_map(|hint| left.iter().copied().find(|country| country == hint))
}

/// A copyright line's years have the shape of four-digit postal codes.
fn is_copyright_line(line: &str) -> bool {
    line.contains('©') || line.to_lowercase().contains("copyright")
}

/// A line ending in a country name, without it, and the country.
fn without_country_name(line: &str) -> (&str, Option<&'static str>) {
    if let Some((head, tail)) = line.rsplit_once(',')
        && let Some(country) = country_named(tail)
    {
        return (head.trim_end(), Some(country));
    }
    (line, None)
}

/// A country as JSON-LD writes it (`DE`, `de`, `Germany`, `DEU`) as an
/// ISO 3166-1 alpha-2 code.
pub(crate) fn country_code(written: &str) -> Option<String> {
    let trimmed = written.trim();
    if trimmed.len() == 2 && trimmed.bytes().all(|b| b.is_ascii_alphabetic()) {
        let code = trimmed.to_ascii_uppercase();
        return Some(if code == "UK" { "GB".to_owned() } else { code });
    }
    country_named(trimmed).map(str::to_owned)
}

fn country_named(text: &str) -> Option<&'static str> {
    let lower = text.trim().trim_end_matches('.').to_lowercase();
    COUNTRY_NAMES
        .iter()
        .find(|(name, _)| *name == lower)
        .map(|(_, country)| *country)
}

/// A street: short, with a letter and a house number or a street word,
/// and none of the marks of other values (`:`, `@`, a long digit run).
fn looks_like_street(text: &str) -> bool {
    let text = street_after_lead_in(text);
    let chars = text.chars().count();
    let has_digit = text.chars().any(|c| c.is_ascii_digit());
    let lower = format!("{} ", text.to_lowercase());
    let has_street_word = STREET_WORDS.iter().any(|(word, _)| lower.contains(word));
    let longest_digit_run = text
        .split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    (3..=80).contains(&chars)
        && text.chars().any(char::is_alphabetic)
        && (has_digit || has_street_word)
        && longest_digit_run < 6
        && !text.contains(['@', ':'])
        && !PHONE_LEAD_INS.iter().any(|word| lower.starts_with(word))
}

/// A line that starts so holds a phone number, not a street.
const PHONE_LEAD_INS: &[&str] = &["tel", "fax", "phone", "mobil", "t.", "f."];

/// A street written after a name on the same line (`Möbel Schmidt GmbH,
/// Hauptstraße 5`): the last comma-separated part with a digit.
fn street_after_lead_in(text: &str) -> &str {
    let text = text
        .rsplit_once(':')
        .map_or(text, |(_, after)| after)
        .trim();
    match text.rsplit_once(", ") {
        Some((_, last)) if last.chars().any(|c| c.is_ascii_digit()) => last.trim(),
        _ => text,
    }
}

#[cfg(test)]
mod tests;
