//! Matching signal strings against the rules of their kind: one
//! Aho–Corasick scan for the needles, one `RegexSet` for the patterns
//! without, then each candidate's own regex; the version and evidence a
//! match gives.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex::{Regex, RegexSet};

use super::needles::needles_of;
use super::rules::RuleError;
use super::signals::SignalKind;
use crate::text::truncate;

const MAX_EVIDENCE: usize = 160;
const MAX_VERSION: usize = 32;

/// One signal of a rule, its pattern compiled.
#[derive(Debug)]
pub(super) struct CompiledSignal {
    pub(super) rule: usize,
    /// Position of the signal in the file: lower wins the version.
    pub(super) order: usize,
    pub(super) regex: Regex,
    pub(super) version: Option<String>,
}

/// The signals of one kind, behind one prefilter.
#[derive(Debug)]
pub(super) struct KindMatcher {
    pub(super) kind: SignalKind,
    /// Needles of the signals, case-sensitive as the patterns are (a
    /// case-insensitive pattern has no needle).
    needles: AhoCorasick,
    /// Needle id → index in `signals`.
    needle_signal: Vec<usize>,
    /// Signals without a needle, as one set over their patterns; the
    /// indexes in `unfiltered_signal`.
    unfiltered: RegexSet,
    pub(super) unfiltered_signal: Vec<usize>,
    pub(super) signals: Vec<CompiledSignal>,
}

impl KindMatcher {
    pub(super) fn new(kind: SignalKind, signals: Vec<CompiledSignal>) -> Result<Self, RuleError> {
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

    /// Runs the signals worth running on each of `values` (strings of
    /// `kind`), recording each rule's best hit in `hits`.
    pub(super) fn scan(
        &self,
        kind: SignalKind,
        values: &[&str],
        candidates: &mut Vec<usize>,
        hits: &mut [Option<Hit>],
    ) {
        for value in values {
            self.candidates(value, candidates);
            for &index in candidates.iter() {
                let signal = &self.signals[index];
                if signal.regex.is_match(value) {
                    record(&mut hits[signal.rule], signal, kind, value);
                }
            }
        }
    }
}

/// A rule's detection: how it was found, and the version when one was.
#[derive(Debug)]
pub(super) struct Hit {
    /// Order of the signal that gave `version` (or the first match).
    pub(super) order: usize,
    pub(super) version: Option<String>,
    pub(super) evidence: String,
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
