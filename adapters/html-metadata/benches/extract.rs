//! Throughput of `extract` over the corpus pages, against a plain kuchikiki
//! parse of the same pages: the extractor is held to the parser's speed.
//!
//! `cargo bench -p scheduler-html-metadata --bench extract [-- CORPUS]`
//! (default: the `shared/corpus` next to the workspace).
#![allow(clippy::print_stdout)] // The report is this program's output.

use std::fs;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use kuchikiki::traits::TendrilSink;
use scheduler_html_metadata::{Page, extract};
use url::Url;

/// Each of the two measurements repeats whole passes over the corpus for
/// about this long.
const MEASURE_FOR: Duration = Duration::from_secs(3);

struct CorpusPage {
    url: Url,
    body: Vec<u8>,
}

fn main() -> ExitCode {
    let corpus = std::env::args()
        .skip(1)
        .find(|argument| !argument.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"));
    let pages = match load(&corpus) {
        Ok(pages) if !pages.is_empty() => pages,
        Ok(_) => {
            eprintln!("no pages under {}", corpus.display());
            return ExitCode::from(2);
        }
        Err(error) => {
            eprintln!("cannot read {}: {error}", corpus.display());
            return ExitCode::from(2);
        }
    };
    let bytes: usize = pages.iter().map(|page| page.body.len()).sum();
    println!(
        "{} pages, {:.1} MB from {}",
        pages.len(),
        bytes as f64 / 1e6,
        corpus.display()
    );

    let (parse, extract_all) = measure_alternately(
        &pages,
        |page| {
            let text = String::from_utf8_lossy(&page.body);
            black_box(kuchikiki::parse_html().one(text.as_ref()));
        },
        |page| {
            black_box(extract(&Page {
                url: &page.url,
                body: &page.body,
                headers: &[],
            }));
        },
    );
    report("kuchikiki parse only", parse, pages.len(), bytes);
    report("extract (full)", extract_all, pages.len(), bytes);
    println!(
        "extract takes {:.2}x the time of a plain parse",
        extract_all.as_secs_f64() / parse.as_secs_f64()
    );
    ExitCode::SUCCESS
}

/// Mean time of one pass over all pages of each of `first` and `second`,
/// after one warm-up pass of each (which also compiles the rules). Their
/// passes alternate, so that a machine whose speed drifts (a shared virtual
/// machine's often does, by a factor of two over seconds) slows both alike
/// and their ratio holds.
fn measure_alternately(
    pages: &[CorpusPage],
    mut first: impl FnMut(&CorpusPage),
    mut second: impl FnMut(&CorpusPage),
) -> (Duration, Duration) {
    let pass = |run: &mut dyn FnMut(&CorpusPage)| {
        let started = Instant::now();
        for page in pages {
            run(page);
        }
        started.elapsed()
    };
    pass(&mut first);
    pass(&mut second);
    let (mut first_total, mut second_total) = (Duration::ZERO, Duration::ZERO);
    let mut passes = 0u32;
    while first_total + second_total < 2 * MEASURE_FOR || passes == 0 {
        first_total += pass(&mut first);
        second_total += pass(&mut second);
        passes += 1;
    }
    (first_total / passes, second_total / passes)
}

fn report(label: &str, per_pass: Duration, pages: usize, bytes: usize) {
    let seconds = per_pass.as_secs_f64();
    println!(
        "{label:<22} {:>8.1} pages/s {:>7.1} MB/s  ({:.2} ms per pass)",
        pages as f64 / seconds,
        bytes as f64 / 1e6 / seconds,
        seconds * 1e3
    );
}

fn load(corpus: &Path) -> std::io::Result<Vec<CorpusPage>> {
    let mut pages = Vec::new();
    for set in fs::read_dir(corpus)? {
        let set = set?.path();
        if !set.is_dir() {
            continue;
        }
        for page in fs::read_dir(&set)? {
            let page = page?.path();
            let (Ok(body), Ok(expected)) = (
                fs::read(page.join("page.html")),
                fs::read_to_string(page.join("expected.json")),
            ) else {
                continue;
            };
            let url = serde_json::from_str::<serde_json::Value>(&expected)
                .ok()
                .and_then(|value| value["url"].as_str().and_then(|url| Url::parse(url).ok()));
            if let Some(url) = url {
                pages.push(CorpusPage { url, body });
            }
        }
    }
    Ok(pages)
}
