//! Bot challenges and block pages: the answer a protection service serves
//! instead of the site. The same vendors put a sensor (a script that scores
//! the visitor) on every page of the sites they protect; a sensor is a
//! technology (`rules/technologies.toml`, category `security`), not a page
//! kind. So a page is a challenge only by what nothing but a challenge
//! carries: the service's own header saying it challenged, or the markup of
//! its interstitial on a page with next to no text of its own.

use crate::collected::Collected;
use crate::page::Page;

/// Challenge and block pages say a sentence or two ("Press & Hold",
/// "Access denied, reference #18.…"); a page with more text than this is
/// the site itself, whatever else it loads.
const MAX_CHALLENGE_TEXT: usize = 1500;

/// The bot-protection service whose challenge or block page this is.
pub(super) fn vendor(
    page: &Page<'_>,
    collected: &Collected,
    title: Option<&str>,
) -> Option<&'static str> {
    if let Some(vendor) = by_header(page) {
        return Some(vendor);
    }
    if collected.visible_text.trim().len() > MAX_CHALLENGE_TEXT {
        return None;
    }
    by_markup(page, collected, title.unwrap_or_default().trim())
}

/// Headers the services set only on the answer that challenged or blocked.
fn by_header(page: &Page<'_>) -> Option<&'static str> {
    let header = |name: &str| page.header(name).map(str::to_ascii_lowercase);
    // Cloudflare: "cf-mitigated: challenge" on every challenge it serves.
    if header("cf-mitigated").is_some_and(|value| value.contains("challenge")) {
        return Some("Cloudflare");
    }
    // AWS WAF: the CHALLENGE and CAPTCHA actions; ALLOW sets none.
    if header("x-amzn-waf-action").is_some_and(|value| value == "challenge" || value == "captcha") {
        return Some("AWS WAF");
    }
    if header("x-sucuri-block").is_some() {
        return Some("Sucuri");
    }
    None
}

/// The interstitials' own markup. Each needle is absent from the sensor
/// the same vendor puts on real pages: `_pxAppId`, DataDome's `tags.js`,
/// Cloudflare's `/cdn-cgi/challenge-platform/scripts/jsd/`, Imperva's
/// `/_Incapsula_Resource?SWJIYLWA=` script and AWS WAF's `sdk.awswaf.com`
/// all appear on ordinary pages.
fn by_markup(page: &Page<'_>, collected: &Collected, title: &str) -> Option<&'static str> {
    let script = |needle: &str| {
        collected.script_srcs.iter().any(|src| src.contains(needle))
            || collected
                .inline_scripts
                .iter()
                .any(|text| text.contains(needle))
    };
    let element_id = |id: &str| collected.dom_markers.iter().any(|marker| marker == id);
    let text = || collected.visible_text.to_ascii_lowercase();
    if script("_cf_chl_opt")
        || script("/cdn-cgi/challenge-platform/") && title.starts_with("Just a moment")
        || title.contains("Attention Required! | Cloudflare")
    {
        return Some("Cloudflare");
    }
    // The captcha page loads its script from captcha-delivery.com; the
    // sensor comes from js.datadome.co.
    if script("captcha-delivery.com") {
        return Some("DataDome");
    }
    // "Press & Hold": the captcha's container and script.
    if element_id("#px-captcha")
        || script("captcha.px-cdn.net")
        || script("captcha.perimeterx.net")
        || script("/captcha/captcha.js") && script("_pxAppId")
    {
        return Some("PerimeterX");
    }
    let incapsula_frame = collected
        .frame_srcs
        .iter()
        .any(|src| src.contains("/_Incapsula_Resource"));
    if incapsula_frame || text().contains("incapsula incident id") {
        return Some("Imperva");
    }
    if title.starts_with("Sucuri WebSite Firewall") {
        return Some("Sucuri");
    }
    // The interstitial hands its parameters to the challenge script as
    // `window.gokuProps`; the SDK on real pages has none.
    if script("gokuProps") {
        return Some("AWS WAF");
    }
    let akamai_server = page
        .header("server")
        .is_some_and(|server| server.to_ascii_lowercase().contains("akamaighost"));
    let akamai_block =
        title == "Access Denied" && (akamai_server || text().contains("errors.edgesuite.net"));
    if script("/_sec/cp_challenge/") || akamai_block {
        return Some("Akamai");
    }
    None
}
