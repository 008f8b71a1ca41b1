//! Which links of a home page lead to the site's contact, about or legal
//! page, where businesses put the e-mail and phone their home page lacks.
//!
//! A link counts by its path segments and its text, in the languages of the
//! larger markets; the links that say it most strongly come first. Only
//! pages of the same site (the same host, or it with or without `www.`)
//! are candidates. Among them, the imprint and legal notice pages are
//! where a business states its legal name, address and numbers.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use url::Url;

use crate::collected::Anchor;
use crate::resolve::Resolver;
use crate::text::{case_insensitive, percent_decode};

/// How strongly a word says "the contact details are here".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Strength {
    /// A team or company page: sometimes.
    Weak = 1,
    /// An about or legal page: often (an Impressum must give them).
    Medium = 2,
    /// A contact page.
    Strong = 3,
}

/// Path segments (less an extension such as `.html`), compared whole and
/// lower-cased after percent-decoding.
const PATH_WORDS: &[(&str, Strength)] = &[
    ("contact", Strength::Strong),
    ("contacts", Strength::Strong),
    ("contact-us", Strength::Strong),
    ("contactus", Strength::Strong),
    ("contact_us", Strength::Strong),
    ("kontakt", Strength::Strong),
    ("kontakty", Strength::Strong),
    ("contacto", Strength::Strong),
    ("contactanos", Strength::Strong),
    ("contactenos", Strength::Strong),
    ("contato", Strength::Strong),
    ("fale-conosco", Strength::Strong),
    ("contatti", Strength::Strong),
    ("contattaci", Strength::Strong),
    ("nous-contacter", Strength::Strong),
    ("contactez-nous", Strength::Strong),
    ("お問い合わせ", Strength::Strong),
    ("inquiry", Strength::Strong),
    ("联系我们", Strength::Strong),
    ("impressum", Strength::Medium),
    ("imprint", Strength::Medium),
    ("legal", Strength::Medium),
    ("legal-notice", Strength::Medium),
    ("mentions-legales", Strength::Medium),
    ("aviso-legal", Strength::Medium),
    ("note-legali", Strength::Medium),
    ("legal-notices", Strength::Medium),
    ("informations-legales", Strength::Medium),
    ("colofon", Strength::Medium),
    ("rechtliches", Strength::Medium),
    ("about", Strength::Medium),
    ("about-us", Strength::Medium),
    ("aboutus", Strength::Medium),
    ("uber-uns", Strength::Medium),
    ("ueber-uns", Strength::Medium),
    ("über-uns", Strength::Medium),
    ("chi-siamo", Strength::Medium),
    ("quienes-somos", Strength::Medium),
    ("qui-sommes-nous", Strength::Medium),
    ("a-propos", Strength::Medium),
    ("sobre-nosotros", Strength::Medium),
    ("sobre-nos", Strength::Medium),
    ("会社概要", Strength::Medium),
    ("关于我们", Strength::Medium),
    ("team", Strength::Weak),
    ("our-team", Strength::Weak),
    ("unser-team", Strength::Weak),
    ("equipe", Strength::Weak),
    ("company", Strength::Weak),
    ("unternehmen", Strength::Weak),
];

/// Words looked for inside a link's text (lower-cased).
const TEXT_WORDS: &[(&str, Strength)] = &[
    ("contact", Strength::Strong),
    ("kontakt", Strength::Strong),
    ("contatti", Strength::Strong),
    ("contato", Strength::Strong),
    ("contáctanos", Strength::Strong),
    ("nous contacter", Strength::Strong),
    ("お問い合わせ", Strength::Strong),
    ("联系", Strength::Strong),
    ("impressum", Strength::Medium),
    ("imprint", Strength::Medium),
    ("mentions légales", Strength::Medium),
    ("aviso legal", Strength::Medium),
    ("legal notice", Strength::Medium),
    ("note legali", Strength::Medium),
    ("colofon", Strength::Medium),
    ("about us", Strength::Medium),
    ("über uns", Strength::Medium),
    ("chi siamo", Strength::Medium),
    ("quiénes somos", Strength::Medium),
    ("qui sommes-nous", Strength::Medium),
    ("à propos", Strength::Medium),
    ("会社概要", Strength::Medium),
    ("our team", Strength::Weak),
    ("unser team", Strength::Weak),
];

/// Path segments (less an extension) that name an imprint or legal
/// notice page.
const LEGAL_PATH_WORDS: &[&str] = &[
    "impressum",
    "imprint",
    "legal",
    "legal-notice",
    "legal-notices",
    "mentions-legales",
    "informations-legales",
    "aviso-legal",
    "note-legali",
    "colofon",
    "rechtliches",
];

/// Words in a link's text (lower-cased) that name one.
const LEGAL_TEXT_WORDS: &[&str] = &[
    "impressum",
    "imprint",
    "mentions légales",
    "mentions legales",
    "informations légales",
    "aviso legal",
    "note legali",
    "legal notice",
    "colofon",
];

/// Link text longer than this is a sentence that mentions a word, not a
/// menu entry that names a page.
const MAX_LINK_TEXT_CHARS: usize = 40;

/// Extensions of files that are no page.
const FILE_EXTENSIONS: &[&str] = &[
    "pdf", "jpg", "jpeg", "png", "gif", "svg", "webp", "zip", "doc", "docx", "xls", "xlsx", "mp4",
    "mp3", "vcf",
];

/// An anchor that leads to another page of the same site, resolved, with
/// what both rankings read of it: resolving it and reading its text once
/// serves both.
#[derive(Debug)]
pub(crate) struct SiteLink {
    /// The anchor's position in the page.
    index: usize,
    url: Url,
    /// The path's segments, lower-cased and percent-decoded, less an
    /// extension such as `.html`.
    stems: Vec<String>,
    /// What the link's text says of the page, when it is short enough to
    /// name one.
    text_says: WordSays,
}

/// The anchors that lead to another page of the same site and may name a
/// contact or legal page, resolved and without fragment, in page order;
/// files are left out. An anchor whose text and `href` cannot name one is
/// not resolved at all: a home page has a hundred links or more, and
/// resolving every one was most of this step's time.
pub(crate) fn site_links(anchors: &[Anchor], resolver: &Resolver, page_url: &Url) -> Vec<SiteLink> {
    // A relative `href` takes the base's path segments, which may be the
    // words themselves.
    let any_may_name_a_page = href_may_name_a_page(resolver.base().path());
    anchors
        .iter()
        .enumerate()
        .filter_map(|(index, anchor)| {
            let text_says = short_text(&anchor.text)
                .as_deref()
                .map_or((None, false), text_names);
            let may_name_a_page = any_may_name_a_page
                || text_says.0.is_some()
                || text_says.1
                || href_may_name_a_page(&anchor.href);
            if !may_name_a_page {
                return None;
            }
            let mut url = resolver.resolve_url(&anchor.href)?;
            url.set_fragment(None);
            let usable = same_site(&url, page_url) && !same_page(&url, page_url) && !is_file(&url);
            usable.then(|| SiteLink {
                index,
                stems: path_stems(&url).collect(),
                url,
                text_says,
            })
        })
        .collect()
}

/// Whether the path `href` resolves to may have a segment that is one of
/// [`PATH_WORDS`]: it holds one of the ASCII words in some case, or a
/// byte the URL parser or [`path_stems`] may turn into one (a percent
/// sign, a tab or line break it drops, a character beyond ASCII).
/// Never `false` for an `href` whose path names a page.
fn href_may_name_a_page(href: &str) -> bool {
    static ASCII_PATH_WORDS: LazyLock<AhoCorasick> = LazyLock::new(|| {
        let words: Vec<&str> = PATH_WORDS
            .iter()
            .map(|(word, _)| *word)
            .filter(|word| word.is_ascii())
            .collect();
        case_insensitive(&words)
    });
    href.bytes()
        .any(|byte| matches!(byte, b'%' | b'\t' | b'\n' | b'\r') || !byte.is_ascii())
        || ASCII_PATH_WORDS.is_match(href)
}

/// The same-site pages whose path or text says contact, about, legal or
/// team, strongest first (a tie keeps page order), without the page itself
/// and without repeats.
pub(crate) fn candidates(links: &[SiteLink]) -> Vec<Url> {
    let mut ranked: Vec<(u8, usize, &Url)> = Vec::new();
    for link in links {
        let (text_strength, _) = link.text_says;
        let path_strength = path_strength(&link.stems);
        if path_strength.is_none() && text_strength.is_none() {
            continue;
        }
        if ranked.iter().any(|(_, _, seen)| same_page(seen, &link.url)) {
            continue;
        }
        // The strongest word decides; saying it in both path and text
        // breaks a tie.
        let (path, text) = (
            path_strength.map_or(0, |s| s as u8),
            text_strength.map_or(0, |s| s as u8),
        );
        ranked.push((path.max(text) * 8 + path.min(text), link.index, &link.url));
    }
    ranked.sort_by(|(a_score, a_index, _), (b_score, b_index, _)| {
        b_score.cmp(a_score).then(a_index.cmp(b_index))
    });
    ranked.into_iter().map(|(_, _, url)| url.clone()).collect()
}

/// The same-site imprint and legal notice pages: those named so by both
/// path and text first, then in page order.
pub(crate) fn legal_pages(links: &[SiteLink]) -> Vec<Url> {
    let mut ranked: Vec<(bool, usize, &Url)> = Vec::new();
    for link in links {
        let by_path = link
            .stems
            .iter()
            .any(|stem| LEGAL_PATH_WORDS.contains(&stem.as_str()));
        let (_, by_text) = link.text_says;
        if (by_path || by_text) && !ranked.iter().any(|(_, _, seen)| same_page(seen, &link.url)) {
            ranked.push((by_path && by_text, link.index, &link.url));
        }
    }
    ranked.sort_by(|(a_both, a_index, _), (b_both, b_index, _)| {
        b_both.cmp(a_both).then(a_index.cmp(b_index))
    });
    ranked.into_iter().map(|(_, _, url)| url.clone()).collect()
}

/// The path's segments, lower-cased and percent-decoded, less an
/// extension such as `.html`.
fn path_stems(url: &Url) -> impl Iterator<Item = String> + '_ {
    url.path_segments()
        .into_iter()
        .flatten()
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let decoded = percent_decode(segment).to_lowercase();
            match decoded.rsplit_once('.') {
                Some((stem, "html" | "htm" | "php" | "aspx" | "asp" | "jsp")) => stem.to_owned(),
                _ => decoded,
            }
        })
}

/// A link's text lower-cased, when it is short enough to name a page.
fn short_text(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty() && text.chars().count() <= MAX_LINK_TEXT_CHARS).then(|| text.to_lowercase())
}

fn path_strength(stems: &[String]) -> Option<Strength> {
    stems
        .iter()
        .filter_map(|stem| {
            PATH_WORDS
                .iter()
                .find(|(word, _)| word == stem)
                .map(|(_, strength)| *strength)
        })
        .max()
}

/// What one word of a link's text says: how strongly it names a contact
/// page, and whether it names a legal one.
type WordSays = (Option<Strength>, bool);

/// Both lists of text words as one matcher, each word once, with what it
/// says.
struct TextWords {
    matcher: AhoCorasick,
    says: Vec<WordSays>,
}

static TEXT_WORD_MATCHER: LazyLock<TextWords> = LazyLock::new(|| {
    let mut words: Vec<(&str, WordSays)> = TEXT_WORDS
        .iter()
        .map(|(word, strength)| (*word, (Some(*strength), LEGAL_TEXT_WORDS.contains(word))))
        .collect();
    for word in LEGAL_TEXT_WORDS {
        if !words.iter().any(|(known, _)| known == word) {
            words.push((word, (None, true)));
        }
    }
    let (patterns, says): (Vec<&str>, Vec<WordSays>) = words.into_iter().unzip();
    // The text is lower-cased already: ignoring ASCII case changes nothing.
    TextWords {
        matcher: case_insensitive(&patterns),
        says,
    }
});

/// What a link's text (`folded`, as [`short_text`] gives it) says about
/// the page ([`TEXT_WORDS`], [`LEGAL_TEXT_WORDS`]), in one scan for both
/// lists.
fn text_names(folded: &str) -> WordSays {
    let TextWords { matcher, says } = &*TEXT_WORD_MATCHER;
    matcher
        .find_overlapping_iter(folded)
        .map(|found| says[found.pattern().as_usize()])
        .fold(
            (None, false),
            |(strength, legal), (word_strength, word_legal)| {
                (strength.max(word_strength), legal || word_legal)
            },
        )
}

/// The same host, or one is the other with `www.` in front, over http or
/// https (the worker fetches both as https) on the same explicit port.
pub fn same_site(url: &Url, site: &Url) -> bool {
    let (Some(host), Some(site_host)) = (url.host_str(), site.host_str()) else {
        return false;
    };
    let bare = |host: &str| {
        host.strip_prefix("www.")
            .unwrap_or(host)
            .to_ascii_lowercase()
    };
    bare(host) == bare(site_host)
        && matches!(url.scheme(), "http" | "https")
        && url.port() == site.port()
}

fn same_page(a: &Url, b: &Url) -> bool {
    fn bare(host: Option<&str>) -> Option<&str> {
        host.map(|host| host.strip_prefix("www.").unwrap_or(host))
    }
    bare(a.host_str()) == bare(b.host_str())
        && a.path().trim_end_matches('/') == b.path().trim_end_matches('/')
        && a.query() == b.query()
}

fn is_file(url: &Url) -> bool {
    url.path().rsplit_once('.').is_some_and(|(_, extension)| {
        FILE_EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str())
    })
}
