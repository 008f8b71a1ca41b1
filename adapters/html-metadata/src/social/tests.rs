//! Share buttons are never profiles, and the site's own chrome and
//! `sameAs` win over links inside an article.

use scheduler_domain::SocialProfiles;
use url::Url;

use super::{classify, profiles};
use crate::{Page, extract};

fn profiles_of(html: &str) -> SocialProfiles {
    let url = Url::parse("https://www.acme-widgets.com/blog/widgets").unwrap();
    extract(&Page {
        url: &url,
        body: html.as_bytes(),
        headers: &[],
    })
    .social
}

fn is_profile(href: &str) -> bool {
    classify(&Url::parse(href).unwrap()).is_some()
}

#[test]
fn no_share_intent_dialog_plugin_or_login_link_is_a_profile() {
    let not_profiles = [
        "https://www.facebook.com/v2.7/dialog/feed?app_id=782898798486624&link=https%3A//www.aclu.org/blog",
        "https://www.facebook.com/dialog/share?app_id=132746074315&display=popup&href=https%3A%2F%2Facme.com",
        "https://www.facebook.com/sharer/sharer.php?u=https%3A%2F%2Facme.com%2F",
        "https://facebook.com/sharer.php?u=https%3A%2F%2Facme.com",
        "https://www.facebook.com/share.php?u=http%3A//libe.fr/s/2012",
        "https://www.facebook.com/v2.5/plugins/like.php?action=like&app_id=1123280954",
        "https://www.facebook.com/login.php?next=https%3A%2F%2Facme.com",
        "https://www.facebook.com/acme/share?u=https%3A%2F%2Facme.com",
        "https://twitter.com/intent/tweet?url=https%3A%2F%2Facme.com&text=Widgets",
        "http://twitter.com/share",
        "https://twitter.com/share?url=https%3A%2F%2Facme.com",
        "https://x.com/share?text=Widgets&url=https%3A%2F%2Facme.com",
        "https://x.com/intent/post?text=Widgets",
        "https://twitter.com/acmewidgets?status=Widgets",
        "http://www.linkedin.com/shareArticle?mini=true&url=https%3A%2F%2Facme.com",
        "https://www.linkedin.com/sharing/share-offsite/?url=https%3A%2F%2Facme.com",
        "http://www.pinterest.com/pin/create/api_other/?url=http%3A%2F%2Facme.com",
        "https://pinterest.com/pin/create/button/?url=https%3A%2F%2Facme.com&media=x.jpg",
        "https://www.instagram.com/accounts/login/?next=/acmewidgets/",
    ];
    for href in not_profiles {
        assert!(!is_profile(href), "{href} taken for a profile");
    }
    let still_profiles = [
        "https://www.facebook.com/aclu",
        "https://www.facebook.com/profile.php?id=100064123456789",
        "https://twitter.com/acmewidgets",
        "https://x.com/acmewidgets",
        "https://www.linkedin.com/company/acme-widgets",
        "https://www.pinterest.com/acmewidgets/",
        "https://www.instagram.com/acmewidgets/?hl=en",
    ];
    for href in still_profiles {
        assert!(is_profile(href), "{href} not taken for a profile");
    }
}

#[test]
fn a_share_dialog_before_the_menus_profile_loses_to_the_profile() {
    // The corpus's ACLU article: the share bar comes first in the page,
    // the menu's own Facebook link later.
    let html = r#"<html><head><title>Facebook is tracking me</title></head><body>
        <div class="share"><a href="https://www.facebook.com/v2.7/dialog/feed?app_id=782898798486624&amp;link=https%3A//www.aclu.org/blog" title="Submit this to Facebook">Share</a>
        <a href="https://twitter.com/intent/tweet?url=https%3A//www.aclu.org/blog&amp;text=Facebook">Tweet</a></div>
        <ul class="menu"><li><a href="https://www.facebook.com/aclu" id="menu-item-facebook" class="menu__link">Facebook</a></li>
        <li><a href="https://twitter.com/aclu">Twitter</a></li></ul></body></html>"#;
    let social = profiles_of(html);
    assert_eq!(
        social.facebook.as_deref(),
        Some("https://www.facebook.com/aclu")
    );
    assert_eq!(social.twitter.as_deref(), Some("https://twitter.com/aclu"));
}

#[test]
fn the_sites_header_footer_and_same_as_win_over_links_in_an_article() {
    let html = r#"<html><head><title>Widgets</title></head><body>
        <div class="author-box"><a href="https://twitter.com/janedoe">Jane on Twitter</a></div>
        <article><p>As <a href="https://www.facebook.com/quotedcompany">Quoted Co</a> said.</p>
        <a href="https://www.instagram.com/janedoe/">Jane</a></article>
        <footer><a href="https://www.facebook.com/acmewidgets">Facebook</a>
        <a href="https://twitter.com/acmewidgets">Twitter</a></footer></body></html>"#;
    let social = profiles_of(html);
    assert_eq!(
        social.facebook.as_deref(),
        Some("https://www.facebook.com/acmewidgets")
    );
    assert_eq!(
        social.twitter.as_deref(),
        Some("https://twitter.com/acmewidgets"),
        "the footer's link comes later in the page but is the site's"
    );
    assert_eq!(
        social.instagram.as_deref(),
        Some("https://www.instagram.com/janedoe/"),
        "a network only the article links still fills its slot"
    );

    let same_as = r#"<html><head><title>Widgets</title><script type="application/ld+json">
        {"@context":"https://schema.org","@type":"Organization","name":"Acme","sameAs":["https://www.linkedin.com/company/acme-widgets"]}
        </script></head><body><header><a href="https://www.linkedin.com/company/other-co">Partner</a></header></body></html>"#;
    assert_eq!(
        profiles_of(same_as).linkedin.as_deref(),
        Some("https://www.linkedin.com/company/acme-widgets")
    );
}

#[test]
fn profiles_take_the_first_candidate_of_each_network() {
    let candidates: Vec<Url> = [
        "https://twitter.com/intent/tweet?text=hi",
        "https://twitter.com/first",
        "https://twitter.com/second",
    ]
    .iter()
    .map(|href| Url::parse(href).unwrap())
    .collect();
    assert_eq!(
        profiles(&candidates).twitter.as_deref(),
        Some("https://twitter.com/first")
    );
}
