//! Pages that are not the site's own content: bot challenges, parking and
//! for-sale pages, web servers' default pages, hosts' "suspended" and
//! "coming soon" placeholders. Recognised by the providers' own signals
//! (headers, script and link hosts, markup) and, for the placeholders that
//! have none, by their titles on a page with little else on it.
//!
//! `challenge`: the protection services' interstitials, told apart from
//! the sensors the same services put on real pages.

mod challenge;

use std::sync::LazyLock;

use memchr::memmem::Finder;
use scheduler_domain::SiteKind;

use crate::collected::Collected;
use crate::page::Page;

/// A page with more visible text than this is a real page that happens to
/// mention a phrase (a blog post about parked domains, a shop that sells
/// "coming soon" items).
const MAX_PLACEHOLDER_TEXT: usize = 3000;

/// What the page is, and what gave it away.
pub(crate) fn detect(
    page: &Page<'_>,
    collected: &Collected,
    title: Option<&str>,
) -> (SiteKind, Option<String>) {
    if let Some(provider) = challenge::vendor(page, collected, title) {
        return (SiteKind::Challenge, Some(provider.to_owned()));
    }
    if let Some(detail) = parked(collected) {
        return (SiteKind::Parked, Some(detail));
    }
    let short = collected.visible_text.len() <= MAX_PLACEHOLDER_TEXT;
    if !short {
        return (SiteKind::Site, None);
    }
    let title = title.unwrap_or_default().to_lowercase();
    let h1 = collected
        .first_h1
        .as_deref()
        .unwrap_or_default()
        .trim()
        .to_lowercase();
    if let Some(server) = server_default(&title, &h1) {
        return (
            SiteKind::ServerDefault,
            Some(format!("{server} default page")),
        );
    }
    let says = |phrases: &[&str]| {
        phrases
            .iter()
            .any(|phrase| title.contains(phrase) || h1.contains(phrase))
    };
    if says(SUSPENDED) || uses_asset(collected, "/cgi-sys/suspendedpage.cgi") {
        return (SiteKind::Suspended, Some("account suspended".to_owned()));
    }
    if says(COMING_SOON) {
        return (SiteKind::ComingSoon, Some("coming soon page".to_owned()));
    }
    (SiteKind::Site, None)
}

/// Parking services and domain marketplaces, by the hosts their pages load
/// from or link to: `(needle, name, sells the domain)`.
const PARKING: &[(&str, &str, bool)] = &[
    ("sedoparking.com", "Sedo", true),
    ("sedo.com/search/details", "Sedo", true),
    ("dan.com/buy-domain", "Dan.com", true),
    ("afternic.com", "Afternic", true),
    ("hugedomains.com", "HugeDomains", true),
    ("buydomains.com", "BuyDomains", true),
    ("undeveloped.com", "Undeveloped", true),
    ("img1.wsimg.com/parking-lander", "GoDaddy", false),
    ("parking-lander", "GoDaddy", false),
    ("parkingcrew.net", "ParkingCrew", false),
    ("bodis.com", "Bodis", false),
    ("bodiscdn.com", "Bodis", false),
    ("above.com", "Above", false),
    ("parklogic.com", "ParkLogic", false),
    ("porkbun.com/parked", "Porkbun", false),
];

/// The parking needles' searchers, built once: `str::contains` prepares
/// its needle again at every call, which cost more than the search on
/// short signals such as links.
static PARKING_FINDERS: LazyLock<Vec<Finder<'static>>> = LazyLock::new(|| {
    PARKING
        .iter()
        .map(|(needle, _, _)| Finder::new(needle))
        .collect()
});

/// Visible-text phrases of parking pages without a provider signal.
const FOR_SALE_PHRASES: &[&str] = &[
    "this domain is for sale",
    "this domain may be for sale",
    "the domain name is for sale",
    "buy this domain",
    "this domain name is parked",
    "this domain is parked",
];

fn parked(collected: &Collected) -> Option<String> {
    let signals = collected
        .script_srcs
        .iter()
        .chain(collected.form_actions.iter())
        .chain(collected.anchors.iter().map(|anchor| &anchor.href))
        .chain(collected.inline_scripts.iter());
    let mut found: Option<(&str, bool)> = None;
    // One buffer for every signal's folded copy.
    let mut folded: Vec<u8> = Vec::new();
    for signal in signals {
        folded.clear();
        folded.extend(signal.bytes().map(|byte| byte.to_ascii_lowercase()));
        let first_listed = PARKING_FINDERS
            .iter()
            .zip(PARKING)
            .find(|(finder, _)| finder.find(&folded).is_some());
        if let Some((_, (_, name, sells))) = first_listed {
            // A marketplace that sells the domain says more than a parking
            // service that only shows ads.
            if found.is_none_or(|(_, known_sells)| *sells && !known_sells) {
                found = Some((name, *sells));
            }
        }
    }
    if let Some((name, sells)) = found {
        return Some(if sells {
            format!("for sale at {name}")
        } else {
            format!("parked at {name}")
        });
    }
    // Only a short page can be a placeholder: a long one is not folded.
    if collected.visible_text.len() > MAX_PLACEHOLDER_TEXT {
        return None;
    }
    let text = collected.visible_text.to_lowercase();
    FOR_SALE_PHRASES
        .iter()
        .any(|phrase| text.contains(phrase))
        .then(|| "for sale".to_owned())
}

fn server_default(title: &str, h1: &str) -> Option<&'static str> {
    const DEFAULTS: &[(&str, &str)] = &[
        ("welcome to nginx", "nginx"),
        ("test page for the nginx", "nginx"),
        ("welcome to openresty", "OpenResty"),
        ("apache2 ubuntu default page", "Apache"),
        ("apache2 debian default page", "Apache"),
        ("test page for the apache", "Apache"),
        ("apache http server test page", "Apache"),
        ("iis windows server", "IIS"),
        ("internet information services", "IIS"),
        ("welcome to centos", "Apache"),
        ("domain default page", "Plesk"),
        ("default web site page", "cPanel"),
        ("litespeed web server", "LiteSpeed"),
    ];
    DEFAULTS
        .iter()
        .find(|(phrase, _)| title.contains(phrase) || h1.contains(phrase))
        .map(|(_, server)| *server)
        // Apache's own index.html: no title (so the heading stands in for
        // it), one heading.
        .or_else(|| (h1 == "it works!" && (title.is_empty() || title == h1)).then_some("Apache"))
}

const SUSPENDED: &[&str] = &[
    "account suspended",
    "account has been suspended",
    "website suspended",
    "site suspended",
    "site has been suspended",
    "website is suspended",
];

const COMING_SOON: &[&str] = &[
    "coming soon",
    "under construction",
    "launching soon",
    "site is under maintenance",
    "bientôt disponible",
    "demnächst verfügbar",
    "in kürze verfügbar",
    "próximamente",
    "prossimamente",
];

fn uses_asset(collected: &Collected, needle: &str) -> bool {
    collected
        .script_srcs
        .iter()
        .chain(collected.form_actions.iter())
        .chain(collected.anchors.iter().map(|anchor| &anchor.href))
        .any(|value| value.contains(needle))
}

#[cfg(test)]
mod tests;
