//! The lines of a text and what the lines above a value say about whose it
//! is: an imprint names the company, then often its hosting provider, its
//! data protection officer or the agency that built the site, each with an
//! address. A value under a heading of the second kind is not the
//! company's.

/// A text's segments: its lines, and the parts of a line that footers
/// separate with `·`, `|`, `•` or a dash; trimmed, empty ones dropped.
pub(crate) fn segments(text: &str) -> Vec<&str> {
    text.split('\n')
        .flat_map(|line| line.split(['·', '|', '•', '\u{2013}', '\u{2014}']))
        .map(|segment| segment.trim_matches(|c: char| c.is_whitespace() || c == ','))
        .filter(|segment| !segment.is_empty())
        .collect()
}

/// Words that say the lines after them are someone else's: a hosting
/// provider, a data protection officer, a partner, the site's makers, an
/// authority.
const SOMEONE_ELSE: &[&str] = &[
    "hébergeur",
    "hebergeur",
    "hébergement",
    "hébergé",
    "héberge",
    "hosting",
    "hosted by",
    "hoster",
    "host:",
    "webhost",
    "serveur",
    "server",
    "datenschutzbeauftragte",
    "data protection officer",
    "délégué à la protection",
    "protection des données",
    "responsabile della protezione",
    "delegado de protección",
    "dpo",
    "our partner",
    "unser partner",
    "partner:",
    "partners:",
    "partenaire",
    "agentur",
    "agency",
    "agence",
    "réalisation",
    "réalisé par",
    "conception",
    "designed by",
    "design by",
    "webdesign",
    "développé par",
    "developed by",
    "made by",
    "built by",
    "site by",
    "website by",
    "theme by",
    "powered by",
    "umsetzung",
    "aufsichtsbehörde",
    "supervisory authority",
    "autorité de contrôle",
    "schlichtung",
    "médiat",
    "mediator",
    "cnil",
    "bankverbindung",
    "bank details",
    "photo",
    "crédits",
    "credits",
    "registered agent",
];

/// Words that introduce the company itself: looking back from a value,
/// one of these before any of [`SOMEONE_ELSE`] means the value is the
/// company's.
const THE_COMPANY: &[&str] = &[
    "impressum",
    "imprint",
    "mentions légales",
    "mentions legales",
    "legal notice",
    "aviso legal",
    "note legali",
    "colofon",
    "angaben gemäß",
    "anbieter",
    "betreiber",
    "herausgeber",
    "inhaber",
    "geschäftsführ",
    "éditeur",
    "editeur",
    "édité par",
    "propriétaire",
    "société",
    "raison sociale",
    "siège",
    "registered office",
    "company",
    "titular",
    "ragione sociale",
    "sede legale",
    "owner",
];

/// Segments above a value that are looked at.
const LOOK_BACK: usize = 4;
/// Longer segments are prose, not a heading; only their own value's
/// lead-in is read.
const MAX_HEADING_CHARS: usize = 60;

/// Whether the value in `segments[index]`, which starts at byte
/// `value_start` of that segment and whose block began at segment
/// `block_start`, belongs to someone other than the company.
pub(crate) fn is_someone_elses(
    segments: &[&str],
    index: usize,
    value_start: usize,
    block_start: usize,
) -> bool {
    let lead_in = segments[index].get(..value_start).unwrap_or_default();
    if let Some(verdict) = verdict(lead_in) {
        return verdict;
    }
    let first = block_start.saturating_sub(LOOK_BACK);
    for segment in segments[first..block_start].iter().rev() {
        if segment.chars().count() > MAX_HEADING_CHARS {
            continue;
        }
        if let Some(verdict) = verdict(segment) {
            return verdict;
        }
    }
    false
}

/// Whether `text` itself says it is about someone else (`Powered by
/// Shopify Inc.`).
pub(crate) fn names_someone_else(text: &str) -> bool {
    verdict(text) == Some(true)
}

/// `Some(true)` when `text` introduces someone else, `Some(false)` when it
/// introduces the company, `None` when it says neither.
fn verdict(text: &str) -> Option<bool> {
    if text.is_empty() {
        return None;
    }
    let lower = text.to_lowercase();
    if SOMEONE_ELSE.iter().any(|word| lower.contains(word)) {
        Some(true)
    } else if THE_COMPANY.iter().any(|word| lower.contains(word)) {
        Some(false)
    } else {
        None
    }
}
