//! What the walk over a page collects: the lists every later step reads
//! instead of the tree, and the lookups they share over them.

use crate::resolve::Resolver;
use crate::text::clean;

/// Link text longer than this is prose, not a menu entry.
pub(crate) const MAX_ANCHOR_TEXT: usize = 80;

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
    /// Inside the site's own chrome: `<header>`, `<nav>`, `<footer>`, a
    /// sidebar or a container named as one.
    pub(crate) in_chrome: bool,
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
    /// distinct `data-*`, `ng-*`, prefixed or page-feature attribute name as
    /// `name=value` (first value seen) and every id as `#id`.
    pub(crate) dom_markers: Vec<String>,
    /// Each distinct class name as `.name`, for the technology rules.
    pub(crate) class_names: Vec<String>,
    /// The text of inline `<style>` elements, for the technology rules.
    pub(crate) inline_styles: Vec<String>,
    /// `mailto:` and `tel:` links with their position in `visible_text`,
    /// and e-mail addresses hidden by Cloudflare's obfuscation (already
    /// decoded, as `mailto:` links).
    pub(crate) contact_links: Vec<(String, usize)>,
    /// The text a visitor reads: text nodes outside scripts, styles and
    /// templates, with a line break at block boundaries.
    pub(crate) visible_text: String,
    /// The visible text inside `<footer>` or an element whose class or id
    /// says footer, line breaks at block boundaries: where a business
    /// states its legal name, address and numbers.
    pub(crate) footer_text: String,
    /// `(property, text)` of elements whose `itemprop` names a business
    /// fact (`legalName`, `streetAddress`, `postalCode`, `vatID`, ...), in
    /// document order; `<meta itemprop>` values are in `metas`.
    pub(crate) microdata: Vec<(&'static str, String)>,
}

impl Collected {
    /// The first non-empty `<meta>` value for `key`, cleaned.
    pub(crate) fn meta_value(&self, key: &str, max_chars: usize) -> Option<String> {
        self.metas
            .iter()
            .filter(|(name, _)| name == key)
            .find_map(|(_, content)| clean(content, max_chars))
    }

    /// The first `<meta>` value for `key` that resolves to a web URL.
    pub(crate) fn meta_url(&self, key: &str, resolver: &Resolver) -> Option<String> {
        self.metas
            .iter()
            .filter(|(name, _)| name == key)
            .find_map(|(_, content)| resolver.resolve(content))
    }
}
