//! The rule file checked against itself: every technology is run on the
//! snippets its entry gives (`examples` must detect it, `ignores` must not),
//! and the file's own invariants hold.

use std::collections::BTreeSet;

use scheduler_domain::Technology;
use serde::Deserialize;
use url::Url;

use super::Rules;
use super::rules::{CATEGORIES, RULES_SOURCE, RuleError};
use crate::{Page, extract};

/// Technologies the issue asked for at the least; the file must not shrink
/// under it unnoticed.
const AT_LEAST: usize = 300;

#[derive(Debug, Deserialize)]
struct TestFile {
    technology: Vec<TestEntry>,
}

#[derive(Debug, Deserialize)]
struct TestEntry {
    name: String,
    category: String,
    #[serde(default)]
    examples: Vec<Example>,
    #[serde(default)]
    ignores: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Example {
    /// Markup as a vendor's install instructions write it; placed in the
    /// `<head>` of an otherwise empty page unless it is a whole document.
    html: Option<String>,
    /// A response header, `name: value`.
    header: Option<String>,
    /// The version the rule must read from the snippet.
    version: Option<String>,
    /// The technology leaves no trace of its own: the snippet is another
    /// technology's, which implies it.
    #[serde(default)]
    implied: bool,
}

fn entries() -> Vec<TestEntry> {
    match toml::from_str::<TestFile>(RULES_SOURCE) {
        Ok(file) => file.technology,
        Err(error) => panic!("rule file does not parse: {error}"),
    }
}

fn page(snippet: &str) -> String {
    let trimmed = snippet.trim_start();
    if trimmed.starts_with("<html") || trimmed.to_ascii_lowercase().starts_with("<!doctype") {
        snippet.to_owned()
    } else {
        format!("<!doctype html><html><head>{snippet}</head><body><p>Welcome</p></body></html>")
    }
}

fn detect(html: &str, headers: &[(String, String)]) -> Vec<Technology> {
    let url = Url::parse("https://www.acme-widgets.com/").unwrap();
    extract(&Page {
        url: &url,
        body: page(html).as_bytes(),
        headers,
    })
    .tech
}

fn header(line: &str) -> (String, String) {
    let (name, value) = line
        .split_once(':')
        .unwrap_or_else(|| panic!("example header {line:?} is not `name: value`"));
    (name.trim().to_ascii_lowercase(), value.trim().to_owned())
}

#[test]
fn the_bundled_rules_compile_and_know_enough_technologies() {
    let rules = Rules::parse(RULES_SOURCE);
    assert!(rules.is_ok(), "{:?}", rules.err());
    assert!(
        entries().len() >= AT_LEAST,
        "{} technologies, fewer than {AT_LEAST}",
        entries().len()
    );
}

#[test]
fn every_technology_has_an_example() {
    let missing: Vec<String> = entries()
        .into_iter()
        .filter(|entry| entry.examples.is_empty())
        .map(|entry| entry.name)
        .collect();
    assert!(missing.is_empty(), "no example for {missing:?}");
}

#[test]
fn every_example_detects_its_technology_from_its_own_signal() {
    let mut failures = Vec::new();
    for entry in entries() {
        for example in &entry.examples {
            let headers: Vec<(String, String)> =
                example.header.iter().map(|line| header(line)).collect();
            let html = example.html.as_deref().unwrap_or("");
            let found = detect(html, &headers);
            let Some(tech) = found.iter().find(|tech| tech.name == entry.name) else {
                let names: Vec<&str> = found.iter().map(|tech| tech.name.as_str()).collect();
                failures.push(format!(
                    "{}: not detected in {html:?} {headers:?} (found {names:?})",
                    entry.name
                ));
                continue;
            };
            if example.implied != tech.evidence.starts_with("implied by")
                || tech.evidence.is_empty()
            {
                failures.push(format!(
                    "{}: evidence {:?} is not its own signal",
                    entry.name, tech.evidence
                ));
            }
            if tech.category != entry.category {
                failures.push(format!(
                    "{}: category {} instead of {}",
                    entry.name, tech.category, entry.category
                ));
            }
            if example.version.is_some() && tech.version != example.version {
                failures.push(format!(
                    "{}: version {:?} instead of {:?} in {html:?} {headers:?}",
                    entry.name, tech.version, example.version
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn no_ignored_snippet_detects_the_technology() {
    let mut failures = Vec::new();
    for entry in entries() {
        for html in &entry.ignores {
            if let Some(tech) = detect(html, &[])
                .iter()
                .find(|tech| tech.name == entry.name)
            {
                failures.push(format!(
                    "{}: detected in {html:?} by {}",
                    entry.name, tech.evidence
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn technologies_whose_names_are_ordinary_words_have_a_negative_case() {
    const ORDINARY: &[&str] = &[
        "Drift",
        "Segment",
        "Square",
        "Sanity",
        "Ghost",
        "Heap",
        "Klarna",
        "Crisp",
        "Amplitude",
        "Optimizely",
        "Vue",
        "React",
        "Express",
        "Astro",
        "Gatsby",
        "Hugo",
        "Fathom",
        "Plausible",
        "Mixpanel",
        "Strapi",
        "Stripe",
        "Olark",
        "Tidio",
        "Framer",
        "Pendo",
        "Hotjar",
    ];
    let entries = entries();
    let mut missing = Vec::new();
    for name in ORDINARY {
        match entries.iter().find(|entry| entry.name == *name) {
            Some(entry) if entry.ignores.is_empty() => missing.push(*name),
            Some(_) => {}
            None => panic!("{name} has no rule"),
        }
    }
    assert!(missing.is_empty(), "no negative case for {missing:?}");
}

#[test]
fn every_technology_name_in_article_text_detects_nothing() {
    let names: Vec<String> = entries().into_iter().map(|entry| entry.name).collect();
    let text = names
        .iter()
        .map(|name| {
            format!(
                "<p>We compared {name} and {} with window.{name} in mind.</p>",
                name.to_lowercase()
            )
        })
        .collect::<String>();
    let found = detect(
        &format!(
            "<!doctype html><html><head><title>Tools</title></head><body><article>{text}</article></body></html>"
        ),
        &[],
    );
    let names: Vec<&str> = found.iter().map(|tech| tech.name.as_str()).collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn names_are_unique_and_categories_come_from_the_list() {
    let mut seen = BTreeSet::new();
    for entry in entries() {
        assert!(
            CATEGORIES.contains(&entry.category.as_str()),
            "{}: category {}",
            entry.name,
            entry.category
        );
        assert!(seen.insert(entry.name.clone()), "{} twice", entry.name);
    }
}

#[test]
fn a_name_written_twice_is_an_error() {
    let source = r#"
[[technology]]
name = "Acme"
category = "cms"
signals = [{ on = "generator", pattern = '^Acme' }]
[[technology]]
name = "Acme"
category = "cms"
signals = [{ on = "generator", pattern = '^Acme2' }]"#;
    assert!(matches!(Rules::parse(source), Err(RuleError::DuplicateName(name)) if name == "Acme"));
}

#[test]
fn a_category_outside_the_list_is_an_error() {
    let source = r#"
[[technology]]
name = "Acme"
category = "content-management"
signals = [{ on = "generator", pattern = '^Acme' }]"#;
    assert!(matches!(
        Rules::parse(source),
        Err(RuleError::UnknownCategory { category, .. }) if category == "content-management"
    ));
}

#[test]
fn an_implied_name_without_a_rule_is_an_error() {
    let source = r#"
[[technology]]
name = "Acme"
category = "cms"
implies = ["Acme Runtime"]
signals = [{ on = "generator", pattern = '^Acme' }]"#;
    assert!(matches!(
        Rules::parse(source),
        Err(RuleError::UnknownImplied { implied, .. }) if implied == "Acme Runtime"
    ));
}

#[test]
fn an_unknown_example_key_is_an_error_for_the_tests() {
    let source = r#"
[[technology]]
name = "Acme"
category = "cms"
signals = [{ on = "generator", pattern = '^Acme' }]
examples = [{ htm = '<meta name="generator" content="Acme">' }]"#;
    assert!(toml::from_str::<TestFile>(source).is_err());
}

#[test]
fn nearly_every_bundled_pattern_is_reached_through_its_needle() {
    let Ok(rules) = Rules::parse(RULES_SOURCE) else {
        panic!("the bundled rules do not compile");
    };
    let total: usize = rules.matchers.iter().map(|m| m.signals.len()).sum();
    let unfiltered: Vec<&str> = rules
        .matchers
        .iter()
        .flat_map(|m| {
            m.unfiltered_signal
                .iter()
                .map(|&i| m.signals[i].regex.as_str())
        })
        .collect();
    // Each unfiltered pattern runs on every string of its kind.
    assert!(
        unfiltered.len() * 50 <= total,
        "{} of {total} patterns have no needle: {unfiltered:#?}",
        unfiltered.len()
    );
}
