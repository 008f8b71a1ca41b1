//! The extractor on arbitrary bytes and on HTML-shaped noise: it never
//! panics, whatever a hostile or broken server sends, with or without a
//! declared charset.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use scheduler_html_metadata::{Page, extract, extract_contacts, extract_home_page};
use url::Url;

/// Fragments real pages are made of, glued in any order: unclosed tags,
/// charset declarations, scripts, entities and links.
fn html_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<html lang=\"fr-FR\"><head>".to_owned()),
        Just("<meta charset=\"shift_jis\">".to_owned()),
        Just("<meta http-equiv=\"Content-Type\" content=\"text/html; charset=koi8-r\">".to_owned()),
        Just("<title>".to_owned()),
        Just("</title>".to_owned()),
        Just("<script>var a = '</scr' + 'ipt>';".to_owned()),
        Just("<script type=\"application/ld+json\">{\"@type\":\"Organization\",".to_owned()),
        Just("<a href=\"mailto:info@example.org?subject=x\">".to_owned()),
        Just("<a href=\"tel:+33 1 23 45 67 89\">".to_owned()),
        Just("<a href=\"https://www.facebook.com/sharer.php?u=x\">".to_owned()),
        Just("<link rel=\"icon\" sizes=\"999999999999x1\" href=\"//\">".to_owned()),
        Just("&#x10FFFF;&#0;&amp&lt;".to_owned()),
        Just("<!--".to_owned()),
        Just("<svg><style>".to_owned()),
        "[\\PC]{0,40}",
    ]
}

fn any_page() -> impl Strategy<Value = (Vec<u8>, Option<String>)> {
    let bytes = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..4096),
        proptest::collection::vec(html_piece(), 0..60)
            .prop_map(|pieces| pieces.concat().into_bytes()),
    ];
    let content_type = proptest::option::of(prop_oneof![
        Just("text/html".to_owned()),
        Just("text/html; charset=utf-8".to_owned()),
        Just("text/html; charset=\"windows-1252".to_owned()),
        Just("text/html;charset=x-unknown-thing".to_owned()),
        "[ -~]{0,30}",
    ]);
    (bytes, content_type)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_body_is_extracted_without_panic((body, content_type) in any_page()) {
        let url = Url::parse("https://example.org/").unwrap();
        let headers: Vec<(String, String)> = content_type
            .map(|value| vec![("content-type".to_owned(), value)])
            .unwrap_or_default();
        let page = Page { url: &url, body: &body, headers: &headers };
        let metadata = extract(&page);
        prop_assert_eq!(metadata.url, "https://example.org/");
        let _ = extract_home_page(&page);
        let _ = extract_contacts(&page);
    }
}
