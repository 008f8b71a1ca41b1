//! Who the operators' endpoint answers: only requests that name it as
//! `Host`, and with `http.token_file` only those that show the token,
//! through a running worker (on the default embedded database).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod common;

use std::time::Duration;

use browser::{ENDPOINT_LOG, request, spawn_worker, wait_for};
use common::Cli;
use tokio::io::{AsyncBufReadExt, BufReader};

const TOKEN: &str = "s3cret-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_answers_its_own_names_and_asks_for_the_token() {
    let cli = Cli::new();
    let token_file = cli.write("token", &format!("{TOKEN}\n"));
    cli.write(
        "domain-scheduler.toml",
        &format!(
            "[http]\nlisten = \"127.0.0.1:0\"\nhosts = [\"Worker.Test\"]\n\
             token_file = {token_file:?}\nrefresh = \"250ms\"\n\n{ENDPOINT_LOG}"
        ),
    );
    let (mut worker, address) = spawn_worker(&cli).await;
    // The probes stay open.
    assert_eq!(wait_for(address, "/readyz", 200).await, "ready\n");
    let port = address.port();
    let bearer = format!("Bearer {TOKEN}");
    // "anyone:s3cret-token", as a browser sends it.
    let basic = "Basic YW55b25lOnMzY3JldC10b2tlbg==";
    let ask = |path: &'static str, headers: Vec<(&'static str, String)>| async move {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        request(address, path, &headers).await.unwrap()
    };
    for path in [
        "/metrics",
        "/api/status",
        "/",
        "/status.js",
        "/api/domain?name=a.test",
    ] {
        let (code, body) = ask(path, vec![]).await;
        assert_eq!(code, 401, "{path} without the token: {body}");
        let (code, _) = ask(path, vec![("Authorization", "Bearer wrong".to_owned())]).await;
        assert_eq!(code, 401, "{path} with a wrong token");
    }
    assert_eq!(
        ask("/metrics", vec![("Authorization", bearer.clone())])
            .await
            .0,
        200
    );
    assert_eq!(
        ask("/api/status", vec![("Authorization", basic.to_owned())])
            .await
            .0,
        200
    );
    assert_eq!(ask("/healthz", vec![]).await.0, 200);
    // A configured name and `localhost` (on loopback) are this endpoint;
    // a name rebound to its address is not, token or not.
    let host = |name: &str| ("Host", format!("{name}:{port}"));
    for name in ["worker.test", "localhost"] {
        let headers = vec![host(name), ("Authorization", bearer.clone())];
        assert_eq!(ask("/metrics", headers).await.0, 200, "{name}");
    }
    for path in ["/metrics", "/api/status", "/healthz"] {
        let headers = vec![host("rebound.example"), ("Authorization", bearer.clone())];
        assert_eq!(ask(path, headers).await.0, 421, "{path}");
    }
    worker.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listening_beyond_loopback_without_a_token_is_warned_about() {
    let cli = Cli::new();
    cli.write(
        "domain-scheduler.toml",
        "[http]\nlisten = \"0.0.0.0:0\"\n\n[log]\nlevel = \"warn\"\n",
    );
    let mut worker = cli.spawn(&["worker"]);
    let mut lines = BufReader::new(worker.stderr.take().unwrap()).lines();
    let warning = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("without a token") {
                return line;
            }
        }
        panic!("the worker ended without the warning");
    })
    .await
    .expect("the warning comes at start");
    assert!(warning.contains("http.token_file"), "{warning}");
    worker.kill().await.unwrap();
}
