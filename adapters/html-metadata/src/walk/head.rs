//! The handlers of the elements that describe the page rather than show
//! it: `<meta>`, `<link>` and `<script>`.

use kuchikiki::{Attributes, NodeRef};

use super::classify::says_itemprop_image;
use super::{Walker, push_limited, truncate_in_place};
use crate::collected::Link;

/// Caps that keep one hostile page's scripts from costing more than a
/// normal page's.
const MAX_INLINE_SCRIPT: usize = 256 * 1024;
const MAX_INLINE_SCRIPTS_TOTAL: usize = 2 * 1024 * 1024;

impl Walker {
    pub(super) fn meta(&mut self, attributes: &Attributes) {
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

    pub(super) fn link(&mut self, attributes: &Attributes) {
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

    pub(super) fn script(&mut self, node: &NodeRef, attributes: &Attributes) {
        if let Some(src) = attributes.get("src") {
            push_limited(&mut self.collected.script_srcs, src.to_owned());
            return;
        }
        let kind = attributes
            .get("type")
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if kind == "application/ld+json" {
            push_limited(&mut self.collected.json_ld, node.text_contents());
        } else if self.inline_scripts_bytes < MAX_INLINE_SCRIPTS_TOTAL {
            let mut text = node.text_contents();
            truncate_in_place(&mut text, MAX_INLINE_SCRIPT);
            self.inline_scripts_bytes += text.len();
            push_limited(&mut self.collected.inline_scripts, text);
        }
    }
}
