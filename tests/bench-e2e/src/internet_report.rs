//! The table of `--internet`: the baseline beside the simulated internet.
//!
//! | row | what it is |
//! |---|---|
//! | settled/s until 90% settled | 90% of the rows seeded over the time from spawning the worker to the moment the row that made 90% settled first had an outcome: completed, failed, or requeued after a failure for a later retry (a row handed back untried because its address was busy has no outcome yet; a row tried again later in the run keeps its first outcome's time, as the bench saw the rows change every 200 ms); the internet's figure is also given as a share of the baseline's (the target is ≥ 80%) |
//! | settled/s from 10% to 80% | 70% of the rows seeded over the time between the moments 10% and 80% had settled: the steady rate, without the start (the first answers take their latency) and the tail (the last dead hosts' time limits), which weigh on a short list |
//! | completed / error / pending with retry / unfinished | rows per state when the run ended: it ends when no row is processing and none is due within a minute (or at `--timeout-seconds`, leaving rows unfinished) |
//! | not simulated | rows left out because the worker could not be pointed at the bench's DNS server: names whose bare form is NXDOMAIN |
//! | p50 / p95 per domain | from the first time the servers heard of the site (a DNS query for one of its names, or a connection to one of its addresses; for the baseline, the first connection) to the row's first outcome, over settled rows |
//! | peak RSS, sockets, threads | the worker's `VmHWM`, most non-Unix sockets and most threads (`/proc/<pid>/status` `Threads`) sampled every 50 ms |
//! | 429s sent by the shared host | answers 429 it sent, requests it served, rows whose `last_error` is a 429, and its sites completed |
//! | 503s sent | by the 503 sites |
//! | DNS queries | `A` and `AAAA` queries the bench's DNS server answered, distinct names, names whose `A` was asked again (a cache would ask once per 300 s TTL) |
//!
//! Then one row per kind of site (see [`crate::mix`]) with its rows per
//! state.

use serde::Serialize;

use crate::database::DatabaseKind;
use crate::dns::DnsFigures;
use crate::internet::ServerFigures;
use crate::internet_run::RowState;
use crate::mix::{SHARED_HOST_LIMIT, SiteKind};
use crate::report::Percentiles;

/// How the worker resolved the simulated names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Resolution {
    /// Through the bench's DNS server (`fetch.nameservers`).
    Nameservers,
    /// Through resolve rules for the names that exist: the worker does
    /// not know `fetch.nameservers` yet.
    ResolveRules,
}

/// One run's figures.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PhaseFigures {
    pub(crate) seeded: usize,
    pub(crate) completed: usize,
    pub(crate) failed: usize,
    pub(crate) waiting_retry: usize,
    pub(crate) unfinished: usize,
    pub(crate) seconds_to_90: Option<f64>,
    pub(crate) settled_per_second: Option<f64>,
    /// Settled/s from 10% to 80% settled: the run without its start and
    /// its tail.
    pub(crate) middle_per_second: Option<f64>,
    pub(crate) per_domain_ms: Option<Percentiles>,
    pub(crate) peak_rss_mb: f64,
    pub(crate) max_sockets: usize,
    pub(crate) max_threads: u64,
    pub(crate) cpu_seconds: f64,
    pub(crate) concurrency: usize,
    pub(crate) pool: u32,
}

/// The rows of one kind of site.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct KindRow {
    pub(crate) kind: SiteKind,
    pub(crate) sites: usize,
    pub(crate) completed: usize,
    pub(crate) failed: usize,
    pub(crate) waiting_retry: usize,
    pub(crate) unfinished: usize,
    pub(crate) not_simulated: usize,
}

impl KindRow {
    pub(crate) fn new(kind: SiteKind) -> KindRow {
        KindRow {
            kind,
            sites: 0,
            completed: 0,
            failed: 0,
            waiting_retry: 0,
            unfinished: 0,
            not_simulated: 0,
        }
    }

    pub(crate) fn count(&mut self, state: RowState) {
        *match state {
            RowState::Completed => &mut self.completed,
            RowState::Failed => &mut self.failed,
            RowState::WaitingRetry => &mut self.waiting_retry,
            RowState::Unfinished => &mut self.unfinished,
        } += 1;
    }
}

/// Everything `--internet` measured.
#[derive(Debug, Serialize)]
pub(crate) struct InternetFigures {
    pub(crate) date: String,
    pub(crate) database: DatabaseKind,
    pub(crate) seed: u64,
    pub(crate) domains: usize,
    pub(crate) resolution: Resolution,
    pub(crate) nameserver: String,
    pub(crate) baseline: PhaseFigures,
    pub(crate) internet: PhaseFigures,
    pub(crate) rows_ending_429: usize,
    pub(crate) server: ServerFigures,
    pub(crate) dns: Option<DnsFigures>,
    pub(crate) by_kind: Vec<KindRow>,
}

/// The internet's rate as a share of the baseline's, or what was missing.
fn share_of_baseline(rates: (Option<f64>, Option<f64>), then: &str, missing: &str) -> String {
    match rates {
        (Some(base), Some(net)) => {
            format!("internet = {:.1}% of no latency {then}", 100.0 * net / base)
        }
        _ => missing.into(),
    }
}

impl InternetFigures {
    pub(crate) fn table(&self) -> String {
        let (base, net) = (&self.baseline, &self.internet);
        let both = |pick: fn(&PhaseFigures) -> String| (pick(base), pick(net));
        let shared = self.kind(SiteKind::SharedHost);
        let not_simulated: usize = self.by_kind.iter().map(|row| row.not_simulated).sum();
        let mut rows: Vec<(String, (String, String), String)> = vec![
            (
                "settled/s until 90% settled".into(),
                both(|phase| optional(phase.settled_per_second, 1)),
                share_of_baseline(
                    (base.settled_per_second, net.settled_per_second),
                    "(target >= 80%)",
                    "90% never settled",
                ),
            ),
            (
                "seconds to 90% settled".into(),
                both(|phase| optional(phase.seconds_to_90, 1)),
                "from spawning the worker".into(),
            ),
            (
                "settled/s from 10% to 80%".into(),
                both(|phase| optional(phase.middle_per_second, 1)),
                share_of_baseline(
                    (base.middle_per_second, net.middle_per_second),
                    "(the start and the tail left out)",
                    "80% never settled",
                ),
            ),
            (
                "rows seeded".into(),
                both(|phase| phase.seeded.to_string()),
                format!("{not_simulated} not simulated (NXDOMAIN names need fetch.nameservers)"),
            ),
            (
                "completed".into(),
                both(|phase| phase.completed.to_string()),
                String::new(),
            ),
            (
                "error".into(),
                both(|phase| phase.failed.to_string()),
                String::new(),
            ),
            (
                "pending with retry".into(),
                both(|phase| phase.waiting_retry.to_string()),
                "requeued, next attempt after the run".into(),
            ),
            (
                "unfinished".into(),
                both(|phase| phase.unfinished.to_string()),
                "processing or due when the run ended".into(),
            ),
            (
                "p50 / p95 per domain".into(),
                both(|phase| match phase.per_domain_ms {
                    Some(time) => format!("{:.2} / {:.2} s", time.p50 / 1e3, time.p95 / 1e3),
                    None => "n/a".into(),
                }),
                "first contact to first outcome".into(),
            ),
            (
                "peak RSS".into(),
                both(|phase| format!("{:.1} MB", phase.peak_rss_mb)),
                "target <= 250 MB".into(),
            ),
            (
                "peak sockets".into(),
                both(|phase| phase.max_sockets.to_string()),
                format!("concurrency {} + pool {}", net.concurrency, net.pool),
            ),
            (
                "peak threads".into(),
                both(|phase| phase.max_threads.to_string()),
                String::new(),
            ),
            (
                "CPU seconds".into(),
                both(|phase| format!("{:.1}", phase.cpu_seconds)),
                String::new(),
            ),
            (
                "429s sent by the shared host".into(),
                ("-".into(), self.server.shared_host_429s.to_string()),
                format!(
                    "{} rows end with a 429; {} of its {} sites completed; {} requests served \
                     (at most {SHARED_HOST_LIMIT} at once)",
                    self.rows_ending_429,
                    shared.map_or(0, |row| row.completed),
                    shared.map_or(0, |row| row.sites),
                    self.server.shared_host_served
                ),
            ),
            (
                "503s sent".into(),
                ("-".into(), self.server.answers_503.to_string()),
                String::new(),
            ),
        ];
        rows.push(match &self.dns {
            Some(dns) => (
                "DNS queries".into(),
                ("-".into(), dns.queries.to_string()),
                format!(
                    "A {} + AAAA {} for {} names; {} names' A asked again (most {})",
                    dns.a_queries,
                    dns.aaaa_queries,
                    dns.names,
                    dns.names_asked_again,
                    dns.most_a_queries_per_name
                ),
            ),
            None => (
                "DNS queries".into(),
                ("-".into(), "n/a".into()),
                "resolve rules: the worker has no fetch.nameservers".into(),
            ),
        });
        let resolution = match self.resolution {
            Resolution::Nameservers => {
                format!("DNS server {} (fetch.nameservers)", self.nameserver)
            }
            Resolution::ResolveRules => {
                "resolve rules (worker without fetch.nameservers; NXDOMAIN names not simulated)"
                    .into()
            }
        };
        let mut table = format!(
            "{} domains on {:?}, concurrency {}, pool {}, seed {}, {resolution}, {}\n",
            self.domains, self.database, net.concurrency, net.pool, self.seed, self.date
        );
        let first = rows.iter().map(|row| row.0.len()).max().unwrap_or(0);
        let second = rows
            .iter()
            .map(|row| row.1.0.len())
            .max()
            .unwrap_or(0)
            .max(11);
        let third = rows
            .iter()
            .map(|row| row.1.1.len())
            .max()
            .unwrap_or(0)
            .max(12);
        table.push_str(&format!(
            "{:<first$}  {:>second$}  {:>third$}\n",
            "", "no latency", "internet mix"
        ));
        for (figure, (base, net), note) in &rows {
            table.push_str(
                format!("{figure:<first$}  {base:>second$}  {net:>third$}  {note}").trim_end(),
            );
            table.push('\n');
        }
        table.push('\n');
        table.push_str(&self.kind_table());
        table
    }

    fn kind(&self, kind: SiteKind) -> Option<&KindRow> {
        self.by_kind.iter().find(|row| row.kind == kind)
    }

    fn kind_table(&self) -> String {
        let width = SiteKind::ALL
            .iter()
            .map(|kind| kind.label().len())
            .max()
            .unwrap_or(0);
        let mut table = format!(
            "{:<width$}  {:>5}  {:>9}  {:>5}  {:>13}  {:>10}  {:>13}\n",
            "internet mix by kind",
            "sites",
            "completed",
            "error",
            "pending+retry",
            "unfinished",
            "not simulated"
        );
        for row in &self.by_kind {
            table.push_str(&format!(
                "{:<width$}  {:>5}  {:>9}  {:>5}  {:>13}  {:>10}  {:>13}\n",
                row.kind.label(),
                row.sites,
                row.completed,
                row.failed,
                row.waiting_retry,
                row.unfinished,
                row.not_simulated
            ));
        }
        table
    }
}

fn optional(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "n/a".into(), |value| format!("{value:.decimals$}"))
}
