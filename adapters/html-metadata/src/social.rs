//! Social network profiles: links to a profile page of the site's owner,
//! never share/intent links, embedded widgets or the network's own pages.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use scheduler_domain::SocialProfiles;
use url::Url;

use crate::collected::{Anchor, Collected};
use crate::jsonld::LinkedData;
use crate::resolve::Resolver;
use crate::text::{MAX_NAME, case_insensitive};

/// The networks `SocialProfiles` has a slot for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Network {
    Facebook,
    Twitter,
    LinkedIn,
    Instagram,
    YouTube,
    TikTok,
    Pinterest,
    GitHub,
}

/// Where the site's own profiles are, most trusted first: JSON-LD `sameAs`,
/// the page's `twitter:site` and `article:publisher`, links in the header,
/// navigation and footer, other links outside the content, and last links
/// inside the content (which often point at an author or a quoted third
/// party).
pub(crate) fn candidates(
    collected: &Collected,
    linked: &LinkedData,
    resolver: &Resolver,
) -> Vec<Url> {
    let twitter_site = collected
        .meta_value("twitter:site", MAX_NAME)
        .and_then(|handle| {
            let handle = handle.trim_start_matches('@');
            let valid = !handle.is_empty()
                && handle
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_');
            valid.then(|| format!("https://twitter.com/{handle}"))
        });
    let publisher = collected.meta_value("article:publisher", MAX_NAME);
    // An anchor in the chrome of an article (its share bar, its author
    // box) is the article's, not the site's.
    let links = |place: Place| {
        collected
            .anchors
            .iter()
            .filter(move |anchor| Place::of(anchor) == place && mentions_network(&anchor.href))
            .map(|anchor| anchor.href.as_str())
    };
    linked
        .same_as
        .iter()
        .map(String::as_str)
        .chain(twitter_site.as_deref())
        .chain(publisher.as_deref())
        .chain(links(Place::Chrome))
        .chain(links(Place::Elsewhere))
        .chain(links(Place::Content))
        .filter_map(|href| resolver.resolve_url(href))
        .collect()
}

/// Where on the page a link sits, as far as whose profile it is goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The site's header, navigation or footer.
    Chrome,
    /// Neither the chrome nor the content.
    Elsewhere,
    /// Inside `<article>` or `<main>`.
    Content,
}

impl Place {
    fn of(anchor: &Anchor) -> Self {
        if anchor.in_content {
            Place::Content
        } else if anchor.in_chrome {
            Place::Chrome
        } else {
            Place::Elsewhere
        }
    }
}

/// Only links that name a network are resolved and classified.
fn mentions_network(href: &str) -> bool {
    static NETWORKS: LazyLock<AhoCorasick> = LazyLock::new(|| {
        case_insensitive(&[
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

/// Fills the profiles from candidate URLs (already absolute), the first
/// profile of each network winning.
pub(crate) fn profiles<'a>(candidates: impl IntoIterator<Item = &'a Url>) -> SocialProfiles {
    let mut profiles = SocialProfiles::default();
    for url in candidates {
        let Some((network, profile)) = classify(url) else {
            continue;
        };
        let slot = match network {
            Network::Facebook => &mut profiles.facebook,
            Network::Twitter => &mut profiles.twitter,
            Network::LinkedIn => &mut profiles.linkedin,
            Network::Instagram => &mut profiles.instagram,
            Network::YouTube => &mut profiles.youtube,
            Network::TikTok => &mut profiles.tiktok,
            Network::Pinterest => &mut profiles.pinterest,
            Network::GitHub => &mut profiles.github,
        };
        if slot.is_none() {
            *slot = Some(profile);
        }
    }
    profiles
}

/// The network and the cleaned profile URL, when `url` is a profile page.
fn classify(url: &Url) -> Option<(Network, String)> {
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let network = network_of(host)?;
    let segments: Vec<&str> = url
        .path_segments()
        .map(|segments| segments.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let first = segments
        .first()
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    let query = url.query().unwrap_or_default();
    if is_share_link(network, &segments, query) {
        return None;
    }
    let keep_query = match network {
        Network::Facebook => facebook_profile(&first, &segments, query)?,
        Network::Twitter => {
            handle_profile(&first, &segments, TWITTER_RESERVED, 15, 1)?;
            false
        }
        Network::LinkedIn => {
            let is_profile = matches!(
                first.as_str(),
                "company" | "in" | "school" | "showcase" | "pub"
            ) && segments.len() >= 2;
            if !is_profile {
                return None;
            }
            false
        }
        Network::Instagram => {
            handle_profile(&first, &segments, INSTAGRAM_RESERVED, 30, 1)?;
            false
        }
        Network::YouTube => {
            let is_profile = first.starts_with('@') && first.len() > 1
                || matches!(first.as_str(), "channel" | "c" | "user") && segments.len() >= 2;
            if !is_profile {
                return None;
            }
            false
        }
        Network::TikTok => {
            if !(first.starts_with('@') && first.len() > 1) {
                return None;
            }
            false
        }
        Network::Pinterest => {
            handle_profile(&first, &segments, PINTEREST_RESERVED, 30, 2)?;
            false
        }
        Network::GitHub => {
            handle_profile(&first, &segments, GITHUB_RESERVED, 39, 1)?;
            false
        }
    };
    let mut profile = url.clone();
    let _ = profile.set_scheme("https");
    profile.set_fragment(None);
    if !keep_query {
        profile.set_query(None);
    }
    Some((network, profile.to_string()))
}

/// Share, intent, dialog, plugin and login links: buttons that act on the
/// page being read, never the site's profile. Any segment of the path
/// counts (`/v2.7/dialog/feed`, `/sharer/sharer.php`, `/pin/create/button`),
/// as does a versioned Graph API prefix and a query that hands the network
/// a URL or a text to post.
fn is_share_link(network: Network, segments: &[&str], query: &str) -> bool {
    let acts = segments.iter().any(|segment| {
        let segment = segment.to_ascii_lowercase();
        SHARE_SEGMENTS.contains(&segment.as_str()) || is_api_version(&segment)
    });
    let posts = query.split('&').any(|pair| {
        let key = pair.split_once('=').map_or(pair, |(key, _)| key);
        SHARE_PARAMETERS.contains(&key.to_ascii_lowercase().as_str())
    });
    // `profile.php?id=` is Facebook's one profile address with a query.
    let profile_php = network == Network::Facebook && segments.first() == Some(&"profile.php");
    acts || posts && !profile_php
}

/// `v2.7`, `v19.0`: Facebook's versioned dialog and plugin endpoints.
fn is_api_version(segment: &str) -> bool {
    segment.strip_prefix('v').is_some_and(|version| {
        !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    })
}

/// Path segments of the networks' share, intent, dialog, plugin and login
/// endpoints, lower-cased.
const SHARE_SEGMENTS: &[&str] = &[
    "share",
    "share.php",
    "sharer",
    "sharer.php",
    "sharearticle",
    "sharing",
    "share-offsite",
    "intent",
    "dialog",
    "plugins",
    "login",
    "login.php",
    "oauth",
    "signup",
    "create",
    "pin",
    "tweet",
    "home.php",
];

/// Query keys that hand a network something to post or share.
const SHARE_PARAMETERS: &[&str] = &[
    "u", "url", "text", "href", "link", "status", "body", "title", "media", "mini", "app_id",
];

fn network_of(host: &str) -> Option<Network> {
    let on = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
    if on("facebook.com") || host == "fb.com" {
        Some(Network::Facebook)
    } else if on("twitter.com") || host == "x.com" {
        Some(Network::Twitter)
    } else if on("linkedin.com") {
        Some(Network::LinkedIn)
    } else if on("instagram.com") {
        Some(Network::Instagram)
    } else if on("youtube.com") {
        Some(Network::YouTube)
    } else if on("tiktok.com") {
        Some(Network::TikTok)
    } else if host.starts_with("pinterest.") || host.contains(".pinterest.") {
        Some(Network::Pinterest)
    } else if host == "github.com" {
        Some(Network::GitHub)
    } else {
        None
    }
}

/// Facebook profiles are `/<name>`, `/pages/...`, `/groups/<name>` or
/// `/profile.php?id=`; returns whether the query must be kept.
fn facebook_profile(first: &str, segments: &[&str], query: &str) -> Option<bool> {
    if first == "profile.php" {
        return query.contains("id=").then_some(true);
    }
    if first.is_empty() || FACEBOOK_RESERVED.contains(&first) || first.ends_with(".php") {
        return None;
    }
    if first == "pages" || first == "groups" {
        return (segments.len() >= 2).then_some(false);
    }
    Some(false)
}

/// A profile addressed by a handle in the first path segment.
/// Deeper paths (`/<handle>/status/...`) are posts, not the profile, except
/// where the network nests a profile's own pages (Pinterest boards).
fn handle_profile(
    first: &str,
    segments: &[&str],
    reserved: &[&str],
    max_length: usize,
    max_segments: usize,
) -> Option<()> {
    let handle = first.strip_prefix('@').unwrap_or(first);
    let valid = !handle.is_empty()
        && handle.len() <= max_length
        && handle
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        && !reserved.contains(&handle);
    (valid && segments.len() <= max_segments).then_some(())
}

const FACEBOOK_RESERVED: &[&str] = &[
    "sharer",
    "share",
    "dialog",
    "plugins",
    "tr",
    "login",
    "help",
    "policies",
    "privacy",
    "legal",
    "about",
    "business",
    "ads",
    "events",
    "watch",
    "marketplace",
    "hashtag",
    "photo",
    "photos",
    "video",
    "videos",
    "story",
    "permalink",
    "l",
    "home",
    "facebook",
    "settings",
    "search",
    "people",
    "v2.0",
    "v3.0",
    "dyi",
    "notes",
];
const TWITTER_RESERVED: &[&str] = &[
    "intent",
    "share",
    "home",
    "search",
    "hashtag",
    "i",
    "privacy",
    "tos",
    "login",
    "signup",
    "explore",
    "settings",
    "messages",
    "notifications",
    "twitter",
    "x",
    "widgets",
    "compose",
];
const INSTAGRAM_RESERVED: &[&str] = &[
    "p",
    "reel",
    "reels",
    "tv",
    "explore",
    "accounts",
    "about",
    "legal",
    "developer",
    "direct",
    "stories",
    "instagram",
    "web",
];
const PINTEREST_RESERVED: &[&str] = &[
    "pin",
    "pinterest",
    "search",
    "ideas",
    "today",
    "business",
    "_",
    "categories",
    "explore",
];
const GITHUB_RESERVED: &[&str] = &[
    "features",
    "about",
    "login",
    "join",
    "pricing",
    "marketplace",
    "topics",
    "explore",
    "sponsors",
    "settings",
    "orgs",
    "search",
    "site",
    "contact",
    "security",
    "enterprise",
    "github",
    "collections",
    "trending",
    "apps",
];

#[cfg(test)]
mod tests;
