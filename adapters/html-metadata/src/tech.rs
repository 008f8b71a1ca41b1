//! The technology rule engine.
//!
//! Rules live in `rules/technologies.toml` (its header documents the format).
//! Each pattern's longest required literal (its needle) goes into one
//! index per kind of signal (a table of the needles' first bytes), so each
//! signal string is scanned once for all rules; a pattern runs only on a
//! string that holds its needle. The few patterns with no needle of three
//! bytes or more run on every string of their kind, as one `RegexSet`.
//! (One `RegexSet` over all six hundred rules' patterns blew the lazy
//! DFA's cache on long inline scripts and fell back to the slow engines:
//! 17x a plain parse.)
//!
//! - this file: the compiled rule set, implied technologies, and
//!   [`detect`] for a page.
//! - `rules`: the rule file's entries, the categories, why a file does not
//!   load.
//! - `signals`: a page's signal strings by kind.
//! - `needles`: the literals the prefilter looks for in each pattern.
//! - `matcher`: one kind's prefilter and patterns; the version and
//!   evidence a match gives.
//! - `wordpress`: theme and plugins from the paths of the page's assets.

mod matcher;
mod needles;
mod rules;
mod signals;
mod wordpress;

use std::sync::LazyLock;

use regex::Regex;
use scheduler_domain::{Technology, WordPressInfo};

use self::matcher::{CompiledSignal, Hit, KindMatcher};
use self::rules::{CATEGORIES, RULES_SOURCE, RuleError, RuleFile};
use self::signals::{SignalKind, Signals};
use self::wordpress::wordpress_info;
use crate::collected::Collected;
use crate::page::Page;

/// The technologies `page` runs on, in the rule file's order, and what
/// its assets say of WordPress.
pub(crate) fn detect(page: &Page<'_>, collected: &Collected) -> (Vec<Technology>, WordPressInfo) {
    let signals = Signals::of(page, collected);
    let tech = RULES.detect(&signals);
    let assets: Vec<&str> = signals
        .scripts
        .iter()
        .chain(&signals.stylesheets)
        .copied()
        .collect();
    let wordpress = wordpress_info(&tech, &assets);
    (tech, wordpress)
}

/// A technology: what it is called, its category, and the rules it implies.
#[derive(Debug)]
struct Rule {
    name: String,
    category: String,
    implies: Vec<usize>,
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
                matcher.scan(kind, &values, &mut candidates, &mut hits);
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

#[cfg(test)]
mod tests;
