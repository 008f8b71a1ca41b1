//! What the technology rules read of the tree besides scripts and links:
//! each distinct class name, the few attributes that name a page feature,
//! and the text of inline `<style>` elements (CSS variables and class
//! prefixes of CSS frameworks and CSS-in-JS libraries).

use super::{RawText, RawTextKind, Walker};
use crate::text::truncate;

/// Distinct class names kept; a page's first ones name its framework.
const MAX_CLASS_NAMES: usize = 2048;
const MAX_CLASS_NAME: usize = 100;
pub(super) const MAX_INLINE_STYLE: usize = 128 * 1024;
const MAX_INLINE_STYLES_TOTAL: usize = 512 * 1024;

/// Attributes that say what the page is: `<html amp>` (or `⚡`), and
/// `fetchpriority` (Priority Hints) on images, scripts and links.
const FEATURE_ATTRIBUTES: &[&str] = &["amp", "\u{26a1}", "fetchpriority"];

impl Walker {
    /// Each class name not seen before, as `.name`.
    pub(super) fn class_markers(&mut self, class: Option<&str>) {
        let Some(class) = class else {
            return;
        };
        for name in class.split_ascii_whitespace() {
            if self.seen_classes.len() >= MAX_CLASS_NAMES {
                return;
            }
            let name = truncate(name, MAX_CLASS_NAME);
            // Most class names repeat: look before allocating.
            if !self.seen_classes.contains(name) {
                self.seen_classes.insert(name.to_owned());
                self.collected.class_names.push(format!(".{name}"));
            }
        }
    }

    /// Whether `attribute` is one of [`FEATURE_ATTRIBUTES`].
    pub(super) fn is_feature_attribute(attribute: &str) -> bool {
        FEATURE_ATTRIBUTES.contains(&attribute)
    }

    /// The text of an inline `<style>` is gathered until it closes, while
    /// the styles so far are within their cap.
    pub(super) fn inline_style(&mut self) {
        if self.reads_everything() && self.inline_styles_bytes < MAX_INLINE_STYLES_TOTAL {
            self.raw_text = Some(RawText::new(RawTextKind::Style));
        }
    }
}
