//! The signal strings of one page, by kind: what the rules match against.

use serde::Deserialize;

use crate::collected::{Collected, Link};
use crate::page::Page;
use crate::text::truncate;

/// What a rule can match against; see the rule file's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum SignalKind {
    Generator,
    Meta,
    Script,
    Stylesheet,
    Asset,
    Rel,
    InlineScript,
    Style,
    Comment,
    Dom,
    Form,
    Header,
    Cookie,
    Frame,
}

impl SignalKind {
    /// The kinds a signal string of `self` is matched by: an `asset` rule
    /// applies to scripts and stylesheets alike.
    pub(super) fn compiled_kinds(self) -> &'static [SignalKind] {
        match self {
            SignalKind::Script => &[SignalKind::Script, SignalKind::Asset],
            SignalKind::Stylesheet => &[SignalKind::Stylesheet, SignalKind::Asset],
            SignalKind::Generator => &[SignalKind::Generator],
            SignalKind::Meta => &[SignalKind::Meta],
            SignalKind::Asset => &[SignalKind::Asset],
            SignalKind::Rel => &[SignalKind::Rel],
            SignalKind::InlineScript => &[SignalKind::InlineScript],
            SignalKind::Style => &[SignalKind::Style],
            SignalKind::Comment => &[SignalKind::Comment],
            SignalKind::Dom => &[SignalKind::Dom],
            SignalKind::Form => &[SignalKind::Form],
            SignalKind::Header => &[SignalKind::Header],
            SignalKind::Cookie => &[SignalKind::Cookie],
            SignalKind::Frame => &[SignalKind::Frame],
        }
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            SignalKind::Generator => "meta generator",
            SignalKind::Meta => "meta",
            SignalKind::Script => "script",
            SignalKind::Stylesheet => "link",
            SignalKind::Asset => "asset",
            SignalKind::Rel => "link rel",
            SignalKind::InlineScript => "inline script",
            SignalKind::Style => "inline style",
            SignalKind::Comment => "comment",
            SignalKind::Dom => "element",
            SignalKind::Form => "form action",
            SignalKind::Header => "header",
            SignalKind::Cookie => "cookie",
            SignalKind::Frame => "iframe",
        }
    }
}

/// `rel` values that only hint the browser at a host or a resource.
const RESOURCE_HINTS: &[&str] = &["dns-prefetch", "preconnect"];

/// A `<link>`'s relation as the `rel` rules read it: its tokens, and its
/// type in parentheses when it has one (`alternate (application/rss+xml)`).
fn relation(link: &Link) -> String {
    let rel = link.rel.join(" ");
    match link.media_type.as_deref().map(str::trim) {
        Some(media_type) if !media_type.is_empty() => {
            format!("{rel} ({})", media_type.to_ascii_lowercase())
        }
        _ => rel,
    }
}

/// Every signal string of one page, by kind.
#[derive(Debug, Default)]
pub(crate) struct Signals<'a> {
    pub(crate) generators: Vec<&'a str>,
    pub(crate) metas: Vec<String>,
    pub(crate) scripts: Vec<&'a str>,
    pub(crate) stylesheets: Vec<&'a str>,
    pub(crate) rels: Vec<String>,
    pub(crate) inline_scripts: Vec<&'a str>,
    pub(crate) styles: Vec<&'a str>,
    pub(crate) comments: Vec<&'a str>,
    pub(crate) dom: Vec<&'a str>,
    pub(crate) forms: Vec<&'a str>,
    pub(crate) headers: Vec<String>,
    pub(crate) cookies: Vec<&'a str>,
    pub(crate) frames: Vec<&'a str>,
}

impl<'a> Signals<'a> {
    /// The page's signal strings: its headers and what the walk collected.
    pub(crate) fn of(page: &'a Page<'_>, collected: &'a Collected) -> Self {
        let mut signals = Self::default();
        for (key, content) in &collected.metas {
            if key == "generator" {
                signals.generators.push(content.trim());
            } else {
                signals
                    .metas
                    .push(format!("{key}={}", truncate(content, 200)));
            }
        }
        signals.scripts = collected.script_srcs.iter().map(|src| src.trim()).collect();
        // A resource hint loads nothing: the host it names (often another
        // product's of the same vendor) is no evidence.
        signals.stylesheets = collected
            .links
            .iter()
            .filter(|link| {
                !link
                    .rel
                    .iter()
                    .any(|rel| RESOURCE_HINTS.contains(&rel.as_str()))
            })
            .map(|link| link.href.trim())
            .collect();
        signals.rels = collected.links.iter().map(relation).collect();
        signals.inline_scripts = collected
            .inline_scripts
            .iter()
            .map(String::as_str)
            .collect();
        signals.comments = collected.comments.iter().map(String::as_str).collect();
        signals.frames = collected.frame_srcs.iter().map(|src| src.trim()).collect();
        signals.dom = collected
            .dom_markers
            .iter()
            .chain(&collected.class_names)
            .map(String::as_str)
            .collect();
        signals.styles = collected.inline_styles.iter().map(String::as_str).collect();
        signals.forms = collected
            .form_actions
            .iter()
            .map(|action| action.trim())
            .collect();
        for (name, value) in page.headers {
            let name = name.to_ascii_lowercase();
            if name == "set-cookie"
                && let Some((cookie, _)) = value.split_once('=')
            {
                signals.cookies.push(cookie.trim());
            }
            signals
                .headers
                .push(format!("{name}: {}", truncate(value.trim(), 512)));
        }
        signals
    }

    pub(super) fn by_kind(&self) -> [(SignalKind, Vec<&str>); 13] {
        fn owned(list: &[String]) -> Vec<&str> {
            list.iter().map(String::as_str).collect()
        }
        [
            (SignalKind::Generator, self.generators.clone()),
            (SignalKind::Meta, owned(&self.metas)),
            (SignalKind::Script, self.scripts.clone()),
            (SignalKind::Stylesheet, self.stylesheets.clone()),
            (SignalKind::Rel, owned(&self.rels)),
            (SignalKind::InlineScript, self.inline_scripts.clone()),
            (SignalKind::Style, self.styles.clone()),
            (SignalKind::Comment, self.comments.clone()),
            (SignalKind::Dom, self.dom.clone()),
            (SignalKind::Form, self.forms.clone()),
            (SignalKind::Header, owned(&self.headers)),
            (SignalKind::Cookie, self.cookies.clone()),
            (SignalKind::Frame, self.frames.clone()),
        ]
    }
}
