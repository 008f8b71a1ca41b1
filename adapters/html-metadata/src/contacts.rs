//! Contact e-mail addresses and phone numbers.
//!
//! Both come only from what a visitor can use: `mailto:`/`tel:` links and the
//! visible text (where the parser has already decoded `&#64;`-style
//! entities). Attribute values (`src`, `srcset`, `placeholder`, `value`) and
//! scripts are never read, which is what keeps `logo@2x.png` and
//! `you@example.com` placeholders out.

use std::sync::LazyLock;

use phonenumber::country;
use regex::Regex;

use crate::company;
use crate::text::percent_decode;

/// Shape of an address in text: the boundaries are checked by hand, since
/// the regex crate has no look-behind.
static EMAIL_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)[a-z0-9][a-z0-9._%+\-]{0,63}@(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}",
    )
});
static EMAIL_EXACT: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)^[a-z0-9][a-z0-9._%+\-]{0,63}@(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}$",
    )
});
/// A run of digits with the separators phone numbers are written with; the
/// real checks happen in [`phone_from_text`]. Searched without the literal
/// prefilter the `regex` crate would choose: its start literals (`+`,
/// `00`, `(`, each digit) are in every line of text, and jumping from one
/// to the next cost several times the plain lazy-DFA scan of the whole
/// visible text.
static PHONE_IN_TEXT: LazyLock<regex_automata::meta::Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)] // A constant pattern; covered by every test.
    regex_automata::meta::Regex::builder()
        .configure(regex_automata::meta::Config::new().auto_prefilter(false))
        .build(r"(?:\+|(?-u:\b)00)?\(?[0-9][0-9()\s.\-/\x{a0}]{5,24}[0-9]")
        .expect("constant regex compiles")
});
/// Dates in the usual orders: `2024-05-01`, `01.05.2024`, `5/1/24`.
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?-u:\b)(?:[0-9]{4}[./\-][0-9]{1,2}[./\-][0-9]{1,2}|[0-9]{1,2}[./\-][0-9]{1,2}[./\-](?:[0-9]{4}|[0-9]{2}))(?-u:\b)",
    )
});
/// Four dot-separated groups: an IP address or a version, not a phone.
static DOTTED_QUAD: LazyLock<Regex> =
    LazyLock::new(|| compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$"));
/// North American formatting, the one national format recognised without a
/// country: `(415) 555-0134`, `415-555-0134`, `415.555.0134`.
static NANP_FORMAT: LazyLock<Regex> =
    LazyLock::new(|| compile(r"^(?:\+?1[\s.\-])?(?:\(\d{3}\)\s?|\d{3}[\s.\-])\d{3}[\s.\-]\d{4}$"));

fn compile(pattern: &str) -> Regex {
    #[allow(clippy::expect_used)] // A constant pattern; covered by every test.
    Regex::new(pattern).expect("constant regex compiles")
}

/// Words that say the number next to them is a phone number (a word
/// counts when a token of the context starts with it).
const PHONE_WORDS: &[&str] = &[
    "tel",
    "phone",
    "call",
    "fax",
    "mobil",
    "mob",
    "cell",
    "ph",
    "telefon",
    "téléphone",
    "tél",
    "telefono",
    "teléfono",
    "fon",
    "tlf",
    "hotline",
    "whatsapp",
    "contact",
    "kontakt",
    "ring",
];
/// Marks that say the same without being words of their own.
const PHONE_MARKS: &[&str] = &[
    "☎", "📞", "电话", "電話", "t:", "p:", "m:", "f:", "t.", "tf.",
];
/// Words that say the digits next to them are an identifier, not a phone.
const IDENTIFIER_WORDS: &[&str] = &[
    "order",
    "invoice",
    "ref",
    "licen",
    "lic",
    "registr",
    "reg",
    "vat",
    "tax",
    "abn",
    "acn",
    "ein",
    "isbn",
    "issn",
    "id",
    "account",
    "patent",
    "serial",
    "ticket",
    "tracking",
    "sku",
    "item",
    "model",
    "part",
    "crn",
    "kvk",
    "siret",
    "siren",
    "ust",
    "hrb",
    "steuer",
    "iban",
    "bic",
    "rcs",
    "tva",
    "iva",
    "btw",
    "moms",
    "mwst",
    "cif",
    "nif",
    "nip",
    "uid",
    "cvr",
    "amtsgericht",
    "handelsregister",
    "registergericht",
    "capital",
    "routing",
    "no",
    "nr",
    "copyright",
    "version",
    "build",
];
const IDENTIFIER_MARKS: &[&str] = &["#", "©", "n°", "nº"];

/// Whether `context` (lower-cased) has one of `words` as a word (long words
/// also as the stem of one) or one of `marks` anywhere.
fn mentions(context: &str, words: &[&str], marks: &[&str]) -> bool {
    let has_word = context
        .split(|c: char| !c.is_alphanumeric())
        .filter(|token| !token.is_empty())
        .any(|token| {
            words.iter().any(|word| {
                token == *word || (word.chars().count() >= 3 && token.starts_with(word))
            })
        });
    has_word
        || marks.iter().any(|mark| {
            context.match_indices(mark).any(|(index, _)| {
                let before = context[..index].chars().next_back();
                !mark.starts_with(|c: char| c.is_alphanumeric())
                    || before.is_none_or(|c| !c.is_alphanumeric())
            })
        })
}

/// Domains that only ever stand for "an address goes here".
const PLACEHOLDER_DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "example.edu",
    "domain.com",
    "yourdomain.com",
    "your-domain.com",
    "yoursite.com",
    "yourcompany.com",
    "mysite.com",
    "mydomain.com",
    "company.com",
    "email.com",
    "sentry.io",
    "wixpress.com",
];
const PLACEHOLDER_SUFFIXES: &[&str] = &[".example", ".test", ".invalid", ".localhost", ".local"];
const PLACEHOLDER_LOCAL_PARTS: &[&str] = &[
    "you",
    "your",
    "yourname",
    "your.name",
    "youremail",
    "your.email",
    "your-email",
    "name",
    "email",
    "john.doe",
    "jane.doe",
    "johndoe",
    "janedoe",
    "firstname.lastname",
    "user",
    "username",
];
/// Asset file extensions: `logo@2x.png` has the shape of an address.
const FILE_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "svg", "webp", "avif", "ico", "bmp", "tif", "tiff", "css", "js",
    "mjs", "json", "map", "mp4", "webm", "mp3", "woff", "woff2", "ttf", "otf", "eot", "pdf", "php",
    "html", "htm", "xml", "txt",
];

/// E-mail addresses from links and text, in page order, the site's own
/// domain first.
pub(crate) fn emails(
    links: &[(String, usize)],
    text: &str,
    site_host: Option<&str>,
) -> Vec<String> {
    let mut found: Vec<(usize, String)> = Vec::new();
    for (href, position) in links {
        let Some(rest) = strip_prefix_ignore_case(href, "mailto:") else {
            continue;
        };
        let addresses = percent_decode(rest.split('?').next().unwrap_or_default());
        for address in addresses.split([',', ';']) {
            let address = address.trim();
            if EMAIL_EXACT.is_match(address)
                && let Some(email) = accept_email(address)
            {
                found.push((*position, email));
            }
        }
    }
    for candidate in EMAIL_IN_TEXT.find_iter(text) {
        let before = text[..candidate.start()].chars().next_back();
        let after = text[candidate.end()..].chars().next();
        let glued_before = before.is_some_and(|c| c.is_alphanumeric() || "._%+-/=".contains(c));
        let glued_after = after.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '@');
        if glued_before || glued_after {
            continue;
        }
        if let Some(email) = accept_email(candidate.as_str()) {
            found.push((candidate.start(), email));
        }
    }
    found.sort_by_key(|(position, _)| *position);
    let mut emails: Vec<String> = Vec::new();
    for (_, email) in found {
        if !emails.iter().any(|seen| seen.eq_ignore_ascii_case(&email)) {
            emails.push(email);
        }
    }
    if let Some(host) = site_host {
        let site = host
            .strip_prefix("www.")
            .unwrap_or(host)
            .to_ascii_lowercase();
        emails.sort_by_key(|email| !is_own_domain(email, &site));
    }
    emails
}

fn is_own_domain(email: &str, site: &str) -> bool {
    let domain = email.rsplit('@').next().unwrap_or_default();
    domain == site || site.ends_with(&format!(".{domain}")) || domain.ends_with(&format!(".{site}"))
}

/// Normalises an address (lower-cased domain) or rejects a placeholder or an
/// asset name.
fn accept_email(address: &str) -> Option<String> {
    let (local, domain) = address.rsplit_once('@')?;
    let domain = domain.to_ascii_lowercase();
    let tld = domain.rsplit('.').next().unwrap_or_default();
    if FILE_EXTENSIONS.contains(&tld)
        || PLACEHOLDER_DOMAINS.contains(&domain.as_str())
        || PLACEHOLDER_SUFFIXES
            .iter()
            .any(|suffix| domain.ends_with(suffix))
        || PLACEHOLDER_DOMAINS
            .iter()
            .any(|placeholder| domain.ends_with(&format!(".{placeholder}")))
        || PLACEHOLDER_LOCAL_PARTS.contains(&local.to_ascii_lowercase().as_str())
        || local.contains("..")
        || local.ends_with('.')
    {
        return None;
    }
    Some(format!("{local}@{domain}"))
}

/// A phone number found, and whether the page wrote it with its country
/// code (only such a number tells the site's country).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoundPhone {
    pub(crate) value: String,
    pub(crate) international: bool,
}

/// Phone numbers from `tel:` links and text, normalised and de-duplicated,
/// in page order, each with how it was written. `region` is the country
/// the site's national numbers are written for, when the company's
/// address, the domain or the page language tells.
pub(crate) fn found_phones(
    links: &[(String, usize)],
    text: &str,
    region: Option<country::Id>,
) -> Vec<FoundPhone> {
    let mut found: Vec<(usize, FoundPhone)> = Vec::new();
    for (href, position) in links {
        let rest = strip_prefix_ignore_case(href, "tel:")
            .or_else(|| strip_prefix_ignore_case(href, "callto:"));
        let Some(rest) = rest else { continue };
        let decoded = percent_decode(rest);
        // `;ext=`, `;phone-context=` and a `?` query are not the number.
        let number = decoded.split([';', '?', ',']).next().unwrap_or_default();
        if let Some(phone) = phone_from_link(number, region) {
            found.push((*position, phone));
        }
    }
    for candidate in PHONE_IN_TEXT.find_iter(text.as_bytes()) {
        if let Some(phone) = phone_from_text(text, candidate.start(), candidate.end(), region) {
            found.push((candidate.start(), phone));
        }
    }
    found.sort_by_key(|(position, _)| *position);
    let mut phones: Vec<FoundPhone> = Vec::new();
    for (_, phone) in found {
        if !phones.iter().any(|seen| seen.value == phone.value) {
            phones.push(phone);
        }
    }
    phones
}

/// A `tel:` link is explicit: any plausible length is kept, in E.164 when
/// the number validates.
fn phone_from_link(number: &str, region: Option<country::Id>) -> Option<FoundPhone> {
    let cleaned = Written::new(number)?;
    if !(6..=15).contains(&cleaned.digits.len()) {
        return None;
    }
    let value = cleaned.e164(region).unwrap_or_else(|| cleaned.fallback());
    Some(cleaned.found(value))
}

fn phone_from_text(
    text: &str,
    start: usize,
    end: usize,
    region: Option<country::Id>,
) -> Option<FoundPhone> {
    let (cleaned, value) = phone_value_from_text(text, start, end, region)?;
    Some(cleaned.found(value))
}

fn phone_value_from_text(
    text: &str,
    start: usize,
    end: usize,
    region: Option<country::Id>,
) -> Option<(Written, String)> {
    let raw = text[start..end].trim_end_matches(|c: char| !c.is_ascii_digit());
    if raw.contains('\n') {
        return None;
    }
    let before = text[..start].chars().next_back();
    let after = text[start + raw.len()..].chars().next();
    let glued_before = before.is_some_and(|c| c.is_alphanumeric() || "/=&_#.-@€$£%,".contains(c));
    let glued_after = after.is_some_and(|c| {
        c.is_alphanumeric()
            || "/%€$£@_".contains(c)
            || (c == '.' || c == ',') && {
                let next = text[start + raw.len() + 1..].chars().next();
                next.is_some_and(|n| n.is_ascii_digit())
            }
    });
    if glued_before || glued_after || DATE.is_match(raw) || DOTTED_QUAD.is_match(raw) {
        return None;
    }
    let cleaned = Written::new(raw)?;
    if !(7..=15).contains(&cleaned.digits.len()) {
        return None;
    }
    let context = context_before(text, start, 32).to_lowercase();
    let says_phone = mentions(&context, PHONE_WORDS, PHONE_MARKS);
    let says_identifier = mentions(&context, IDENTIFIER_WORDS, IDENTIFIER_MARKS);
    if says_identifier && !says_phone {
        return None;
    }
    let has_separator = raw.chars().any(|c| !c.is_ascii_digit() && c != '+');
    if !has_separator && !cleaned.international && !says_phone {
        return None;
    }
    let value = if cleaned.international {
        cleaned.e164(None)
    } else if region.is_some() {
        cleaned.e164(region)
    } else if NANP_FORMAT.is_match(raw.trim())
        && let Some(phone) = cleaned.e164(Some(country::Id::US))
    {
        Some(phone)
    } else {
        says_phone.then(|| cleaned.fallback())
    }?;
    Some((cleaned, value))
}

/// Up to `max_chars` characters before `position`, on the same line.
fn context_before(text: &str, position: usize, max_chars: usize) -> &str {
    let line_start = text[..position].rfind('\n').map_or(0, |i| i + 1);
    let mut start = position;
    for (count, (index, _)) in text[line_start..position].char_indices().rev().enumerate() {
        if count >= max_chars {
            break;
        }
        start = line_start + index;
    }
    &text[start..position]
}

/// A number as written, reduced to what a parser needs.
#[derive(Debug)]
struct Written {
    /// Written with `+` or `00`.
    international: bool,
    digits: String,
    /// The digits as grouped on the page, for numbers no country validates.
    display: String,
}

impl Written {
    fn new(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let (international, rest) = if let Some(rest) = raw.strip_prefix('+') {
            (true, rest)
        } else if let Some(rest) = raw.strip_prefix("00") {
            (true, rest)
        } else {
            (false, raw)
        };
        // `+44 (0)20 ...`: the trunk prefix in brackets is not dialled from abroad.
        let rest = if international {
            rest.replacen("(0)", "", 1)
        } else {
            rest.to_owned()
        };
        if rest
            .chars()
            .any(|c| !(c.is_ascii_digit() || " ()-./\u{a0}\t".contains(c)))
        {
            return None;
        }
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return None;
        }
        let grouped = rest
            .split(|c: char| !c.is_ascii_digit())
            .filter(|group| !group.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let display = if international {
            format!("+{grouped}")
        } else {
            grouped
        };
        Some(Self {
            international,
            digits,
            display,
        })
    }

    /// E.164 when the number is valid for its country.
    fn e164(&self, region: Option<country::Id>) -> Option<String> {
        let input = if self.international {
            format!("+{}", self.digits)
        } else {
            region?;
            self.digits.clone()
        };
        let number = phonenumber::parse(region, input).ok()?;
        if !phonenumber::is_valid(&number) {
            return None;
        }
        Some(number.format().mode(phonenumber::Mode::E164).to_string())
    }

    fn fallback(&self) -> String {
        self.display.clone()
    }

    fn found(&self, value: String) -> FoundPhone {
        FoundPhone {
            value,
            international: self.international,
        }
    }
}

/// The country a site's national numbers are written for: the company's
/// country from its address when known, else the site's country-code
/// top-level domain, else the region of its language tag (`en-GB`).
pub(crate) fn region_of(
    address_country: Option<&str>,
    host: Option<&str>,
    language: Option<&str>,
) -> Option<country::Id> {
    address_country
        .map(str::to_owned)
        .or_else(|| company::of_cctld(host))
        .or_else(|| company::of_language(language))
        .and_then(|code| code.parse::<country::Id>().ok())
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let text = text.trim_start();
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}
