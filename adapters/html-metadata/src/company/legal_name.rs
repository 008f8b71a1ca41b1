//! The company's registered name in text: a segment that starts with a
//! name and ends it with a legal form (`GmbH`, `SARL`, `Ltd`, `AB`, ...).

use std::sync::LazyLock;

use regex::Regex;

use super::compile;
use super::context::{is_someone_elses, names_someone_else};

/// A name of up to eight words, then a legal form; what follows must not
/// continue the word.
static LEGAL_NAME: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"^(?:\p{Lu}|\d)[\p{L}\p{M}\d&'’.\-]*(?:\s[\p{L}\p{M}\d&'’.\-]+){0,7}?\s(?:GmbH\s&\sCo\.\sKG|GmbH|gGmbH|AG|UG\s\(haftungsbeschränkt\)|UG|KG|OHG|e\.\s?K\.|e\.\s?V\.|SARL|S\.A\.R\.L\.|SASU|SAS|EURL|SNC|SCI|S\.A\.S\.|SA|S\.L\.U\.|S\.L\.|SL|S\.A\.|S\.r\.l\.|Srl|SRL|S\.p\.A\.|SpA|B\.V\.|BV|N\.V\.|NV|VOF|BVBA|Ltd\.?|Limited|LLP|PLC|plc|Inc\.?|LLC|L\.L\.C\.|Corp\.?|Pty\sLtd|AB|ApS|A/S|ASA|AS|Oy|Sp\.\sz\so\.o\.)",
    )
});

/// Lead-ins before a name: a copyright, a year, a label.
static LEAD_IN: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)^(?:(?:©|\(c\)|copyright)\s*)*(?:\d{4}(?:\s?[\-–]\s?\d{4})?\s*)?(?:(?:firma|firmenname|unternehmen|société|raison sociale|company|company name|ragione sociale|denominación social|razón social|bedrijfsnaam|företag|name)\s*:\s*)?",
    )
});

/// The longest a legal name is taken to be.
const MAX_CHARS: usize = 100;
/// Longer segments are prose, not a line that names the company.
const MAX_LINE_BYTES: usize = 240;

/// The first legal name in `segments` that is not introduced as someone
/// else's, and the index of its segment.
pub(crate) fn find(segments: &[&str]) -> Option<(String, usize)> {
    segments.iter().enumerate().find_map(|(index, segment)| {
        if segment.len() > MAX_LINE_BYTES {
            return None;
        }
        let lead_in = LEAD_IN.find(segment).map_or(0, |found| found.end());
        let rest = &segment[lead_in..];
        let found = LEGAL_NAME.find(rest)?;
        // The form ends the name: what follows is the line's end, a
        // separator, or lower-case prose (`SARL au capital de ...`); a
        // capitalised word continues a title (`More News Corp Sites`).
        let mut following = rest[found.end()..].chars();
        let ends_name = match following.next() {
            // `AOL Inc. All rights reserved.`: the form's dot ends a sentence.
            _ if found.as_str().ends_with('.') => true,
            None => true,
            Some(c) if c.is_alphanumeric() => false,
            Some(c) if c.is_whitespace() => {
                following.next().is_none_or(|next| !next.is_uppercase())
            }
            Some(_) => true,
        };
        if !ends_name {
            return None;
        }
        let name = found.as_str().trim();
        if name.chars().count() > MAX_CHARS
            || names_someone_else(name)
            || is_someone_elses(segments, index, lead_in, index)
        {
            return None;
        }
        Some((name.to_owned(), index))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::company::context::segments;

    fn legal_name(text: &str) -> Option<String> {
        find(&segments(text)).map(|(name, _)| name)
    }

    #[test]
    fn names_with_their_legal_form_are_read_from_lines_and_footers() {
        assert_eq!(
            legal_name("Impressum\nMöbel Schmidt GmbH\nHauptstraße 5").as_deref(),
            Some("Möbel Schmidt GmbH")
        );
        assert_eq!(
            legal_name("© 2024 Example Trading Ltd · 3 Castle Wynd, Leeds LS1 4AP").as_deref(),
            Some("Example Trading Ltd")
        );
        assert_eq!(
            legal_name("Exempel AB · Org.nr 559012-3450").as_deref(),
            Some("Exempel AB")
        );
        assert_eq!(
            legal_name("© Copyright 2006 - 2024 Spiceworks Inc.").as_deref(),
            Some("Spiceworks Inc.")
        );
        assert_eq!(
            legal_name("Raison sociale : Boulangerie Martin SARL").as_deref(),
            Some("Boulangerie Martin SARL")
        );
    }

    #[test]
    fn a_hosters_name_is_not_the_companys() {
        assert_eq!(
            legal_name("Hébergeur : OVH SAS, 2 rue Kellermann, 59100 Roubaix"),
            None
        );
        assert_eq!(legal_name("Hébergeur\nOVH SAS"), None);
        assert_eq!(legal_name("Powered by Shopify Inc."), None);
        assert_eq!(legal_name("Website by Pixel Studio Ltd"), None);
    }

    #[test]
    fn a_form_inside_a_word_or_a_sentence_is_no_name() {
        assert_eq!(legal_name("We ship to Sweden ABOUT twice a week"), None);
        assert_eq!(legal_name("our products are great"), None);
        assert_eq!(legal_name("More News Corp Sites"), None);
        assert_eq!(
            legal_name("© 2016 AOL Inc. All rights reserved.").as_deref(),
            Some("AOL Inc.")
        );
    }
}
