//! WordPress's theme and plugins, read from the paths of the page's assets.

use std::collections::BTreeSet;

use scheduler_domain::{Technology, WordPressInfo};

/// Theme and plugins from `/wp-content/themes/<name>/` and
/// `/wp-content/plugins/<name>/` asset paths; `version` from the detected
/// WordPress technology.
pub(super) fn wordpress_info(tech: &[Technology], assets: &[&str]) -> WordPressInfo {
    let Some(wordpress) = tech.iter().find(|t| t.name == "WordPress") else {
        return WordPressInfo::default();
    };
    let mut plugins = BTreeSet::new();
    // (name, stylesheet of the theme itself, times seen, first position)
    let mut themes: Vec<(String, bool, usize, usize)> = Vec::new();
    for (position, asset) in assets.iter().enumerate() {
        if let Some(name) = directory_after(asset, "/wp-content/plugins/") {
            plugins.insert(name.to_ascii_lowercase());
        }
        if let Some(name) = theme_directory(asset) {
            let is_style = asset.contains(&format!("/{name}/style."));
            match themes.iter_mut().find(|(seen, ..)| *seen == name) {
                Some(theme) => {
                    theme.1 |= is_style;
                    theme.2 += 1;
                }
                None => themes.push((name.to_owned(), is_style, 1, position)),
            }
        }
    }
    // A child theme's own style.css loads after its parent's: the last theme
    // with a style sheet of its own is the active one. Without one, the
    // theme most assets come from.
    let theme = themes
        .iter()
        .filter(|(_, is_style, ..)| *is_style)
        .max_by_key(|(.., position)| *position)
        .or_else(|| {
            themes
                .iter()
                .max_by(|a, b| a.2.cmp(&b.2).then(b.3.cmp(&a.3)))
        })
        .map(|(name, ..)| name.clone());
    WordPressInfo {
        detected: true,
        version: wordpress.version.clone(),
        theme,
        plugins: plugins.into_iter().collect(),
    }
}

/// The theme directory; WordPress VIP and WordPress.com keep themes one
/// level down (`themes/vip/<name>/`, `themes/pub/<name>/`).
fn theme_directory(url: &str) -> Option<&str> {
    let name = directory_after(url, "/wp-content/themes/")?;
    if name == "vip" || name == "pub" {
        let nested = format!("/wp-content/themes/{name}/");
        return directory_after(url, &nested).or(Some(name));
    }
    Some(name)
}

fn directory_after<'a>(url: &'a str, marker: &str) -> Option<&'a str> {
    let start = url.find(marker)? + marker.len();
    let rest = &url[start..];
    let end = rest.find(['/', '?', '#'])?;
    let name = &rest[..end];
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    valid.then_some(name)
}
