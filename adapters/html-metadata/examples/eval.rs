//! Measures the extractor on the labelled corpus of real pages.
//!
//! `cargo run --release -p scheduler-html-metadata --example eval -- [CORPUS] [--check]`
//!
//! CORPUS (default `../shared/corpus`) holds `<set>/<page>/page.html` and
//! `expected.json`. For each labelled field the report gives how many pages
//! match and lists the misses; pages marked `synthetic` are reported apart
//! and kept out of the headline numbers. With `--check` the exit code is 1
//! when a headline field is under 95%. Tables then count all pages by kind
//! (site, challenge, parked, ...) and the technologies detected, by
//! category; a last one counts the company fields found
//! (`meta_json.company`) and lists each value, since the corpus labels
//! none: each is for a person to judge.
//!
//! The corpus labels no image or icon: `examples/labels.json` (in this
//! crate) adds labels by page (`"set/page": {"image_url": ..., "icon_url":
//! ...}`), made by hand from each page's candidates; a `null` label expects
//! no value.
#![allow(clippy::print_stdout)] // The report is this program's output.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use scheduler_html_metadata::{Page, extract};
use serde_json::Value;
use url::Url;

const TARGET_PERCENT: f64 = 95.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Title,
    Language,
    Description,
    SiteName,
    Favicon,
    Image,
    Icon,
}

impl Field {
    const ALL: [Field; 7] = [
        Field::Language,
        Field::Description,
        Field::SiteName,
        Field::Favicon,
        Field::Image,
        Field::Icon,
        Field::Title,
    ];

    fn label(self) -> &'static str {
        match self {
            Field::Title => "title (has a title)",
            Field::Language => "language",
            Field::Description => "description",
            Field::SiteName => "site_name",
            Field::Favicon => "favicon_url",
            Field::Image => "image_url (labels.json)",
            Field::Icon => "icon_url (labels.json)",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Language => "language",
            Field::Description => "description",
            Field::SiteName => "site_name",
            Field::Favicon => "favicon_url",
            Field::Image => "image_url",
            Field::Icon => "icon_url",
        }
    }
}

/// The hand-made labels of this crate, by `set/page`.
const LABELS: &str = include_str!("labels.json");

#[derive(Debug, Default)]
struct Score {
    labelled: usize,
    matched: usize,
    misses: Vec<(String, String, String)>,
}

fn main() -> ExitCode {
    let mut corpus = PathBuf::from("../shared/corpus");
    let mut check = false;
    for argument in std::env::args().skip(1) {
        if argument == "--check" {
            check = true;
        } else {
            corpus = PathBuf::from(argument);
        }
    }
    let pages = match corpus_pages(&corpus) {
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

    let labels: Value = match serde_json::from_str(LABELS) {
        Ok(labels) => labels,
        Err(error) => {
            eprintln!("examples/labels.json: {error}");
            return ExitCode::from(2);
        }
    };
    let mut real: Vec<Score> = Field::ALL.iter().map(|_| Score::default()).collect();
    let mut synthetic: Vec<Score> = Field::ALL.iter().map(|_| Score::default()).collect();
    let (mut real_pages, mut synthetic_pages) = (0, 0);
    let mut detections = Detections::default();
    let mut companies = CompanyFields::default();
    for (name, directory) in &pages {
        let expected: Value = match fs::read_to_string(directory.join("expected.json"))
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
        {
            Ok(value) => value,
            Err(error) => {
                eprintln!("{name}: expected.json: {error}");
                return ExitCode::from(2);
            }
        };
        let body = match fs::read(directory.join("page.html")) {
            Ok(body) => body,
            Err(error) => {
                eprintln!("{name}: page.html: {error}");
                return ExitCode::from(2);
            }
        };
        let Some(url) = expected["url"]
            .as_str()
            .and_then(|url| Url::parse(url).ok())
        else {
            eprintln!("{name}: expected.json has no valid url");
            return ExitCode::from(2);
        };
        let is_synthetic = expected["synthetic"].as_bool().unwrap_or(false);
        let scores = if is_synthetic {
            synthetic_pages += 1;
            &mut synthetic
        } else {
            real_pages += 1;
            &mut real
        };
        let metadata = extract(&Page {
            url: &url,
            body: &body,
            headers: &[],
        });
        detections.add(&metadata.tech);
        detections.add_kind(&metadata);
        companies.add(name, metadata.company.as_ref());
        for (field, score) in Field::ALL.iter().zip(scores.iter_mut()) {
            let got = match field {
                Field::Title => metadata.title.clone(),
                Field::Language => metadata.language.clone(),
                Field::Description => metadata.description.clone(),
                Field::SiteName => metadata.site_name.clone(),
                Field::Favicon => metadata.favicon_url.clone(),
                Field::Image => metadata.image_url.clone(),
                Field::Icon => metadata.icon_url.clone(),
            };
            let hand_label = &labels[name.as_str()][field.key()];
            let label = if *field == Field::Title {
                Some(String::from("(a title)"))
            } else if hand_label.is_null() && labels[name.as_str()].get(field.key()).is_some() {
                Some(String::from("null"))
            } else {
                hand_label
                    .as_str()
                    .or_else(|| expected[field.key()].as_str())
                    .map(str::to_owned)
            };
            let Some(label) = label else { continue };
            score.labelled += 1;
            let matched = match field {
                _ if label == "null" => got.is_none(),
                Field::Title => got.is_some(),
                Field::Language => got.as_deref().is_some_and(|got| same_language(got, &label)),
                Field::Description | Field::SiteName => got
                    .as_deref()
                    .is_some_and(|got| collapse(got) == collapse(&label)),
                Field::Favicon | Field::Image | Field::Icon => got
                    .as_deref()
                    .is_some_and(|got| Some(got.to_owned()) == resolve(&url, &label)),
            };
            if matched {
                score.matched += 1;
            } else {
                score
                    .misses
                    .push((name.clone(), label, got.unwrap_or_else(|| "null".into())));
            }
        }
    }

    println!(
        "Corpus: {} ({real_pages} real pages, {synthetic_pages} synthetic)",
        corpus.display()
    );
    println!();
    let mut below_target = false;
    print_table("Real pages (headline)", &real, Some(&mut below_target));
    print_table(
        "Synthetic pages (edge cases, not in the headline)",
        &synthetic,
        None,
    );
    print_misses("Misses on real pages", &real);
    print_misses("Misses on synthetic pages", &synthetic);
    detections.print(real_pages + synthetic_pages);
    companies.print(real_pages + synthetic_pages);
    if check && below_target {
        println!("\nA headline field is under {TARGET_PERCENT}%.");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn print_table(heading: &str, scores: &[Score], mut below_target: Option<&mut bool>) {
    println!("{heading}");
    println!("| field | matched | labelled | % |");
    println!("|---|---:|---:|---:|");
    for (field, score) in Field::ALL.iter().zip(scores) {
        if score.labelled == 0 {
            continue;
        }
        let percent = 100.0 * score.matched as f64 / score.labelled as f64;
        if percent < TARGET_PERCENT
            && let Some(flag) = below_target.as_deref_mut()
        {
            *flag = true;
        }
        println!(
            "| {} | {} | {} | {percent:.1} |",
            field.label(),
            score.matched,
            score.labelled
        );
    }
    println!();
}

fn print_misses(heading: &str, scores: &[Score]) {
    let total: usize = scores.iter().map(|score| score.misses.len()).sum();
    println!("{heading}: {total}");
    for (field, score) in Field::ALL.iter().zip(scores) {
        for (page, expected, got) in &score.misses {
            println!(
                "  {} {page}\n    expected: {}\n    got:      {}",
                field.key(),
                shorten(expected),
                shorten(got)
            );
        }
    }
    println!();
}

/// Technologies detected over the corpus: per category, how many
/// detections and on how many pages each technology was seen.
#[derive(Debug, Default)]
struct Detections {
    by_category: BTreeMap<String, BTreeMap<String, usize>>,
    /// Pages by kind (`site`, `challenge`, ...) and what gave it away.
    kinds: BTreeMap<String, BTreeMap<String, usize>>,
}

impl Detections {
    fn add(&mut self, tech: &[scheduler_domain::Technology]) {
        for technology in tech {
            *self
                .by_category
                .entry(technology.category.clone())
                .or_default()
                .entry(technology.name.clone())
                .or_default() += 1;
        }
    }

    fn add_kind(&mut self, metadata: &scheduler_domain::SiteMetadata) {
        let detail = metadata.site_kind_detail.clone().unwrap_or_default();
        *self
            .kinds
            .entry(metadata.site_kind.as_str().to_owned())
            .or_default()
            .entry(detail)
            .or_default() += 1;
    }

    fn print(&self, pages: usize) {
        println!("Page kinds ({pages} pages)");
        println!("| kind | pages | details (pages) |");
        println!("|---|---:|---|");
        for (kind, details) in &self.kinds {
            let count: usize = details.values().sum();
            let listed: Vec<String> = details
                .iter()
                .filter(|(detail, _)| !detail.is_empty())
                .map(|(detail, seen)| format!("{detail} ({seen})"))
                .collect();
            println!("| {kind} | {count} | {} |", listed.join(", "));
        }
        println!();

        let total: usize = self
            .by_category
            .values()
            .flat_map(|names| names.values())
            .sum();
        println!("Technologies detected ({total} on {pages} pages, no response headers)");
        println!("| category | detections | technologies (pages) |");
        println!("|---|---:|---|");
        for (category, names) in &self.by_category {
            let count: usize = names.values().sum();
            let mut ranked: Vec<(&String, &usize)> = names.iter().collect();
            ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let listed: Vec<String> = ranked
                .iter()
                .map(|(name, seen)| format!("{name} ({seen})"))
                .collect();
            println!("| {category} | {count} | {} |", listed.join(", "));
        }
        println!();
    }
}

fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(160).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

/// Tags compare case-insensitively, at the label's precision: a label that
/// names only the language (`en`, as goose3 records it) matches `en-US`.
fn same_language(got: &str, label: &str) -> bool {
    let label = label.trim();
    got.eq_ignore_ascii_case(label)
        || (!label.contains('-')
            && got
                .split('-')
                .next()
                .is_some_and(|primary| primary.eq_ignore_ascii_case(label)))
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A favicon label as the page wrote it, resolved like the extractor
/// resolves links (protocol-relative ones over https).
fn resolve(page_url: &Url, label: &str) -> Option<String> {
    let label = label.trim();
    match label.strip_prefix("//") {
        Some(rest) => Url::parse(&format!("https://{rest}")).ok(),
        None => page_url.join(label).ok(),
    }
    .map(String::from)
}

/// `(set/page, directory)` of every page, sorted.
fn corpus_pages(corpus: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut pages = Vec::new();
    for set in fs::read_dir(corpus)? {
        let set = set?.path();
        if !set.is_dir() {
            continue;
        }
        for page in fs::read_dir(&set)? {
            let page = page?.path();
            if page.join("expected.json").is_file() && page.join("page.html").is_file() {
                let name = format!(
                    "{}/{}",
                    set.file_name().unwrap_or_default().to_string_lossy(),
                    page.file_name().unwrap_or_default().to_string_lossy()
                );
                pages.push((name, page));
            }
        }
    }
    pages.sort();
    Ok(pages)
}

/// The company fields found on the corpus: how many pages have each, and
/// the values with their pages.
#[derive(Debug, Default)]
struct CompanyFields {
    /// By field name: the pages and what was found there.
    found: BTreeMap<&'static str, Vec<(String, String)>>,
}

impl CompanyFields {
    fn add(&mut self, page: &str, company: Option<&scheduler_domain::Company>) {
        let Some(company) = company else { return };
        let mut record = |field: &'static str, value: String| {
            self.found
                .entry(field)
                .or_default()
                .push((page.to_owned(), value));
        };
        if let Some(name) = &company.name {
            record("name", name.clone());
        }
        if let Some(legal_name) = &company.legal_name {
            record("legal_name", legal_name.clone());
        }
        if let Some(address) = &company.address {
            let parts = [
                &address.street_address,
                &address.postal_code,
                &address.locality,
                &address.region,
                &address.country,
            ];
            let written: Vec<&str> = parts.iter().filter_map(|part| part.as_deref()).collect();
            record("address", written.join(", "));
        }
        if let (Some(country), Some(source)) = (&company.country, company.country_source) {
            record("country", format!("{country} ({source:?})"));
        }
        for identifier in &company.identifiers {
            record(
                "identifiers",
                format!("{:?} {}", identifier.kind, identifier.value),
            );
        }
    }

    fn print(&self, pages: usize) {
        println!("Company fields found on {pages} pages (unlabelled: each value listed)");
        println!("| field | pages | values (page: value) |");
        println!("|---|---:|---|");
        for field in ["name", "legal_name", "address", "country", "identifiers"] {
            let found = self.found.get(field).map_or(&[][..], Vec::as_slice);
            let mut pages_with: Vec<&str> = found.iter().map(|(page, _)| page.as_str()).collect();
            pages_with.dedup();
            let listed: Vec<String> = found
                .iter()
                .map(|(page, value)| format!("{page}: {}", shorten(value)))
                .collect();
            println!("| {field} | {} | {} |", pages_with.len(), listed.join("; "));
        }
        println!();
    }
}
