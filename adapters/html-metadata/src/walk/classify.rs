//! What an element's tag, class, id, alt and links say about it: a block,
//! the page's branding, a logo, its chrome, a decoration; and the attribute
//! values the walk reads as numbers or decodes.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

use crate::text::case_insensitive;

/// The attributes without namespace most elements are classified by.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Named<'a> {
    pub(super) class: Option<&'a str>,
    pub(super) id: Option<&'a str>,
    pub(super) itemprop: Option<&'a str>,
}

impl<'a> Named<'a> {
    /// Keeps `value` when `local` is one of the attributes.
    pub(super) fn read(&mut self, local: &str, value: &'a str) {
        match local {
            "class" => self.class = Some(value),
            "id" => self.id = Some(value),
            "itemprop" => self.itemprop = Some(value),
            _ => {}
        }
    }
}

/// Elements whose edges break the visible text into lines.
pub(super) fn is_block(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "body"
            | "dd"
            | "div"
            | "dl"
            | "dt"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "li"
            | "main"
            | "ol"
            | "p"
            | "pre"
            | "section"
            | "table"
            | "td"
            | "th"
            | "tr"
            | "ul"
            | "button"
            | "option"
            | "label"
    )
}

/// The class or id says logo.
pub(super) fn names_logo(class: Option<&str>, id: Option<&str>) -> bool {
    [class, id]
        .iter()
        .any(|value| value.is_some_and(|value| LOGO.is_match(value)))
}

/// A class or id of the header or branding area.
pub(super) fn names_branding(value: &str) -> bool {
    !value.is_empty() && BRANDING.is_match(value)
}

/// Class and id words of a page's header or branding area.
static BRANDING: LazyLock<AhoCorasick> = LazyLock::new(|| {
    case_insensitive(&[
        "header",
        "masthead",
        "branding",
        "navbar",
        "site-title",
        "brand",
        "logo",
    ])
});
static LOGO: LazyLock<AhoCorasick> = LazyLock::new(|| case_insensitive(&["logo"]));
/// Class and id words of the parts of a page that are not its content.
static CHROME: LazyLock<AhoCorasick> = LazyLock::new(|| {
    case_insensitive(&[
        "footer",
        "sidebar",
        "cookie",
        "consent",
        "gdpr",
        "banner",
        "modal",
        "popup",
        "newsletter",
        "breadcrumb",
        "menu",
    ])
});
/// Words that mark an image as decoration rather than the page's picture.
static DECORATIVE: LazyLock<AhoCorasick> = LazyLock::new(|| {
    case_insensitive(&[
        "logo",
        "icon",
        "avatar",
        "emoji",
        "badge",
        "pixel",
        "spacer",
        "blank.gif",
        "1x1",
        "sprite",
        "loader",
        "loading",
        "placeholder",
        "gravatar",
        "flag",
        "arrow",
        "button",
        "rating",
        "star",
        "facebook",
        "twitter",
        "linkedin",
        "instagram",
        "youtube",
        "pinterest",
        "payment",
        "data:",
        "creativecommons",
        "88x31",
        "math-fallback",
        "/header/",
    ])
});

/// A class, id, alt or file name that says logo.
pub(super) fn says_logo(value: &str) -> bool {
    LOGO.is_match(value)
}

/// A class or id of a part of the page that is not its content.
pub(super) fn names_chrome(value: &str) -> bool {
    !value.is_empty() && CHROME.is_match(value)
}

/// A class or id that names the page's footer (`footer`, `site-footer`,
/// `footer-bottom`).
pub(super) fn names_footer(value: &str) -> bool {
    value
        .as_bytes()
        .windows(b"footer".len())
        .any(|window| window.eq_ignore_ascii_case(b"footer"))
}

/// The business fact an `itemprop` names (schema.org's property name),
/// when it names one the company is read from.
pub(super) fn business_itemprop(itemprop: Option<&str>) -> Option<&'static str> {
    const PROPERTIES: &[&str] = &[
        "legalName",
        "streetAddress",
        "postalCode",
        "addressLocality",
        "addressRegion",
        "addressCountry",
        "vatID",
        "telephone",
    ];
    itemprop?
        .split_ascii_whitespace()
        .find_map(|token| PROPERTIES.iter().find(|property| **property == token))
        .copied()
}

/// A class, id, alt or `src` that marks an image as decoration.
pub(super) fn looks_decorative(value: &str) -> bool {
    DECORATIVE.is_match(value)
}

/// `itemprop` names `image` among its tokens.
pub(super) fn says_itemprop_image(itemprop: Option<&str>) -> bool {
    itemprop.is_some_and(|value| {
        value
            .split_ascii_whitespace()
            .any(|token| token.eq_ignore_ascii_case("image"))
    })
}

/// A `width`/`height` attribute in CSS pixels (`300`, `300px`); percentages
/// and other units say nothing about the picture.
pub(super) fn pixels(value: &str) -> Option<u32> {
    let value = value.trim();
    let value = value.strip_suffix("px").unwrap_or(value).trim();
    let whole = value.split('.').next()?;
    whole.parse().ok()
}

/// A link to the site's home page: `/`, `#`, or a site root.
pub(super) fn is_home_link(href: &str) -> bool {
    let href = href.trim();
    if href == "/" || href == "./" || href == "#" {
        return true;
    }
    // An absolute link to a site root: scheme://host/ with no path.
    href.split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/').find('/').is_none() && !rest.contains('?'))
        .unwrap_or(false)
}

/// Cloudflare's e-mail obfuscation: hex bytes, the first one the XOR key.
pub(super) fn decode_cloudflare_email(hex: &str) -> Option<String> {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect::<Option<_>>()?;
    let (key, rest) = bytes.split_first()?;
    let decoded: Vec<u8> = rest.iter().map(|byte| byte ^ key).collect();
    String::from_utf8(decoded)
        .ok()
        .filter(|email| email.contains('@'))
}
