//! What the status page's tests share: a worker started with its
//! endpoint on a port the system chose, plain HTTP requests, and headless
//! Chromium (Debian's `chromium` package; `tests/run` and `.ci/run`
//! install it) to load the page as a person does.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kuchikiki::traits::TendrilSink;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::common::Cli;

/// One GET over a fresh connection: the status code and the body.
pub(crate) async fn get(address: SocketAddr, path: &str) -> (u16, String) {
    request(address, path, &[]).await.unwrap()
}

/// A GET with extra header lines; the error when nothing answers.
pub(crate) async fn request(
    address: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let mut request = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        request.push_str(&format!("Host: {address}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Ok((code, body.to_owned()))
}

/// Polls `path` until it answers `code`; returns the last body.
pub(crate) async fn wait_for(address: SocketAddr, path: &str, code: u16) -> String {
    let mut last = (0, String::new());
    for _ in 0..300 {
        if let Ok(Ok(answer)) =
            tokio::time::timeout(Duration::from_secs(5), request(address, path, &[])).await
        {
            if answer.0 == code {
                return answer.1;
            }
            last = answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never answered {code}; last answer: {last:?}");
}

/// The `[log]` section a worker needs for [`spawn_worker`] to read the
/// address its endpoint bound: that line is logged at `info`.
pub(crate) const ENDPOINT_LOG: &str = "[log]\nlevel = \"warn,domain_scheduler::http=info\"\n";

/// Starts `worker` with `http.listen` on port 0 and returns it with the
/// address the system gave its endpoint, read from the worker's own log
/// line, so that no port is chosen before the worker binds it. The rest of
/// the worker's log is read on and kept from filling the pipe.
pub(crate) async fn spawn_worker(cli: &Cli) -> (tokio::process::Child, SocketAddr) {
    let mut worker = cli.spawn(&["worker"]);
    let stderr = worker.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let address = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the worker logs its endpoint within a minute")
            .unwrap()
            .unwrap_or_else(|| panic!("the worker ended before its endpoint was up: {seen:#?}"));
        if let Some(address) = line
            .split_once("operators' endpoint on http://")
            .and_then(|(_, rest)| rest.split_once('/'))
            .and_then(|(address, _)| address.parse().ok())
        {
            break address;
        }
        seen.push(line);
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (worker, address)
}

fn chromium() -> PathBuf {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .expect("headless Chromium is needed: apt-get install chromium (tests/run does it)")
}

/// Runs headless Chromium on `url`, `width` pixels wide, until the page has
/// settled, with `extra` arguments (what to print or save).
pub(crate) async fn browse(url: &str, profile: &Path, width: u32, extra: &[String]) -> String {
    browse_sized(url, profile, (width, 1400), extra).await
}

/// [`browse`] in a window of `(width, height)` pixels.
async fn browse_sized(
    url: &str,
    profile: &Path,
    (width, height): (u32, u32),
    extra: &[String],
) -> String {
    let output = tokio::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            // Runs the page's script and its fetches before printing.
            "--virtual-time-budget=8000",
        ])
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The page at `url` once its script has run, parsed.
pub(crate) async fn rendered(url: &str, profile: &Path) -> (kuchikiki::NodeRef, String) {
    let dom = browse(url, profile, 1280, &["--dump-dom".to_owned()]).await;
    let document = kuchikiki::parse_html().one(dom.as_str()).document_node;
    assert!(
        document.select_first("body[data-loaded=true]").is_ok(),
        "the script ran and rendered: {dom}"
    );
    (document, dom)
}

/// Saves a screenshot of `url`, `width` pixels wide and tall enough for
/// the whole page, as `name` in the test's directory, checks that it is a
/// PNG of that width with something on it, and returns its path.
pub(crate) async fn screenshot(url: &str, profile: &Path, width: u32, name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_file(&path);
    browse_sized(
        url,
        profile,
        (width, 3000),
        &[format!("--screenshot={}", path.display())],
    )
    .await;
    let png = std::fs::read(&path).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG screenshot");
    // IHDR, the first chunk: width and height, big-endian, at 16 and 20.
    let width_seen = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert_eq!(width_seen, width, "the screenshot is {width} px wide");
    // A blank page compresses to a few kilobytes; text, tables and a
    // chart do not.
    assert!(
        png.len() > 30_000,
        "the screenshot shows a page: {} bytes",
        png.len()
    );
    #[allow(clippy::print_stdout)]
    {
        println!("status page screenshot: {}", path.display());
    }
    path
}

pub(crate) fn text_of(document: &kuchikiki::NodeRef, selector: &str) -> String {
    document
        .select_first(selector)
        .unwrap_or_else(|()| panic!("{selector} is on the page"))
        .text_contents()
        .trim()
        .to_owned()
}

/// The cells of each row of a table's body, as text.
pub(crate) fn table(document: &kuchikiki::NodeRef, id: &str) -> Vec<Vec<String>> {
    document
        .select(&format!("#{id} tbody tr"))
        .unwrap()
        .map(|row| {
            row.as_node()
                .select("td")
                .unwrap()
                .map(|cell| cell.text_contents())
                .collect()
        })
        .collect()
}

/// The terms and descriptions of a `<dl>`, as text.
pub(crate) fn fields(document: &kuchikiki::NodeRef, id: &str) -> Vec<(String, String)> {
    let terms: Vec<String> = document
        .select(&format!("#{id} dt"))
        .unwrap()
        .map(|term| term.text_contents())
        .collect();
    let descriptions: Vec<String> = document
        .select(&format!("#{id} dd"))
        .unwrap()
        .map(|description| description.text_contents())
        .collect();
    terms.into_iter().zip(descriptions).collect()
}

/// Nothing from the database became markup: no image, no bold text, one
/// script, and the title a hostile script would have set is intact.
pub(crate) fn assert_no_markup_from_data(document: &kuchikiki::NodeRef, dom: &str) {
    assert!(document.select_first("img").is_err(), "{dom}");
    assert!(document.select_first("main b").is_err(), "{dom}");
    assert_eq!(document.select("script").unwrap().count(), 1, "{dom}");
    assert_eq!(text_of(document, "title"), "domain-scheduler");
}
