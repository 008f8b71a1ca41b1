//! Matching signal strings against the rules of their kind: one scan for
//! the needles, one `RegexSet` for the patterns without, then each
//! candidate's own regex; the version and evidence a match gives.

use regex::{Regex, RegexSet};

use super::needles::{MIN_NEEDLE, needles_of};
use super::rules::RuleError;
use super::signals::SignalKind;
use crate::text::truncate;

const MAX_EVIDENCE: usize = 160;
const MAX_VERSION: usize = 32;
/// Bits of the key a needle's first [`MIN_NEEDLE`] bytes hash to: a table
/// of 64 Kibit (8 KiB) stays in the first-level cache while a long inline
/// script is scanned.
const KEY_BITS: u32 = 16;

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
    needles: NeedleIndex,
    /// Signals without a needle, as one set over their patterns; the
    /// indexes in `unfiltered_signal`.
    unfiltered: RegexSet,
    pub(super) unfiltered_signal: Vec<usize>,
    pub(super) signals: Vec<CompiledSignal>,
}

impl KindMatcher {
    pub(super) fn new(kind: SignalKind, signals: Vec<CompiledSignal>) -> Result<Self, RuleError> {
        let mut needles = Vec::new();
        let mut unfiltered_signal = Vec::new();
        for (index, signal) in signals.iter().enumerate() {
            match needles_of(signal.regex.as_str()) {
                Some(found) if found.iter().all(|needle| needle.len() >= MIN_NEEDLE) => {
                    needles.extend(found.into_iter().map(|needle| (needle, index)));
                }
                _ => unfiltered_signal.push(index),
            }
        }
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
            needles: NeedleIndex::new(needles),
            unfiltered,
            unfiltered_signal,
            signals,
        })
    }

    /// The signals worth running on `value`, ascending (the rule file's
    /// order, which decides the evidence when no signal gives a version).
    fn candidates(&self, value: &str, candidates: &mut Vec<usize>) {
        candidates.clear();
        self.needles.find(value.as_bytes(), candidates);
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

/// Every needle of a kind, found by where it starts: a string is read
/// once, a table lookup per byte, and only where some needle's first bytes
/// may begin are the needles compared. An automaton over hundreds of
/// needles walks its states byte after byte, each step waiting on the last
/// (3 ns a byte over inline scripts); the lookups do not wait on each other.
#[derive(Debug)]
struct NeedleIndex {
    /// One bit per key: set when some needle's first bytes hash to it.
    present: Vec<u64>,
    /// `(key, needle, signal index)`, sorted by key.
    needles: Vec<(usize, Vec<u8>, usize)>,
}

impl NeedleIndex {
    /// `needles`: each at least [`MIN_NEEDLE`] bytes, with its signal.
    fn new(needles: Vec<(Vec<u8>, usize)>) -> Self {
        let mut present = vec![0u64; (1 << KEY_BITS) / 64];
        let mut keyed: Vec<(usize, Vec<u8>, usize)> = needles
            .into_iter()
            .filter_map(|(needle, signal)| {
                let key = key(needle.get(..MIN_NEEDLE)?);
                present[key / 64] |= 1 << (key % 64);
                Some((key, needle, signal))
            })
            .collect();
        keyed.sort_by_key(|(key, _, _)| *key);
        Self {
            present,
            needles: keyed,
        }
    }

    /// Pushes the signal of each needle `haystack` holds, once per
    /// occurrence.
    fn find(&self, haystack: &[u8], found: &mut Vec<usize>) {
        let Some(lead) = haystack.get(..MIN_NEEDLE - 1) else {
            return;
        };
        // The window's bytes roll through one word, a byte in and a byte
        // out per position, rather than being read again at each.
        let mut window = word_of(lead);
        for (end, &byte) in haystack.iter().enumerate().skip(MIN_NEEDLE - 1) {
            window = ((window << 8) | u32::from(byte)) & WINDOW_MASK;
            let key = hash(window);
            if self.present[key / 64] & (1 << (key % 64)) == 0 {
                continue;
            }
            let first = self.needles.partition_point(|(other, _, _)| *other < key);
            let rest = &haystack[end + 1 - MIN_NEEDLE..];
            for (other, needle, signal) in &self.needles[first..] {
                if *other != key {
                    break;
                }
                if rest.starts_with(needle) {
                    found.push(*signal);
                }
            }
        }
    }
}

/// The bits of a word that hold [`MIN_NEEDLE`] bytes.
const WINDOW_MASK: u32 = (1 << (8 * MIN_NEEDLE)) - 1;

/// The table slot of a needle's first [`MIN_NEEDLE`] bytes.
fn key(prefix: &[u8]) -> usize {
    hash(word_of(prefix))
}

/// Up to four bytes as one word, the first in the highest place.
fn word_of(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(0u32, |word, &byte| (word << 8) | u32::from(byte))
}

/// The table slot of a window's word.
fn hash(word: u32) -> usize {
    (word.wrapping_mul(0x9E37_79B1) >> (32 - KEY_BITS)) as usize
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

#[cfg(test)]
mod tests {
    use super::NeedleIndex;

    fn found(needles: &[&str], haystack: &str) -> Vec<usize> {
        let index = NeedleIndex::new(
            needles
                .iter()
                .enumerate()
                .map(|(signal, needle)| (needle.as_bytes().to_vec(), signal))
                .collect(),
        );
        let mut found = Vec::new();
        index.find(haystack.as_bytes(), &mut found);
        found.sort_unstable();
        found.dedup();
        found
    }

    #[test]
    fn every_needle_is_found_where_others_overlap_it() {
        let needles = ["abcd", "bcd", "abcdef", "cde", "xyz"];
        assert_eq!(found(&needles, "zabcdefz"), vec![0, 1, 2, 3]);
        assert_eq!(found(&needles, "ab"), Vec::<usize>::new());
        assert_eq!(found(&needles, ""), Vec::<usize>::new());
    }

    #[test]
    fn a_needle_is_found_at_the_first_and_the_last_byte() {
        let needles = ["xyz", "cde"];
        assert_eq!(found(&needles, "xyz"), vec![0], "the whole haystack");
        assert_eq!(found(&needles, "xyzabcde"), vec![0, 1]);
        assert_eq!(found(&needles, "xyab"), Vec::<usize>::new());
    }

    #[test]
    fn needles_sharing_their_first_bytes_are_each_compared() {
        let needles = ["gtag(", "gtm.js", "gtm.start"];
        assert_eq!(found(&needles, "x='gtm.start';"), vec![2]);
        assert_eq!(found(&needles, "gtm.js"), vec![1], "at the very end");
    }
}
