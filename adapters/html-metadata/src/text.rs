//! Text values: cleaning of extracted values, language tags, and the small
//! string helpers every step shares (byte caps on a character boundary,
//! percent-decoding, case-insensitive word lists).

use aho_corasick::AhoCorasick;

/// Longest values kept, in characters.
pub(crate) const MAX_TITLE: usize = 512;
pub(crate) const MAX_DESCRIPTION: usize = 2048;
pub(crate) const MAX_NAME: usize = 256;
pub(crate) const MAX_URL: usize = 2048;

/// Trims, collapses runs of whitespace to one space, decodes entities the
/// page escaped twice (`&amp;amp;`, `&amp;#8217;`) and caps the length.
/// `None` when nothing is left.
pub(crate) fn clean(raw: &str, max_chars: usize) -> Option<String> {
    let decoded = if raw.contains('&') {
        decode_entities(raw)
    } else {
        raw.to_owned()
    };
    let mut cleaned = String::with_capacity(decoded.len().min(max_chars * 4));
    let mut count = 0;
    for word in decoded.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        let needed = word.chars().count() + usize::from(count > 0);
        if count + needed > max_chars {
            let room = max_chars.saturating_sub(count + usize::from(count > 0));
            if room > 0 {
                if count > 0 {
                    cleaned.push(' ');
                }
                cleaned.extend(word.chars().take(room));
            }
            break;
        }
        if count > 0 {
            cleaned.push(' ');
        }
        cleaned.push_str(word);
        count += needed;
    }
    (!cleaned.is_empty()).then_some(cleaned)
}

/// Decodes numeric character references and the few named ones that
/// double escaping produces; anything else stays as written.
fn decode_entities(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest[1..]
            .char_indices()
            .take(11)
            .find(|(_, c)| *c == ';')
            .map(|(i, _)| i + 1);
        let decoded = end.and_then(|end| entity(&rest[1..end]).map(|c| (c, end)));
        match decoded {
            Some((character, end)) => {
                out.push(character);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code).filter(|c| *c != '\0');
    }
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some('\u{a0}'),
        _ => None,
    }
}

/// A language tag in its conventional case (`en-US`, `zh-Hant-TW`), or
/// `None` when the value is not a language tag. Of a list (`en, fr`), the
/// first.
pub(crate) fn language_tag(raw: &str) -> Option<String> {
    let first = raw.split([',', ';']).next()?.trim().replace('_', "-");
    if first.is_empty() || first.len() > 35 {
        return None;
    }
    let mut parts = Vec::new();
    for (index, part) in first.split('-').enumerate() {
        let valid =
            !part.is_empty() && part.len() <= 8 && part.chars().all(|c| c.is_ascii_alphanumeric());
        if !valid {
            return None;
        }
        let part = if index == 0 {
            if !part.chars().all(|c| c.is_ascii_alphabetic()) {
                return None;
            }
            part.to_ascii_lowercase()
        } else if part.len() == 2 && part.chars().all(|c| c.is_ascii_alphabetic()) {
            part.to_ascii_uppercase()
        } else if part.len() == 4 && part.chars().all(|c| c.is_ascii_alphabetic()) {
            let mut chars = part.chars();
            let head = chars
                .next()
                .map(|c| c.to_ascii_uppercase())
                .unwrap_or_default();
            std::iter::once(head)
                .chain(chars.map(|c| c.to_ascii_lowercase()))
                .collect()
        } else {
            part.to_ascii_lowercase()
        };
        parts.push(part);
    }
    Some(parts.join("-"))
}

/// The longest prefix of `text` of at most `max_bytes` bytes that ends on a
/// character boundary.
pub(crate) fn truncate(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Appends as much of `text` as fits under `cap` bytes in all.
pub(crate) fn push_capped(target: &mut String, text: &str, cap: usize) {
    if target.len() >= cap {
        return;
    }
    let room = cap - target.len();
    target.push_str(truncate(text, room));
}

/// Percent-decoding for `mailto:`/`tel:` links and link paths; invalid
/// sequences stay as written.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok());
            if let Some(byte) = hex {
                decoded.push(byte);
                i += 3;
                continue;
            }
        }
        decoded.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// A case-insensitive matcher for constant words, as a full automaton
/// without a prefilter: it reads short strings (class names, links, link
/// texts), and the words start with common letters, so a prefilter stopped
/// at most bytes and restarting the search at each cost more than walking
/// the automaton through the string.
pub(crate) fn case_insensitive(words: &[&str]) -> AhoCorasick {
    #[allow(clippy::expect_used)] // Constant ASCII words always build.
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .prefilter(false)
        .build(words)
        .expect("constant words build a matcher")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_collapses_whitespace_and_trims() {
        assert_eq!(
            clean("  Acme \n\t Widgets\u{a0} Ltd ", 100).as_deref(),
            Some("Acme Widgets Ltd")
        );
    }

    #[test]
    fn clean_decodes_entities_escaped_twice() {
        assert_eq!(
            clean("Tom&#8217;s &amp; Jerry&apos;s", 100).as_deref(),
            Some("Tom’s & Jerry's")
        );
        assert_eq!(
            clean("AT&T &unknown; R&D", 100).as_deref(),
            Some("AT&T &unknown; R&D")
        );
    }

    #[test]
    fn clean_caps_length_in_characters() {
        let capped = clean(&"é".repeat(3000), MAX_DESCRIPTION).unwrap();
        assert_eq!(capped.chars().count(), MAX_DESCRIPTION);
        assert_eq!(clean(" \n ", 10), None);
    }

    #[test]
    fn language_tags_take_conventional_case() {
        assert_eq!(language_tag("EN_us").as_deref(), Some("en-US"));
        assert_eq!(language_tag("zh-hant-tw").as_deref(), Some("zh-Hant-TW"));
        assert_eq!(language_tag("de, en").as_deref(), Some("de"));
        assert_eq!(language_tag("{{lang}}"), None);
    }
}
