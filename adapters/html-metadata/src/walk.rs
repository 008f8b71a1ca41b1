//! The single walk over the parsed document that gathers everything the field
//! extractors and the technology rules look at.
//!
//! Nothing after this module touches the tree: each extractor reads the
//! [`Collected`] lists, so adding a rule never adds a pass over the document.

use std::collections::HashSet;
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

use kuchikiki::iter::NodeEdge;
use kuchikiki::{ElementData, NodeRef};

/// Caps that keep one hostile page from costing more than a normal one.
const MAX_VISIBLE_TEXT: usize = 512 * 1024;
const MAX_INLINE_SCRIPT: usize = 256 * 1024;
const MAX_INLINE_SCRIPTS_TOTAL: usize = 2 * 1024 * 1024;
const MAX_COMMENTS_TOTAL: usize = 64 * 1024;
const MAX_TITLE_SOURCE: usize = 8 * 1024;
const MAX_LIST: usize = 4096;
const MAX_ATTRIBUTE_SIGNAL: usize = 200;
/// Content images and paragraphs are fallbacks: the first few are enough,
/// and keeping few keeps big pages cheap.
const MAX_CONTENT_IMAGES: usize = 48;
const MAX_PARAGRAPHS: usize = 16;
const MAX_PARAGRAPH: usize = 4 * 1024;
/// Link text longer than this is prose, not a menu entry.
const MAX_ANCHOR_TEXT: usize = 80;

/// A `<link>` element.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    /// The `rel` tokens, lower-cased.
    pub(crate) rel: Vec<String>,
    pub(crate) href: String,
    pub(crate) sizes: Option<String>,
    /// The `type` attribute (`image/svg+xml`, ...).
    pub(crate) media_type: Option<String>,
}

/// An `<a href>` that is not a `mailto:`/`tel:` link.
#[derive(Debug, Clone)]
pub(crate) struct Anchor {
    pub(crate) href: String,
    /// Inside `<article>`/`<main>` rather than the header, navigation or
    /// footer.
    pub(crate) in_content: bool,
    /// Its text, up to [`MAX_ANCHOR_TEXT`] bytes.
    pub(crate) text: String,
}

/// An `<img>` that might be the page's picture when no metadata names one.
#[derive(Debug, Clone)]
pub(crate) struct ContentImage {
    pub(crate) src: String,
    pub(crate) width: Option<u32>,
    pub(crate) height: Option<u32>,
    /// A logo, icon, avatar, emoji, badge, tracking pixel or spacer by its
    /// class, id, alt, file name or place in the page.
    pub(crate) decorative: bool,
}

/// The text of a `<p>`, and whether it sits in the page's chrome (header,
/// navigation, footer, sidebar, a cookie or consent banner).
#[derive(Debug, Clone)]
pub(crate) struct Paragraph {
    pub(crate) text: String,
    pub(crate) in_chrome: bool,
}

/// An `<img>` that names itself a logo or sits in the page's branding area.
#[derive(Debug, Clone)]
pub(crate) struct ImageCandidate {
    pub(crate) src: String,
    /// Class, id, alt and file name say "logo".
    pub(crate) says_logo: bool,
    /// WordPress's `custom-logo` class.
    pub(crate) custom_logo: bool,
    /// Inside `<header>`, a header/branding/navbar container or a link to
    /// the home page.
    pub(crate) in_branding: bool,
}

/// What one walk over the document found, in document order.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    pub(crate) html_lang: Option<String>,
    pub(crate) base_href: Option<String>,
    pub(crate) title: Option<String>,
    pub(crate) first_h1: Option<String>,
    /// `(key, content)` of `<meta>` elements; the key is the lower-cased
    /// `name`, `property` or `itemprop`, or `http-equiv:` and the lower-cased
    /// `http-equiv` value.
    pub(crate) metas: Vec<(String, String)>,
    pub(crate) links: Vec<Link>,
    pub(crate) script_srcs: Vec<String>,
    pub(crate) inline_scripts: Vec<String>,
    pub(crate) json_ld: Vec<String>,
    /// `href` of links, and whether the link sits in the page's content
    /// (`<article>`, `<main>`) rather than its header, navigation or footer.
    pub(crate) anchors: Vec<Anchor>,
    pub(crate) form_actions: Vec<String>,
    /// `src` of `<iframe>`s: video, map and booking embeds.
    pub(crate) frame_srcs: Vec<String>,
    pub(crate) images: Vec<ImageCandidate>,
    /// The first `<img>`s of the page, for the image fallback.
    pub(crate) content_images: Vec<ContentImage>,
    /// `itemprop=image` on an `<img>` (`src`) or `<link>` (`href`).
    pub(crate) itemprop_images: Vec<String>,
    /// The first `<video poster>`.
    pub(crate) video_poster: Option<String>,
    /// The first paragraphs of the page, for the description fallback.
    pub(crate) paragraphs: Vec<Paragraph>,
    pub(crate) comments: Vec<String>,
    /// Markers from element attributes for the technology rules: each
    /// distinct attribute name as `name=value` (first value seen) and every
    /// id as `#id`.
    pub(crate) dom_markers: Vec<String>,
    /// `mailto:` and `tel:` links with their position in `visible_text`,
    /// and e-mail addresses hidden by Cloudflare's obfuscation (already
    /// decoded, as `mailto:` links).
    pub(crate) contact_links: Vec<(String, usize)>,
    /// The text a visitor reads: text nodes outside scripts, styles and
    /// templates, with a line break at block boundaries.
    pub(crate) visible_text: String,
}

/// What the ancestors of the element being entered say about it.
#[derive(Debug, Clone, Copy)]
struct Ancestry {
    in_branding: bool,
    in_logo: bool,
    in_content: bool,
    in_chrome: bool,
}

/// Per-element bookkeeping undone when the walk leaves the element.
#[derive(Debug, Clone, Copy, Default)]
struct Scope {
    hides_text: bool,
    title: bool,
    h1: bool,
    branding: bool,
    logo: bool,
    content: bool,
    block: bool,
    /// Header, navigation, footer, sidebar or a banner.
    chrome: bool,
    paragraph: bool,
    anchor: bool,
}

/// Walks `document` once and collects what the extractors need.
pub(crate) fn collect(document: &NodeRef) -> Collected {
    let mut collected = Collected::default();
    let mut stack: Vec<Scope> = Vec::new();
    let mut hidden_depth = 0usize;
    let mut title_depth = 0usize;
    let mut h1_depth = 0usize;
    let mut branding_depth = 0usize;
    let mut logo_depth = 0usize;
    let mut content_depth = 0usize;
    let mut title_text = String::new();
    let mut h1_text = String::new();
    let mut h1_done = false;
    let mut title_done = false;
    let mut seen_attributes: HashSet<String> = HashSet::new();
    let mut inline_total = 0usize;
    let mut comments_total = 0usize;
    let mut chrome_depth = 0usize;
    let mut paragraph_depth = 0usize;
    let mut paragraph_text = String::new();
    let mut paragraph_in_chrome = false;
    let mut anchor_depth = 0usize;

    for edge in document.traverse() {
        match edge {
            NodeEdge::Start(node) => {
                if let Some(element) = node.as_element() {
                    let scope = enter_element(
                        element,
                        &node,
                        &mut collected,
                        &mut seen_attributes,
                        &mut inline_total,
                        Ancestry {
                            in_branding: branding_depth > 0,
                            in_logo: logo_depth > 0,
                            in_content: content_depth > 0,
                            in_chrome: chrome_depth > 0,
                        },
                    );
                    chrome_depth += usize::from(scope.chrome);
                    if scope.paragraph {
                        if paragraph_depth == 0 {
                            paragraph_in_chrome = chrome_depth > 0;
                        }
                        paragraph_depth += 1;
                    }
                    anchor_depth += usize::from(scope.anchor);
                    hidden_depth += usize::from(scope.hides_text);
                    title_depth += usize::from(scope.title && !title_done);
                    h1_depth += usize::from(scope.h1 && !h1_done);
                    branding_depth += usize::from(scope.branding);
                    logo_depth += usize::from(scope.logo);
                    content_depth += usize::from(scope.content);
                    if scope.block {
                        push_break(&mut collected.visible_text);
                    }
                    stack.push(scope);
                } else if let Some(text) = node.as_text() {
                    let text = text.borrow();
                    if title_depth > 0 {
                        push_capped(&mut title_text, &text, MAX_TITLE_SOURCE);
                    } else if hidden_depth == 0 {
                        if h1_depth > 0 {
                            push_capped(&mut h1_text, &text, MAX_TITLE_SOURCE);
                        }
                        if paragraph_depth > 0 {
                            push_capped(&mut paragraph_text, &text, MAX_PARAGRAPH);
                        }
                        if anchor_depth > 0
                            && let Some(anchor) = collected.anchors.last_mut()
                        {
                            push_capped(&mut anchor.text, &text, MAX_ANCHOR_TEXT);
                        }
                        push_capped(&mut collected.visible_text, &text, MAX_VISIBLE_TEXT);
                    }
                } else if let Some(comment) = node.as_comment() {
                    let comment = comment.borrow();
                    if comments_total + comment.len() <= MAX_COMMENTS_TOTAL
                        && collected.comments.len() < MAX_LIST
                    {
                        comments_total += comment.len();
                        collected.comments.push(comment.clone());
                    }
                }
            }
            NodeEdge::End(node) => {
                if node.as_element().is_none() {
                    continue;
                }
                let Some(scope) = stack.pop() else { continue };
                hidden_depth -= usize::from(scope.hides_text);
                branding_depth -= usize::from(scope.branding);
                logo_depth -= usize::from(scope.logo);
                content_depth -= usize::from(scope.content);
                chrome_depth -= usize::from(scope.chrome);
                anchor_depth -= usize::from(scope.anchor);
                if scope.paragraph {
                    paragraph_depth -= 1;
                    if paragraph_depth == 0 {
                        let text = std::mem::take(&mut paragraph_text);
                        if collected.paragraphs.len() < MAX_PARAGRAPHS && !text.trim().is_empty() {
                            collected.paragraphs.push(Paragraph {
                                text,
                                in_chrome: paragraph_in_chrome,
                            });
                        }
                    }
                }
                if scope.title && title_depth > 0 {
                    title_depth -= 1;
                    if title_depth == 0 {
                        title_done = true;
                        collected.title = Some(std::mem::take(&mut title_text));
                    }
                }
                if scope.h1 && h1_depth > 0 {
                    h1_depth -= 1;
                    if h1_depth == 0 {
                        h1_done = true;
                        collected.first_h1 = Some(std::mem::take(&mut h1_text));
                    }
                }
                if scope.block {
                    push_break(&mut collected.visible_text);
                }
            }
        }
    }
    collected
}

fn enter_element(
    element: &ElementData,
    node: &NodeRef,
    collected: &mut Collected,
    seen_attributes: &mut HashSet<String>,
    inline_total: &mut usize,
    ancestry: Ancestry,
) -> Scope {
    let name: &str = &element.name.local;
    let is_html = &*element.name.ns == "http://www.w3.org/1999/xhtml";
    let attributes = element.attributes.borrow();
    let get = |key: &str| attributes.get(key);
    let mut scope = Scope::default();

    for (attribute_name, attribute) in &attributes.map {
        let local: &str = &attribute_name.local;
        if local == "id" {
            push_limited(
                &mut collected.dom_markers,
                format!("#{}", truncate(&attribute.value, MAX_ATTRIBUTE_SIGNAL)),
            );
        } else if local == "data-cfemail"
            && let Some(email) = decode_cloudflare_email(&attribute.value)
        {
            let position = collected.visible_text.len();
            push_limited(
                &mut collected.contact_links,
                (format!("mailto:{email}"), position),
            );
        }
        if (local.starts_with("data-") || local.starts_with("ng-") || local.contains(':'))
            && seen_attributes.len() < MAX_LIST
            && !seen_attributes.contains(local)
        {
            seen_attributes.insert(local.to_owned());
            push_limited(
                &mut collected.dom_markers,
                format!(
                    "{local}={}",
                    truncate(&attribute.value, MAX_ATTRIBUTE_SIGNAL)
                ),
            );
        }
    }

    if !is_html {
        // SVG and MathML: their <title> and <script> are not the page's.
        scope.hides_text = name == "style" || name == "script";
        return scope;
    }

    match name {
        "html" => {
            if collected.html_lang.is_none() {
                collected.html_lang = get("lang")
                    .or_else(|| get("xml:lang"))
                    .filter(|lang| !lang.trim().is_empty())
                    .map(str::to_owned);
            }
        }
        "base" => {
            if collected.base_href.is_none() {
                collected.base_href = get("href").map(str::to_owned);
            }
        }
        "title" => scope.title = collected.title.is_none(),
        "h1" => scope.h1 = collected.first_h1.is_none(),
        "meta" => {
            if let Some(content) = get("content") {
                // `http-equiv` and `name` may sit on one element, and RDFa
                // allows several space-separated properties.
                if let Some(equiv) = get("http-equiv") {
                    let key = format!("http-equiv:{}", equiv.trim().to_ascii_lowercase());
                    push_limited(&mut collected.metas, (key, content.to_owned()));
                }
                for attribute in ["name", "property", "itemprop"] {
                    for key in get(attribute).unwrap_or_default().split_ascii_whitespace() {
                        push_limited(
                            &mut collected.metas,
                            (key.to_ascii_lowercase(), content.to_owned()),
                        );
                    }
                }
            }
        }
        "link" => {
            if let Some(href) = get("href") {
                let rel = get("rel")
                    .unwrap_or_default()
                    .split_ascii_whitespace()
                    .map(str::to_ascii_lowercase)
                    .collect();
                push_limited(
                    &mut collected.links,
                    Link {
                        rel,
                        href: href.to_owned(),
                        sizes: get("sizes").map(str::to_owned),
                        media_type: get("type").map(str::to_owned),
                    },
                );
                if says_itemprop_image(get("itemprop")) {
                    push_limited(&mut collected.itemprop_images, href.to_owned());
                }
            }
        }
        "script" => {
            scope.hides_text = true;
            if let Some(src) = get("src") {
                push_limited(&mut collected.script_srcs, src.to_owned());
            } else {
                let kind = get("type").unwrap_or_default().trim().to_ascii_lowercase();
                if kind == "application/ld+json" {
                    push_limited(&mut collected.json_ld, node.text_contents());
                } else if *inline_total < MAX_INLINE_SCRIPTS_TOTAL {
                    let mut text = node.text_contents();
                    truncate_in_place(&mut text, MAX_INLINE_SCRIPT);
                    *inline_total += text.len();
                    push_limited(&mut collected.inline_scripts, text);
                }
            }
        }
        "iframe" => {
            scope.hides_text = true;
            if let Some(src) = get("src") {
                push_limited(&mut collected.frame_srcs, src.to_owned());
            }
        }
        "style" | "noscript" | "template" | "textarea" | "object" | "head" => {
            scope.hides_text = true;
        }
        "a" => {
            if let Some(href) = get("href") {
                let position = collected.visible_text.len();
                let scheme = href
                    .trim_start()
                    .get(..7)
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                if scheme.starts_with("mailto:")
                    || scheme.starts_with("tel:")
                    || scheme.starts_with("callto:")
                {
                    push_limited(
                        &mut collected.contact_links,
                        (href.trim().to_owned(), position),
                    );
                } else if let Some((_, hex)) = href.split_once("/cdn-cgi/l/email-protection#") {
                    if let Some(email) = decode_cloudflare_email(hex) {
                        push_limited(
                            &mut collected.contact_links,
                            (format!("mailto:{email}"), position),
                        );
                    }
                } else if collected.anchors.len() < MAX_LIST {
                    collected.anchors.push(Anchor {
                        href: href.to_owned(),
                        in_content: ancestry.in_content,
                        text: String::new(),
                    });
                    // Only the anchor just pushed collects text.
                    scope.anchor = true;
                }
                scope.branding = is_home_link(href)
                    || [get("class"), get("id")]
                        .iter()
                        .any(|value| value.is_some_and(names_branding));
            }
            scope.logo = names_logo(get("class"), get("id"));
        }
        "form" => {
            if let Some(action) = get("action") {
                push_limited(&mut collected.form_actions, action.to_owned());
            }
            scope.block = true;
        }
        "img" => {
            // Lazy loading puts a placeholder (often a `data:` URI) in `src`
            // and the real picture in `data-src`.
            let src = get("src")
                .filter(|src| !src.trim_start().starts_with("data:"))
                .or_else(|| get("data-src"))
                .or_else(|| get("data-lazy-src"))
                .or_else(|| get("src"));
            if let Some(src) = src {
                let class = get("class").unwrap_or_default();
                let id = get("id").unwrap_or_default();
                let alt = get("alt").unwrap_or_default();
                let custom_logo = class.split_ascii_whitespace().any(|c| c == "custom-logo");
                let file_name = src.rsplit('/').next().unwrap_or_default();
                let says_logo = ancestry.in_logo
                    || [class, id, alt, file_name]
                        .iter()
                        .any(|value| LOGO.is_match(value));
                let in_branding = ancestry.in_branding;
                if says_logo || custom_logo {
                    push_limited(
                        &mut collected.images,
                        ImageCandidate {
                            src: src.to_owned(),
                            says_logo,
                            custom_logo,
                            in_branding,
                        },
                    );
                }
                if says_itemprop_image(get("itemprop")) {
                    push_limited(&mut collected.itemprop_images, src.to_owned());
                }
                if collected.content_images.len() < MAX_CONTENT_IMAGES {
                    let decorative = says_logo
                        || custom_logo
                        || in_branding
                        || ancestry.in_chrome
                        || [class, id, alt, src]
                            .iter()
                            .any(|value| DECORATIVE.is_match(value));
                    collected.content_images.push(ContentImage {
                        src: src.to_owned(),
                        width: get("width").and_then(pixels),
                        height: get("height").and_then(pixels),
                        decorative,
                    });
                }
            }
        }
        "video" => {
            if collected.video_poster.is_none() {
                collected.video_poster = get("poster")
                    .filter(|poster| !poster.trim().is_empty())
                    .map(str::to_owned);
            }
        }
        "p" => {
            scope.block = true;
            scope.paragraph = collected.paragraphs.len() < MAX_PARAGRAPHS;
        }
        "footer" | "aside" => {
            scope.block = true;
            scope.chrome = true;
        }
        "br" | "hr" => push_break(&mut collected.visible_text),
        "article" | "main" => {
            scope.content = true;
            scope.block = true;
        }
        "header" | "nav" => {
            scope.branding = true;
            scope.chrome = true;
            scope.block = true;
            scope.logo = names_logo(get("class"), get("id"));
        }
        _ => {
            scope.block = is_block(name);
            let class = get("class").unwrap_or_default();
            let id = get("id").unwrap_or_default();
            scope.branding = [class, id].iter().any(|value| names_branding(value));
            scope.logo = names_logo(Some(class), Some(id));
            scope.chrome = scope.branding
                || [class, id]
                    .iter()
                    .any(|value| !value.is_empty() && CHROME.is_match(value));
        }
    }
    scope
}

fn is_block(name: &str) -> bool {
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

fn names_logo(class: Option<&str>, id: Option<&str>) -> bool {
    [class, id]
        .iter()
        .any(|value| value.is_some_and(|value| LOGO.is_match(value)))
}

fn names_branding(value: &str) -> bool {
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

fn says_itemprop_image(itemprop: Option<&str>) -> bool {
    itemprop.is_some_and(|value| {
        value
            .split_ascii_whitespace()
            .any(|token| token.eq_ignore_ascii_case("image"))
    })
}

/// A `width`/`height` attribute in CSS pixels (`300`, `300px`); percentages
/// and other units say nothing about the picture.
fn pixels(value: &str) -> Option<u32> {
    let value = value.trim();
    let value = value.strip_suffix("px").unwrap_or(value).trim();
    let whole = value.split('.').next()?;
    whole.parse().ok()
}

/// A case-insensitive matcher for constant ASCII words.
pub(crate) fn case_insensitive(words: &[&str]) -> AhoCorasick {
    #[allow(clippy::expect_used)] // Constant ASCII words always build.
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(words)
        .expect("constant words build a matcher")
}

fn is_home_link(href: &str) -> bool {
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
fn decode_cloudflare_email(hex: &str) -> Option<String> {
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

fn push_break(text: &mut String) {
    if !text.is_empty() && !text.ends_with('\n') && text.len() < MAX_VISIBLE_TEXT {
        text.push('\n');
    }
}

fn push_capped(target: &mut String, text: &str, cap: usize) {
    if target.len() >= cap {
        return;
    }
    let room = cap - target.len();
    target.push_str(truncate(text, room));
}

fn push_limited<T>(list: &mut Vec<T>, value: T) {
    if list.len() < MAX_LIST {
        list.push(value);
    }
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

fn truncate_in_place(text: &mut String, max_bytes: usize) {
    let keep = truncate(text, max_bytes).len();
    text.truncate(keep);
}
