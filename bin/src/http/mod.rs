//! The operators' endpoint, off unless `[http] listen` is set:
//!
//! - `/metrics`: Prometheus text format, rendered by
//!   `metrics-exporter-prometheus` from the counters and histograms the
//!   crates record through the `metrics` facade, plus the rows per state
//!   that a task reads every `http.refresh`.
//! - `/healthz`: 200 while the process serves.
//! - `/readyz`: 200 when the database answered the last refresh and the
//!   scheduler showed a sign of life recently; 503 naming the reason.
//! - `/`: a read-only status page for people. Its script polls
//!   `/api/status` (a detailed snapshot read at most once per
//!   `http.refresh`, the domains in flight) and writes
//!   every value with `textContent`, never as markup: titles and errors come
//!   from web pages and the database. The page, its script and its style
//!   are compiled into the binary; a content security policy allows nothing
//!   else.
//!
//! - `/api/domain`, `/api/errors`: one domain's record and a page of
//!   errors, read when the page asks (`records`).
//!
//! Requests are answered only for the listen address and the names of
//! `http.hosts`, and with `http.token_file` only with the token
//! (`guard`; the probes excepted).
//!
//! Neither scrapes nor open pages read the table themselves: the counts
//! are read every `http.refresh`, the page's details at most that often,
//! however many ask.

mod guard;
mod queue_depth;
mod records;
mod snapshots;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use scheduler_application::Activity;
use scheduler_domain::settings::{check_duration, duration};
use scheduler_domain::{DomainRepository, InvalidSetting};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use guard::Guard;
use records::Rows;
use snapshots::Snapshots;

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Where the endpoint listens, e.g. `127.0.0.1:9464`
    /// (`DOMAIN_SCHEDULER_HTTP_LISTEN`); unset: no endpoint.
    pub listen: Option<SocketAddr>,
    /// Names besides the listen address that requests may carry as
    /// `Host` (e.g. `["worker-1.internal"]`); `localhost` is accepted when
    /// listening on a loopback address, any IP address when listening on
    /// every interface. Other names are refused: a web page that rebinds
    /// its own name to this address cannot read the endpoint.
    pub hosts: Vec<String>,
    /// A file holding a token that `/metrics`, `/api/*` and the page then
    /// require (`Authorization: Bearer <token>`, or HTTP Basic with the
    /// token as password in a browser). Unset: no token asked for, and a
    /// warning at start when listening beyond loopback.
    pub token_file: Option<PathBuf>,
    /// How often the rows per state and the queue's head are read for
    /// `/metrics` and `/readyz`, and at most how often an open status page
    /// has the details read (5 s).
    #[serde(deserialize_with = "duration::seconds")]
    pub refresh: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: None,
            hosts: Vec::new(),
            token_file: None,
            refresh: Duration::from_secs(5),
        }
    }
}

impl HttpSettings {
    /// Checks the refresh period.
    ///
    /// # Errors
    ///
    /// [`InvalidSetting`] naming `http.refresh`.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        check_duration(
            "http.refresh",
            self.refresh,
            Duration::from_millis(100),
            Duration::from_secs(600),
        )
    }
}

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The address cannot be bound (in use, not local, no permission).
    #[error("cannot listen on {address} (http.listen): {source}")]
    Bind {
        /// The configured address.
        address: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The metrics recorder could not be installed.
    #[error("cannot install the metrics recorder: {0}")]
    Metrics(String),
    /// `http.token_file` cannot be read or holds no token.
    #[error("cannot read the token of http.token_file {}: {reason}", path.display())]
    TokenFile {
        /// The configured file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// Bucket bounds, in seconds, of every `*_seconds` histogram: from a fast
/// claim (a few milliseconds) to a slow site (two minutes).
const SECONDS_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// Installs the Prometheus recorder for the whole process and registers
/// every crate's metric descriptions.
///
/// # Errors
///
/// [`EndpointError::Metrics`] when a recorder is already installed.
pub fn install_metrics() -> Result<PrometheusHandle, EndpointError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(|error| EndpointError::Metrics(error.to_string()))?;
    scheduler_application::observe::describe_metrics();
    scheduler_http_extractor::describe_metrics();
    snapshots::describe_metrics();
    metrics::gauge!(
        "domain_scheduler_build_info",
        "version" => env!("CARGO_PKG_VERSION")
    )
    .set(1.0);
    Ok(handle)
}

/// What the endpoint's handlers read.
struct Shared {
    metrics: PrometheusHandle,
    snapshots: Arc<Snapshots>,
    rows: Rows,
    activity: Arc<Activity>,
    worker: String,
    /// Past this without a sign of life the scheduler is not ready.
    quiet_limit: Duration,
    shutdown: CancellationToken,
}

impl FromRef<Arc<Shared>> for Rows {
    fn from_ref(shared: &Arc<Shared>) -> Rows {
        shared.rows.clone()
    }
}

/// Where the endpoint's parts come from.
#[derive(Debug)]
pub struct Endpoint {
    /// The configured address.
    pub listen: SocketAddr,
    /// `http.hosts`.
    pub hosts: Vec<String>,
    /// `http.token_file`.
    pub token_file: Option<PathBuf>,
    /// The recorder's handle, from [`install_metrics`].
    pub metrics: PrometheusHandle,
    /// The worker's live state.
    pub activity: Arc<Activity>,
    /// The worker's id, shown on the page.
    pub worker: String,
    /// The scheduler's `interval`: it claims or sweeps at least that often.
    pub scheduler_interval: Duration,
    /// Cancelled when shutdown starts: `/readyz` then says so.
    pub shutdown: CancellationToken,
}

impl Endpoint {
    /// Binds the address, starts the snapshot task and serves until `stop`
    /// is cancelled. Returns the address bound (the port chosen when `:0`).
    ///
    /// # Errors
    ///
    /// [`EndpointError::TokenFile`] when the token cannot be read;
    /// [`EndpointError::Bind`] when the address cannot be bound.
    pub async fn start<R>(
        self,
        repository: Arc<R>,
        refresh: Duration,
        stop: CancellationToken,
    ) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), EndpointError>
    where
        R: DomainRepository + 'static,
    {
        let guard = Guard::new(self.listen, &self.hosts, self.token_file.as_deref())?;
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .map_err(|source| EndpointError::Bind {
                address: self.listen,
                source,
            })?;
        let bound = listener
            .local_addr()
            .map_err(|source| EndpointError::Bind {
                address: self.listen,
                source,
            })?;
        let rows = Rows(Arc::new(Arc::clone(&repository)));
        let snapshots = Arc::new(Snapshots::new(repository, refresh));
        tokio::spawn(Arc::clone(&snapshots).refresh_until(self.metrics.clone(), stop.clone()));
        let shared = Arc::new(Shared {
            metrics: self.metrics,
            snapshots,
            rows,
            activity: self.activity,
            worker: self.worker,
            // The scheduler claims or sweeps at least every `interval`, and
            // a domain that finishes counts too; twice that and some slack
            // is a scheduler that stopped, not one that waits.
            quiet_limit: self.scheduler_interval * 2 + Duration::from_secs(30),
            shutdown: self.shutdown,
        });
        let router = Router::new()
            .route("/", get(page))
            .route("/status.js", get(script))
            .route("/status.css", get(style))
            .route("/api/status", get(status))
            .route("/api/domain", get(records::record))
            .route("/api/errors", get(records::errors))
            .route("/metrics", get(prometheus))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .with_state(shared)
            .layer(axum::middleware::from_fn_with_state(
                guard.clone(),
                guard::check,
            ));
        info!("operators' endpoint on http://{bound}/ (/metrics, /healthz, /readyz)");
        if guard.is_open_beyond_this_machine() {
            warn!(
                "the operators' endpoint listens on {bound}, beyond this machine, without a \
                 token: whoever reaches it reads the table's errors, titles and metrics; set \
                 http.token_file, or listen on 127.0.0.1"
            );
        }
        let server = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(error) = served {
                warn!("operators' endpoint stopped: {error}");
            }
        });
        Ok((bound, server))
    }
}

/// Nothing but this binary's own files, and the API they read.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", include_str!("status.html"))
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("status.js"))
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("status.css"))
}

/// What the page shows: the last snapshot, this worker's domains in
/// flight, and readiness.
#[derive(Debug, serde::Serialize)]
struct PageData {
    worker: String,
    version: &'static str,
    now: chrono::DateTime<chrono::Utc>,
    refresh_seconds: f64,
    ready: bool,
    not_ready_because: Vec<String>,
    snapshot: Option<snapshots::Snapshot>,
    database_error: Option<String>,
    in_flight: Vec<scheduler_application::InFlight>,
    /// The due rows per minute, as this worker's refreshes saw them.
    queue: Vec<queue_depth::QueueMinute>,
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    let (snapshot, database_error) = match shared.snapshots.detailed().await {
        Ok(snapshot) => (Some(snapshot), None),
        Err(error) => (None, Some(error)),
    };
    let not_ready_because = not_ready_because(&shared);
    let now = chrono::Utc::now();
    let data = PageData {
        worker: shared.worker.clone(),
        version: env!("CARGO_PKG_VERSION"),
        now,
        refresh_seconds: shared.snapshots.refresh().as_secs_f64(),
        ready: not_ready_because.is_empty(),
        not_ready_because,
        snapshot,
        database_error,
        in_flight: shared.activity.in_flight(),
        queue: shared.snapshots.queue(now),
    };
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(data)).into_response()
}

async fn prometheus(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        shared.metrics.render(),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let reasons = not_ready_because(&shared);
    if reasons.is_empty() {
        (StatusCode::OK, "ready\n".to_owned()).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", reasons.join("; ")),
        )
            .into_response()
    }
}

/// Empty when ready; otherwise each reason, for `/readyz` and the page.
fn not_ready_because(shared: &Shared) -> Vec<String> {
    let mut reasons = Vec::new();
    if shared.shutdown.is_cancelled() {
        reasons.push("shutting down".to_owned());
    }
    if let Some(reason) = shared.snapshots.database_not_ready() {
        reasons.push(reason);
    }
    match shared.activity.since_last_tick() {
        None => reasons.push("the scheduler has not started".to_owned()),
        Some(quiet) if quiet > shared.quiet_limit => reasons.push(format!(
            "the scheduler showed no sign of life for {}s (limit {}s)",
            quiet.as_secs(),
            shared.quiet_limit.as_secs()
        )),
        Some(_) => {}
    }
    reasons
}
