//! The site's icons: the favicon a browser shows in its tab, and the best
//! square icon for a list of sites. Both fall back to `/favicon.ico` at the
//! page's origin, marked as the guess it is.

use url::Url;

use crate::collected::{Collected, Link};
use crate::resolve::Resolver;

/// The favicon: the best icon the page declares, else the root
/// `/favicon.ico`; the flag says it is that guess.
pub(crate) fn favicon(
    collected: &Collected,
    resolver: &Resolver,
    page_url: &Url,
) -> (Option<String>, bool) {
    root_favicon_unless(page_url, best_declared_icon(collected, resolver))
}

/// The site's best square icon for a list, else the favicon; the flag
/// says it is the root `/favicon.ico` guess.
pub(crate) fn site_icon(
    collected: &Collected,
    resolver: &Resolver,
    page_url: &Url,
) -> (Option<String>, bool) {
    match best_square_icon(collected, resolver) {
        Some(icon) => (Some(icon), false),
        None => favicon(collected, resolver, page_url),
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

/// The best icon the page declares: a browser icon (`icon`, `shortcut
/// icon`) before a touch icon (`apple-touch-icon[-precomposed]`) before a
/// Safari mask icon; among equals the largest declared size, then the first.
fn best_declared_icon(collected: &Collected, resolver: &Resolver) -> Option<String> {
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

/// Icons above this edge gain nothing in a list and cost bytes: among them
/// the one nearest this size is best.
const ICON_TARGET_EDGE: u32 = 256;
/// The size Apple's guidelines give a touch icon that does not say.
const TOUCH_ICON_DEFAULT_EDGE: u32 = 180;
/// The first iPhone's touch icon size.
const LEGACY_TOUCH_ICON_EDGE: u32 = 57;
/// A browser icon that does not say is usually the 16 or 32 px one.
const UNSIZED_ICON_EDGE: u32 = 32;

/// The site's best square icon for a list: among `icon` and
/// `apple-touch-icon` links, the largest up to [`ICON_TARGET_EDGE`] (an SVG
/// counts as that size), then the smallest above it.
fn best_square_icon(collected: &Collected, resolver: &Resolver) -> Option<String> {
    // Where touch icons come in declared sizes, the one without is the
    // legacy 57 px fallback of the old iOS convention.
    let unsized_touch_edge = if collected
        .links
        .iter()
        .any(|link| is_touch_icon(link) && largest_size(link.sizes.as_deref()) > 0)
    {
        LEGACY_TOUCH_ICON_EDGE
    } else {
        TOUCH_ICON_DEFAULT_EDGE
    };
    let mut best: Option<(u32, String)> = None;
    for link in &collected.links {
        let Some(edge) = icon_edge(link, unsized_touch_edge) else {
            continue;
        };
        let Some(url) = resolver.resolve(&link.href) else {
            continue;
        };
        let score = icon_score(edge);
        if best
            .as_ref()
            .is_none_or(|(best_score, _)| score > *best_score)
        {
            best = Some((score, url));
        }
    }
    best.map(|(_, url)| url)
}

/// The edge an icon link offers, or `None` when it is no full-colour icon
/// (a `mask-icon` is a monochrome silhouette).
fn icon_edge(link: &Link, unsized_touch_edge: u32) -> Option<u32> {
    let touch = is_touch_icon(link);
    if !touch && !link.rel.iter().any(|rel| rel == "icon") {
        return None;
    }
    let path = link.href.split(['?', '#']).next().unwrap_or_default();
    let svg = path.to_ascii_lowercase().ends_with(".svg")
        || link
            .media_type
            .as_deref()
            .is_some_and(|kind| kind.trim().eq_ignore_ascii_case("image/svg+xml"));
    let declared = largest_size(link.sizes.as_deref());
    Some(if svg || declared >= SCALABLE_ICON_EDGE {
        ICON_TARGET_EDGE
    } else if declared > 0 {
        declared
    } else if let Some(named) = size_in_file_name(&link.href) {
        named
    } else if touch {
        unsized_touch_edge
    } else {
        UNSIZED_ICON_EDGE
    })
}

fn is_touch_icon(link: &Link) -> bool {
    link.rel
        .iter()
        .any(|rel| rel == "apple-touch-icon" || rel == "apple-touch-icon-precomposed")
}

/// Higher is better: up to the target, bigger is better. A larger icon
/// ranks just above an unsized touch icon (it scales down well but costs
/// bytes); a very large one (an app-store artwork) only above the small
/// browser icons.
fn icon_score(edge: u32) -> u32 {
    const LARGE_EDGE: u32 = 512;
    const SMALL_EDGE: u32 = 64;
    if edge <= ICON_TARGET_EDGE {
        edge * 4
    } else if edge <= LARGE_EDGE {
        TOUCH_ICON_DEFAULT_EDGE * 4 + 2
    } else {
        SMALL_EDGE * 4 + 1
    }
}

/// The size a file name states (`apple-touch-icon-57x57.png`), for links
/// that leave out `sizes`: an old 57 px touch icon is no 180 px one.
fn size_in_file_name(href: &str) -> Option<u32> {
    let path = href.split(['?', '#']).next().unwrap_or_default();
    let name = path.rsplit('/').next().unwrap_or_default();
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter_map(|part| {
            let (width, height) = part.split_once(['x', 'X'])?;
            let (width, height) = (width.parse::<u32>().ok()?, height.parse::<u32>().ok()?);
            (width == height && width > 0).then_some(width)
        })
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icons_rank_larger_up_to_the_target_then_nearer_it() {
        assert!(icon_score(192) > icon_score(180));
        assert!(icon_score(256) > icon_score(512));
        assert!(icon_score(192) > icon_score(1024));
        assert!(icon_score(512) > icon_score(4096));
        assert!(icon_score(512) > icon_score(180));
        assert!(icon_score(4096) > icon_score(32));
        assert!(icon_score(180) > icon_score(1024));
    }

    #[test]
    fn file_names_tell_the_size_of_unsized_icons() {
        assert_eq!(
            size_in_file_name("/icons/apple-touch-icon-57x57-precomposed.png?v=2"),
            Some(57)
        );
        assert_eq!(size_in_file_name("/favicons/152x152.png"), Some(152));
        assert_eq!(size_in_file_name("/img/banner-728x90.png"), None);
        assert_eq!(size_in_file_name("/apple-touch-icon.png"), None);
    }
}
