//! Turning the bytes of a response into text with the right character
//! encoding.
//!
//! The order follows the HTML standard's encoding sniffing: a byte order mark
//! wins, then the `charset` of the `Content-Type` header, then a prescan of
//! the first 1024 bytes for `<meta charset>` or
//! `<meta http-equiv="content-type" content="...; charset=...">`. With none of
//! those, valid UTF-8 is read as UTF-8, and other bytes in the encoding that
//! chardetng (Firefox's detector) guesses from them and the host's top-level
//! domain, as a browser does for an unlabelled page.

use std::borrow::Cow;

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252, X_USER_DEFINED};

/// How many bytes the `<meta>` prescan looks at, as browsers do.
const PRESCAN_BYTES: usize = 1024;
/// How far a page that is not UTF-8 and declares nothing early is searched.
const LATE_PRESCAN_BYTES: usize = 64 * 1024;
/// How much of an undeclared page the detector reads past its first
/// non-ASCII byte (the ASCII before it costs next to nothing). The detector
/// takes about 90 µs a KiB of text, so this keeps a guess under a
/// millisecond, a third of an average page's parse; a few thousand
/// characters are plenty for it, and the title and description, where a
/// wrong guess shows, come early.
const DETECTOR_BYTES: usize = 8 * 1024;

/// Decodes `body`, choosing the encoding from the BOM, the `Content-Type`
/// header value and the document's own `<meta>` declarations, or for a page
/// that declares none, from its bytes; `host` (the page's domain) hints at
/// the language of an undeclared page.
pub(crate) fn decode<'a>(
    body: &'a [u8],
    content_type: Option<&str>,
    host: Option<&str>,
) -> Cow<'a, str> {
    let (encoding, bom_length) = match Encoding::for_bom(body) {
        Some((encoding, length)) => (encoding, length),
        None => (sniff(body, content_type, host), 0),
    };
    let (text, _had_errors) = encoding.decode_without_bom_handling(&body[bom_length..]);
    text
}

/// The encoding for a body without a byte order mark.
///
/// A declaration that the bytes contradict loses: when a page declared
/// (in its header or its `<meta>`) as a legacy encoding has non-ASCII bytes
/// that are all valid UTF-8, it is UTF-8. Servers that stamp every response
/// `charset=iso-8859-1` and templates with a stale `<meta charset>` are
/// common, while legacy-encoded text that happens to be valid UTF-8 is not.
fn sniff(body: &[u8], content_type: Option<&str>, host: Option<&str>) -> &'static Encoding {
    let declared = content_type
        .and_then(charset_parameter)
        .and_then(label)
        .or_else(|| prescan(&body[..body.len().min(PRESCAN_BYTES)]));
    let is_utf8 = is_utf8_allowing_truncation(body);
    match declared {
        Some(encoding) if encoding == UTF_8 => UTF_8,
        Some(encoding) => {
            if is_utf8 && !body.is_ascii() {
                UTF_8
            } else {
                encoding
            }
        }
        None if is_utf8 => UTF_8,
        // Pages reformatted by tools or with long heads declare the charset
        // late; for bytes that are not UTF-8 a late declaration beats a guess.
        None => prescan(&body[..body.len().min(LATE_PRESCAN_BYTES)])
            .unwrap_or_else(|| guess(body, host)),
    }
}

/// chardetng's guess for bytes that declare no encoding and are not UTF-8.
///
/// UTF-8 stays a possible answer, unlike in a browser (which must not let
/// pages come to rely on detected UTF-8): a UTF-8 page with a stray invalid
/// byte after the part read is UTF-8, not mojibake. ISO-2022-JP is not, as
/// in a browser: its bytes are ASCII, which never reaches here.
fn guess(body: &[u8], host: Option<&str>) -> &'static Encoding {
    let first_non_ascii = body.iter().position(|b| !b.is_ascii()).unwrap_or(0);
    let end = body.len().min(first_non_ascii + DETECTOR_BYTES);
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(&body[..end], end == body.len());
    let tld = host.and_then(top_level_domain);
    detector.guess(tld.map(str::as_bytes), Utf8Detection::Allow)
}

/// The rightmost label of `host` as chardetng takes it (lower-case ASCII,
/// Punycode, no dot), or `None` for anything else: chardetng panics on a
/// label it cannot read, and an IP address has no top-level domain.
fn top_level_domain(host: &str) -> Option<&str> {
    let label = host.trim_end_matches('.').rsplit('.').next()?;
    let readable = !label.is_empty()
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    (readable && !label.bytes().all(|b| b.is_ascii_digit())).then_some(label)
}

/// A body cut at a size cap may end inside a multi-byte sequence; that alone
/// does not make it something other than UTF-8.
fn is_utf8_allowing_truncation(body: &[u8]) -> bool {
    match std::str::from_utf8(body) {
        Ok(_) => true,
        // No error length: the input ended inside a sequence.
        Err(error) => error.error_len().is_none(),
    }
}

/// Resolves an encoding label, with the standard's overrides for labels a
/// document may not declare for itself (a page that says UTF-16 in ASCII
/// bytes is not UTF-16).
fn label(name: &str) -> Option<&'static Encoding> {
    let encoding = Encoding::for_label(name.trim().as_bytes())?;
    if encoding == UTF_16BE || encoding == UTF_16LE {
        Some(UTF_8)
    } else if encoding == X_USER_DEFINED {
        Some(WINDOWS_1252)
    } else {
        Some(encoding)
    }
}

/// The value of a `charset=` parameter in a media type such as
/// `text/html; charset="utf-8"`.
fn charset_parameter(media_type: &str) -> Option<&str> {
    let lower = media_type.to_ascii_lowercase();
    let start = lower.find("charset")? + "charset".len();
    let rest = media_type[start..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let rest = rest.trim_start_matches(['"', '\'']);
    let end = rest
        .find(|c: char| c == ';' || c == '"' || c == '\'' || c.is_whitespace())
        .unwrap_or(rest.len());
    let value = &rest[..end];
    (!value.is_empty()).then_some(value)
}

/// Looks for an encoding declared by a `<meta>` element in `prefix`,
/// skipping comments.
fn prescan(prefix: &[u8]) -> Option<&'static Encoding> {
    let mut position = 0;
    while position < prefix.len() {
        let rest = &prefix[position..];
        if rest.starts_with(b"<!--") {
            position += find(rest, b"-->").map_or(rest.len(), |end| end + 3);
        } else if starts_with_ignore_case(rest, b"<meta")
            && rest
                .get(5)
                .is_some_and(|b| b.is_ascii_whitespace() || *b == b'/')
        {
            let (attributes, consumed) = meta_attributes(&rest[5..]);
            position += 5 + consumed;
            if let Some(encoding) = meta_encoding(&attributes) {
                return Some(encoding);
            }
        } else {
            position += 1;
        }
    }
    None
}

/// The encoding a `<meta>` element's attributes declare, if any.
fn meta_encoding(attributes: &[(String, String)]) -> Option<&'static Encoding> {
    let get = |name: &str| {
        attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    if let Some(charset) = get("charset") {
        return label(charset);
    }
    let is_content_type = get("http-equiv").is_some_and(|v| v.eq_ignore_ascii_case("content-type"));
    if is_content_type {
        return get("content").and_then(charset_parameter).and_then(label);
    }
    None
}

/// Reads the attributes of a tag up to its `>`; returns them (names
/// lower-cased) and the number of bytes consumed.
fn meta_attributes(bytes: &[u8]) -> (Vec<(String, String)>, usize) {
    let mut attributes = Vec::new();
    let mut i = 0;
    let skip_space = |i: &mut usize| {
        while *i < bytes.len() && (bytes[*i].is_ascii_whitespace() || bytes[*i] == b'/') {
            *i += 1;
        }
    };
    loop {
        skip_space(&mut i);
        if i >= bytes.len() || bytes[i] == b'>' {
            return (attributes, (i + 1).min(bytes.len()));
        }
        let name_start = i;
        while i < bytes.len()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
            && !bytes[i].is_ascii_whitespace()
        {
            i += 1;
        }
        let name = String::from_utf8_lossy(&bytes[name_start..i]).to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                let quote = bytes[i];
                i += 1;
                let start = i;
                while i < bytes.len() && bytes[i] != quote {
                    i += 1;
                }
                value = String::from_utf8_lossy(&bytes[start..i]).into_owned();
                i = (i + 1).min(bytes.len());
            } else {
                let start = i;
                while i < bytes.len() && bytes[i] != b'>' && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                value = String::from_utf8_lossy(&bytes[start..i]).into_owned();
            }
        }
        if !name.is_empty() {
            attributes.push((name, value));
        } else if i < bytes.len() && bytes[i] != b'>' {
            i += 1;
        }
    }
}

fn starts_with_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.len() >= needle.len() && haystack[..needle.len()].eq_ignore_ascii_case(needle)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_charset_decodes_latin1_bytes() {
        let body = b"<p>caf\xe9</p>";
        assert_eq!(
            decode(body, Some("text/html; charset=ISO-8859-1"), None),
            "<p>café</p>"
        );
    }

    #[test]
    fn byte_order_mark_wins_over_the_header() {
        let body = b"\xef\xbb\xbf<p>caf\xc3\xa9</p>";
        assert_eq!(
            decode(body, Some("text/html; charset=windows-1252"), None),
            "<p>café</p>"
        );
    }

    #[test]
    fn meta_charset_in_the_first_kilobyte_is_used() {
        let body =
            b"<html><head><meta charset=\"windows-1251\"><title>\xcf\xf0\xe8\xe2\xe5\xf2</title>";
        assert!(decode(body, None, None).contains("Привет"));
    }

    #[test]
    fn http_equiv_content_type_declares_the_charset() {
        let body = b"<!-- <meta charset=utf-8> --><meta http-equiv='Content-Type' content='text/html; charset=shift_jis'><p>\x93\xfa\x96\x7b</p>";
        assert!(decode(body, Some("text/html"), None).contains("日本"));
    }

    #[test]
    fn declared_legacy_charset_with_utf8_bytes_is_read_as_utf8() {
        let body = "<meta charset=iso-8859-15><p>pasó</p>".as_bytes();
        assert!(decode(body, Some("text/html; charset=iso-8859-1"), None).contains("pasó"));
    }

    #[test]
    fn late_declaration_is_used_for_bytes_that_are_not_utf8() {
        let mut body = b"<html><head>".to_vec();
        body.extend(std::iter::repeat_n(b' ', 2000));
        body.extend(b"<meta charset=gb2312><title>\xc4\xe3\xba\xc3</title>");
        assert!(decode(&body, None, None).contains("你好"));
    }

    #[test]
    fn undeclared_latin_bytes_are_read_as_windows_1252() {
        assert_eq!(
            decode(
                b"<p>Une id\xe9e na\xefve, \xe7a co\xfbte cher \xe0 No\xebl.</p>",
                None,
                None
            ),
            "<p>Une idée naïve, ça coûte cher à Noël.</p>"
        );
    }

    #[test]
    fn utf8_cut_inside_a_character_is_still_utf8() {
        let body = "été".as_bytes();
        assert!(decode(&body[..body.len() - 1], None, None).starts_with("ét"));
    }

    #[test]
    fn declared_utf16_in_ascii_bytes_means_utf8() {
        let body = "<meta charset=utf-16><p>é</p>".as_bytes();
        assert!(decode(body, None, None).contains('é'));
    }

    #[test]
    fn only_a_readable_top_level_domain_is_a_hint() {
        assert_eq!(top_level_domain("www.knigi.ru"), Some("ru"));
        assert_eq!(top_level_domain("pan.example.jp."), Some("jp"));
        assert_eq!(top_level_domain("xn--80aswg.xn--p1ai"), Some("xn--p1ai"));
        assert_eq!(top_level_domain("localhost"), Some("localhost"));
        assert_eq!(top_level_domain("192.168.0.1"), None);
        assert_eq!(top_level_domain("Example.COM"), None);
        assert_eq!(top_level_domain(""), None);
    }

    #[test]
    fn undeclared_utf8_with_a_stray_byte_past_the_sample_is_utf8() {
        let mut body = "<p>Привет, мир</p>".as_bytes().to_vec();
        body.extend("é".repeat(DETECTOR_BYTES).as_bytes());
        body.extend(b"\xff");
        assert!(decode(&body, None, None).starts_with("<p>Привет, мир</p>"));
    }
}
