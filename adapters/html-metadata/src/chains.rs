//! The fallback chains of the fields real pages most often leave empty:
//! description, image, site name and logo. Each reads only the walk's
//! lists; `docs/extraction.md` gives every chain in order.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

use crate::collected::{Collected, ContentImage};
use crate::jsonld::LinkedData;
use crate::resolve::Resolver;
use crate::text::{MAX_DESCRIPTION, MAX_NAME, case_insensitive, clean};

/// A shorter prefix says too little to call two descriptions the same text.
const MIN_COMPLETED_STEM: usize = 16;
/// A paragraph shorter than this is a caption, a button or a date line.
const MIN_PARAGRAPH_CHARS: usize = 80;
/// A paragraph taken as the description is cut here, at a word boundary.
const PARAGRAPH_DESCRIPTION_CHARS: usize = 300;
/// A content image must be at least this wide and high where it says.
const MIN_CONTENT_IMAGE_EDGE: u32 = 150;
/// Wider (or taller) than this many times the other edge is a banner or a
/// divider, not a picture.
const MAX_CONTENT_IMAGE_RATIO: u32 = 4;

/// The meta sources in order; a value that is a template's boilerplate is
/// skipped, and a value cut short whose complete text is a later source's
/// is taken complete. Then JSON-LD, then the first real paragraph.
pub(crate) fn description(
    collected: &Collected,
    linked: &LinkedData,
    names: &[Option<&str>],
) -> Option<String> {
    let sources: Vec<String> = [
        "description",
        "og:description",
        "twitter:description",
        "dc.description",
    ]
    .iter()
    .filter_map(|key| collected.meta_value(key, MAX_DESCRIPTION))
    .chain(
        linked
            .description
            .as_deref()
            .and_then(|text| clean(text, MAX_DESCRIPTION)),
    )
    .filter(|text| !is_boilerplate(text, names))
    .collect();
    if let Some(first) = sources.first() {
        let stem = first.trim_end_matches(['.', '…', ' ']);
        let completed = sources[1..].iter().find(|later| {
            stem.chars().count() >= MIN_COMPLETED_STEM
                && later.len() > stem.len()
                && later.starts_with(stem)
                && *later != first
        });
        return Some(completed.unwrap_or(first).clone());
    }
    first_paragraph(collected, names)
}

/// Text a site template puts in every page's description: the site's own
/// name or title again, a cookie notice, a CMS's placeholder.
fn is_boilerplate(text: &str, names: &[Option<&str>]) -> bool {
    let folded = text.to_lowercase();
    let folded = folded.trim_end_matches(['.', '!', ' ']);
    names
        .iter()
        .flatten()
        .any(|name| name.to_lowercase() == folded)
        || BOILERPLATE.is_match(folded)
}

static BOILERPLATE: LazyLock<AhoCorasick> = LazyLock::new(|| {
    case_insensitive(&[
        "default description",
        "just another wordpress site",
        "this is a default",
        "site description",
        "enter a description",
        "add a description",
        "we use cookies",
        "this website uses cookies",
        "this site uses cookies",
        "diese website verwendet cookies",
        "wir verwenden cookies",
        "ce site utilise des cookies",
        "utilizamos cookies",
        "lorem ipsum",
    ])
});

/// The first paragraph outside the page's chrome that reads like content,
/// cut at a word boundary.
fn first_paragraph(collected: &Collected, names: &[Option<&str>]) -> Option<String> {
    collected
        .paragraphs
        .iter()
        .filter(|paragraph| !paragraph.in_chrome)
        .filter_map(|paragraph| clean(&paragraph.text, MAX_DESCRIPTION))
        .find(|text| text.chars().count() >= MIN_PARAGRAPH_CHARS && !is_boilerplate(text, names))
        .map(|text| cut_at_word(&text, PARAGRAPH_DESCRIPTION_CHARS))
}

fn cut_at_word(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max_chars).collect();
    let kept = match cut.rfind(' ') {
        Some(space) if space > max_chars / 2 => &cut[..space],
        _ => cut.as_str(),
    };
    format!("{}…", kept.trim_end_matches([',', ';', ':', ' ']))
}

/// The page's picture: the sharing metadata, JSON-LD, the older
/// conventions, a video's poster, then the first large content image.
pub(crate) fn image(
    collected: &Collected,
    linked: &LinkedData,
    resolver: &Resolver,
) -> Option<String> {
    [
        "og:image:secure_url",
        "og:image",
        "og:image:url",
        "twitter:image",
        "twitter:image:src",
    ]
    .iter()
    .find_map(|key| collected.meta_url(key, resolver))
    .or_else(|| {
        linked
            .image
            .as_deref()
            .and_then(|url| resolver.resolve(url))
    })
    .or_else(|| {
        collected
            .links
            .iter()
            .filter(|link| link.rel.iter().any(|rel| rel == "image_src"))
            .find_map(|link| resolver.resolve(&link.href))
    })
    .or_else(|| collected.meta_url("image", resolver))
    .or_else(|| {
        collected
            .itemprop_images
            .iter()
            .find_map(|src| resolver.resolve(src))
    })
    .or_else(|| {
        collected
            .video_poster
            .as_deref()
            .and_then(|poster| resolver.resolve(poster))
    })
    .or_else(|| {
        collected
            .content_images
            .iter()
            .filter(|image| is_large_picture(image))
            .find_map(|image| resolver.resolve(&image.src))
    })
}

/// Not decoration, not a vector drawing (icons and logos mostly are), and
/// large and not a strip where the page gives its size.
fn is_large_picture(image: &ContentImage) -> bool {
    if image.decorative {
        return false;
    }
    let path = image.src.split(['?', '#']).next().unwrap_or_default();
    let extension = path
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    if matches!(extension.as_deref(), Some("svg" | "ico" | "gif")) {
        return false;
    }
    let small = |edge: Option<u32>| edge.is_some_and(|edge| edge < MIN_CONTENT_IMAGE_EDGE);
    if small(image.width) || small(image.height) {
        return false;
    }
    match (image.width, image.height) {
        (Some(width), Some(height)) => {
            width <= height * MAX_CONTENT_IMAGE_RATIO && height <= width * MAX_CONTENT_IMAGE_RATIO
        }
        _ => true,
    }
}

/// `og:site_name`, the JSON-LD names, the names a browser shows for an
/// installed site, then the part of the title the site repeats after a
/// separator when it matches the host name.
pub(crate) fn site_name(
    collected: &Collected,
    linked: &LinkedData,
    title: Option<&str>,
    host: Option<&str>,
) -> Option<String> {
    let linked_name =
        |name: &Option<String>| name.as_deref().and_then(|name| clean(name, MAX_NAME));
    collected
        .meta_value("og:site_name", MAX_NAME)
        .or_else(|| linked_name(&linked.publisher_name))
        .or_else(|| linked_name(&linked.website_name))
        .or_else(|| linked_name(&linked.organization_name))
        .or_else(|| collected.meta_value("application-name", MAX_NAME))
        .or_else(|| collected.meta_value("apple-mobile-web-app-title", MAX_NAME))
        .or_else(|| title_site_name(title?, host?))
}

/// `Article | Site` (or `Site – Tagline`): the end part first, then the
/// start, kept only when it matches the host's name.
fn title_site_name(title: &str, host: &str) -> Option<String> {
    const SEPARATORS: [&str; 7] = [" | ", " - ", " – ", " — ", " · ", " :: ", " » "];
    let separator = SEPARATORS
        .iter()
        .find(|separator| title.contains(**separator))?;
    let parts: Vec<&str> = title.split(separator).map(str::trim).collect();
    let label = host_label(host);
    [parts.last(), parts.first()]
        .into_iter()
        .flatten()
        .find(|part| names_host(part, &label))
        .and_then(|part| clean(part, MAX_NAME))
}

/// The name part of a host: `shop.acme-widgets.co.uk` gives `acmewidgets`
/// (letters and digits only, lower case).
fn host_label(host: &str) -> String {
    let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
    let second_level = ["co", "com", "org", "net", "ac", "gov", "edu", "or", "ne"];
    let index = match labels.as_slice() {
        [.., second, last]
            if last.len() == 2 && second_level.contains(second) && labels.len() >= 3 =>
        {
            labels.len() - 3
        }
        [.., _, _] => labels.len() - 2,
        _ => 0,
    };
    alphanumeric(labels.get(index).copied().unwrap_or_default())
}

fn alphanumeric(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// `The Verge` names `theverge.com`, `BBC News` names `bbc.co.uk`.
fn names_host(part: &str, label: &str) -> bool {
    let folded = alphanumeric(part);
    label.chars().count() >= 3
        && !folded.is_empty()
        && part.chars().count() <= MAX_NAME
        && (folded == label
            || folded.starts_with(label)
            || label.starts_with(&folded) && folded.chars().count() >= 3)
}

/// The organisation's logo in JSON-LD, `og:logo`, then a logo image in the
/// page's header.
pub(crate) fn logo(
    collected: &Collected,
    linked: &LinkedData,
    resolver: &Resolver,
) -> Option<String> {
    linked
        .organization_logo
        .as_deref()
        .and_then(|logo| resolver.resolve(logo))
        .or_else(|| collected.meta_url("og:logo", resolver))
        .or_else(|| header_logo(collected, resolver))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_labels_skip_second_level_registries() {
        assert_eq!(host_label("www.acme-widgets.co.uk"), "acmewidgets");
        assert_eq!(host_label("news.bbc.com"), "bbc");
        assert_eq!(host_label("localhost"), "localhost");
    }
}
