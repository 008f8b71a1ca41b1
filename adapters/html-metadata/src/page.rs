//! The input: one fetched page as the HTTP adapter received it, and whether
//! a response is an HTML page at all.

use url::Url;

/// One fetched page, as the HTTP adapter received it.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    /// The final URL after redirects: relative links resolve against it.
    pub url: &'a Url,
    /// The raw bytes as received (possibly truncated at a size cap).
    pub body: &'a [u8],
    /// Response headers, names lower-case (`content-type`,
    /// `content-language`, `server`, `x-powered-by`, `set-cookie`, ...).
    pub headers: &'a [(String, String)],
}

impl Page<'_> {
    /// The value of the first header named `name`, in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Whether a response is an HTML page: `text/html` or
/// `application/xhtml+xml`, or no content type and a body that starts like
/// HTML (the MIME sniffing standard's HTML patterns).
pub fn is_html(content_type: Option<&str>, body_prefix: &[u8]) -> bool {
    let media_type = content_type
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match media_type.as_str() {
        "text/html" | "application/xhtml+xml" => true,
        "" => looks_like_html(body_prefix),
        _ => false,
    }
}

fn looks_like_html(body: &[u8]) -> bool {
    let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let body = &body[start..];
    const TAGS: &[&[u8]] = &[
        b"<!doctype html",
        b"<html",
        b"<head",
        b"<script",
        b"<iframe",
        b"<h1",
        b"<div",
        b"<font",
        b"<table",
        b"<a",
        b"<style",
        b"<title",
        b"<b",
        b"<body",
        b"<br",
        b"<p",
        b"<!--",
        b"<meta",
    ];
    TAGS.iter().any(|tag| {
        body.len() > tag.len()
            && body[..tag.len()].eq_ignore_ascii_case(tag)
            && (tag == b"<!--"
                || matches!(
                    body[tag.len()],
                    b' ' | b'>' | b'\t' | b'\n' | b'\r' | b'\x0c'
                ))
    })
}
