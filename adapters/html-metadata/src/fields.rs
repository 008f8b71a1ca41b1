//! The page's descriptive fields: title, language and canonical URL here,
//! and through the fallback chains and the icons, site name, description,
//! image, favicon, icon and logo.

use scheduler_domain::SiteMetadata;

use crate::chains;
use crate::collected::Collected;
use crate::icons;
use crate::jsonld::LinkedData;
use crate::page::Page;
use crate::resolve::Resolver;
use crate::text::{MAX_NAME, MAX_TITLE, clean, language_tag};

/// A [`SiteMetadata`] with the descriptive fields filled; the contacts,
/// the technologies and the page's kind are later steps'.
pub(crate) fn read(
    page: &Page<'_>,
    collected: &Collected,
    linked: &LinkedData,
    resolver: &Resolver,
) -> SiteMetadata {
    let title = title(collected);
    let site_name = chains::site_name(collected, linked, title.as_deref(), page.url.host_str());
    let description =
        chains::description(collected, linked, &[site_name.as_deref(), title.as_deref()]);
    let (favicon_url, favicon_is_fallback) = icons::favicon(collected, resolver, page.url);
    let (icon_url, icon_is_fallback) = icons::site_icon(collected, resolver, page.url);
    SiteMetadata {
        url: page.url.to_string(),
        og_title: collected.meta_value("og:title", MAX_TITLE),
        description,
        language: language(page, collected),
        canonical_url: canonical_url(collected, resolver),
        site_name,
        image_url: chains::image(collected, linked, resolver),
        favicon_url,
        favicon_is_fallback,
        icon_url,
        icon_is_fallback,
        logo_url: chains::logo(collected, linked, resolver),
        title,
        ..SiteMetadata::default()
    }
}

/// `<title>`, `og:title`, `twitter:title`, then the first `<h1>`.
fn title(collected: &Collected) -> Option<String> {
    collected
        .title
        .as_deref()
        .and_then(|title| clean(title, MAX_TITLE))
        .or_else(|| collected.meta_value("og:title", MAX_TITLE))
        .or_else(|| collected.meta_value("twitter:title", MAX_TITLE))
        .or_else(|| {
            collected
                .first_h1
                .as_deref()
                .and_then(|h1| clean(h1, MAX_TITLE))
        })
}

/// `<html lang>`, then the declarations of the page's language from the
/// most to the least specific.
fn language(page: &Page<'_>, collected: &Collected) -> Option<String> {
    let meta_language = |key: &str| {
        collected
            .meta_value(key, MAX_NAME)
            .as_deref()
            .and_then(language_tag)
    };
    collected
        .html_lang
        .as_deref()
        .and_then(language_tag)
        .or_else(|| meta_language("http-equiv:content-language"))
        .or_else(|| page.header("content-language").and_then(language_tag))
        .or_else(|| meta_language("language"))
        .or_else(|| meta_language("lang"))
        .or_else(|| meta_language("dc.language"))
        .or_else(|| meta_language("og:locale"))
}

fn canonical_url(collected: &Collected, resolver: &Resolver) -> Option<String> {
    collected
        .links
        .iter()
        .filter(|link| link.rel.iter().any(|rel| rel == "canonical"))
        .find_map(|link| resolver.resolve(&link.href))
}
