//! The figures of one run: one table on stdout, the same as JSON.

use serde::Serialize;

use crate::corpus::BareParse;
use crate::database::DatabaseKind;

/// The memory target, in MB.
const PEAK_RSS_TARGET_MB: f64 = 150.0;

/// Everything one run measured, and its conditions.
#[derive(Debug, Serialize)]
pub(crate) struct Figures {
    /// The worker program's label (`--worker-program`).
    pub(crate) worker: String,
    pub(crate) date: String,
    pub(crate) database: DatabaseKind,
    pub(crate) null_extractor: bool,
    pub(crate) latency_ms: u64,
    pub(crate) keep_alive_seconds: u64,
    pub(crate) concurrency: usize,
    pub(crate) database_pool: u32,
    pub(crate) corpus_pages: usize,
    pub(crate) corpus_mb: f64,
    pub(crate) domains: usize,
    pub(crate) completed: usize,
    pub(crate) failed: usize,
    pub(crate) unfinished: usize,
    pub(crate) wall_seconds: f64,
    pub(crate) domains_per_second: f64,
    pub(crate) html_mb_per_second: Option<f64>,
    pub(crate) html_mb_per_cpu_second: Option<f64>,
    pub(crate) per_domain_ms: Option<Percentiles>,
    pub(crate) cpu_ms_per_domain: f64,
    pub(crate) peak_rss_mb: f64,
    pub(crate) rss_mb_half_done: Option<f64>,
    pub(crate) rss_mb_at_end: f64,
    pub(crate) max_open_sockets: usize,
    pub(crate) round_trips_per_domain: Option<f64>,
    pub(crate) bare_parse: BareParse,
}

/// Time per domain, in ms.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Percentiles {
    pub(crate) p50: f64,
    pub(crate) p95: f64,
    pub(crate) p99: f64,
}

impl Percentiles {
    /// `None` for no samples.
    pub(crate) fn of(mut samples: Vec<f64>) -> Option<Percentiles> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_by(f64::total_cmp);
        let at = |fraction: f64| {
            let rank = (fraction * samples.len() as f64).ceil() as usize;
            samples[rank.clamp(1, samples.len()) - 1]
        };
        Some(Percentiles {
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
        })
    }
}

/// Each run's table; with more than one worker program, then one table
/// comparing them.
pub(crate) fn tables(runs: &[Figures]) -> String {
    if let [only] = runs {
        return only.table();
    }
    let mut text = String::new();
    for run in runs {
        text.push_str(&format!("== worker: {}\n{}\n", run.worker, run.table()));
    }
    let width = runs
        .iter()
        .map(|run| run.worker.len())
        .max()
        .unwrap_or(0)
        .max(6);
    text.push_str(&format!(
        "{:<width$}  {:>9}  {:>15}  {:>9}  {:>13}  {:>9}\n",
        "worker", "domains/s", "CPU/domain", "peak RSS", "RSS half done", "at end"
    ));
    for run in runs {
        let bare = run.bare_parse.ms_per_page;
        text.push_str(&format!(
            "{:<width$}  {:>9.1}  {:>6.2} ms {:>4.2}x  {:>6.1} MB  {:>10} MB  {:>6.1} MB\n",
            run.worker,
            run.domains_per_second,
            run.cpu_ms_per_domain,
            run.cpu_ms_per_domain / bare,
            run.peak_rss_mb,
            run.rss_mb_half_done
                .map_or_else(|| "n/a".to_owned(), |rss| format!("{rss:.1}")),
            run.rss_mb_at_end,
        ));
    }
    text.push_str(&format!(
        "{} domains each, one after the other in the order above; CPU/domain also as a \
         multiple of one page's bare parse ({:.2} ms).\n",
        runs.first().map_or(0, |run| run.domains),
        runs.first().map_or(0.0, |run| run.bare_parse.ms_per_page),
    ));
    text
}

impl Figures {
    /// The table, with every figure beside what it is measured against.
    pub(crate) fn table(&self) -> String {
        let bare = &self.bare_parse;
        let two_cores = format!("{} cores' bare parse", bare.threads);
        let page_parse = format!("one page's bare parse ({:.2} ms)", bare.ms_per_page);
        let socket_bound = self.concurrency + self.database_pool as usize;
        let mut rows: Vec<(String, String, String)> = vec![
            (
                "domains".into(),
                self.domains.to_string(),
                format!(
                    "{} completed, {} failed, {} unfinished",
                    self.completed, self.failed, self.unfinished
                ),
            ),
            (
                "wall time".into(),
                format!("{:.2} s", self.wall_seconds),
                "worker start to the last row's updated_at".into(),
            ),
            (
                "domains/s".into(),
                format!("{:.1}", self.domains_per_second),
                format!(
                    "{:.0}% of {two_cores} ({:.0} pages/s)",
                    100.0 * self.domains_per_second / bare.pages_per_second,
                    bare.pages_per_second
                ),
            ),
        ];
        rows.push(match self.html_mb_per_second {
            Some(rate) => (
                "HTML MB/s".into(),
                format!("{rate:.2}"),
                format!(
                    "{:.0}% of {two_cores} ({:.1} MB/s)",
                    100.0 * rate / bare.mb_per_second,
                    bare.mb_per_second
                ),
            ),
            None => (
                "HTML MB/s".into(),
                "n/a".into(),
                "null extractor: no page fetched".into(),
            ),
        });
        if let Some(rate) = self.html_mb_per_cpu_second {
            let bare_rate = bare.mb_per_second_unshared / bare.threads as f64;
            rows.push((
                "HTML MB per CPU second".into(),
                format!("{rate:.2}"),
                format!(
                    "{:.0}% of the bare parse's ({bare_rate:.1}): independent of other load",
                    100.0 * rate / bare_rate
                ),
            ));
        }
        rows.push(match self.per_domain_ms {
            Some(time) => (
                "p50/p95/p99 per domain".into(),
                format!("{:.1} / {:.1} / {:.1} ms", time.p50, time.p95, time.p99),
                format!(
                    "{:.1}x / {:.1}x / {:.1}x {page_parse}",
                    time.p50 / bare.ms_per_page,
                    time.p95 / bare.ms_per_page,
                    time.p99 / bare.ms_per_page
                ),
            ),
            None => (
                "p50/p95/p99 per domain".into(),
                "n/a".into(),
                "null extractor: no request to time from".into(),
            ),
        });
        rows.extend([
            (
                "CPU per domain".into(),
                format!("{:.2} ms", self.cpu_ms_per_domain),
                format!(
                    "{:.1}x {page_parse}",
                    self.cpu_ms_per_domain / bare.ms_per_page
                ),
            ),
            (
                "peak RSS".into(),
                format!("{:.1} MB", self.peak_rss_mb),
                format!(
                    "{:.0}% of the {PEAK_RSS_TARGET_MB:.0} MB target",
                    100.0 * self.peak_rss_mb / PEAK_RSS_TARGET_MB
                ),
            ),
            (
                "RSS half done / at the end".into(),
                format!(
                    "{} / {:.1} MB",
                    self.rss_mb_half_done
                        .map_or_else(|| "n/a".to_owned(), |rss| format!("{rss:.1}")),
                    self.rss_mb_at_end
                ),
                "VmRSS: equal figures mean no growth with domains processed".into(),
            ),
            (
                "open sockets (max)".into(),
                self.max_open_sockets.to_string(),
                format!(
                    "{:.0}% of concurrency {} + pool {} = {socket_bound}",
                    100.0 * self.max_open_sockets as f64 / socket_bound as f64,
                    self.concurrency,
                    self.database_pool
                ),
            ),
        ]);
        rows.push(match self.round_trips_per_domain {
            Some(trips) => (
                "DB round trips/domain".into(),
                format!("{trips:.2}"),
                match self.database {
                    DatabaseKind::Pgbouncer => "PgBouncer SHOW STATS transactions".into(),
                    _ => "pg_stat_database transactions".into(),
                },
            ),
            None => (
                "DB round trips/domain".into(),
                "n/a".into(),
                "SQLite keeps no count".into(),
            ),
        });
        let width = |pick: fn(&(String, String, String)) -> &String| {
            rows.iter().map(|row| pick(row).len()).max().unwrap_or(0)
        };
        let (first, second) = (width(|row| &row.0), width(|row| &row.1));
        let mut table = format!(
            "{} domains on {:?}{}, concurrency {}, pool {}, latency {} ms, keep-alive {} s, \
             {} corpus pages ({:.1} MB), {}\n",
            self.domains,
            self.database,
            if self.null_extractor {
                " (null extractor)"
            } else {
                ""
            },
            self.concurrency,
            self.database_pool,
            self.latency_ms,
            self.keep_alive_seconds,
            self.corpus_pages,
            self.corpus_mb,
            self.date,
        );
        for (figure, value, compared) in &rows {
            table.push_str(&format!("{figure:<first$}  {value:>second$}  {compared}\n"));
        }
        table.push_str(
            "notes: time per domain runs from the server accepting the first connection for the \
             host (before TLS) to the row's updated_at; CPU and peak RSS (VmHWM) are the worker \
             process's own from /proc, sockets its non-Unix socket descriptors sampled every \
             50 ms; round trips include the worker's start-up (migration check, first claims).\n",
        );
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let times = (1..=100).map(f64::from).collect();
        let found = Percentiles::of(times).unwrap();
        assert_eq!((found.p50, found.p95, found.p99), (50.0, 95.0, 99.0));
        assert!(Percentiles::of(Vec::new()).is_none());
    }
}
