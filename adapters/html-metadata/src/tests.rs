//! Behaviour of `extract` on small pages, one behaviour per test.

use scheduler_domain::SiteMetadata;
use url::Url;

use super::{Page, extract, is_html};

const SITE: &str = "https://www.acme-widgets.com/";

/// A page under test: its HTML, where it was fetched from and the response
/// headers.
struct TestPage {
    url: String,
    html: Vec<u8>,
    headers: Vec<(String, String)>,
}

impl TestPage {
    fn new(html: impl Into<Vec<u8>>) -> Self {
        Self {
            url: SITE.to_owned(),
            html: html.into(),
            headers: Vec::new(),
        }
    }

    fn at(mut self, url: &str) -> Self {
        self.url = url.to_owned();
        self
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn extract(&self) -> SiteMetadata {
        let url = Url::parse(&self.url).unwrap();
        extract(&Page {
            url: &url,
            body: &self.html,
            headers: &self.headers,
        })
    }
}

fn head(inner: &str) -> SiteMetadata {
    TestPage::new(format!(
        "<!doctype html><html><head>{inner}</head><body><p>Hi</p></body></html>"
    ))
    .extract()
}

fn body(inner: &str) -> SiteMetadata {
    TestPage::new(format!(
        "<!doctype html><html><head><title>Acme</title></head><body>{inner}</body></html>"
    ))
    .extract()
}

fn tech_names(metadata: &SiteMetadata) -> Vec<&str> {
    metadata.tech.iter().map(|t| t.name.as_str()).collect()
}

fn version_of<'a>(metadata: &'a SiteMetadata, name: &str) -> Option<&'a str> {
    metadata
        .tech
        .iter()
        .find(|t| t.name == name)
        .and_then(|t| t.version.as_deref())
}

// --- title -----------------------------------------------------------------

#[test]
fn title_collapses_whitespace_and_decodes_entities() {
    let metadata = head("<title>\n  Acme &amp; Sons &#8211;\t Widgets  </title>");
    assert_eq!(metadata.title.as_deref(), Some("Acme & Sons – Widgets"));
}

#[test]
fn title_falls_back_to_og_title() {
    let metadata = head(
        r#"<meta property="og:title" content="Acme OG"><meta name="twitter:title" content="Acme TW">"#,
    );
    assert_eq!(metadata.title.as_deref(), Some("Acme OG"));
    assert_eq!(metadata.og_title.as_deref(), Some("Acme OG"));
}

#[test]
fn title_falls_back_to_twitter_title() {
    let metadata = head(r#"<meta name="twitter:title" content="Acme TW">"#);
    assert_eq!(metadata.title.as_deref(), Some("Acme TW"));
}

#[test]
fn title_falls_back_to_first_h1() {
    let metadata =
        TestPage::new("<html><body><h1>Acme <em>Widgets</em></h1><h1>Second</h1></body></html>")
            .extract();
    assert_eq!(metadata.title.as_deref(), Some("Acme Widgets"));
}

#[test]
fn svg_title_is_not_the_page_title() {
    let metadata = TestPage::new(
        "<html><body><svg><title>icon</title></svg><h1>Real heading</h1></body></html>",
    )
    .extract();
    assert_eq!(metadata.title.as_deref(), Some("Real heading"));
}

#[test]
fn first_title_element_wins() {
    let metadata = head("<title>First</title><title>Second</title>");
    assert_eq!(metadata.title.as_deref(), Some("First"));
}

// --- description -----------------------------------------------------------

#[test]
fn description_prefers_meta_description() {
    let metadata = head(
        r#"<meta property="og:description" content="From OG"><meta name="description" content=" From  meta ">"#,
    );
    assert_eq!(metadata.description.as_deref(), Some("From meta"));
}

#[test]
fn description_falls_back_to_og_description() {
    let metadata = head(
        r#"<meta name="description" content="  "><meta property="og:description" content="From OG">"#,
    );
    assert_eq!(metadata.description.as_deref(), Some("From OG"));
}

#[test]
fn description_falls_back_to_twitter_description() {
    let metadata = head(r#"<meta name="twitter:description" content="From Twitter">"#);
    assert_eq!(metadata.description.as_deref(), Some("From Twitter"));
}

#[test]
fn truncated_meta_description_is_completed_from_a_later_source() {
    let metadata = head(
        r#"<meta name="description" content="We make widgets for every kind of workshop..."><meta property="og:description" content="We make widgets for every kind of workshop, big or small.">"#,
    );
    assert_eq!(
        metadata.description.as_deref(),
        Some("We make widgets for every kind of workshop, big or small.")
    );
}

#[test]
fn description_is_capped() {
    let long = "word ".repeat(2000);
    let metadata = head(&format!(r#"<meta name="description" content="{long}">"#));
    assert_eq!(metadata.description.unwrap().chars().count(), 2048);
}

// --- language --------------------------------------------------------------

#[test]
fn language_from_html_lang() {
    let metadata = TestPage::new(r#"<html lang="en_gb"><head><meta http-equiv="content-language" content="fr"></head></html>"#)
        .header("content-language", "de")
        .extract();
    assert_eq!(metadata.language.as_deref(), Some("en-GB"));
}

#[test]
fn language_from_http_equiv_content_language() {
    let metadata = TestPage::new(
        r#"<html><head><meta http-equiv="Content-Language" content="fr-CA"></head></html>"#,
    )
    .header("content-language", "de")
    .extract();
    assert_eq!(metadata.language.as_deref(), Some("fr-CA"));
}

#[test]
fn language_from_content_language_header() {
    let metadata = TestPage::new("<html><head></head></html>")
        .header("content-language", "de-DE, en")
        .extract();
    assert_eq!(metadata.language.as_deref(), Some("de-DE"));
}

#[test]
fn language_from_og_locale_as_a_last_resort() {
    let metadata = head(r#"<meta property="og:locale" content="es_ES">"#);
    assert_eq!(metadata.language.as_deref(), Some("es-ES"));
}

// --- URLs ------------------------------------------------------------------

#[test]
fn canonical_url_resolves_against_base_href() {
    let metadata =
        head(r#"<base href="https://cdn.acme-widgets.com/en/"><link rel="canonical" href="home">"#);
    assert_eq!(
        metadata.canonical_url.as_deref(),
        Some("https://cdn.acme-widgets.com/en/home")
    );
}

#[test]
fn relative_urls_resolve_against_the_final_url() {
    let metadata =
        TestPage::new(r#"<html><head><link rel="canonical" href="../about"></head></html>"#)
            .at("https://acme-widgets.com/shop/item/")
            .extract();
    assert_eq!(metadata.url, "https://acme-widgets.com/shop/item/");
    assert_eq!(
        metadata.canonical_url.as_deref(),
        Some("https://acme-widgets.com/shop/about")
    );
}

#[test]
fn protocol_relative_urls_become_https() {
    let metadata = TestPage::new(r#"<html><head><meta property="og:image" content="//img.acme-widgets.com/share.png"></head></html>"#)
        .at("http://acme-widgets.com/")
        .extract();
    assert_eq!(
        metadata.image_url.as_deref(),
        Some("https://img.acme-widgets.com/share.png")
    );
}

#[test]
fn image_url_falls_back_to_twitter_image() {
    let metadata = head(r#"<meta name="twitter:image" content="/card.jpg">"#);
    assert_eq!(
        metadata.image_url.as_deref(),
        Some("https://www.acme-widgets.com/card.jpg")
    );
}

// --- site name -------------------------------------------------------------

#[test]
fn site_name_from_og_site_name() {
    let metadata = head(
        r#"<meta property="og:site_name" content="Acme Widgets"><script type="application/ld+json">{"@type":"WebSite","name":"Other"}</script>"#,
    );
    assert_eq!(metadata.site_name.as_deref(), Some("Acme Widgets"));
}

#[test]
fn site_name_from_json_ld_website() {
    let metadata = head(
        r#"<script type="application/ld+json">{"@context":"https://schema.org","@graph":[{"@type":"Organization","name":"Acme Widgets Ltd"},{"@type":"WebSite","name":"Acme Widgets"}]}</script>"#,
    );
    assert_eq!(metadata.site_name.as_deref(), Some("Acme Widgets"));
}

#[test]
fn site_name_from_json_ld_publisher_rather_than_author() {
    let metadata = head(
        r#"<script type="application/ld+json">{"@type":"NewsArticle","author":{"@type":"Organization","name":"Wire Service"},"publisher":{"@type":"Organization","name":"Acme Times"}}</script>"#,
    );
    assert_eq!(metadata.site_name.as_deref(), Some("Acme Times"));
}

#[test]
fn invalid_json_ld_is_skipped() {
    let metadata = head(
        r#"<script type="application/ld+json">{"@type": "Organization", "name": </script><script type="application/ld+json"><!-- {"@type":"Organization","name":"Acme"} --></script>"#,
    );
    assert_eq!(metadata.site_name.as_deref(), Some("Acme"));
}

// --- favicon ---------------------------------------------------------------

#[test]
fn favicon_prefers_a_browser_icon_over_a_touch_icon() {
    let metadata = head(
        r#"<link rel="apple-touch-icon" sizes="180x180" href="/touch.png"><link rel="shortcut icon" href="/fav.ico">"#,
    );
    assert_eq!(
        metadata.favicon_url.as_deref(),
        Some("https://www.acme-widgets.com/fav.ico")
    );
    assert!(!metadata.favicon_is_fallback);
}

#[test]
fn favicon_takes_the_largest_declared_icon() {
    let metadata = head(
        r#"<link rel="icon" sizes="16x16" href="/16.png"><link rel="icon" sizes="32x32 48x48" href="/48.png"><link rel="icon" href="/plain.ico">"#,
    );
    assert_eq!(
        metadata.favicon_url.as_deref(),
        Some("https://www.acme-widgets.com/48.png")
    );
}

#[test]
fn favicon_uses_apple_touch_icon_when_no_icon_is_declared() {
    let metadata = head(
        r#"<link rel="apple-touch-icon-precomposed" href="//static.acme-widgets.com/touch.png">"#,
    );
    assert_eq!(
        metadata.favicon_url.as_deref(),
        Some("https://static.acme-widgets.com/touch.png")
    );
    assert!(!metadata.favicon_is_fallback);
}

#[test]
fn favicon_falls_back_to_root_favicon_ico_and_says_so() {
    let metadata =
        TestPage::new("<html><head><base href='https://cdn.example.net/x/'></head></html>")
            .at("https://acme-widgets.com/shop/")
            .extract();
    assert_eq!(
        metadata.favicon_url.as_deref(),
        Some("https://acme-widgets.com/favicon.ico")
    );
    assert!(metadata.favicon_is_fallback);
}

// --- logo ------------------------------------------------------------------

#[test]
fn logo_from_json_ld_organization() {
    let metadata = TestPage::new(
        r#"<html><head><script type="application/ld+json">{"@graph":[{"@type":"Organization","name":"Acme","logo":{"@id":"https://www.acme-widgets.com/#logo"}},{"@type":"ImageObject","@id":"https://www.acme-widgets.com/#logo","url":"https://www.acme-widgets.com/logo.svg"}]}</script></head><body><header><img class="logo" src="/header-logo.png"></header></body></html>"#,
    )
    .extract();
    assert_eq!(
        metadata.logo_url.as_deref(),
        Some("https://www.acme-widgets.com/logo.svg")
    );
}

#[test]
fn logo_from_og_logo() {
    let metadata = head(r#"<meta property="og:logo" content="/og-logo.png">"#);
    assert_eq!(
        metadata.logo_url.as_deref(),
        Some("https://www.acme-widgets.com/og-logo.png")
    );
}

#[test]
fn logo_from_wordpress_custom_logo() {
    let metadata = body(
        r#"<div class="site"><a href="/" class="custom-logo-link"><img class="custom-logo" src="/wp-content/uploads/acme.png" alt="Acme"></a></div>"#,
    );
    assert_eq!(
        metadata.logo_url.as_deref(),
        Some("https://www.acme-widgets.com/wp-content/uploads/acme.png")
    );
}

#[test]
fn logo_from_an_image_in_the_header_that_says_logo() {
    let metadata = body(
        r#"<header id="masthead"><nav><img src="/menu.png"></nav><a href="/"><img src="/img/acme-logo.svg" alt="Acme"></a></header>"#,
    );
    assert_eq!(
        metadata.logo_url.as_deref(),
        Some("https://www.acme-widgets.com/img/acme-logo.svg")
    );
}

#[test]
fn partner_logos_outside_the_branding_area_are_not_the_logo() {
    let metadata = body(
        r#"<main><section class="clients"><img src="/logos/bigcorp-logo.png" alt="BigCorp logo"></section></main>"#,
    );
    assert_eq!(metadata.logo_url, None);
}

// --- e-mails ---------------------------------------------------------------

#[test]
fn emails_from_mailto_links_drop_the_query_and_percent_decode() {
    let metadata =
        body(r#"<a href="mailto:sales%40acme-widgets.com?subject=Hello">Write to us</a>"#);
    assert_eq!(metadata.emails, ["sales@acme-widgets.com"]);
}

#[test]
fn emails_from_visible_text_including_entity_encoded_at_signs() {
    let metadata =
        body("<p>Contact: info&#64;acme-widgets.com or support&commat;acme-widgets.com.</p>");
    assert_eq!(
        metadata.emails,
        ["info@acme-widgets.com", "support@acme-widgets.com"]
    );
}

#[test]
fn image_and_asset_names_are_not_emails() {
    let metadata = body(
        r#"<img src="/img/logo@2x.png" srcset="/img/logo@3x.png 3x"><link href="/fonts/icons@1.2.css"><a href="/files/banner@2x.jpg">banner@2x.jpg</a>"#,
    );
    assert!(metadata.emails.is_empty(), "{:?}", metadata.emails);
}

#[test]
fn form_placeholders_are_not_emails() {
    let metadata = body(
        r#"<form><input type="email" placeholder="jane@acme-widgets.com" value="x@acme-widgets.com"></form>"#,
    );
    assert!(metadata.emails.is_empty(), "{:?}", metadata.emails);
}

#[test]
fn example_and_test_domains_are_not_emails() {
    let metadata = body(
        "<p>Use you@example.com, someone@example.org, a@foo.test, name@yourdomain.com, but write to team@acme-widgets.com</p>",
    );
    assert_eq!(metadata.emails, ["team@acme-widgets.com"]);
}

#[test]
fn email_domains_are_lower_cased_and_duplicates_dropped() {
    let metadata = body(
        r#"<a href="mailto:Info@ACME-Widgets.com">Info@ACME-Widgets.com</a><p>Info@acme-widgets.COM</p>"#,
    );
    assert_eq!(metadata.emails, ["Info@acme-widgets.com"]);
}

#[test]
fn emails_on_the_sites_own_domain_come_first_then_page_order() {
    let metadata = body(
        "<p>agency@design-studio.com</p><p>press@acme-widgets.com</p><p>jobs@gmail.com</p><p>sales@acme-widgets.com</p>",
    );
    assert_eq!(
        metadata.emails,
        [
            "press@acme-widgets.com",
            "sales@acme-widgets.com",
            "agency@design-studio.com",
            "jobs@gmail.com"
        ]
    );
}

#[test]
fn emails_in_scripts_are_not_read() {
    let metadata = body(
        r#"<script>var dsn = "https://abc123@o1.ingest.sentry.io/1"; var c = "dev@acme-widgets.com";</script>"#,
    );
    assert!(metadata.emails.is_empty(), "{:?}", metadata.emails);
}

#[test]
fn cloudflare_obfuscated_emails_are_decoded() {
    // "info@acme.com" XOR 0x42, key first.
    let key = 0x42u8;
    let hex: String = std::iter::once(key)
        .chain(b"info@acme.com".iter().map(|b| b ^ key))
        .map(|b| format!("{b:02x}"))
        .collect();
    let metadata = body(&format!(
        r#"<a href="/cdn-cgi/l/email-protection#{hex}"><span class="__cf_email__" data-cfemail="{hex}">[email&#160;protected]</span></a>"#
    ));
    assert_eq!(metadata.emails, ["info@acme.com"]);
}

// --- phones ----------------------------------------------------------------

#[test]
fn tel_links_are_normalised_to_e164() {
    let metadata = body(r#"<a href="tel:+44%2020%207946%200958">Call</a>"#);
    assert_eq!(metadata.phones, ["+442079460958"]);
}

#[test]
fn international_numbers_in_text_are_normalised() {
    let metadata = body("<p>Phone: +44 (0)20 7946 0958</p><p>Tel. +33 1 42 68 53 00</p>");
    assert_eq!(metadata.phones, ["+442079460958", "+33142685300"]);
}

#[test]
fn national_numbers_take_the_country_of_the_domain() {
    let metadata = TestPage::new("<html><body><p>Telefon: 030 2123 4567</p></body></html>")
        .at("https://www.acme-werkzeuge.de/")
        .extract();
    assert_eq!(metadata.phones, ["+493021234567"]);
}

#[test]
fn national_numbers_take_the_country_of_the_language_region() {
    let metadata =
        TestPage::new(r#"<html lang="en-GB"><body><p>Call 020 7946 0958</p></body></html>"#)
            .extract();
    assert_eq!(metadata.phones, ["+442079460958"]);
}

#[test]
fn north_american_format_is_recognised_without_a_country() {
    let metadata = body("<p>(415) 555-2671 or 212-555-0123</p>");
    assert_eq!(metadata.phones, ["+14155552671", "+12125550123"]);
}

#[test]
fn dates_are_not_phones() {
    let metadata = body("<p>Posted 2024-05-01 10:30, updated 01.05.2024 and 12/31/2023.</p>");
    assert!(metadata.phones.is_empty(), "{:?}", metadata.phones);
}

#[test]
fn order_and_licence_numbers_are_not_phones() {
    let metadata = body(
        "<p>Order number 415-555-2671</p><p>Licence No. 212 555 0123</p><p>VAT: 123 456 7890</p><p>Ref #2125550123</p>",
    );
    assert!(metadata.phones.is_empty(), "{:?}", metadata.phones);
}

#[test]
fn numbers_in_urls_asset_names_and_cache_busters_are_not_phones() {
    let metadata = body(
        r#"<img src="/img/banner-4155552671.jpg"><script src="/app.js?v=2125550123"></script><a href="/product/4155552671">Product</a><p>https://acme-widgets.com/p/4155552671</p>"#,
    );
    assert!(metadata.phones.is_empty(), "{:?}", metadata.phones);
}

#[test]
fn bare_digit_runs_without_a_phone_word_are_not_phones() {
    let metadata = body("<p>Item 4155552671 shipped; 12345678 units sold</p>");
    assert!(metadata.phones.is_empty(), "{:?}", metadata.phones);
}

#[test]
fn phones_are_deduplicated_across_links_and_text() {
    let metadata =
        body(r#"<a href="tel:+14155552671">+1 (415) 555-2671</a><p>Call +1 415 555 2671</p>"#);
    assert_eq!(metadata.phones, ["+14155552671"]);
}

// --- social ----------------------------------------------------------------

#[test]
fn social_profiles_fill_each_network() {
    let metadata = body(
        r#"<footer>
        <a href="https://www.facebook.com/acmewidgets">f</a>
        <a href="https://x.com/acmewidgets">x</a>
        <a href="https://www.linkedin.com/company/acme-widgets/">in</a>
        <a href="https://instagram.com/acme.widgets/">ig</a>
        <a href="https://www.youtube.com/@acmewidgets">yt</a>
        <a href="https://www.tiktok.com/@acmewidgets">tt</a>
        <a href="https://www.pinterest.com/acmewidgets/">p</a>
        <a href="https://github.com/acme-widgets">gh</a>
        </footer>"#,
    );
    let social = metadata.social;
    assert_eq!(
        social.facebook.as_deref(),
        Some("https://www.facebook.com/acmewidgets")
    );
    assert_eq!(social.twitter.as_deref(), Some("https://x.com/acmewidgets"));
    assert_eq!(
        social.linkedin.as_deref(),
        Some("https://www.linkedin.com/company/acme-widgets/")
    );
    assert_eq!(
        social.instagram.as_deref(),
        Some("https://instagram.com/acme.widgets/")
    );
    assert_eq!(
        social.youtube.as_deref(),
        Some("https://www.youtube.com/@acmewidgets")
    );
    assert_eq!(
        social.tiktok.as_deref(),
        Some("https://www.tiktok.com/@acmewidgets")
    );
    assert_eq!(
        social.pinterest.as_deref(),
        Some("https://www.pinterest.com/acmewidgets/")
    );
    assert_eq!(
        social.github.as_deref(),
        Some("https://github.com/acme-widgets")
    );
}

#[test]
fn share_and_intent_links_are_not_profiles() {
    let metadata = body(
        r#"<a href="https://www.facebook.com/sharer.php?u=https://acme-widgets.com">Share</a>
        <a href="https://www.facebook.com/sharer/sharer.php?u=x">Share</a>
        <a href="https://twitter.com/intent/tweet?text=hi">Tweet</a>
        <a href="https://twitter.com/share?url=https://acme-widgets.com">Tweet</a>
        <a href="https://www.linkedin.com/shareArticle?mini=true&url=x">Share</a>
        <a href="https://www.linkedin.com/sharing/share-offsite/?url=x">Share</a>
        <a href="https://pinterest.com/pin/create/button/?url=x">Pin</a>"#,
    );
    assert_eq!(metadata.social, scheduler_domain::SocialProfiles::default());
}

#[test]
fn widgets_and_the_networks_own_pages_are_not_profiles() {
    let metadata = body(
        r#"<a href="https://www.facebook.com/plugins/page.php?href=x">w</a>
        <a href="https://www.facebook.com/policies/cookies/">p</a>
        <a href="https://twitter.com/privacy">p</a>
        <a href="https://www.youtube.com/watch?v=abc">v</a>
        <a href="https://www.instagram.com/p/Cxyz/">post</a>
        <a href="https://github.com/features/actions">gh</a>"#,
    );
    assert_eq!(metadata.social, scheduler_domain::SocialProfiles::default());
}

#[test]
fn twitter_com_links_fill_twitter_and_profile_tracking_is_dropped() {
    let metadata = body(r#"<a href="http://twitter.com/AcmeWidgets?ref_src=twsrc#top">t</a>"#);
    assert_eq!(
        metadata.social.twitter.as_deref(),
        Some("https://twitter.com/AcmeWidgets")
    );
}

#[test]
fn site_chrome_links_beat_links_inside_the_article() {
    let metadata = body(
        r#"<article><p>Says <a href="https://twitter.com/some_author">@some_author</a></p></article><footer><a href="https://twitter.com/acmewidgets">Follow us</a></footer>"#,
    );
    assert_eq!(
        metadata.social.twitter.as_deref(),
        Some("https://twitter.com/acmewidgets")
    );
}

#[test]
fn twitter_site_and_article_publisher_metas_name_the_sites_profiles() {
    let metadata = TestPage::new(
        r#"<html><head><meta name="twitter:site" content="@AcmeWidgets"><meta property="article:publisher" content="https://www.facebook.com/acmewidgets"></head><body><a href="https://twitter.com/reporter">r</a></body></html>"#,
    )
    .extract();
    assert_eq!(
        metadata.social.twitter.as_deref(),
        Some("https://twitter.com/AcmeWidgets")
    );
    assert_eq!(
        metadata.social.facebook.as_deref(),
        Some("https://www.facebook.com/acmewidgets")
    );
}

#[test]
fn json_ld_same_as_counts_as_profiles() {
    let metadata = head(
        r#"<script type="application/ld+json">{"@type":"Organization","name":"Acme","sameAs":["https://www.facebook.com/acmewidgets","https://www.linkedin.com/company/acme"]}</script>"#,
    );
    assert_eq!(
        metadata.social.facebook.as_deref(),
        Some("https://www.facebook.com/acmewidgets")
    );
    assert_eq!(
        metadata.social.linkedin.as_deref(),
        Some("https://www.linkedin.com/company/acme")
    );
}

// --- technologies ----------------------------------------------------------

#[test]
fn the_word_wordpress_in_article_text_does_not_make_a_site_wordpress() {
    let metadata = body(
        "<article><h2>Why we left WordPress</h2><p>We moved off WordPress and wp-content folders, Shopify, React, jQuery and Google Analytics last year.</p></article>",
    );
    assert!(!metadata.wordpress.detected);
    assert!(metadata.tech.is_empty(), "{:?}", tech_names(&metadata));
}

#[test]
fn wordpress_from_generator_with_version() {
    let metadata = head(r#"<meta name="generator" content="WordPress 6.4.2">"#);
    assert!(metadata.wordpress.detected);
    assert_eq!(metadata.wordpress.version.as_deref(), Some("6.4.2"));
    assert_eq!(version_of(&metadata, "WordPress"), Some("6.4.2"));
}

#[test]
fn wordpress_version_from_core_asset_query_when_generator_is_hidden() {
    let metadata =
        head(r#"<script src="/wp-includes/js/wp-emoji-release.min.js?ver=6.3.1"></script>"#);
    assert_eq!(metadata.wordpress.version.as_deref(), Some("6.3.1"));
}

#[test]
fn wordpress_theme_and_plugins_from_asset_paths() {
    let metadata = head(
        r#"<link rel="stylesheet" href="/wp-content/themes/astra/assets/css/main.css?ver=4.1">
        <link rel="stylesheet" href="/wp-content/themes/astra-child/style.css?ver=1.0">
        <script src="https://www.acme-widgets.com/wp-content/plugins/contact-form-7/includes/js/index.js?ver=5.8.4"></script>
        <script src="/wp-content/plugins/elementor/assets/js/frontend.min.js?ver=3.18.3"></script>
        <link rel="stylesheet" href="/wp-content/plugins/wordpress-seo/css/x.css">"#,
    );
    let wordpress = &metadata.wordpress;
    assert!(wordpress.detected);
    assert_eq!(wordpress.theme.as_deref(), Some("astra-child"));
    assert_eq!(
        wordpress.plugins,
        ["contact-form-7", "elementor", "wordpress-seo"]
    );
}

#[test]
fn wordpress_vip_themes_are_named_by_their_own_directory() {
    let metadata = head(
        r#"<link rel="stylesheet" href="https://s0.wp.com/wp-content/themes/vip/acme-news/style.css?m=1">"#,
    );
    assert_eq!(metadata.wordpress.theme.as_deref(), Some("acme-news"));
}

#[test]
fn elementor_is_detected_with_its_version() {
    let metadata = head(
        r#"<meta name="generator" content="Elementor 3.18.3; features: e_dom_optimization">
        <link rel="stylesheet" href="/wp-content/plugins/elementor/assets/css/frontend.min.css?ver=3.18.0">"#,
    );
    assert_eq!(version_of(&metadata, "Elementor"), Some("3.18.3"));
    assert!(metadata.has_elementor());
    assert!(metadata.wordpress.detected, "Elementor implies WordPress");
}

#[test]
fn jquery_version_from_the_file_name() {
    let metadata = head(r#"<script src="https://code.jquery.com/jquery-3.6.0.min.js"></script>"#);
    assert_eq!(version_of(&metadata, "jQuery"), Some("3.6.0"));
}

#[test]
fn google_analytics_ga4_and_universal_analytics_are_told_apart() {
    let ga4 = head(
        r#"<script async src="https://www.googletagmanager.com/gtag/js?id=G-ABC123"></script>"#,
    );
    assert_eq!(version_of(&ga4, "Google Analytics"), Some("GA4"));
    let ua = head(r#"<script>ga('create', 'UA-12345-1', 'auto');</script>"#);
    assert_eq!(version_of(&ua, "Google Analytics"), Some("UA"));
}

#[test]
fn response_headers_and_cookies_are_signals() {
    let metadata = TestPage::new("<html><head></head><body></body></html>")
        .header("server", "cloudflare")
        .header("x-powered-by", "PHP/8.2.1")
        .header("set-cookie", "_shopify_y=abc; Path=/")
        .extract();
    assert_eq!(
        tech_names(&metadata),
        ["Shopify", "Cloudflare", "PHP", "Cart functionality"]
    );
    assert_eq!(version_of(&metadata, "PHP"), Some("8.2.1"));
}

#[test]
fn x_generator_header_names_drupal() {
    let metadata = TestPage::new("<html></html>")
        .header("x-generator", "Drupal 10 (https://www.drupal.org)")
        .extract();
    assert_eq!(version_of(&metadata, "Drupal"), Some("10"));
}

#[test]
fn each_listed_technology_is_detected_from_a_real_signal() {
    let cases: &[(&str, &str)] = &[
        (r#"<meta name="generator" content="Divi v.4.23.1">"#, "Divi"),
        (
            r#"<meta name="generator" content="WooCommerce 8.4.0">"#,
            "WooCommerce",
        ),
        (
            r#"<script src="/wp-content/plugins/contact-form-7/includes/js/index.js?ver=5.8"></script>"#,
            "Contact Form 7",
        ),
        (
            "<!-- This site is optimized with the Yoast SEO plugin v21.7 - https://yoast.com/wordpress/plugins/seo/ -->",
            "Yoast SEO",
        ),
        (
            r#"<link rel="stylesheet" href="/wp-content/plugins/wpforms-lite/assets/css/wpforms.min.css?ver=1.8.5">"#,
            "WPForms",
        ),
        (
            r#"<script src="//cdn.shopify.com/s/files/1/theme.js"></script>"#,
            "Shopify",
        ),
        (
            r#"<meta name="generator" content="Wix.com Website Builder">"#,
            "Wix",
        ),
        (
            r#"<script>Static.SQUARESPACE_CONTEXT = {};</script>"#,
            "Squarespace",
        ),
        (r#"<meta content="Webflow" name="generator">"#, "Webflow"),
        (
            r#"<meta name="Generator" content="Drupal 9 (https://www.drupal.org)">"#,
            "Drupal",
        ),
        (
            r#"<meta name="generator" content="Joomla! - Open Source Content Management">"#,
            "Joomla",
        ),
        (r#"<meta name="generator" content="Ghost 5.75">"#, "Ghost"),
        (r#"<meta name="generator" content="Hugo 0.121.1">"#, "Hugo"),
        (
            r#"<meta name="generator" content="Jekyll v4.3.2">"#,
            "Jekyll",
        ),
        (
            r#"<script src="/_next/static/chunks/main-abc.js"></script>"#,
            "Next.js",
        ),
        (r#"<script>window.__NUXT__={}</script>"#, "Nuxt"),
        (
            r#"<meta name="generator" content="Gatsby 5.12.0">"#,
            "Gatsby",
        ),
        (
            r#"<script src="https://unpkg.com/react@18.2.0/umd/react.production.min.js"></script>"#,
            "React",
        ),
        (
            r#"<script src="https://cdn.jsdelivr.net/npm/vue@3.3.4/dist/vue.global.prod.js"></script>"#,
            "Vue",
        ),
        (
            r#"</head><body><app-root ng-version="17.0.8"></app-root>"#,
            "Angular",
        ),
        (
            r#"</head><body><div data-svelte-h="svelte-1x">x</div>"#,
            "Svelte",
        ),
        (
            r#"<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/bootstrap@5.3.2/dist/css/bootstrap.min.css">"#,
            "Bootstrap",
        ),
        (
            r#"<script src="https://cdn.tailwindcss.com"></script>"#,
            "Tailwind CSS",
        ),
        (
            r#"<script async src="https://www.googletagmanager.com/gtm.js?id=GTM-ABCD12"></script>"#,
            "Google Tag Manager",
        ),
        (
            r#"<script>!function(f){}(window);fbq('init', '123');</script>"#,
            "Facebook Pixel",
        ),
        (
            r#"<script>(function(h,o,t,j,a,r){h._hjSettings={hjid:1};})(window)</script>"#,
            "Hotjar",
        ),
        (
            r#"<script id="hs-script-loader" async src="//js.hs-scripts.com/123.js"></script>"#,
            "HubSpot",
        ),
        (
            r#"<script>window.intercomSettings = {app_id: "x"};</script>"#,
            "Intercom",
        ),
        (r#"<script>drift.load('abc');</script>"#, "Drift"),
        (
            r#"<script id="ze-snippet" src="https://static.zdassets.com/ekr/snippet.js?key=x"></script>"#,
            "Zendesk",
        ),
        (
            r#"<script src="https://chimpstatic.com/mcjs-connected/js/users/x.js"></script>"#,
            "Mailchimp",
        ),
        (
            r#"<script src="/cdn-cgi/scripts/5c5dd728/cloudflare-static/email-decode.min.js"></script>"#,
            "Cloudflare",
        ),
    ];
    for (html, expected) in cases {
        let metadata = head(html);
        assert!(
            tech_names(&metadata).contains(expected),
            "{expected} not detected in {html}: {:?}",
            tech_names(&metadata)
        );
    }
}

#[test]
fn versions_come_from_the_signal_that_carries_them() {
    let metadata = head(
        r#"<script src="https://cdn.jsdelivr.net/npm/vue@3.3.4/dist/vue.global.prod.js"></script>
        <link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/bootstrap@5.3.2/dist/css/bootstrap.min.css">"#,
    );
    assert_eq!(version_of(&metadata, "Vue"), Some("3.3.4"));
    assert_eq!(version_of(&metadata, "Bootstrap"), Some("5.3.2"));
}

#[test]
fn evidence_names_the_signal() {
    let metadata = head(r#"<meta name="generator" content="Hugo 0.121.1">"#);
    assert_eq!(metadata.tech[0].evidence, "meta generator Hugo 0.121.1");
    assert_eq!(metadata.tech[0].category, "static-site-generator");
}

#[test]
fn tech_stack_fills_the_old_four_lists() {
    let metadata = head(
        r#"<meta name="generator" content="WordPress 6.4">
        <script src="/wp-includes/js/jquery/jquery.min.js?ver=3.7.1"></script>
        <script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>
        <script src="https://widget.intercom.io/widget/abc"></script>"#,
    );
    let stack = metadata.tech_stack();
    assert_eq!(stack.cms, ["WordPress"]);
    assert_eq!(stack.frameworks, ["jQuery"]);
    assert_eq!(stack.analytics, ["Google Analytics"]);
    assert_eq!(stack.widgets, ["Intercom"]);
    assert_eq!(version_of(&metadata, "jQuery"), Some("3.7.1"));
}

#[test]
fn bundled_rule_file_compiles_and_every_implied_name_exists() {
    let rules = crate::tech::Rules::parse(include_str!("../rules/technologies.toml"));
    assert!(rules.is_ok(), "{:?}", rules.err());
}

#[test]
fn a_rule_file_with_a_bad_pattern_is_an_error() {
    let source = r#"[[technology]]
name = "Broken"
category = "cms"
signals = [{ on = "generator", pattern = '(' }]"#;
    assert!(crate::tech::Rules::parse(source).is_err());
}

// --- charset and robustness ---------------------------------------------------

#[test]
fn page_text_is_decoded_with_the_declared_charset() {
    let metadata =
        TestPage::new(b"<html><head><title>Caf\xe9 M\xfcller</title></head></html>".to_vec())
            .header("content-type", "text/html; charset=iso-8859-1")
            .extract();
    assert_eq!(metadata.title.as_deref(), Some("Café Müller"));
}

#[test]
fn garbage_bytes_do_not_panic() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..200 {
        let length = (round * 97) % 4000;
        let bytes: Vec<u8> = (0..length)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Bias towards markup characters so the tokenizer sees tags.
                match state % 8 {
                    0 => b'<',
                    1 => b'>',
                    2 => b'"',
                    _ => (state >> 8) as u8,
                }
            })
            .collect();
        let _ = TestPage::new(bytes).extract();
    }
}

#[test]
fn deeply_nested_tags_do_not_panic() {
    let depth = 3_000;
    let html = format!(
        "<html><body>{}tel +1 415 555 2671{}</body></html>",
        "<div><span>".repeat(depth),
        "</span></div>".repeat(depth)
    );
    let metadata = TestPage::new(html).extract();
    assert_eq!(metadata.phones, ["+14155552671"]);
}

#[test]
fn pathological_nesting_is_cut_off_by_the_parse_budget() {
    let depth = 200_000;
    let html = format!(
        "<html><head><title>Deep</title></head><body>{}</body></html>",
        "<div><span>".repeat(depth)
    );
    let started = std::time::Instant::now();
    let metadata = TestPage::new(html).extract();
    assert_eq!(metadata.title.as_deref(), Some("Deep"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn huge_attributes_and_titles_are_capped() {
    let huge = "x".repeat(5 * 1024 * 1024);
    let html = format!(
        r#"<html><head><title>{huge}</title><meta name="description" content="{huge}"><link rel="icon" href="/{huge}"></head><body><a href="mailto:{huge}@acme.com">m</a></body></html>"#
    );
    let metadata = TestPage::new(html).extract();
    assert_eq!(metadata.title.unwrap().chars().count(), 512);
    assert_eq!(metadata.description.unwrap().chars().count(), 2048);
    assert!(metadata.favicon_is_fallback);
    assert!(metadata.emails.is_empty());
}

#[test]
fn empty_body_gives_empty_fields() {
    let metadata = TestPage::new(Vec::new()).extract();
    assert_eq!(metadata.title, None);
    assert!(metadata.tech.is_empty());
    assert!(metadata.favicon_is_fallback);
}

// --- is_html ------------------------------------------------------------------

#[test]
fn html_content_types_are_html() {
    assert!(is_html(Some("text/html; charset=utf-8"), b""));
    assert!(is_html(Some("Application/XHTML+XML"), b""));
    assert!(!is_html(Some("application/json"), b"<html>"));
    assert!(!is_html(Some("image/png"), b"\x89PNG"));
}

#[test]
fn missing_content_type_is_html_when_the_body_starts_like_html() {
    assert!(is_html(None, b"\xef\xbb\xbf  <!DOCTYPE html><html>"));
    assert!(is_html(None, b"\n<html lang=en>"));
    assert!(!is_html(None, b"{\"html\": true}"));
    assert!(!is_html(None, b"<?xml version=\"1.0\"?><rss>"));
}

// --- fallback chains: description -------------------------------------------

#[test]
fn description_skips_a_template_meta_that_repeats_the_site_name_for_og_description() {
    let metadata = head(
        r#"<title>Acme Widgets</title>
        <meta name="description" content="Acme Widgets">
        <meta property="og:site_name" content="Acme Widgets">
        <meta property="og:description" content="Hand-made brass widgets, shipped from Leeds since 1987.">"#,
    );
    assert_eq!(
        metadata.description.as_deref(),
        Some("Hand-made brass widgets, shipped from Leeds since 1987.")
    );
}

#[test]
fn description_skips_cookie_notices_and_cms_placeholders() {
    let cookie = head(
        r#"<meta name="description" content="We use cookies to give you the best experience on our website.">
        <meta name="twitter:description" content="Plumbing and heating repairs across Bristol, 24 hours a day.">"#,
    );
    assert_eq!(
        cookie.description.as_deref(),
        Some("Plumbing and heating repairs across Bristol, 24 hours a day.")
    );
    let placeholder = head(
        r#"<meta name="description" content="Just another WordPress site">
        <meta itemprop="description" content="Just another WordPress site">"#,
    );
    assert_eq!(placeholder.description, None);
}

#[test]
fn a_real_meta_description_still_wins_over_og_description() {
    let metadata = head(
        r#"<meta name="description" content="Acme Widgets makes brass widgets for clocks and instruments.">
        <meta property="og:description" content="Our widgets, your clocks.">"#,
    );
    assert_eq!(
        metadata.description.as_deref(),
        Some("Acme Widgets makes brass widgets for clocks and instruments.")
    );
}

#[test]
fn description_from_json_ld_when_no_meta_has_one() {
    let metadata = head(
        r#"<script type="application/ld+json">{"@context":"https://schema.org","@type":"WebPage","description":"Family bakery in Lyon: bread, viennoiseries and cakes to order.","author":{"@type":"Person","name":"Jeanne","description":"Baker and author"}}</script>"#,
    );
    assert_eq!(
        metadata.description.as_deref(),
        Some("Family bakery in Lyon: bread, viennoiseries and cakes to order.")
    );
}

#[test]
fn description_from_json_ld_is_not_an_authors_or_publishers() {
    let metadata = head(
        r#"<script type="application/ld+json">{"@type":"Article","author":{"@type":"Person","name":"Ann","description":"Ann writes about gardens and has done so for twenty years."},"publisher":{"@type":"Organization","name":"Acme","description":"Acme is a publisher of many magazines and books."}}</script>"#,
    );
    assert_eq!(metadata.description, None);
}

#[test]
fn description_falls_back_to_the_first_real_paragraph_of_the_content() {
    let metadata = TestPage::new(
        r#"<html><head><title>Hartley & Sons</title></head><body>
        <header><p>Free delivery on orders over £50 — shop now and save on every single order you place today</p></header>
        <div class="cookie-banner"><p>This website uses cookies to improve your experience. By continuing you accept our policy.</p></div>
        <main><p>Welcome!</p>
        <p>Hartley &amp; Sons have repaired watches and clocks in Harrogate since 1952. We service mechanical and quartz movements of every make, and restore antique clocks in our own workshop.</p></main>
        <footer><p>© 2024 Hartley &amp; Sons Ltd. Registered in England and Wales, company number 01234567.</p></footer>
        </body></html>"#,
    )
    .extract();
    assert_eq!(
        metadata.description.as_deref(),
        Some(
            "Hartley & Sons have repaired watches and clocks in Harrogate since 1952. We service mechanical and quartz movements of every make, and restore antique clocks in our own workshop."
        )
    );
}

#[test]
fn a_long_paragraph_is_cut_at_a_word_for_the_description() {
    let sentence =
        "Our cooperative farms two hundred hectares of organic vegetables in the Loire valley. ";
    let metadata = body(&format!("<article><p>{}</p></article>", sentence.repeat(8)));
    let description = metadata.description.unwrap();
    assert!(description.chars().count() <= 301, "{description}");
    assert!(description.ends_with('…'), "{description}");
    assert!(description.starts_with("Our cooperative farms"));
}

#[test]
fn short_paragraphs_and_chrome_give_no_description() {
    let metadata = body(
        r#"<nav><p>Home · Shop · About us · Contact us · Delivery information · Returns and refunds</p></nav>
        <p>Opening soon.</p>"#,
    );
    assert_eq!(metadata.description, None);
}

// --- fallback chains: image -------------------------------------------------

#[test]
fn image_prefers_og_image_secure_url() {
    let metadata = head(
        r#"<meta property="og:image" content="http://www.acme-widgets.com/share.jpg">
        <meta property="og:image:secure_url" content="https://www.acme-widgets.com/share.jpg">"#,
    );
    assert_eq!(
        metadata.image_url.as_deref(),
        Some("https://www.acme-widgets.com/share.jpg")
    );
}

#[test]
fn image_from_json_ld_image_as_string_object_or_list() {
    for image in [
        r#""/hero.jpg""#,
        r#"{"@type":"ImageObject","url":"/hero.jpg","width":1200}"#,
        r#"["/hero.jpg","/hero-4x3.jpg"]"#,
    ] {
        let metadata = head(&format!(
            r#"<script type="application/ld+json">{{"@type":"Article","headline":"Spring","image":{image},"publisher":{{"@type":"Organization","name":"Acme","logo":{{"@type":"ImageObject","url":"/logo.png"}}}}}}</script>"#
        ));
        assert_eq!(
            metadata.image_url.as_deref(),
            Some("https://www.acme-widgets.com/hero.jpg"),
            "{image}"
        );
    }
}

#[test]
fn image_from_json_ld_thumbnail_url() {
    let metadata = head(
        r#"<script type="application/ld+json">{"@type":"VideoObject","name":"Tour","thumbnailUrl":"https://cdn.acme-widgets.com/tour.jpg"}</script>"#,
    );
    assert_eq!(
        metadata.image_url.as_deref(),
        Some("https://cdn.acme-widgets.com/tour.jpg")
    );
}

#[test]
fn a_publishers_logo_is_not_the_page_image() {
    let metadata = head(
        r#"<script type="application/ld+json">{"@type":"Article","publisher":{"@type":"Organization","name":"Acme","image":"/logo.png","logo":"/logo.png"}}</script>"#,
    );
    assert_eq!(metadata.image_url, None);
}

#[test]
fn image_from_link_image_src_then_itemprop_then_video_poster() {
    let image_src = head(r#"<link rel="image_src" href="/thumb.jpg">"#);
    assert_eq!(
        image_src.image_url.as_deref(),
        Some("https://www.acme-widgets.com/thumb.jpg")
    );
    let itemprop = body(
        r#"<div itemscope><img itemprop="image" src="/product.jpg" width="80" height="80"></div>"#,
    );
    assert_eq!(
        itemprop.image_url.as_deref(),
        Some("https://www.acme-widgets.com/product.jpg")
    );
    let poster = body(r#"<video poster="/intro-poster.jpg" src="/intro.mp4"></video>"#);
    assert_eq!(
        poster.image_url.as_deref(),
        Some("https://www.acme-widgets.com/intro-poster.jpg")
    );
}

#[test]
fn image_falls_back_to_the_first_large_content_image() {
    let metadata = TestPage::new(
        r#"<html><head><title>Acme</title></head><body>
        <header><a href="/"><img src="/img/acme.png" width="300" height="200"></a></header>
        <img src="https://www.facebook.com/tr?id=1&ev=PageView" width="1" height="1">
        <img src="/spacer.gif">
        <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" width="600" height="400">
        <img class="emoji" src="https://s.w.org/images/core/emoji/14.0.0/72x72/1f600.png">
        <img src="/icons/cart.svg" width="24" height="24">
        <img src="/banner-strip.jpg" width="1200" height="90">
        <img src="/thumb.jpg" width="120" height="90">
        <img src="https://i.creativecommons.org/l/by-sa/3.0/88x31.png">
        <main><img src="/photos/workshop.jpg" width="800" height="533" alt="Our workshop"></main>
        </body></html>"#,
    )
    .extract();
    assert_eq!(
        metadata.image_url.as_deref(),
        Some("https://www.acme-widgets.com/photos/workshop.jpg")
    );
}

#[test]
fn a_lazy_image_gives_its_real_source() {
    let metadata = body(
        r#"<main><img src="data:image/svg+xml,%3Csvg%3E" data-src="/photos/shop-front.jpg" width="640" height="480"></main>"#,
    );
    assert_eq!(
        metadata.image_url.as_deref(),
        Some("https://www.acme-widgets.com/photos/shop-front.jpg")
    );
}

#[test]
fn a_page_of_icons_and_pixels_has_no_image() {
    let metadata = body(
        r#"<img src="/pixel.png?u=1" width="1" height="1"><img class="avatar" src="/u/42.jpg"><img src="/social/twitter.png"><header><img src="/brand.png"></header>"#,
    );
    assert_eq!(metadata.image_url, None);
}

// --- fallback chains: site name ---------------------------------------------

#[test]
fn site_name_from_json_ld_publisher_before_website() {
    let metadata = head(
        r#"<script type="application/ld+json">{"@graph":[{"@type":"WebSite","name":"acme-times.com"},{"@type":"NewsArticle","publisher":{"@type":"NewsMediaOrganization","name":"The Acme Times"}}]}</script>"#,
    );
    assert_eq!(metadata.site_name.as_deref(), Some("The Acme Times"));
}

#[test]
fn site_name_from_application_name_then_apple_title() {
    let application = head(
        r#"<meta name="application-name" content="Acme Widgets"><meta name="apple-mobile-web-app-title" content="Acme">"#,
    );
    assert_eq!(application.site_name.as_deref(), Some("Acme Widgets"));
    let apple = head(r#"<meta name="apple-mobile-web-app-title" content="Acme">"#);
    assert_eq!(apple.site_name.as_deref(), Some("Acme"));
}

#[test]
fn site_name_from_the_title_part_that_names_the_host() {
    let metadata = TestPage::new(
        "<html><head><title>Brass gear sets for clock makers | Acme Widgets</title></head></html>",
    )
    .extract();
    assert_eq!(metadata.site_name.as_deref(), Some("Acme Widgets"));
    let first_part = TestPage::new(
        "<html><head><title>Hartley &amp; Sons – Watch repairs in Harrogate</title></head></html>",
    )
    .at("https://hartleyandsons.co.uk/")
    .extract();
    assert_eq!(
        first_part.site_name, None,
        "Hartley & Sons is not hartleyandsons"
    );
    let named = TestPage::new("<html><head><title>Hartley – Watch repairs</title></head></html>")
        .at("https://www.hartley.co.uk/")
        .extract();
    assert_eq!(named.site_name.as_deref(), Some("Hartley"));
}

#[test]
fn a_title_part_that_does_not_name_the_host_is_not_the_site_name() {
    let metadata =
        TestPage::new("<html><head><title>Home | Welcome to our shop</title></head></html>")
            .extract();
    assert_eq!(metadata.site_name, None);
}

// --- icon -------------------------------------------------------------------

#[test]
fn icon_takes_the_largest_declared_icon_up_to_a_sensible_size() {
    let metadata = head(
        r#"<link rel="icon" type="image/png" sizes="32x32" href="/favicon-32x32.png">
        <link rel="icon" type="image/png" sizes="16x16" href="/favicon-16x16.png">
        <link rel="apple-touch-icon" href="/apple-touch-icon.png">
        <link rel="icon" sizes="192x192" href="/android-chrome-192x192.png">
        <link rel="icon" sizes="1024x1024" href="/huge.png">
        <link rel="mask-icon" href="/safari-pinned-tab.svg" color="black">"#,
    );
    assert_eq!(
        metadata.icon_url.as_deref(),
        Some("https://www.acme-widgets.com/android-chrome-192x192.png")
    );
    assert!(!metadata.icon_is_fallback);
    // The favicon keeps its own rule: a browser icon first.
    assert_eq!(
        metadata.favicon_url.as_deref(),
        Some("https://www.acme-widgets.com/huge.png")
    );
}

/// The icon the head's `links` give, as a path on the test site.
fn icon_path(links: &str) -> Option<String> {
    head(links).icon_url.map(|url| {
        url.trim_start_matches("https://www.acme-widgets.com")
            .to_owned()
    })
}

#[test]
fn unsized_icons_read_their_size_from_the_file_name_or_the_legacy_convention() {
    let cases = [
        // A size in the file name; app-store artwork is no list icon.
        (
            r#"<link rel="apple-touch-icon-precomposed" href="/icons/57x57.png">
            <link rel="apple-touch-icon" sizes="152x152" href="/icons/152x152.png">
            <link rel="apple-touch-icon" sizes="1024x1024" href="/icons/store-1024.png">"#,
            "/icons/152x152.png",
        ),
        // An unsized touch icon among sized ones is the legacy 57 px one.
        (
            r#"<link rel="apple-touch-icon-precomposed" href="/icons/apple-touch-icon-precomposed.png">
            <link rel="apple-touch-icon-precomposed" sizes="72x72" href="/icons/72.png">
            <link rel="apple-touch-icon-precomposed" sizes="144×144" href="/icons/144.png">"#,
            "/icons/144.png",
        ),
    ];
    for (links, expected) in cases {
        assert_eq!(icon_path(links).as_deref(), Some(expected), "{links}");
    }
}

#[test]
fn icon_counts_an_unsized_apple_touch_icon_as_180_and_an_svg_as_scalable() {
    let touch = head(
        r#"<link rel="shortcut icon" href="/favicon.ico"><link rel="apple-touch-icon" href="/touch.png">"#,
    );
    assert_eq!(
        touch.icon_url.as_deref(),
        Some("https://www.acme-widgets.com/touch.png")
    );
    let svg = head(
        r#"<link rel="apple-touch-icon" href="/touch.png"><link rel="icon" type="image/svg+xml" href="/icon?v=2">"#,
    );
    assert_eq!(
        svg.icon_url.as_deref(),
        Some("https://www.acme-widgets.com/icon?v=2")
    );
}

#[test]
fn a_mask_icon_is_no_site_icon_but_the_favicon_fallback_is() {
    let mask = head(r##"<link rel="mask-icon" href="/pinned.svg" color="#000">"##);
    assert_eq!(
        mask.icon_url.as_deref(),
        Some("https://www.acme-widgets.com/pinned.svg")
    );
    assert!(!mask.icon_is_fallback);
    let nothing = head("<title>Acme</title>");
    assert_eq!(
        nothing.icon_url.as_deref(),
        Some("https://www.acme-widgets.com/favicon.ico")
    );
    assert!(nothing.icon_is_fallback);
}

// --- contact pages ------------------------------------------------------------

fn contact_pages(url: &str, html: &str) -> Vec<String> {
    let page_url = Url::parse(url).unwrap();
    super::extract_home_page(&Page {
        url: &page_url,
        body: html.as_bytes(),
        headers: &[],
    })
    .contact_pages
    .into_iter()
    .map(String::from)
    .collect()
}

#[test]
fn contact_pages_rank_contact_before_legal_before_about_and_team() {
    let pages = contact_pages(
        "https://www.acme-widgets.com/",
        r#"<html><body><nav>
        <a href="/team/">Our people</a>
        <a href="/about-us/">About</a>
        <a href="/impressum.html">Impressum</a>
        <a href="/contact/">Contact</a>
        <a href="/products/">Products</a>
        <a href="/contact/#form">Write to us</a>
        </nav></body></html>"#,
    );
    assert_eq!(
        pages,
        [
            "https://www.acme-widgets.com/contact/",
            "https://www.acme-widgets.com/impressum.html",
            "https://www.acme-widgets.com/about-us/",
            "https://www.acme-widgets.com/team/",
        ]
    );
}

#[test]
fn contact_pages_are_found_by_their_text_in_other_languages() {
    let pages = contact_pages(
        "https://shop.example.jp/",
        r#"<html><body><footer>
        <a href="/company/info">会社概要</a>
        <a href="/form/1">お問い合わせ</a>
        <a href="/fr/nous-contacter">Écrivez-nous</a>
        </footer></body></html>"#,
    );
    assert_eq!(
        pages,
        [
            "https://shop.example.jp/form/1",
            "https://shop.example.jp/fr/nous-contacter",
            "https://shop.example.jp/company/info",
        ]
    );
}

#[test]
fn contact_pages_stay_on_the_site() {
    let pages = contact_pages(
        "https://acme-widgets.com/",
        r#"<html><body>
        <a href="https://www.acme-widgets.com/kontakt">Kontakt</a>
        <a href="https://partner-agency.com/contact">Contact our agency</a>
        <a href="https://shop.acme-widgets.com/contact">Shop contact</a>
        <a href="/">Home</a>
        <a href="/downloads/contact.pdf">Contact sheet</a>
        <a href="mailto:info@acme-widgets.com">Contact</a>
        </body></html>"#,
    );
    assert_eq!(pages, ["https://www.acme-widgets.com/kontakt"]);
}

#[test]
fn a_link_whose_path_names_the_page_only_once_resolved_is_still_a_candidate() {
    // Percent-encoded, split by a tab the URL parser drops, in a capital
    // beyond ASCII (the Kelvin sign folds to `k`): none of these hrefs
    // holds the word as written.
    let pages = contact_pages(
        "https://acme-widgets.de/",
        r#"<html><body><footer>
        <a href="/%6Bontakt">Write</a>
        <a href="/impres&#9;sum">Legal</a>
        <a href="/&#x212A;ONTAKT">Team</a>
        <a href="/products/">Products</a>
        </footer></body></html>"#,
    );
    assert_eq!(
        pages,
        [
            "https://acme-widgets.de/%6Bontakt",
            "https://acme-widgets.de/%E2%84%AAONTAKT",
            "https://acme-widgets.de/impressum",
        ]
    );
}

#[test]
fn a_relative_link_under_a_base_that_names_a_page_is_a_candidate() {
    let pages = contact_pages(
        "https://acme-widgets.de/kontakt/",
        r#"<html><body><a href="formular">Form</a><a href="/products/">Products</a></body></html>"#,
    );
    assert_eq!(pages, ["https://acme-widgets.de/kontakt/formular"]);
}

#[test]
fn a_sentence_that_mentions_contact_is_no_contact_link() {
    let pages = contact_pages(
        "https://acme-widgets.com/",
        r#"<html><body><main>
        <a href="/blog/how-we-follow-up">Read how we contact customers after every purchase</a>
        <a href="/blog/contact-lens-guide">A guide</a>
        </main></body></html>"#,
    );
    assert!(pages.is_empty(), "{pages:?}");
}

#[test]
fn extract_contacts_reads_only_the_contacts_of_a_page() {
    let page_url = Url::parse("https://www.acme-widgets.de/impressum").unwrap();
    let contacts = super::extract_contacts(&Page {
        url: &page_url,
        body: r#"<html lang="de"><head><meta name="generator" content="WordPress 6.4"></head><body>
        <h1>Impressum</h1><p>Acme Widgets GmbH, Hauptstraße 1, 10115 Berlin</p>
        <p>Telefon: 030 1234567<br>E-Mail: info@acme-widgets.de</p>
        <a href="https://www.linkedin.com/company/acme-widgets">LinkedIn</a></body></html>"#
            .as_bytes(),
        headers: &[],
    });
    assert_eq!(contacts.emails, ["info@acme-widgets.de"]);
    assert_eq!(contacts.phones, ["+49301234567"]);
    assert_eq!(
        contacts.social.linkedin.as_deref(),
        Some("https://www.linkedin.com/company/acme-widgets")
    );
}

// --- pages that are not the business ----------------------------------------------

use scheduler_domain::SiteKind;

fn kind_of(page: TestPage) -> (SiteKind, Option<String>) {
    let metadata = page.extract();
    (metadata.site_kind, metadata.site_kind_detail)
}

#[test]
fn a_cloudflare_challenge_is_a_challenge_by_its_header_or_its_script() {
    let page = r#"<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title></head><body><div class="main-wrapper" role="main"><noscript>Enable JavaScript and cookies to continue</noscript></div><script>(function(){window._cf_chl_opt={cvId: '3',cZone: "acme-widgets.com",cType: 'managed'};var a = document.createElement('script');a.src = '/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1?ray=8a';document.getElementsByTagName('head')[0].appendChild(a);}());</script></body></html>"#;
    assert_eq!(
        kind_of(TestPage::new(page)),
        (SiteKind::Challenge, Some("Cloudflare".to_owned()))
    );
    assert_eq!(
        kind_of(
            TestPage::new("<html><title>Hmm</title></html>").header("cf-mitigated", "challenge")
        )
        .0,
        SiteKind::Challenge
    );
}

#[test]
fn datadome_and_perimeterx_challenges_are_named() {
    let datadome = TestPage::new(
        r#"<html><head><title>acme-widgets.com</title></head><body><script>var dd={'rt':'c','cid':'AHrlqAAAAAMA','hsh':'2211F522B61E269B869FA6EAFFB5E1','t':'fe','host':'geo.captcha-delivery.com'}</script><script src="https://ct.captcha-delivery.com/c.js"></script></body></html>"#,
    );
    assert_eq!(kind_of(datadome).1.as_deref(), Some("DataDome"));
    let perimeterx = TestPage::new(
        r#"<html><head><title>Access to this page has been denied</title></head><body><div id="px-captcha"></div><script>window._pxAppId = 'PXu6b0qd2S';</script></body></html>"#,
    );
    assert_eq!(kind_of(perimeterx).1.as_deref(), Some("PerimeterX"));
}

#[test]
fn a_site_behind_cloudflare_is_not_a_challenge() {
    let metadata = TestPage::new(
        r#"<html><head><title>Acme Widgets</title><script src="/cdn-cgi/scripts/5c5dd728/cloudflare-static/email-decode.min.js"></script></head><body><p>Brass widgets.</p></body></html>"#,
    )
    .header("server", "cloudflare")
    .header("cf-ray", "8a1b2c3d4e5f-LHR")
    .extract();
    assert_eq!(metadata.site_kind, SiteKind::Site);
}

#[test]
fn a_sedo_parking_page_is_parked_for_sale_and_loses_the_parkers_contacts() {
    let metadata = TestPage::new(
        r#"<html><head><title>acme-widgets.com - This website is for sale! - acme widgets Resources and Information.</title>
        <meta name="description" content="This website is for sale! acme-widgets.com is your first and best source for information about acme widgets."></head>
        <body><div id="container"><a href="https://sedo.com/search/details/?partnerid=324561&domain=acme-widgets.com">Buy this domain</a></div>
        <p>Contact: domains@sedo.com</p>
        <script src="https://img.sedoparking.com/js/jquery.min.js"></script></body></html>"#,
    )
    .extract();
    assert_eq!(metadata.site_kind, SiteKind::Parked);
    assert_eq!(
        metadata.site_kind_detail.as_deref(),
        Some("for sale at Sedo")
    );
    assert!(metadata.emails.is_empty());
    assert_eq!(metadata.description, None);
    assert!(
        metadata.title.is_some(),
        "the title stays: it says what the page is"
    );
}

#[test]
fn a_godaddy_parked_page_is_parked() {
    let metadata = TestPage::new(
        r#"<html><head><title>acme-widgets.com</title></head><body><div id="root"></div><script>window.LANDER_SYSTEM="PW";</script><script src="https://img1.wsimg.com/parking-lander/static/js/main.2de80224.js"></script></body></html>"#,
    )
    .extract();
    assert_eq!(metadata.site_kind, SiteKind::Parked);
    assert_eq!(
        metadata.site_kind_detail.as_deref(),
        Some("parked at GoDaddy")
    );
}

#[test]
fn a_parking_signal_in_capitals_in_an_inline_script_is_read() {
    let metadata = TestPage::new(
        r#"<html><head><title>acme-widgets.com</title></head><body><script>window.location.href = "HTTPS://WWW.HUGEDOMAINS.COM/domain_profile.cfm?d=acme-widgets";</script><a href="https://www.bodis.com/">Bodis</a></body></html>"#,
    )
    .extract();
    assert_eq!(metadata.site_kind, SiteKind::Parked);
    assert_eq!(
        metadata.site_kind_detail.as_deref(),
        Some("for sale at HugeDomains"),
        "a marketplace that sells the name says more than a parking service"
    );
}

#[test]
fn an_article_about_domain_sales_is_not_parked() {
    let paragraph = "<p>When a business closes, its domain often ends on a marketplace. We looked at how buyers value names, what brokers charge and why some owners refuse every offer for years.</p>";
    let metadata = TestPage::new(format!(
        r#"<html><head><title>Why this domain is for sale: the aftermarket explained</title></head><body><article><h1>Why this domain is for sale</h1>{}<p>Buy this domain? Read on.</p></article></body></html>"#,
        paragraph.repeat(20)
    ))
    .extract();
    assert_eq!(metadata.site_kind, SiteKind::Site);
}

#[test]
fn web_server_default_pages_are_recognised() {
    let nginx = TestPage::new(
        "<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head><body><h1>Welcome to nginx!</h1><p>If you see this page, the nginx web server is successfully installed and working. Further configuration is required.</p></body></html>",
    );
    assert_eq!(
        kind_of(nginx),
        (
            SiteKind::ServerDefault,
            Some("nginx default page".to_owned())
        )
    );
    let apache = TestPage::new("<html><body><h1>It works!</h1></body></html>");
    assert_eq!(kind_of(apache).0, SiteKind::ServerDefault);
    let iis = TestPage::new(
        r#"<!DOCTYPE html><html><head><title>IIS Windows Server</title></head><body><div id="container"><a href="http://go.microsoft.com/fwlink/?linkid=66138&amp;clcid=0x409"><img src="iisstart.png" alt="IIS" width="960" height="600" /></a></div></body></html>"#,
    );
    assert_eq!(kind_of(iis).0, SiteKind::ServerDefault);
}

#[test]
fn suspended_and_coming_soon_placeholders_are_recognised() {
    let suspended = TestPage::new(
        r#"<html><head><title>Account Suspended</title></head><body><div><h1>Account Suspended</h1><p>This Account has been suspended.</p><p>Contact your hosting provider for more information.</p></div></body></html>"#,
    );
    assert_eq!(kind_of(suspended).0, SiteKind::Suspended);
    let coming_soon = TestPage::new(
        r#"<html><head><title>Acme Widgets – Coming Soon</title></head><body><h1>We are launching soon</h1><p>Leave your e-mail to hear first.</p></body></html>"#,
    );
    assert_eq!(kind_of(coming_soon).0, SiteKind::ComingSoon);
}

#[test]
fn a_shop_with_a_coming_soon_section_is_a_site() {
    let products = "<li><h3>Brass gear, 42 teeth</h3><p>For clocks of the 19th century and later, made to order in our workshop.</p></li>".repeat(40);
    let metadata = TestPage::new(format!(
        "<html><head><title>Acme Widgets</title></head><body><h1>Acme Widgets</h1><section><h2>Coming soon</h2><p>Steel gears.</p></section><ul>{products}</ul></body></html>"
    ))
    .extract();
    assert_eq!(metadata.site_kind, SiteKind::Site);
}
