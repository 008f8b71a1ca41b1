//! Registration and tax numbers in a page's text.
//!
//! A VAT number is found by its country prefix (`DE 269 543 714`) or, for
//! the countries that write it without one, by its label (`P.IVA`, `NIP`,
//! `CIF`); national numbers only next to their label (`HRB`, `RCS`,
//! `Org.nr`, `KvK`, `CVR`, `company no.`). A number with a checksum is
//! kept only when it holds; one without (a German register entry, a UK
//! company number) only by its pattern next to its label.

use std::sync::LazyLock;

use regex::{Captures, Regex};
use scheduler_domain::{CompanyIdentifier, IdentifierKind};

use super::checksum;
use super::compile;

/// A VAT number written with its country prefix: the prefix on a word
/// boundary, then letters, digits and single separators.
static PREFIXED_VAT: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?-u:\b)(AT|BE|DE|DK|ES|FI|FR|GB|IT|LU|NL|PL|PT|SE)[ \-]?([0-9A-Z](?:[ .\-]?[0-9A-Z]){7,13})",
    )
});
/// Italy's *partita IVA*, written without its prefix.
static VAT_IT: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"(?i)(?:p\.\s?iva|partita\s+iva|p\.iva)\s*(?:n\.?\s*)?[:.]?\s*(?:IT)?\s?(\d{11})\b")
});
/// Poland's NIP (the VAT number without `PL`).
static VAT_PL: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"\bNIP\s*[:.]?\s*(?:PL)?\s?(\d{3}-?\d{3}-?\d{2}-?\d{2}|\d{3}-\d{2}-\d{2}-\d{3})\b")
});
/// Spain's CIF or NIF (the VAT number without `ES`).
static VAT_ES: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"\b(?:C\.?I\.?F\.?|N\.?I\.?F\.?)\s*[:.]?\s*(?:ES)?[ \-]?([A-Z]-?\d{7}-?[0-9A-Z]|\d{8}-?[A-Z])\b",
    )
});
/// French SIREN or SIRET by its label.
static SIREN_SIRET: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"(?i)\bsire([nt])\s*(?:n°|no|nº)?\s*[:.]?\s*(\d{3}\s?\d{3}\s?\d{3}(?:\s?\d{5})?)\b")
});
/// `RCS Nantes 432 187 656`: the SIREN with its registry.
static RCS: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"\bR\.?C\.?S\.?\s+(?:de\s+)?(\p{Lu}[\p{L}'\-]+(?:[ \-]\p{Lu}[\p{L}'\-]+)?)\s*(?:[AB]\s+)?(\d{3}\s?\d{3}\s?\d{3})\b",
    )
});
/// A German commercial register entry (`HRB 218734`, `HRA 1234 B`).
static REGISTER_DE: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"\b(HRA|HRB|GnR|PR|VR)\s*(?:Nr\.?\s*)?(\d{1,6}(?:\s?[A-Z]{1,2})?)\b")
});
/// The court that keeps a German register.
static COURT_DE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"\b(Amtsgericht|Registergericht|Handelsgericht|Landesgericht)\s*:?\s*(?:Amtsgericht\s+)?(\p{Lu}[\p{L}\-]+(?:\s(?:am|an|im|in|der)\s\p{Lu}[\p{L}\-]+|\s\(\p{L}+\))?)",
    )
});
/// Austria's *Firmenbuchnummer* (`FN 123456a`).
static REGISTER_AT: LazyLock<Regex> = LazyLock::new(|| compile(r"\bFN\s*(\d{1,6}\s?[a-z])\b"));
/// A UK company number after its label.
static COMPANY_NUMBER_GB: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)(?:company\s+(?:registration\s+)?(?:no\.?|number|nr\.?)|registered\s+(?:in\s+(england(?:\s+(?:and|&)\s+wales)?|scotland|wales|northern\s+ireland)|number|no\.?)(?:[^0-9\n]{0,30}?))\s*[:.]?\s*((?:SC|NI|OC|SO|NC)?\d{6,8})\b",
    )
});
/// `Org.nr 559012-3450` (Sweden, ten digits) or `Org.nr 923 609 016`
/// (Norway, nine).
static ORG_NR: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)\borg(?:anisations)?\.?\s*-?\s*(?:nr|nummer)\.?\s*[:.]?\s*(\d{6}-?\d{4}|\d{3}\s?\d{3}\s?\d{3})\b",
    )
});
/// The Dutch Chamber of Commerce number.
static KVK: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)\b(?:kvk|k\.v\.k\.|kamer\s+van\s+koophandel)(?:[\s\-]*(?:nummer|nr\.?|no\.?))?\s*[:.]?\s*(\d{8})\b",
    )
});
/// The Belgian enterprise number.
static ENTERPRISE_BE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)\b(?:bce|kbo|ondernemingsnummer|num[ée]ro\s+d'entreprise|enterprise\s+number|rpm|rpr)\s*[:.]?\s*(?:BE)?\s?([01]\d{3}[.\s]?\d{3}[.\s]?\d{3}|\d{3}[.\s]?\d{3}[.\s]?\d{3})\b",
    )
});
/// The Danish CVR number.
static CVR: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)\bcvr(?:[\s\-]?(?:nr|nummer|no)\.?)?\s*[:.]?\s*(?:DK)?\s?(\d{2}\s?\d{2}\s?\d{2}\s?\d{2})\b",
    )
});
/// The Swiss UID.
static UID_CH: LazyLock<Regex> =
    LazyLock::new(|| compile(r"\bCHE[\-\s]?(\d{3})[.\s]?(\d{3})[.\s]?(\d{3})\b"));
/// The Australian Business Number.
static ABN: LazyLock<Regex> =
    LazyLock::new(|| compile(r"\bABN\s*[:.]?\s*(\d{2}\s?\d{3}\s?\d{3}\s?\d{3})\b"));

/// The identifiers `text` states, each once with the byte offset where it
/// was first written, in the order of the patterns above (VAT numbers
/// first).
pub(crate) fn find(text: &str) -> Vec<(usize, CompanyIdentifier)> {
    let mut found = Found::default();
    for captures in PREFIXED_VAT.captures_iter(text) {
        let country = &captures[1];
        if let Some(number) = valid_vat(country, &captures[2]) {
            found.push(
                at(&captures),
                IdentifierKind::Vat,
                format!("{country}{number}"),
                None,
                country,
            );
        }
    }
    for (pattern, country) in [(&*VAT_IT, "IT"), (&*VAT_PL, "PL"), (&*VAT_ES, "ES")] {
        for captures in pattern.captures_iter(text) {
            let number = compact(&captures[1]);
            if checksum::vat(country, &number) {
                found.push(
                    at(&captures),
                    IdentifierKind::Vat,
                    format!("{country}{number}"),
                    None,
                    country,
                );
            }
        }
    }
    for captures in SIREN_SIRET.captures_iter(text) {
        let number = compact(&captures[2]);
        let kind = match (&captures[1], number.len()) {
            (_, 14) => IdentifierKind::Siret,
            (_, 9) => IdentifierKind::Siren,
            _ => continue,
        };
        if checksum::luhn(&number) {
            found.push(at(&captures), kind, number, None, "FR");
        }
    }
    for captures in RCS.captures_iter(text) {
        let number = compact(&captures[2]);
        if checksum::luhn(&number) {
            let authority = format!("RCS {}", &captures[1]);
            found.push(
                at(&captures),
                IdentifierKind::Siren,
                number,
                Some(authority),
                "FR",
            );
        }
    }
    register_de(text, &mut found);
    for captures in REGISTER_AT.captures_iter(text) {
        let authority = court_near(text, &captures);
        let value = format!("FN {}", compact(&captures[1]));
        found.push(
            at(&captures),
            IdentifierKind::TradeRegister,
            value,
            authority,
            "AT",
        );
    }
    for captures in COMPANY_NUMBER_GB.captures_iter(text) {
        let authority = captures.get(1).map(|place| {
            let place = place.as_str().split_whitespace().collect::<Vec<_>>();
            title_case(&place.join(" "))
        });
        let raw = &captures[2];
        let value = if raw.bytes().all(|b| b.is_ascii_digit()) {
            format!("{raw:0>8}")
        } else {
            raw.to_ascii_uppercase()
        };
        if value.len() == 8 {
            found.push(
                at(&captures),
                IdentifierKind::CompanyNumber,
                value,
                authority,
                "GB",
            );
        }
    }
    for captures in ORG_NR.captures_iter(text) {
        let number = compact(&captures[1]);
        if number.len() == 10 && checksum::luhn(&number) {
            found.push(at(&captures), IdentifierKind::OrgNr, number, None, "SE");
        } else if number.len() == 9 && checksum::org_nr_no(&number) {
            found.push(at(&captures), IdentifierKind::OrgNr, number, None, "NO");
        }
    }
    for captures in KVK.captures_iter(text) {
        let number = captures[1].to_owned();
        found.push(
            at(&captures),
            IdentifierKind::CompanyNumber,
            number,
            Some("KvK".to_owned()),
            "NL",
        );
    }
    for captures in ENTERPRISE_BE.captures_iter(text) {
        let number = compact(&captures[1]);
        let number = if number.len() == 9 {
            format!("0{number}")
        } else {
            number
        };
        if checksum::vat_be(&number) {
            found.push(
                at(&captures),
                IdentifierKind::CompanyNumber,
                number,
                None,
                "BE",
            );
        }
    }
    for captures in CVR.captures_iter(text) {
        let number = compact(&captures[1]);
        if checksum::cvr_dk(&number) {
            found.push(
                at(&captures),
                IdentifierKind::CompanyNumber,
                number,
                None,
                "DK",
            );
        }
    }
    for captures in UID_CH.captures_iter(text) {
        let number = format!("{}{}{}", &captures[1], &captures[2], &captures[3]);
        if checksum::uid_ch(&number) {
            found.push(
                at(&captures),
                IdentifierKind::CompanyNumber,
                format!("CHE{number}"),
                None,
                "CH",
            );
        }
    }
    for captures in ABN.captures_iter(text) {
        let number = compact(&captures[1]);
        if checksum::abn_au(&number) {
            found.push(
                at(&captures),
                IdentifierKind::CompanyNumber,
                number,
                None,
                "AU",
            );
        }
    }
    found.0
}

fn at(captures: &Captures<'_>) -> usize {
    captures.get(0).map_or(0, |whole| whole.start())
}

/// The identifiers found so far, without repeats, with their offsets.
#[derive(Debug, Default)]
struct Found(Vec<(usize, CompanyIdentifier)>);

impl Found {
    fn push(
        &mut self,
        at: usize,
        kind: IdentifierKind,
        value: String,
        authority: Option<String>,
        country: &str,
    ) {
        if let Some((_, known)) = self
            .0
            .iter_mut()
            .find(|(_, known)| known.kind == kind && known.value == value)
        {
            if known.authority.is_none() {
                known.authority = authority;
            }
            return;
        }
        self.0.push((
            at,
            CompanyIdentifier {
                kind,
                value,
                authority,
                country: Some(country.to_owned()),
            },
        ));
    }
}

/// The number without separators, when some prefix of it (at the lengths
/// the country's numbers have) passes the check: a number written just
/// before other digits is still read.
fn valid_vat(country: &str, written: &str) -> Option<String> {
    let number = compact(written);
    let lengths: &[usize] = match country {
        "AT" => &[9],
        "BE" => &[10, 9],
        "DE" | "GB" | "PT" => &[12, 9],
        "DK" | "FI" | "LU" => &[8],
        "ES" => &[9],
        "FR" | "IT" => &[11],
        "NL" | "SE" => &[12],
        "PL" => &[10],
        _ => &[],
    };
    lengths
        .iter()
        .filter(|length| number.len() >= **length)
        .map(|length| &number[..*length])
        .find(|candidate| checksum::vat(country, candidate))
        .map(str::to_owned)
}

/// German register entries, each with the court named nearest to it; a
/// register other than the commercial one (HRA, HRB) only with its court.
fn register_de(text: &str, found: &mut Found) {
    for captures in REGISTER_DE.captures_iter(text) {
        let authority = court_near(text, &captures);
        let register = &captures[1];
        // `VR 4`, `PR 2` are too short a mark to stand without their court.
        if authority.is_none() && !register.starts_with("HR") {
            continue;
        }
        let value = format!("{register} {}", compact(&captures[2]));
        found.push(
            at(&captures),
            IdentifierKind::TradeRegister,
            value,
            authority,
            "DE",
        );
    }
}

/// How far from a register number its court may be named.
const COURT_WINDOW: usize = 160;

/// The court named nearest a register number (before it, else after).
fn court_near(text: &str, number: &Captures<'_>) -> Option<String> {
    let whole = number.get(0)?;
    let start = floor_boundary(text, whole.start().saturating_sub(COURT_WINDOW));
    let end = floor_boundary(text, (whole.end() + COURT_WINDOW).min(text.len()));
    let before = COURT_DE.captures_iter(&text[start..whole.start()]).last();
    let after = || COURT_DE.captures_iter(&text[whole.end()..end]).next();
    let court = before.or_else(after)?;
    let kind = match &court[1] {
        "Registergericht" => "Amtsgericht",
        other => other,
    };
    Some(format!("{kind} {}", &court[2]))
}

fn floor_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// Without spaces, dots and hyphens.
fn compact(written: &str) -> String {
    written
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '\u{a0}'))
        .collect()
}

fn title_case(text: &str) -> String {
    text.split(' ')
        .map(|word| match word {
            "and" | "&" => word.to_owned(),
            _ => {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|first| first.to_uppercase().chain(chars).collect())
                    .unwrap_or_default()
            }
        })
        .collect::<Vec<String>>()
        .join(" ")
}

#[cfg(test)]
mod tests;
