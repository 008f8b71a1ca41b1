//! Parsing the decoded text, walked as it parses, within a time budget.

use std::time::{Duration, Instant};

use html5ever::tendril::TendrilSink;

use crate::collected::Collected;
use crate::text::truncate;
use crate::walk::{CollectingSink, Reading};

/// Parsing stops after this long and keeps what it has: html5ever's tree
/// builder is quadratic in nesting depth (a page of 100 000 nested `<div>`s
/// takes minutes), and one hostile page must not hold a worker. Real pages
/// parse in milliseconds, and the head, where most fields are, comes first.
const PARSE_BUDGET: Duration = Duration::from_secs(2);
/// The parser is fed in pieces of this size so the budget can be checked.
const PARSE_CHUNK: usize = 64 * 1024;

/// What the walk collects of `text` when reading it for `reading`, or of
/// as much of it as parsed within [`PARSE_BUDGET`].
pub(crate) fn document(text: &str, reading: Reading) -> Collected {
    let started = Instant::now();
    let mut parser = html5ever::parse_document(CollectingSink::new(reading), Default::default());
    let mut rest = text;
    while !rest.is_empty() {
        let chunk = truncate(rest, PARSE_CHUNK);
        parser.process(chunk.into());
        rest = &rest[chunk.len()..];
        if started.elapsed() > PARSE_BUDGET {
            break;
        }
    }
    parser.finish()
}
