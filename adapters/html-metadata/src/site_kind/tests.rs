//! Every protection service both ways: its challenge or block page is a
//! challenge, and a real page carrying its sensor is the site, with its
//! data, and the sensor among its technologies.

use scheduler_domain::{SiteKind, SiteMetadata};
use url::Url;

use crate::{Page, extract};

fn extract_with(html: &str, headers: &[(&str, &str)]) -> SiteMetadata {
    let url = Url::parse("https://www.acme-widgets.com/").unwrap();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    extract(&Page {
        url: &url,
        body: html.as_bytes(),
        headers: &headers,
    })
}

/// A shop's home page as retailers publish it: Open Graph tags, a menu,
/// products and a footer, with `sensor` at the end of the `<head>`.
fn shop_page(sensor: &str) -> String {
    let products: String = (1..=24)
        .map(|n| {
            format!(
                "<li><a href=\"/p/widget-{n}\">Brass widget no. {n}</a><p>Hand-turned brass, \
                 made to order in our Sheffield workshop and shipped within five days.</p></li>"
            )
        })
        .collect();
    format!(
        "<!doctype html><html lang=\"en\"><head><title>Acme Widgets | Brass widgets</title>\
         <meta name=\"description\" content=\"Hand-turned brass widgets since 1962.\">\
         <meta property=\"og:site_name\" content=\"Acme Widgets\">\
         <meta property=\"og:image\" content=\"https://www.acme-widgets.com/img/share.jpg\">\
         {sensor}</head><body><header><nav><a href=\"/\">Home</a><a href=\"/shop\">Shop</a>\
         </nav></header><main><h1>Brass widgets</h1><ul>{products}</ul></main>\
         <footer><p>Acme Widgets Ltd, 1 Foundry Lane, Sheffield</p></footer></body></html>"
    )
}

/// The page is the site: kept whole, and the sensor named in `security`.
fn assert_real_page_with_sensor(metadata: &SiteMetadata, vendor: &str) {
    assert_eq!(
        (metadata.site_kind, metadata.site_kind_detail.as_deref()),
        (SiteKind::Site, None),
        "{vendor}'s sensor made the page a challenge"
    );
    assert_eq!(
        metadata.description.as_deref(),
        Some("Hand-turned brass widgets since 1962."),
        "{vendor}"
    );
    assert_eq!(
        metadata.site_name.as_deref(),
        Some("Acme Widgets"),
        "{vendor}"
    );
    assert!(
        metadata.image_url.is_some(),
        "{vendor}: the image was dropped"
    );
    let sensor = metadata.tech.iter().find(|tech| tech.name == vendor);
    assert_eq!(
        sensor.map(|tech| tech.category.as_str()),
        Some("security"),
        "{vendor} not reported as a security technology: {:?}",
        metadata.tech
    );
}

fn assert_challenge(metadata: &SiteMetadata, vendor: &str) {
    assert_eq!(
        (metadata.site_kind, metadata.site_kind_detail.as_deref()),
        (SiteKind::Challenge, Some(vendor))
    );
}

#[test]
fn perimeterx_press_and_hold_is_a_challenge_and_its_sensor_is_not() {
    let challenge = r#"<!DOCTYPE html><html lang="en"><head><meta name="robots" content="noindex, nofollow"><title>Access to this page has been denied</title></head>
        <body><div class="container"><h1>Before we continue...</h1><p>Press &amp; Hold to confirm you are a human (and not a bot).</p><div id="px-captcha"></div>
        <p>Reference ID 1a2b3c4d-0000-11ee-8f3a-6b4c5d6e7f80</p></div>
        <script>window._pxAppId = 'PXu6b0qd2S'; window._pxJsClientSrc = '/u6b0qd2S/init.js'; window._pxFirstPartyEnabled = true; window._pxHostUrl = '/u6b0qd2S/xhr';</script>
        <script src="/u6b0qd2S/captcha/captcha.js?a=c&u=1a2b3c4d&v=&m=0"></script></body></html>"#;
    assert_challenge(&extract_with(challenge, &[]), "PerimeterX");

    let snippet = r#"<script type="text/javascript">(function(){ window._pxAppId = 'PXu6b0qd2S'; var p = document.getElementsByTagName('script')[0], s = document.createElement('script'); s.async = 1; s.src = '/u6b0qd2S/init.js'; p.parentNode.insertBefore(s,p); }());</script>"#;
    assert_real_page_with_sensor(&extract_with(&shop_page(snippet), &[]), "PerimeterX");
    let client = r#"<script>window._pxAppId = 'PXu6b0qd2S';</script><script src="https://client.perimeterx.net/PXu6b0qd2S/main.min.js" async></script>"#;
    assert_real_page_with_sensor(&extract_with(&shop_page(client), &[]), "PerimeterX");
}

#[test]
fn an_aws_waf_challenge_is_a_challenge_and_its_sdk_is_not() {
    let challenge = r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title></title>
        <script>window.awsWafCookieDomainList = []; window.gokuProps = {"key":"AQIDAHjcYu","iv":"CgAFRTz","context":"abc"};</script>
        <script src="https://a1b2c3d4e5f6.7e8f9a0b.us-east-1.token.awswaf.com/a1b2c3d4e5f6/0123456789ab/challenge.js"></script></head>
        <body><div id="challenge-container"></div><script>AwsWafIntegration.checkForceRefresh().then((forceRefresh) => { if (forceRefresh) { AwsWafIntegration.forceRefreshToken().then(() => { window.location.reload(true); }); } });</script>
        <noscript><h1>JavaScript is disabled</h1>In order to continue, we need to verify that you're not a robot.</noscript></body></html>"#;
    assert_challenge(&extract_with(challenge, &[]), "AWS WAF");
    assert_challenge(
        &extract_with(
            "<html><head><title></title></head></html>",
            &[("x-amzn-waf-action", "captcha")],
        ),
        "AWS WAF",
    );

    let sdk = r#"<script type="text/javascript" src="https://a1b2c3d4e5f6.edge.sdk.awswaf.com/a1b2c3d4e5f6/0123456789ab/challenge.js" defer></script>"#;
    assert_real_page_with_sensor(&extract_with(&shop_page(sdk), &[]), "AWS WAF");
}

#[test]
fn a_datadome_captcha_is_a_challenge_and_its_tag_is_not() {
    let challenge = r#"<html lang="en"><head><title>acme-widgets.com</title><style>#cmsg{animation: A 1.5s;}</style></head>
        <body style="margin:0"><p id="cmsg">Please enable JS and disable any ad blocker</p>
        <script data-cfasync="false">var dd={'rt':'c','cid':'AHrlqAAAAAMAzX','hsh':'2211F522B61E269B869FA6EAFFB5E1','t':'fe','s':17434,'e':'a1b2','host':'geo.captcha-delivery.com'}</script>
        <script data-cfasync="false" src="https://ct.captcha-delivery.com/c.js"></script></body></html>"#;
    assert_challenge(
        &extract_with(challenge, &[("x-datadome", "protected")]),
        "DataDome",
    );

    let tag = r#"<script>window.ddjskey = 'A55FBF4311ED6F1BF9911EB71931D5'; window.ddoptions = { endpoint: "https://api-js.datadome.co/js/" };</script><script src="https://js.datadome.co/tags.js" async></script>"#;
    let metadata = extract_with(&shop_page(tag), &[("x-datadome", "protected")]);
    assert_real_page_with_sensor(&metadata, "DataDome");
}

#[test]
fn an_akamai_block_page_is_a_challenge_and_bot_manager_is_not() {
    let block = "<HTML><HEAD>\n<TITLE>Access Denied</TITLE>\n</HEAD><BODY>\n<H1>Access Denied</H1>\n \nYou don't have permission to access \"http&#58;&#47;&#47;www&#46;acme-widgets&#46;com&#47;\" on this server.<P>\nReference&#32;&#35;18&#46;5c2d3b17&#46;1700000000&#46;1a2b3c4d\n<P>https&#58;&#47;&#47;errors&#46;edgesuite&#46;net&#47;18&#46;5c2d3b17&#46;1700000000&#46;1a2b3c4d</P>\n</BODY>\n</HTML>\n";
    assert_challenge(&extract_with(block, &[("server", "AkamaiGHost")]), "Akamai");
    let interstitial = r#"<!DOCTYPE html><html><head><title>Challenge Validation</title><script src="/_sec/cp_challenge/sec-4-4.js" async></script></head><body><div id="sec-if-cpt-container"><div id="sec-text-container"><h1>Powered and protected by Akamai</h1></div></div></body></html>"#;
    assert_challenge(&extract_with(interstitial, &[]), "Akamai");

    let sensor = r#"<script type="text/javascript" src="/akam/13/7a3b1c9d" defer></script>"#;
    assert_real_page_with_sensor(
        &extract_with(&shop_page(sensor), &[("server", "AkamaiGHost")]),
        "Akamai Bot Manager",
    );
}

#[test]
fn a_cloudflare_interstitial_is_a_challenge_and_bot_management_is_not() {
    let interstitial = r#"<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title></head><body><noscript>Enable JavaScript and cookies to continue</noscript><script>(function(){window._cf_chl_opt={cvId: '3',cZone: "www.acme-widgets.com",cType: 'managed'};var a = document.createElement('script');a.src = '/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1?ray=8a1b';document.getElementsByTagName('head')[0].appendChild(a);}());</script></body></html>"#;
    assert_challenge(&extract_with(interstitial, &[]), "Cloudflare");
    let blocked = r#"<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head><body><h1>Sorry, you have been blocked</h1><p>You are unable to access acme-widgets.com</p></body></html>"#;
    assert_challenge(&extract_with(blocked, &[]), "Cloudflare");

    let detections = r#"<script>(function(){function c(){var b=a.contentDocument||a.contentWindow.document;if(b){var d=b.createElement('script');d.innerHTML="window.__CF$cv$params={r:'8a1b2c3d4e5f6a7b',t:'MTcwMDAwMDAwMC4wMDAwMDA='};var a=document.createElement('script');a.nonce='';a.src='/cdn-cgi/challenge-platform/scripts/jsd/main.js';document.getElementsByTagName('head')[0].appendChild(a);";b.getElementsByTagName('head')[0].appendChild(d)}}var a=document.createElement('iframe');a.height=1;a.width=1;a.style.display='none';document.body.appendChild(a);c()})();</script>"#;
    let metadata = extract_with(
        &shop_page(detections),
        &[("server", "cloudflare"), ("cf-ray", "8a1b2c3d4e5f6a7b-LHR")],
    );
    assert_real_page_with_sensor(&metadata, "Cloudflare Bot Management");

    // Turnstile in a real page's form is a captcha widget, not a challenge.
    let turnstile = r#"<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer></script>"#;
    let metadata = extract_with(&shop_page(turnstile), &[]);
    assert_eq!(metadata.site_kind, SiteKind::Site);
    assert!(
        metadata
            .tech
            .iter()
            .any(|tech| tech.name == "Cloudflare Turnstile" && tech.category == "captcha")
    );
}

#[test]
fn an_imperva_incident_page_is_a_challenge_and_its_script_is_not() {
    let incident = r#"<html style="height:100%"><head><meta name="ROBOTS" content="NOINDEX, NOFOLLOW"><meta name="format-detection" content="telephone=no"><meta http-equiv="X-UA-Compatible" content="IE=edge,chrome=1"></head><body style="margin:0px;height:100%"><iframe id="main-iframe" src="/_Incapsula_Resource?CWUDNSAI=23&xinfo=8-12345678-0%200NNN&incident_id=123000450012345678-123456789012345678&edet=12&cinfo=04000000&rpinfo=0" frameborder=0 width="100%" height="100%" marginheight="0px" marginwidth="0px">Request unsuccessful. Incapsula incident ID: 123000450012345678-123456789012345678</iframe></body></html>"#;
    assert_challenge(
        &extract_with(incident, &[("x-iinfo", "8-12345678-0 0NNN")]),
        "Imperva",
    );

    let sensor = r#"<script type="text/javascript" src="/_Incapsula_Resource?SWJIYLWA=719d34d31c8e3a6e6fffd425f7e032f3"></script>"#;
    assert_real_page_with_sensor(&extract_with(&shop_page(sensor), &[]), "Imperva");
}

#[test]
fn a_sucuri_block_page_is_a_challenge_and_a_site_behind_sucuri_is_not() {
    let block = r#"<!DOCTYPE html><html><head><title>Sucuri WebSite Firewall - Access Denied</title></head><body><h2>Access Denied - Sucuri Website Firewall</h2><p>If you are the site owner, please contact us.</p></body></html>"#;
    assert_challenge(&extract_with(block, &[]), "Sucuri");
    let metadata = extract_with(
        &shop_page(""),
        &[("x-sucuri-id", "11005"), ("server", "Sucuri/Cloudproxy")],
    );
    assert_real_page_with_sensor(&metadata, "Sucuri");
}

#[test]
fn challenge_markup_on_a_page_with_its_own_content_is_the_site() {
    // A retailer's page that embeds the vendor's captcha container in a
    // login form is still the retailer's page.
    let sensor = r#"<script>window._pxAppId = 'PXu6b0qd2S';</script><script src="/u6b0qd2S/captcha/captcha.js"></script>"#;
    let html = shop_page(sensor).replace("<main>", "<main><div id=\"px-captcha\"></div>");
    assert_real_page_with_sensor(&extract_with(&html, &[]), "PerimeterX");
}
