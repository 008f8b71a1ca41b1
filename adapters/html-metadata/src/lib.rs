//! Extracts a [`SiteMetadata`] from the bytes of an HTML page: title,
//! description, language, canonical URL, site name, images, favicon, logo,
//! contact e-mails and phones, social profiles, WordPress details and the
//! technologies the page runs on.
//!
//! No network and no state: [`extract`] decodes the bytes with the right
//! charset, parses them once with kuchikiki, walks the tree once to collect
//! everything the extractors need, and runs the technology rules in one pass
//! over the collected signals. `docs/extraction.md` lists each field's
//! sources in order and the precision rules.
//!
//! # Layout
//!
//! - `charset`: BOM, `Content-Type` header and `<meta>` prescan into text.
//! - `walk`: the single tree walk; produces `Collected`.
//! - `text`: cleaning of values (whitespace, entities, length caps) and
//!   language tags.
//! - `jsonld`: WebSite/Organization/publisher names, logo, `sameAs`, the
//!   page's description and image from JSON-LD.
//! - `chains`: the fallback chains of description, image, site name and
//!   the site's icon.
//! - `contacts`: e-mail addresses and phone numbers.
//! - `social`: profile links per network.
//! - `tech`: the rule engine over `rules/technologies.toml`, and WordPress
//!   theme/plugins.
//! - this file: the public API and the field-by-field fallbacks.

mod chains;
mod charset;
mod contact_pages;
mod contacts;
mod jsonld;
mod site_kind;
mod social;
mod tech;
mod text;
mod walk;

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use aho_corasick::AhoCorasick;

use kuchikiki::traits::TendrilSink;
use scheduler_domain::{PageContacts, SiteKind, SiteMetadata};
use url::Url;

use crate::text::{MAX_NAME, MAX_TITLE, MAX_URL, clean, language_tag};
use crate::walk::Collected;

/// One fetched page, as the HTTP adapter received it.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    /// The final URL after redirects: relative links resolve against it.
    pub url: &'a Url,
    /// The raw bytes as received (possibly truncated at a size cap).
    pub body: &'a [u8],
    /// Response headers, names lower-case (`content-type`,
    /// `content-language`, `server`, `x-powered-by`, `set-cookie`, ...).
    pub headers: &'a [(String, String)],
}

impl Page<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Whether a response is an HTML page: `text/html` or
/// `application/xhtml+xml`, or no content type and a body that starts like
/// HTML (the MIME sniffing standard's HTML patterns).
pub fn is_html(content_type: Option<&str>, body_prefix: &[u8]) -> bool {
    let media_type = content_type
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match media_type.as_str() {
        "text/html" | "application/xhtml+xml" => true,
        "" => looks_like_html(body_prefix),
        _ => false,
    }
}

fn looks_like_html(body: &[u8]) -> bool {
    let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let body = &body[start..];
    const TAGS: &[&[u8]] = &[
        b"<!doctype html",
        b"<html",
        b"<head",
        b"<script",
        b"<iframe",
        b"<h1",
        b"<div",
        b"<font",
        b"<table",
        b"<a",
        b"<style",
        b"<title",
        b"<b",
        b"<body",
        b"<br",
        b"<p",
        b"<!--",
        b"<meta",
    ];
    TAGS.iter().any(|tag| {
        body.len() > tag.len()
            && body[..tag.len()].eq_ignore_ascii_case(tag)
            && (tag == b"<!--"
                || matches!(
                    body[tag.len()],
                    b' ' | b'>' | b'\t' | b'\n' | b'\r' | b'\x0c'
                ))
    })
}

pub use contact_pages::same_site;

/// Everything the page says about the site. Never fails: a page with
/// nothing usable gives empty fields.
pub fn extract(page: &Page<'_>) -> SiteMetadata {
    extract_home_page(page).metadata
}

/// A home page's metadata and the pages it links to that likely hold the
/// contacts it lacks.
#[derive(Debug, Clone)]
pub struct HomePage {
    /// As [`extract`] gives it; every contact attributed to the page.
    pub metadata: SiteMetadata,
    /// Same-site links whose path or text says contact, about, legal or
    /// team (in the languages of the larger markets), strongest first.
    pub contact_pages: Vec<Url>,
}

/// [`extract`], and the contact page candidates, from one parse and walk.
pub fn extract_home_page(page: &Page<'_>) -> HomePage {
    let collected = collect(page);
    let resolver = Resolver::new(page.url, collected.base_href.as_deref());
    let mut metadata = build(page, &collected, &resolver);
    let (site_kind, detail) = site_kind::detect(page, &collected, metadata.title.as_deref());
    let contact_pages = if site_kind == SiteKind::Site {
        contact_pages::candidates(&collected.anchors, &resolver, page.url)
    } else {
        // The page is not the business: what it names (the parking
        // company's contacts, a host's logo) must not be taken for the
        // site's, and its links lead nowhere of the site's.
        metadata = SiteMetadata {
            url: metadata.url,
            title: metadata.title,
            og_title: metadata.og_title,
            language: metadata.language,
            canonical_url: metadata.canonical_url,
            tech: metadata.tech,
            ..SiteMetadata::default()
        };
        Vec::new()
    };
    metadata.site_kind = site_kind;
    metadata.site_kind_detail = detail;
    metadata.attribute_contacts_to(page.url.as_str());
    HomePage {
        metadata,
        contact_pages,
    }
}

/// Only the e-mails, phones and profiles of a page (a contact or legal
/// page read for them): no other field, no technology rules.
pub fn extract_contacts(page: &Page<'_>) -> PageContacts {
    let collected = collect(page);
    let resolver = Resolver::new(page.url, collected.base_href.as_deref());
    let linked = jsonld::read(&collected.json_ld);
    let language = collected.html_lang.as_deref().and_then(language_tag);
    contacts_of(page, &collected, &linked, &resolver, language.as_deref())
}

fn collect(page: &Page<'_>) -> Collected {
    let text = charset::decode(page.body, page.header("content-type"));
    let document = parse(&text);
    walk::collect(&document)
}

fn contacts_of(
    page: &Page<'_>,
    collected: &Collected,
    linked: &jsonld::LinkedData,
    resolver: &Resolver,
    language: Option<&str>,
) -> PageContacts {
    let host = page.url.host_str();
    let emails = contacts::emails(&collected.contact_links, &collected.visible_text, host);
    let region = contacts::region_of(host, language);
    let phones = contacts::phones(&collected.contact_links, &collected.visible_text, region);
    let social_candidates = social_candidates(collected, linked, resolver);
    let social = social::profiles(&social_candidates);
    PageContacts {
        emails,
        phones,
        social,
    }
}

/// Parsing stops after this long and keeps what it has: html5ever's tree
/// builder is quadratic in nesting depth (a page of 100 000 nested `<div>`s
/// takes minutes), and one hostile page must not hold a worker. Real pages
/// parse in milliseconds, and the head, where most fields are, comes first.
const PARSE_BUDGET: Duration = Duration::from_secs(2);
/// The parser is fed in pieces of this size so the budget can be checked.
const PARSE_CHUNK: usize = 64 * 1024;

fn parse(text: &str) -> kuchikiki::NodeRef {
    let started = Instant::now();
    let mut parser = kuchikiki::parse_html();
    let mut rest = text;
    while !rest.is_empty() {
        let chunk = walk::truncate(rest, PARSE_CHUNK);
        parser.process(chunk.into());
        rest = &rest[chunk.len()..];
        if started.elapsed() > PARSE_BUDGET {
            break;
        }
    }
    parser.finish().document_node
}

fn build(page: &Page<'_>, collected: &Collected, resolver: &Resolver) -> SiteMetadata {
    let linked = jsonld::read(&collected.json_ld);
    let meta = |key: &str, max: usize| meta_value(collected, key, max);

    let title = collected
        .title
        .as_deref()
        .and_then(|title| clean(title, MAX_TITLE))
        .or_else(|| meta("og:title", MAX_TITLE))
        .or_else(|| meta("twitter:title", MAX_TITLE))
        .or_else(|| {
            collected
                .first_h1
                .as_deref()
                .and_then(|h1| clean(h1, MAX_TITLE))
        });
    let meta_language = |key: &str| meta(key, MAX_NAME).as_deref().and_then(language_tag);
    let language = collected
        .html_lang
        .as_deref()
        .and_then(language_tag)
        .or_else(|| meta_language("http-equiv:content-language"))
        .or_else(|| page.header("content-language").and_then(language_tag))
        .or_else(|| meta_language("language"))
        .or_else(|| meta_language("lang"))
        .or_else(|| meta_language("dc.language"))
        .or_else(|| meta_language("og:locale"));
    let canonical_url = collected
        .links
        .iter()
        .filter(|link| link.rel.iter().any(|rel| rel == "canonical"))
        .find_map(|link| resolver.resolve(&link.href));
    let host = page.url.host_str();
    let site_name = chains::site_name(collected, &linked, title.as_deref(), host);
    let description = chains::description(
        collected,
        &linked,
        &[site_name.as_deref(), title.as_deref()],
    );
    let image_url = chains::image(collected, &linked, resolver);
    let declared_favicon = best_icon(collected, resolver);
    let (icon_url, icon_is_fallback) = match chains::site_icon(collected, resolver) {
        Some(icon) => (Some(icon), false),
        None => root_favicon_unless(page.url, declared_favicon.clone()),
    };
    let (favicon_url, favicon_is_fallback) = root_favicon_unless(page.url, declared_favicon);
    let logo_url = linked
        .organization_logo
        .as_deref()
        .and_then(|logo| resolver.resolve(logo))
        .or_else(|| meta_url(collected, "og:logo", resolver))
        .or_else(|| header_logo(collected, resolver));

    let PageContacts {
        emails,
        phones,
        social,
    } = contacts_of(page, collected, &linked, resolver, language.as_deref());

    let signals = technology_signals(page, collected);
    let tech = tech::RULES.detect(&signals);
    let assets: Vec<&str> = signals
        .scripts
        .iter()
        .chain(&signals.stylesheets)
        .copied()
        .collect();
    let wordpress = tech::wordpress_info(&tech, &assets);

    SiteMetadata {
        url: page.url.to_string(),
        title,
        og_title: meta("og:title", MAX_TITLE),
        description,
        language,
        canonical_url,
        site_name,
        image_url,
        favicon_url,
        favicon_is_fallback,
        icon_url,
        icon_is_fallback,
        logo_url,
        emails,
        phones,
        social,
        contact_sources: Vec::new(),
        contact_pages: Vec::new(),
        site_kind: SiteKind::Site,
        site_kind_detail: None,
        wordpress,
        tech,
    }
}

/// The declared icon, else `/favicon.ico` at the page's own origin
/// (whatever `<base href>` says), marked as the guess it is.
fn root_favicon_unless(page_url: &Url, declared: Option<String>) -> (Option<String>, bool) {
    match declared {
        Some(icon) => (Some(icon), false),
        None => (page_url.join("/favicon.ico").ok().map(String::from), true),
    }
}

/// The first non-empty `<meta>` value for `key`, cleaned.
fn meta_value(collected: &Collected, key: &str, max_chars: usize) -> Option<String> {
    collected
        .metas
        .iter()
        .filter(|(name, _)| name == key)
        .find_map(|(_, content)| clean(content, max_chars))
}

fn meta_url(collected: &Collected, key: &str, resolver: &Resolver) -> Option<String> {
    collected
        .metas
        .iter()
        .filter(|(name, _)| name == key)
        .find_map(|(_, content)| resolver.resolve(content))
}

/// The best icon the page declares: a browser icon (`icon`, `shortcut
/// icon`) before a touch icon (`apple-touch-icon[-precomposed]`) before a
/// Safari mask icon; among equals the largest declared size, then the first.
fn best_icon(collected: &Collected, resolver: &Resolver) -> Option<String> {
    let mut best: Option<((u8, u32), String)> = None;
    for link in &collected.links {
        let kind = if link.rel.iter().any(|rel| rel == "icon") {
            3
        } else if link
            .rel
            .iter()
            .any(|rel| rel == "apple-touch-icon" || rel == "apple-touch-icon-precomposed")
        {
            2
        } else if link
            .rel
            .iter()
            .any(|rel| rel == "mask-icon" || rel == "fluid-icon")
        {
            1
        } else {
            continue;
        };
        let Some(url) = resolver.resolve(&link.href) else {
            continue;
        };
        let rank = (kind, largest_size(link.sizes.as_deref()));
        if best.as_ref().is_none_or(|(best_rank, _)| rank > *best_rank) {
            best = Some((rank, url));
        }
    }
    best.map(|(_, url)| url)
}

/// What `sizes="any"` (a scalable icon) counts as.
const SCALABLE_ICON_EDGE: u32 = 4096;

/// The largest edge in a `sizes` attribute (`16x16 32x32`, `any` counts as
/// very large: a scalable icon).
fn largest_size(sizes: Option<&str>) -> u32 {
    sizes
        .unwrap_or_default()
        .split_ascii_whitespace()
        .filter_map(|size| {
            if size.eq_ignore_ascii_case("any") {
                return Some(SCALABLE_ICON_EDGE);
            }
            let (width, height) = size
                .to_ascii_lowercase()
                .split_once(['x', '×'])
                .map(|(w, h)| (w.to_owned(), h.to_owned()))?;
            Some(width.parse::<u32>().ok()?.max(height.parse::<u32>().ok()?))
        })
        .max()
        .unwrap_or(0)
}

/// WordPress's `custom-logo`, then a logo image in the header or branding
/// area (an `<img>` whose class, id, alt or file name, or a containing
/// element's class or id, says logo).
fn header_logo(collected: &Collected, resolver: &Resolver) -> Option<String> {
    let custom = collected.images.iter().find(|image| image.custom_logo);
    let branded = || {
        collected
            .images
            .iter()
            .find(|image| image.says_logo && image.in_branding)
    };
    custom
        .or_else(branded)
        .and_then(|image| resolver.resolve(&image.src))
}

/// Where the site's own profiles are, most trusted first: JSON-LD `sameAs`,
/// the page's `twitter:site` and `article:publisher`, links in the header,
/// navigation and footer, and last links inside the content (which often
/// point at an author or a quoted third party).
fn social_candidates(
    collected: &Collected,
    linked: &jsonld::LinkedData,
    resolver: &Resolver,
) -> Vec<Url> {
    let twitter_site = meta_value(collected, "twitter:site", MAX_NAME).and_then(|handle| {
        let handle = handle.trim_start_matches('@');
        let valid = !handle.is_empty()
            && handle
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        valid.then(|| format!("https://twitter.com/{handle}"))
    });
    let publisher = meta_value(collected, "article:publisher", MAX_NAME);
    let links = |in_content: bool| {
        collected
            .anchors
            .iter()
            .filter(move |anchor| anchor.in_content == in_content && mentions_network(&anchor.href))
            .map(|anchor| anchor.href.as_str())
    };
    linked
        .same_as
        .iter()
        .map(String::as_str)
        .chain(twitter_site.as_deref())
        .chain(publisher.as_deref())
        .chain(links(false))
        .chain(links(true))
        .filter_map(|href| resolver.resolve_url(href))
        .collect()
}

/// Only links that name a network are resolved and classified.
fn mentions_network(href: &str) -> bool {
    static NETWORKS: LazyLock<AhoCorasick> = LazyLock::new(|| {
        walk::case_insensitive(&[
            "facebook.",
            "fb.com",
            "twitter.",
            "x.com",
            "linkedin.",
            "instagram.",
            "youtube.",
            "tiktok.",
            "pinterest.",
            "github.",
        ])
    });
    NETWORKS.is_match(href)
}

fn technology_signals<'a>(page: &'a Page<'_>, collected: &'a Collected) -> tech::Signals<'a> {
    let mut signals = tech::Signals::default();
    for (key, content) in &collected.metas {
        if key == "generator" {
            signals.generators.push(content.trim());
        } else {
            signals
                .metas
                .push(format!("{key}={}", walk::truncate(content, 200)));
        }
    }
    signals.scripts = collected.script_srcs.iter().map(|src| src.trim()).collect();
    signals.stylesheets = collected
        .links
        .iter()
        .map(|link| link.href.trim())
        .collect();
    signals.rels = collected
        .links
        .iter()
        .map(|link| link.rel.join(" "))
        .collect();
    signals.inline_scripts = collected
        .inline_scripts
        .iter()
        .map(String::as_str)
        .collect();
    signals.comments = collected.comments.iter().map(String::as_str).collect();
    signals.frames = collected.frame_srcs.iter().map(|src| src.trim()).collect();
    signals.dom = collected.dom_markers.iter().map(String::as_str).collect();
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
            .push(format!("{name}: {}", walk::truncate(value.trim(), 512)));
    }
    signals
}

/// Resolves links against the final URL and `<base href>`.
#[derive(Debug)]
struct Resolver {
    base: Url,
}

impl Resolver {
    fn new(page_url: &Url, base_href: Option<&str>) -> Self {
        let base = base_href
            .and_then(|href| Self::join(page_url, href))
            .unwrap_or_else(|| page_url.clone());
        Self { base }
    }

    fn join(base: &Url, href: &str) -> Option<Url> {
        let href = href.trim();
        if href.is_empty() || href.len() > MAX_URL {
            return None;
        }
        let lower = href.get(..11).unwrap_or(href).to_ascii_lowercase();
        if ["javascript:", "data:", "mailto:", "tel:", "about:", "blob:"]
            .iter()
            .any(|scheme| lower.starts_with(scheme))
        {
            return None;
        }
        // Protocol-relative links are fetched over https today.
        let url = match href.strip_prefix("//") {
            Some(rest) => Url::parse(&format!("https://{rest}")).ok()?,
            None => base.join(href).ok()?,
        };
        matches!(url.scheme(), "http" | "https").then_some(url)
    }

    fn resolve_url(&self, href: &str) -> Option<Url> {
        Self::join(&self.base, href)
    }

    fn resolve(&self, href: &str) -> Option<String> {
        self.resolve_url(href)
            .map(String::from)
            .filter(|url| url.len() <= MAX_URL)
    }
}

#[cfg(test)]
mod tests;
