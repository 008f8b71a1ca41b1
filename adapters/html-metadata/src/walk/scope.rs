//! The walk's bookkeeping: what each open element changed, how many open
//! elements are of each kind, and the texts gathered while one is open.

use crate::collected::Paragraph;
use crate::text::push_capped;

/// Caps on the gathered texts: more is never read, and a hostile page
/// must not cost more than a normal one.
const MAX_TITLE_SOURCE: usize = 8 * 1024;
const MAX_PARAGRAPH: usize = 4 * 1024;

/// What entering an element changed, undone when the walk leaves it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Scope {
    pub(super) hides_text: bool,
    pub(super) title: bool,
    pub(super) h1: bool,
    pub(super) branding: bool,
    pub(super) logo: bool,
    pub(super) content: bool,
    pub(super) block: bool,
    /// Header, navigation, footer, sidebar or a banner.
    pub(super) chrome: bool,
    pub(super) paragraph: bool,
    pub(super) anchor: bool,
    /// `<footer>` or an element whose class or id says footer.
    pub(super) footer: bool,
    /// An element whose `itemprop` names a business fact: its text is
    /// gathered while it is open.
    pub(super) microdata: bool,
}

impl Scope {
    /// An element whose text a visitor does not read.
    pub(super) fn hiding() -> Self {
        Self {
            hides_text: true,
            ..Self::default()
        }
    }

    pub(super) fn block() -> Self {
        Self {
            block: true,
            ..Self::default()
        }
    }
}

/// How many open elements hide text, are the branding area, say logo, are
/// the content, are chrome, or are an anchor collecting its text.
#[derive(Debug, Default)]
pub(super) struct Depths {
    pub(super) hidden: usize,
    pub(super) branding: usize,
    pub(super) logo: usize,
    pub(super) content: usize,
    pub(super) chrome: usize,
    pub(super) anchor: usize,
    pub(super) footer: usize,
}

impl Depths {
    pub(super) fn open(&mut self, scope: &Scope) {
        self.hidden += usize::from(scope.hides_text);
        self.branding += usize::from(scope.branding);
        self.logo += usize::from(scope.logo);
        self.content += usize::from(scope.content);
        self.chrome += usize::from(scope.chrome);
        self.anchor += usize::from(scope.anchor);
        self.footer += usize::from(scope.footer);
    }

    pub(super) fn close(&mut self, scope: &Scope) {
        self.hidden -= usize::from(scope.hides_text);
        self.branding -= usize::from(scope.branding);
        self.logo -= usize::from(scope.logo);
        self.content -= usize::from(scope.content);
        self.chrome -= usize::from(scope.chrome);
        self.anchor -= usize::from(scope.anchor);
        self.footer -= usize::from(scope.footer);
    }
}

/// The text of the first element of a kind (`<title>`, the first `<h1>`),
/// gathered while it is open and given up when it closes.
#[derive(Debug, Default)]
pub(super) struct FirstText {
    depth: usize,
    text: String,
    done: bool,
}

impl FirstText {
    /// Entering an element: `of_kind` when it is one this gathers.
    pub(super) fn open(&mut self, of_kind: bool) {
        self.depth += usize::from(of_kind && !self.done);
    }

    pub(super) fn is_open(&self) -> bool {
        self.depth > 0
    }

    pub(super) fn push(&mut self, text: &str) {
        push_capped(&mut self.text, text, MAX_TITLE_SOURCE);
    }

    /// The whole text when this closes the first element.
    pub(super) fn close(&mut self, of_kind: bool) -> Option<String> {
        if !of_kind || self.depth == 0 {
            return None;
        }
        self.depth -= 1;
        if self.depth > 0 {
            return None;
        }
        self.done = true;
        Some(std::mem::take(&mut self.text))
    }
}

/// The outermost open `<p>`: its text so far, and whether it opened in
/// the page's chrome.
#[derive(Debug, Default)]
pub(super) struct OpenParagraph {
    depth: usize,
    text: String,
    in_chrome: bool,
}

impl OpenParagraph {
    pub(super) fn open(&mut self, in_chrome: bool) {
        if self.depth == 0 {
            self.in_chrome = in_chrome;
        }
        self.depth += 1;
    }

    pub(super) fn is_open(&self) -> bool {
        self.depth > 0
    }

    pub(super) fn push(&mut self, text: &str) {
        push_capped(&mut self.text, text, MAX_PARAGRAPH);
    }

    /// The whole paragraph when this closes the outermost `<p>`.
    pub(super) fn close(&mut self) -> Option<Paragraph> {
        self.depth -= 1;
        (self.depth == 0).then(|| Paragraph {
            text: std::mem::take(&mut self.text),
            in_chrome: self.in_chrome,
        })
    }
}
