//! The handlers of the elements that describe the page rather than show
//! it: `<meta>`, `<link>` and `<script>`.

use super::classify::says_itemprop_image;
use super::markers::MAX_INLINE_STYLE;
use super::{Attributes, RawText, RawTextKind, Walker, push_limited};
use crate::collected::Link;
use crate::text::push_capped;

/// Caps that keep one hostile page's scripts from costing more than a
/// normal page's.
const MAX_INLINE_SCRIPT: usize = 256 * 1024;
const MAX_INLINE_SCRIPTS_TOTAL: usize = 2 * 1024 * 1024;

impl Walker {
    pub(super) fn meta(&mut self, attributes: Attributes<'_>) {
        let Some(content) = attributes.get("content") else {
            return;
        };
        // `http-equiv` and `name` may sit on one element, and RDFa allows
        // several space-separated properties.
        if let Some(equiv) = attributes.get("http-equiv") {
            let key = format!("http-equiv:{}", equiv.trim().to_ascii_lowercase());
            push_limited(&mut self.collected.metas, (key, content.to_owned()));
        }
        for attribute in ["name", "property", "itemprop"] {
            let keys = attributes.get(attribute).unwrap_or_default();
            for key in keys.split_ascii_whitespace() {
                push_limited(
                    &mut self.collected.metas,
                    (key.to_ascii_lowercase(), content.to_owned()),
                );
            }
        }
    }

    pub(super) fn link(&mut self, attributes: Attributes<'_>) {
        if !self.reads_everything() {
            return;
        }
        let Some(href) = attributes.get("href") else {
            return;
        };
        let rel = attributes
            .get("rel")
            .unwrap_or_default()
            .split_ascii_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        push_limited(
            &mut self.collected.links,
            Link {
                rel,
                href: href.to_owned(),
                sizes: attributes.get("sizes").map(str::to_owned),
                media_type: attributes.get("type").map(str::to_owned),
            },
        );
        if says_itemprop_image(attributes.get("itemprop")) {
            push_limited(&mut self.collected.itemprop_images, href.to_owned());
        }
    }

    /// An external script's address; an inline one's text is gathered
    /// until it closes, within the caps. JSON-LD alone when reading for
    /// contacts.
    pub(super) fn script(&mut self, attributes: Attributes<'_>) {
        if let Some(src) = attributes.get("src") {
            if self.reads_everything() {
                push_limited(&mut self.collected.script_srcs, src.to_owned());
            }
            return;
        }
        let kind = attributes
            .get("type")
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if kind == "application/ld+json" {
            self.raw_text = Some(RawText::new(RawTextKind::JsonLd));
        } else if self.reads_everything() && self.inline_scripts_bytes < MAX_INLINE_SCRIPTS_TOTAL {
            self.raw_text = Some(RawText::new(RawTextKind::Script));
        }
    }

    /// An inline script's or style's text, once its element closed.
    pub(super) fn raw_text_closed(&mut self, raw_text: RawText) {
        let RawText { kind, text } = raw_text;
        match kind {
            RawTextKind::JsonLd => push_limited(&mut self.collected.json_ld, text),
            RawTextKind::Script => {
                self.inline_scripts_bytes += text.len();
                push_limited(&mut self.collected.inline_scripts, text);
            }
            RawTextKind::Style => {
                self.inline_styles_bytes += text.len();
                push_limited(&mut self.collected.inline_styles, text);
            }
        }
    }
}

impl RawText {
    pub(super) fn new(kind: RawTextKind) -> Self {
        Self {
            kind,
            text: String::new(),
        }
    }

    /// More of the element's text; a script's or style's beyond its cap
    /// is dropped as it comes (JSON-LD is kept whole: it is parsed).
    pub(super) fn push(&mut self, text: &str) {
        match self.kind {
            RawTextKind::JsonLd => self.text.push_str(text),
            RawTextKind::Script => push_capped(&mut self.text, text, MAX_INLINE_SCRIPT),
            RawTextKind::Style => push_capped(&mut self.text, text, MAX_INLINE_STYLE),
        }
    }
}
