//! The technology rule engine.
//!
//! Rules live in `rules/technologies.toml` (its header documents the format).
//! Each pattern's longest required literal (its needle) goes into one
//! Aho–Corasick automaton per kind of signal, so each signal string is
//! scanned once for all rules; a pattern runs only on a string that holds
//! its needle. The few patterns with no needle of three bytes or more run on
//! every string of their kind, as one [`RegexSet`]. (One `RegexSet` over all
//! six hundred rules' patterns blew the lazy DFA's cache on long inline
//! scripts and fell back to the slow engines: 17x a plain parse.)

use std::collections::BTreeSet;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex::{Regex, RegexSet};
use scheduler_domain::{Technology, WordPressInfo};
use serde::Deserialize;

use crate::walk::truncate;

const RULES_SOURCE: &str = include_str!("../rules/technologies.toml");
const MAX_EVIDENCE: usize = 160;
const MAX_VERSION: usize = 32;
/// A shorter needle ("//", ".js") is in nearly every string: the pattern
/// runs unfiltered instead.
const MIN_NEEDLE: usize = 3;

/// Every category a rule may name. `SiteMetadata::tech_stack()` groups them:
/// some fill the old four lists, the others become keys of their own.
pub(crate) const CATEGORIES: &[&str] = &[
    "cms",
    "ecommerce",
    "ecommerce-app",
    "payments",
    "site-builder",
    "static-site-generator",
    "page-builder",
    "plugin",
    "framework",
    "web-framework",
    "javascript-library",
    "css-framework",
    "ui",
    "analytics",
    "ab-testing",
    "tag-manager",
    "advertising",
    "marketing",
    "crm",
    "chat",
    "forms",
    "widget",
    "consent",
    "scheduling",
    "reviews",
    "search",
    "captcha",
    "accessibility",
    "fonts",
    "maps",
    "video",
    "translation",
    "monitoring",
    "security",
    "cdn",
    "hosting",
    "web-server",
    "language",
];

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
    fn compiled_kinds(self) -> &'static [SignalKind] {
        match self {
            SignalKind::Script => &[SignalKind::Script, SignalKind::Asset],
            SignalKind::Stylesheet => &[SignalKind::Stylesheet, SignalKind::Asset],
            SignalKind::Generator => &[SignalKind::Generator],
            SignalKind::Meta => &[SignalKind::Meta],
            SignalKind::Asset => &[SignalKind::Asset],
            SignalKind::Rel => &[SignalKind::Rel],
            SignalKind::InlineScript => &[SignalKind::InlineScript],
            SignalKind::Comment => &[SignalKind::Comment],
            SignalKind::Dom => &[SignalKind::Dom],
            SignalKind::Form => &[SignalKind::Form],
            SignalKind::Header => &[SignalKind::Header],
            SignalKind::Cookie => &[SignalKind::Cookie],
            SignalKind::Frame => &[SignalKind::Frame],
        }
    }

    fn label(self) -> &'static str {
        match self {
            SignalKind::Generator => "meta generator",
            SignalKind::Meta => "meta",
            SignalKind::Script => "script",
            SignalKind::Stylesheet => "link",
            SignalKind::Asset => "asset",
            SignalKind::Rel => "link rel",
            SignalKind::InlineScript => "inline script",
            SignalKind::Comment => "comment",
            SignalKind::Dom => "attribute",
            SignalKind::Form => "form action",
            SignalKind::Header => "header",
            SignalKind::Cookie => "cookie",
            SignalKind::Frame => "iframe",
        }
    }
}

/// The rule file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    technology: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    name: String,
    category: String,
    #[serde(default)]
    implies: Vec<String>,
    signals: Vec<SignalSpec>,
    /// Snippets the tests run the rule on; nothing at run time reads them.
    #[serde(default, rename = "examples")]
    _examples: serde::de::IgnoredAny,
    #[serde(default, rename = "ignores")]
    _ignores: serde::de::IgnoredAny,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalSpec {
    on: SignalKind,
    pattern: String,
    version: Option<String>,
}

/// A rule file that does not load: a bad pattern, an unknown key, an
/// `implies` naming no rule.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RuleError {
    /// The file is not valid TOML of the expected shape.
    #[error("technology rules: {0}")]
    Format(#[from] toml::de::Error),
    /// A pattern does not compile.
    #[error("technology rule {name}: pattern {pattern:?}: {source}")]
    Pattern {
        /// The technology.
        name: String,
        /// The pattern as written.
        pattern: String,
        /// Why it does not compile.
        source: regex::Error,
    },
    /// Two rules share a name.
    #[error("technology rule {0} is written twice")]
    DuplicateName(String),
    /// A category outside [`CATEGORIES`].
    #[error("technology rule {name}: unknown category {category}")]
    UnknownCategory {
        /// The technology.
        name: String,
        /// The category as written.
        category: String,
    },
    /// The needles of a kind do not build into an automaton.
    #[error("technology rules: needles of {kind:?} signals: {source}")]
    Needles {
        /// The signal kind.
        kind: SignalKind,
        /// Why the automaton does not build.
        source: aho_corasick::BuildError,
    },
    /// `implies` names a technology that has no rule.
    #[error("technology rule {name} implies unknown technology {implied}")]
    UnknownImplied {
        /// The technology.
        name: String,
        /// The missing name.
        implied: String,
    },
}

#[derive(Debug)]
struct Rule {
    name: String,
    category: String,
    implies: Vec<usize>,
}

#[derive(Debug)]
struct CompiledSignal {
    rule: usize,
    /// Position of the signal in the file: lower wins the version.
    order: usize,
    regex: Regex,
    version: Option<String>,
}

#[derive(Debug)]
struct KindMatcher {
    kind: SignalKind,
    /// Needles of the signals, case-sensitive as the patterns are (a
    /// case-insensitive pattern has no needle).
    needles: AhoCorasick,
    /// Needle id → index in `signals`.
    needle_signal: Vec<usize>,
    /// Signals without a needle, as one set over their patterns; the
    /// indexes in `unfiltered_signal`.
    unfiltered: RegexSet,
    unfiltered_signal: Vec<usize>,
    signals: Vec<CompiledSignal>,
}

/// The compiled rule set.
#[derive(Debug)]
pub(crate) struct Rules {
    rules: Vec<Rule>,
    matchers: Vec<KindMatcher>,
}

/// The embedded rules, compiled on first use. A broken rule file is caught
/// by the unit tests, so at run time it degrades to detecting nothing
/// (said once, loudly) rather than taking the worker down.
pub(crate) static RULES: LazyLock<Rules> = LazyLock::new(|| {
    Rules::parse(RULES_SOURCE).unwrap_or_else(|error| {
        tracing::error!("technology rules do not compile, no technology will be detected: {error}");
        Rules {
            rules: Vec::new(),
            matchers: Vec::new(),
        }
    })
});

impl Rules {
    pub(crate) fn parse(source: &str) -> Result<Self, RuleError> {
        let file: RuleFile = toml::from_str(source)?;
        let names: Vec<String> = file
            .technology
            .iter()
            .map(|rule| rule.name.clone())
            .collect();
        let mut rules = Vec::with_capacity(file.technology.len());
        let mut by_kind: Vec<(SignalKind, Vec<CompiledSignal>)> = Vec::new();
        let mut order = 0;
        for (index, spec) in file.technology.into_iter().enumerate() {
            if names[..index].contains(&spec.name) {
                return Err(RuleError::DuplicateName(spec.name));
            }
            if !CATEGORIES.contains(&spec.category.as_str()) {
                return Err(RuleError::UnknownCategory {
                    name: spec.name,
                    category: spec.category,
                });
            }
            let mut implies = Vec::new();
            for implied in &spec.implies {
                let position = names
                    .iter()
                    .position(|name| name == implied)
                    .ok_or_else(|| RuleError::UnknownImplied {
                        name: spec.name.clone(),
                        implied: implied.clone(),
                    })?;
                implies.push(position);
            }
            for signal in spec.signals {
                let regex = Regex::new(&signal.pattern).map_err(|source| RuleError::Pattern {
                    name: spec.name.clone(),
                    pattern: signal.pattern.clone(),
                    source,
                })?;
                let compiled = CompiledSignal {
                    rule: index,
                    order,
                    regex,
                    version: signal.version,
                };
                order += 1;
                match by_kind.iter_mut().find(|(kind, _)| *kind == signal.on) {
                    Some((_, list)) => list.push(compiled),
                    None => by_kind.push((signal.on, vec![compiled])),
                }
            }
            rules.push(Rule {
                name: spec.name,
                category: spec.category,
                implies,
            });
        }
        let mut matchers = Vec::with_capacity(by_kind.len());
        for (kind, signals) in by_kind {
            matchers.push(KindMatcher::new(kind, signals)?);
        }
        Ok(Self { rules, matchers })
    }

    /// Runs every rule over `signals` and returns what was detected, in the
    /// rule file's order.
    pub(crate) fn detect(&self, signals: &Signals<'_>) -> Vec<Technology> {
        let mut hits: Vec<Option<Hit>> = (0..self.rules.len()).map(|_| None).collect();
        let mut candidates = Vec::new();
        for (kind, values) in signals.by_kind() {
            if values.is_empty() {
                continue;
            }
            for compiled_kind in kind.compiled_kinds() {
                let Some(matcher) = self.matchers.iter().find(|m| m.kind == *compiled_kind) else {
                    continue;
                };
                for value in &values {
                    matcher.candidates(value, &mut candidates);
                    for &index in &candidates {
                        let signal = &matcher.signals[index];
                        if signal.regex.is_match(value) {
                            record(&mut hits[signal.rule], signal, kind, value);
                        }
                    }
                }
            }
        }
        // Implied technologies, to a fixed point (chains are short).
        let mut changed = true;
        while changed {
            changed = false;
            for index in 0..self.rules.len() {
                if hits[index].is_none() {
                    continue;
                }
                for &implied in &self.rules[index].implies {
                    if hits[implied].is_none() {
                        hits[implied] = Some(Hit {
                            order: usize::MAX,
                            version: None,
                            evidence: format!("implied by {}", self.rules[index].name),
                        });
                        changed = true;
                    }
                }
            }
        }
        hits.into_iter()
            .zip(&self.rules)
            .filter_map(|(hit, rule)| {
                hit.map(|hit| Technology {
                    name: rule.name.clone(),
                    category: rule.category.clone(),
                    version: hit.version,
                    evidence: hit.evidence,
                })
            })
            .collect()
    }
}

impl KindMatcher {
    fn new(kind: SignalKind, signals: Vec<CompiledSignal>) -> Result<Self, RuleError> {
        let mut needles = Vec::new();
        let mut needle_signal = Vec::new();
        let mut unfiltered_signal = Vec::new();
        for (index, signal) in signals.iter().enumerate() {
            match needles_of(signal.regex.as_str()) {
                Some(found) => {
                    needle_signal.extend(found.iter().map(|_| index));
                    needles.extend(found);
                }
                None => unfiltered_signal.push(index),
            }
        }
        // A full DFA: the overlapping scan over long inline scripts is the
        // engine's hot loop, and a few megabytes per kind are affordable.
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&needles)
            .map_err(|source| RuleError::Needles { kind, source })?;
        let unfiltered = RegexSet::new(
            unfiltered_signal
                .iter()
                .map(|&index| signals[index].regex.as_str()),
        )
        .map_err(|source| RuleError::Pattern {
            name: format!("{kind:?}"),
            pattern: String::from("(the patterns without a needle)"),
            source,
        })?;
        Ok(Self {
            kind,
            needles: automaton,
            needle_signal,
            unfiltered,
            unfiltered_signal,
            signals,
        })
    }

    /// The signals worth running on `value`, ascending (the rule file's
    /// order, which decides the evidence when no signal gives a version).
    fn candidates(&self, value: &str, candidates: &mut Vec<usize>) {
        candidates.clear();
        for found in self.needles.find_overlapping_iter(value) {
            candidates.push(self.needle_signal[found.pattern().as_usize()]);
        }
        if !self.unfiltered_signal.is_empty() {
            candidates.extend(
                self.unfiltered
                    .matches(value)
                    .iter()
                    .map(|index| self.unfiltered_signal[index]),
            );
        }
        candidates.sort_unstable();
        candidates.dedup();
    }
}

/// Literals every match of `pattern` contains, one per top-level
/// alternative (a match holds at least one of them), or `None` when an
/// alternative has none of [`MIN_NEEDLE`] bytes. Within an alternative the
/// longest literal run wins, or the needles of a group every match passes
/// through (`(?:cdn\.a\.com|js\.b\.com)`) when their shortest is longer.
/// Classes and escapes such as `\d` end a run; a quantified character or
/// group is not required. Wrong only towards `None`, which costs speed,
/// not detections. A case-insensitive pattern has none: a needle matched
/// without case would be found in every other script (`Cal(` in `local(`).
fn needles_of(pattern: &str) -> Option<Vec<String>> {
    if pattern.contains("(?i") {
        return None;
    }
    let mut needles = Vec::new();
    for alternative in top_level_alternatives(pattern) {
        needles.extend(alternative_needles(alternative)?);
    }
    Some(needles)
}

fn top_level_alternatives(pattern: &str) -> Vec<&str> {
    let bytes = pattern.as_bytes();
    let (mut depth, mut in_class, mut start) = (0usize, false, 0);
    let mut alternatives = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 1,
            b'[' if !in_class => in_class = true,
            b']' if in_class => in_class = false,
            b'(' if !in_class => depth += 1,
            b')' if !in_class => depth = depth.saturating_sub(1),
            b'|' if !in_class && depth == 0 => {
                alternatives.push(&pattern[start..index]);
                start = index + 1;
            }
            _ => {}
        }
        index += 1;
    }
    alternatives.push(&pattern[start..]);
    alternatives
}

/// The best needle set of one alternative (no top-level `|`).
fn alternative_needles(alternative: &str) -> Option<Vec<String>> {
    fn shortest(needles: &[String]) -> usize {
        needles.iter().map(String::len).min().unwrap_or(0)
    }
    fn consider(candidate: Vec<String>, best: &mut Option<Vec<String>>) {
        let better = match best {
            None => true,
            Some(best) => shortest(&candidate) > shortest(best),
        };
        if better && shortest(&candidate) >= MIN_NEEDLE {
            *best = Some(candidate);
        }
    }
    fn finish(run: &mut String, best: &mut Option<Vec<String>>) {
        if !run.is_empty() {
            consider(vec![std::mem::take(run)], best);
        }
    }
    let bytes = alternative.as_bytes();
    let mut best = None;
    let mut run = String::new();
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        match byte {
            b'\\' => {
                let &next = bytes.get(index + 1)?;
                index += 2;
                if next.is_ascii_alphanumeric() || !next.is_ascii() {
                    finish(&mut run, &mut best);
                    continue;
                }
                run.push(char::from(next));
            }
            b'(' | b'[' => {
                finish(&mut run, &mut best);
                let end = skip_group(bytes, index)?;
                let optional = is_optional(bytes, end);
                if byte == b'(' && !optional {
                    let inner = &alternative[index + 1..end - 1];
                    let inner = inner
                        .strip_prefix("?:")
                        .or_else(|| inner.strip_prefix("?-u:"))
                        .or_else(|| (!inner.starts_with('?')).then_some(inner));
                    if let Some(needles) = inner.and_then(needles_of) {
                        consider(needles, &mut best);
                    }
                }
                index = if matches!(bytes.get(end), Some(b'?' | b'*' | b'+' | b'{')) {
                    skip_quantifier(bytes, end)
                } else {
                    end
                };
            }
            b'?' | b'*' | b'{' => {
                // The last character was optional or repeated: not required.
                run.pop();
                finish(&mut run, &mut best);
                index = skip_quantifier(bytes, index);
            }
            b'+' | b'.' | b'^' | b'$' | b')' | b']' | b'|' => {
                finish(&mut run, &mut best);
                index += 1;
            }
            _ if !byte.is_ascii() => {
                finish(&mut run, &mut best);
                index += 1;
            }
            _ => {
                run.push(char::from(byte));
                index += 1;
            }
        }
    }
    finish(&mut run, &mut best);
    best
}

/// Whether the quantifier at `index` (if any) allows zero repetitions.
fn is_optional(bytes: &[u8], index: usize) -> bool {
    match bytes.get(index) {
        Some(b'?' | b'*') => true,
        Some(b'{') => matches!(bytes.get(index + 1), Some(b'0')),
        _ => false,
    }
}

/// Index just past the group or class opening at `start`.
fn skip_group(bytes: &[u8], start: usize) -> Option<usize> {
    let (open, close) = if bytes[start] == b'[' {
        (b'[', b']')
    } else {
        (b'(', b')')
    };
    let mut depth = 0usize;
    let mut in_class = false;
    let mut index = start;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 1,
            b'[' if open == b'(' && !in_class => in_class = true,
            b']' if open == b'(' && in_class => in_class = false,
            byte if byte == open && !in_class => depth += 1,
            byte if byte == close && !in_class => {
                depth -= 1;
                if depth == 0 {
                    return Some(index + 1);
                }
            }
            _ => {}
        }
        index += 1;
    }
    None
}

fn skip_quantifier(bytes: &[u8], start: usize) -> usize {
    let mut index = start;
    if bytes.get(index) == Some(&b'{') {
        while index < bytes.len() && bytes[index] != b'}' {
            index += 1;
        }
    }
    index += 1;
    // Lazy or possessive suffix.
    if matches!(bytes.get(index), Some(b'?' | b'+')) {
        index += 1;
    }
    index
}

#[derive(Debug)]
struct Hit {
    /// Order of the signal that gave `version` (or the first match).
    order: usize,
    version: Option<String>,
    evidence: String,
}

fn record(slot: &mut Option<Hit>, signal: &CompiledSignal, kind: SignalKind, value: &str) {
    let better = match slot {
        None => true,
        Some(hit) => hit.version.is_none() || signal.order < hit.order,
    };
    if !better {
        return;
    }
    let version = version_of(signal, value);
    let evidence = || format!("{} {}", kind.label(), truncate(value.trim(), MAX_EVIDENCE));
    match slot {
        None => {
            *slot = Some(Hit {
                order: signal.order,
                version,
                evidence: evidence(),
            });
        }
        Some(hit) => {
            if version.is_some() && (hit.version.is_none() || signal.order < hit.order) {
                hit.order = signal.order;
                hit.version = version;
                hit.evidence = evidence();
            }
        }
    }
}

fn version_of(signal: &CompiledSignal, value: &str) -> Option<String> {
    if signal.regex.captures_len() <= 1 && signal.version.is_none() {
        return None;
    }
    let captures = signal.regex.captures(value)?;
    let version = match &signal.version {
        Some(template) => {
            let mut expanded = String::new();
            captures.expand(template, &mut expanded);
            expanded
        }
        None => captures
            .iter()
            .skip(1)
            .flatten()
            .next()
            .map(|m| m.as_str().to_owned())?,
    };
    let version = version.trim();
    (!version.is_empty()).then(|| truncate(version, MAX_VERSION).to_owned())
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
    pub(crate) comments: Vec<&'a str>,
    pub(crate) dom: Vec<&'a str>,
    pub(crate) forms: Vec<&'a str>,
    pub(crate) headers: Vec<String>,
    pub(crate) cookies: Vec<&'a str>,
    pub(crate) frames: Vec<&'a str>,
}

impl Signals<'_> {
    fn by_kind(&self) -> [(SignalKind, Vec<&str>); 12] {
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
            (SignalKind::Comment, self.comments.clone()),
            (SignalKind::Dom, self.dom.clone()),
            (SignalKind::Form, self.forms.clone()),
            (SignalKind::Header, owned(&self.headers)),
            (SignalKind::Cookie, self.cookies.clone()),
            (SignalKind::Frame, self.frames.clone()),
        ]
    }
}

/// Theme and plugins from `/wp-content/themes/<name>/` and
/// `/wp-content/plugins/<name>/` asset paths; `version` from the detected
/// WordPress technology.
pub(crate) fn wordpress_info(tech: &[Technology], assets: &[&str]) -> WordPressInfo {
    let Some(wordpress) = tech.iter().find(|t| t.name == "WordPress") else {
        return WordPressInfo::default();
    };
    let mut plugins = BTreeSet::new();
    // (name, stylesheet of the theme itself, times seen, first position)
    let mut themes: Vec<(String, bool, usize, usize)> = Vec::new();
    for (position, asset) in assets.iter().enumerate() {
        if let Some(name) = directory_after(asset, "/wp-content/plugins/") {
            plugins.insert(name.to_ascii_lowercase());
        }
        if let Some(name) = theme_directory(asset) {
            let is_style = asset.contains(&format!("/{name}/style."));
            match themes.iter_mut().find(|(seen, ..)| *seen == name) {
                Some(theme) => {
                    theme.1 |= is_style;
                    theme.2 += 1;
                }
                None => themes.push((name.to_owned(), is_style, 1, position)),
            }
        }
    }
    // A child theme's own style.css loads after its parent's: the last theme
    // with a style sheet of its own is the active one. Without one, the
    // theme most assets come from.
    let theme = themes
        .iter()
        .filter(|(_, is_style, ..)| *is_style)
        .max_by_key(|(.., position)| *position)
        .or_else(|| {
            themes
                .iter()
                .max_by(|a, b| a.2.cmp(&b.2).then(b.3.cmp(&a.3)))
        })
        .map(|(name, ..)| name.clone());
    WordPressInfo {
        detected: true,
        version: wordpress.version.clone(),
        theme,
        plugins: plugins.into_iter().collect(),
    }
}

/// The theme directory; WordPress VIP and WordPress.com keep themes one
/// level down (`themes/vip/<name>/`, `themes/pub/<name>/`).
fn theme_directory(url: &str) -> Option<&str> {
    let name = directory_after(url, "/wp-content/themes/")?;
    if name == "vip" || name == "pub" {
        let nested = format!("/wp-content/themes/{name}/");
        return directory_after(url, &nested).or(Some(name));
    }
    Some(name)
}

fn directory_after<'a>(url: &'a str, marker: &str) -> Option<&'a str> {
    let start = url.find(marker)? + marker.len();
    let rest = &url[start..];
    let end = rest.find(['/', '?', '#'])?;
    let name = &rest[..end];
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    valid.then_some(name)
}

#[cfg(test)]
mod tests;
