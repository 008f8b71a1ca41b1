//! The single walk over the document that gathers everything the field
//! extractors and the technology rules look at, done while the parser
//! builds the document: no tree is kept.
//!
//! Nothing after this module reads the page: each extractor reads the
//! [`Collected`] lists, so adding a rule never adds a pass over the document.
//! A [`Walker`] holds the walk's state; entering an element runs the handler
//! of its tag and returns the element's [`Scope`], which leaving it undoes.
//! `sink` turns the parser's tree-building steps into those enter, text and
//! leave events, in document order.

mod classify;
mod head;
mod markers;
mod scope;
mod sink;

use std::collections::HashSet;

use html5ever::{Attribute, QualName, ns};

use self::classify::{
    Named, business_itemprop, decode_cloudflare_email, is_block, is_home_link, looks_decorative,
    names_branding, names_chrome, names_footer, names_logo, pixels, says_itemprop_image, says_logo,
};
use self::scope::{Depths, FirstText, OpenParagraph, Scope};
use crate::collected::{Anchor, Collected, ContentImage, ImageCandidate, MAX_ANCHOR_TEXT};
use crate::text::{push_capped, truncate};

/// Caps that keep one hostile page from costing more than a normal one.
const MAX_VISIBLE_TEXT: usize = 512 * 1024;
const MAX_COMMENTS_TOTAL: usize = 64 * 1024;
const MAX_LIST: usize = 4096;
const MAX_ATTRIBUTE_SIGNAL: usize = 200;
/// Content images and paragraphs are fallbacks: the first few are enough,
/// and keeping few keeps big pages cheap.
const MAX_CONTENT_IMAGES: usize = 48;
const MAX_PARAGRAPHS: usize = 16;
/// A microdata value (a street, a name) is short.
const MAX_MICRODATA_VALUE: usize = 512;
/// A footer's company lines fit in far less; mega-footers with sitemaps
/// are cut.
const MAX_FOOTER_TEXT: usize = 16 * 1024;

pub(crate) use self::sink::CollectingSink;

/// What a page is read for: a contact or legal page only for its contacts
/// and company, so the walk skips what only the home page's other fields
/// and the technology rules read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Reading {
    #[default]
    Everything,
    /// Language, `<base>`, `<meta>`, links and their text, `mailto:` and
    /// `tel:` links, JSON-LD, and the visible text.
    Contacts,
}

/// An element's attributes as the parser gives them, looked up by name
/// like the DOM's `getAttribute` (no namespace).
#[derive(Debug, Clone, Copy)]
struct Attributes<'a>(&'a [Attribute]);

impl<'a> Attributes<'a> {
    fn get(self, local: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|attribute| attribute.name.ns == ns!() && &*attribute.name.local == local)
            .map(|attribute| &*attribute.value)
    }
}

/// The text of the element being walked that a later step reads whole:
/// an inline `<script>` or `<style>`, gathered until the element closes.
#[derive(Debug)]
struct RawText {
    kind: RawTextKind,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawTextKind {
    JsonLd,
    Script,
    Style,
}

/// The walk's state: what it has collected, and where in the tree it is.
#[derive(Debug, Default)]
struct Walker {
    reading: Reading,
    collected: Collected,
    /// The scope of each open element, innermost last.
    scopes: Vec<Scope>,
    depths: Depths,
    title: FirstText,
    h1: FirstText,
    paragraph: OpenParagraph,
    /// Attribute names already given as markers: the first value of each
    /// is enough for the rules.
    seen_attributes: HashSet<String>,
    /// Class names already given as markers.
    seen_classes: HashSet<String>,
    inline_styles_bytes: usize,
    inline_scripts_bytes: usize,
    comments_bytes: usize,
    /// The business microdata properties open, innermost last, with their
    /// text so far.
    open_microdata: Vec<(&'static str, String)>,
    /// The script or style open, whose text is gathered for later steps.
    raw_text: Option<RawText>,
}

impl Walker {
    fn new(reading: Reading) -> Self {
        Self {
            reading,
            ..Self::default()
        }
    }

    /// Whether the walk gathers what only the home page's descriptive
    /// fields and the technology rules read.
    fn reads_everything(&self) -> bool {
        self.reading == Reading::Everything
    }

    fn enter(&mut self, name: &QualName, attributes: &[Attribute]) {
        let attributes = Attributes(attributes);
        let named = self.read_attributes(attributes);
        let local: &str = &name.local;
        let mut scope = if name.ns == ns!(html) {
            self.html_element(local, attributes, named)
        } else {
            // SVG and MathML: their <title> and <script> are not the page's.
            Scope {
                hides_text: local == "style" || local == "script",
                ..Scope::default()
            }
        };
        if local != "meta"
            && let Some(property) = business_itemprop(named.itemprop)
        {
            scope.microdata = true;
            self.open_microdata.push((property, String::new()));
        }
        self.depths.open(&scope);
        if scope.paragraph {
            self.paragraph.open(self.depths.chrome > 0);
        }
        self.title.open(scope.title);
        self.h1.open(scope.h1);
        if scope.block {
            push_break(&mut self.collected.visible_text);
            self.footer_break();
        }
        self.scopes.push(scope);
    }

    fn leave(&mut self) {
        let Some(scope) = self.scopes.pop() else {
            return;
        };
        if let Some(raw_text) = self.raw_text.take() {
            self.raw_text_closed(raw_text);
        }
        if scope.block {
            self.footer_break();
        }
        if scope.microdata
            && let Some(property) = self.open_microdata.pop()
        {
            push_limited(&mut self.collected.microdata, property);
        }
        self.depths.close(&scope);
        if scope.paragraph
            && let Some(paragraph) = self.paragraph.close()
            && self.collected.paragraphs.len() < MAX_PARAGRAPHS
            && !paragraph.text.trim().is_empty()
        {
            self.collected.paragraphs.push(paragraph);
        }
        if let Some(title) = self.title.close(scope.title) {
            self.collected.title = Some(title);
        }
        if let Some(h1) = self.h1.close(scope.h1) {
            self.collected.first_h1 = Some(h1);
        }
        if scope.block {
            push_break(&mut self.collected.visible_text);
        }
    }

    fn footer_break(&mut self) {
        if self.depths.footer > 0 {
            push_break(&mut self.collected.footer_text);
        }
    }

    fn text(&mut self, text: &str) {
        if let Some(raw_text) = &mut self.raw_text {
            raw_text.push(text);
            return;
        }
        if self.title.is_open() {
            self.title.push(text);
            return;
        }
        if self.depths.hidden > 0 {
            return;
        }
        if self.h1.is_open() {
            self.h1.push(text);
        }
        if self.paragraph.is_open() {
            self.paragraph.push(text);
        }
        if self.depths.anchor > 0
            && let Some(anchor) = self.collected.anchors.last_mut()
        {
            push_capped(&mut anchor.text, text, MAX_ANCHOR_TEXT);
        }
        push_capped(&mut self.collected.visible_text, text, MAX_VISIBLE_TEXT);
        if self.depths.footer > 0 {
            push_capped(&mut self.collected.footer_text, text, MAX_FOOTER_TEXT);
        }
        if let Some((_, value)) = self.open_microdata.last_mut() {
            push_capped(value, text, MAX_MICRODATA_VALUE);
        }
    }

    fn comment(&mut self, comment: &str) {
        if self.reads_everything()
            && self.comments_bytes + comment.len() <= MAX_COMMENTS_TOTAL
            && self.collected.comments.len() < MAX_LIST
        {
            self.comments_bytes += comment.len();
            self.collected.comments.push(comment.to_owned());
        }
    }

    /// Ids, framework attributes (`data-*`, `ng-*`, namespaced) and the
    /// page-feature attributes (`markers`) as markers for the rules, and
    /// Cloudflare-obfuscated addresses; and the attributes most elements
    /// are classified by, read in this pass rather than looked up each.
    fn attribute_markers<'a>(&mut self, attributes: Attributes<'a>) -> Named<'a> {
        let mut named = Named::default();
        let markers = self.reads_everything();
        for attribute in attributes.0 {
            let local: &str = &attribute.name.local;
            if attribute.name.ns.is_empty() {
                named.read(local, &attribute.value);
            }
            if local == "id" && markers {
                push_limited(
                    &mut self.collected.dom_markers,
                    format!("#{}", truncate(&attribute.value, MAX_ATTRIBUTE_SIGNAL)),
                );
            } else if local == "data-cfemail"
                && let Some(email) = decode_cloudflare_email(&attribute.value)
            {
                self.contact_link(format!("mailto:{email}"));
            }
            if markers
                && (local.starts_with("data-")
                    || local.starts_with("ng-")
                    || local.contains(':')
                    || Self::is_feature_attribute(local))
                && self.seen_attributes.len() < MAX_LIST
                && !self.seen_attributes.contains(local)
            {
                self.seen_attributes.insert(local.to_owned());
                push_limited(
                    &mut self.collected.dom_markers,
                    format!(
                        "{local}={}",
                        truncate(&attribute.value, MAX_ATTRIBUTE_SIGNAL)
                    ),
                );
            }
        }
        named
    }

    /// The markers of an element's attributes and class names, as far as
    /// the reading needs them, and the attributes it is classified by.
    fn read_attributes<'a>(&mut self, attributes: Attributes<'a>) -> Named<'a> {
        let named = self.attribute_markers(attributes);
        if self.reads_everything() {
            self.class_markers(named.class);
        }
        named
    }

    /// Attributes that a second `<html>` or `<body>` tag gives the element
    /// after it was entered: read as if it had them from the start.
    fn late_attributes(&mut self, name: &QualName, attributes: &[Attribute]) {
        let attributes = Attributes(attributes);
        self.read_attributes(attributes);
        if name.ns == ns!(html) && &*name.local == "html" {
            self.html_lang(attributes);
        }
    }

    fn html_lang(&mut self, attributes: Attributes<'_>) {
        if self.collected.html_lang.is_none() {
            self.collected.html_lang = attributes
                .get("lang")
                .or_else(|| attributes.get("xml:lang"))
                .filter(|lang| !lang.trim().is_empty())
                .map(str::to_owned);
        }
    }

    /// Runs the handler of an HTML element's tag.
    fn html_element(&mut self, name: &str, attributes: Attributes<'_>, named: Named<'_>) -> Scope {
        let collected = &mut self.collected;
        match name {
            "html" => {
                self.html_lang(attributes);
                Scope::default()
            }
            "base" => {
                if collected.base_href.is_none() {
                    collected.base_href = attributes.get("href").map(str::to_owned);
                }
                Scope::default()
            }
            "title" => Scope {
                title: collected.title.is_none(),
                ..Scope::default()
            },
            "h1" => Scope {
                h1: collected.first_h1.is_none(),
                ..Scope::default()
            },
            "meta" => {
                self.meta(attributes);
                Scope::default()
            }
            "link" => {
                self.link(attributes);
                Scope::default()
            }
            "script" => {
                self.script(attributes);
                Scope::hiding()
            }
            "iframe" => {
                if let Some(src) = attributes.get("src") {
                    push_limited(&mut collected.frame_srcs, src.to_owned());
                }
                Scope::hiding()
            }
            "style" => {
                self.inline_style();
                Scope::hiding()
            }
            "noscript" | "template" | "textarea" | "object" | "head" => Scope::hiding(),
            "a" => self.anchor(attributes, named),
            "form" => {
                if let Some(action) = attributes.get("action") {
                    push_limited(&mut collected.form_actions, action.to_owned());
                }
                Scope::block()
            }
            "img" => {
                self.image(attributes, named);
                Scope::default()
            }
            "video" => {
                if collected.video_poster.is_none() {
                    collected.video_poster = attributes
                        .get("poster")
                        .filter(|poster| !poster.trim().is_empty())
                        .map(str::to_owned);
                }
                Scope::default()
            }
            "p" => Scope {
                block: true,
                paragraph: collected.paragraphs.len() < MAX_PARAGRAPHS,
                ..Scope::default()
            },
            "footer" | "aside" => Scope {
                block: true,
                chrome: true,
                footer: name == "footer",
                ..Scope::default()
            },
            "br" | "hr" => {
                push_break(&mut collected.visible_text);
                Scope::default()
            }
            "article" | "main" => Scope {
                content: true,
                block: true,
                ..Scope::default()
            },
            "header" | "nav" => Scope {
                branding: true,
                chrome: true,
                block: true,
                logo: names_logo(named.class, named.id),
                ..Scope::default()
            },
            _ => container(name, named),
        }
    }

    /// Contact links and obfuscated addresses where they sit in the text;
    /// other links as anchors, the one just entered collecting its text.
    fn anchor(&mut self, attributes: Attributes<'_>, named: Named<'_>) -> Scope {
        let mut scope = Scope {
            logo: names_logo(named.class, named.id),
            ..Scope::default()
        };
        let Some(href) = attributes.get("href") else {
            return scope;
        };
        let scheme = href
            .trim_start()
            .get(..7)
            .unwrap_or_default()
            .to_ascii_lowercase();
        if scheme.starts_with("mailto:")
            || scheme.starts_with("tel:")
            || scheme.starts_with("callto:")
        {
            self.contact_link(href.trim().to_owned());
        } else if let Some((_, hex)) = href.split_once("/cdn-cgi/l/email-protection#") {
            if let Some(email) = decode_cloudflare_email(hex) {
                self.contact_link(format!("mailto:{email}"));
            }
        } else if self.collected.anchors.len() < MAX_LIST {
            self.collected.anchors.push(Anchor {
                href: href.to_owned(),
                in_content: self.depths.content > 0,
                text: String::new(),
                in_chrome: self.depths.chrome > 0,
            });
            scope.anchor = true;
        }
        scope.branding = is_home_link(href)
            || [named.class, named.id]
                .iter()
                .any(|value| value.is_some_and(names_branding));
        scope
    }

    /// A `mailto:`/`tel:` link at the current end of the visible text.
    fn contact_link(&mut self, href: String) {
        let position = self.collected.visible_text.len();
        push_limited(&mut self.collected.contact_links, (href, position));
    }

    /// Logo candidates, `itemprop=image`, and the first images of the page.
    fn image(&mut self, attributes: Attributes<'_>, named: Named<'_>) {
        if !self.reads_everything() {
            return;
        }
        let get = |key: &str| attributes.get(key);
        // Lazy loading puts a placeholder (often a `data:` URI) in `src` and
        // the real picture in `data-src`.
        let src = get("src")
            .filter(|src| !src.trim_start().starts_with("data:"))
            .or_else(|| get("data-src"))
            .or_else(|| get("data-lazy-src"))
            .or_else(|| get("src"));
        let Some(src) = src else {
            return;
        };
        let class = named.class.unwrap_or_default();
        let id = named.id.unwrap_or_default();
        let alt = get("alt").unwrap_or_default();
        let custom_logo = class.split_ascii_whitespace().any(|c| c == "custom-logo");
        let file_name = src.rsplit('/').next().unwrap_or_default();
        let says_logo =
            self.depths.logo > 0 || [class, id, alt, file_name].iter().any(|v| says_logo(v));
        let in_branding = self.depths.branding > 0;
        let collected = &mut self.collected;
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
                || self.depths.chrome > 0
                || [class, id, alt, src].iter().any(|v| looks_decorative(v));
            collected.content_images.push(ContentImage {
                src: src.to_owned(),
                width: get("width").and_then(pixels),
                height: get("height").and_then(pixels),
                decorative,
            });
        }
    }
}

/// Any other element: a block or not, and the branding area, a logo or
/// chrome by its class or id.
fn container(name: &str, named: Named<'_>) -> Scope {
    let class = named.class.unwrap_or_default();
    let id = named.id.unwrap_or_default();
    if class.is_empty() && id.is_empty() {
        // Most elements: nothing names them.
        return Scope {
            block: is_block(name),
            ..Scope::default()
        };
    }
    let branding = [class, id].iter().any(|value| names_branding(value));
    Scope {
        block: is_block(name),
        branding,
        logo: names_logo(Some(class), Some(id)),
        chrome: branding || [class, id].iter().any(|value| names_chrome(value)),
        footer: [class, id].iter().any(|value| names_footer(value)),
        ..Scope::default()
    }
}

fn push_break(text: &mut String) {
    if !text.is_empty() && !text.ends_with('\n') && text.len() < MAX_VISIBLE_TEXT {
        text.push('\n');
    }
}

fn push_limited<T>(list: &mut Vec<T>, value: T) {
    if list.len() < MAX_LIST {
        list.push(value);
    }
}
