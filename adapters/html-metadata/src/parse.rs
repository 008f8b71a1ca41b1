//! Parsing the decoded text into a tree, within a time budget.

use std::time::{Duration, Instant};

use kuchikiki::NodeRef;
use kuchikiki::traits::TendrilSink;

use crate::text::truncate;

/// Parsing stops after this long and keeps what it has: html5ever's tree
/// builder is quadratic in nesting depth (a page of 100 000 nested `<div>`s
/// takes minutes), and one hostile page must not hold a worker. Real pages
/// parse in milliseconds, and the head, where most fields are, comes first.
const PARSE_BUDGET: Duration = Duration::from_secs(2);
/// The parser is fed in pieces of this size so the budget can be checked.
const PARSE_CHUNK: usize = 64 * 1024;

/// The document tree of `text`, or of as much of it as parsed within
/// [`PARSE_BUDGET`].
pub(crate) fn document(text: &str) -> NodeRef {
    let started = Instant::now();
    let mut parser = kuchikiki::parse_html();
    let mut rest = text;
    while !rest.is_empty() {
        let chunk = truncate(rest, PARSE_CHUNK);
        parser.process(chunk.into());
        rest = &rest[chunk.len()..];
        if started.elapsed() > PARSE_BUDGET {
            break;
        }
    }
    parser.finish().document_node
}
