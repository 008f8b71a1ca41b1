//! `--internet`: the same N sites first with no latency (the baseline,
//! the fixture server as without `--internet`), then as the simulated
//! internet, each on a fresh database, and the figures of both.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use domain_scheduler::settings::Settings;
use scheduler_domain::DomainName;

use crate::corpus::Corpus;
use crate::database::{BenchDatabase, FinishedRow};
use crate::dns::DnsServer;
use crate::internet::{Contacts, InternetServer};
use crate::internet_report::{InternetFigures, KindRow, PhaseFigures, Resolution};
use crate::mix::{INTERNET_SUFFIX, MAX_SITES, Mix, SiteKind};
use crate::report::Percentiles;
use crate::run::{self, Run, Until, toml_string};
use crate::{
    BenchError, Options, fixture_fetch_settings, io_error, site_name, site_names, start_fixture,
};

/// The worker's `[fetch]` key that points its resolver at the bench's DNS
/// server instead of `/etc/resolv.conf`'s: a list of `"ip:port"`. A worker
/// that does not know it refuses the file, and the run falls back to
/// resolve rules for the names that exist.
pub(crate) const NAMESERVERS_KEY: &str = "nameservers";
/// The share of the seeded rows whose settling times the rate.
const SETTLED_SHARE: f64 = 0.9;
/// The shares settled between which the steady rate is timed.
const MIDDLE_SHARES: (f64, f64) = (0.1, 0.8);
/// What a row ending with a 429 has in its `last_error`.
const HTTP_429: &str = "HTTP 429";

/// Both runs and their figures.
pub(crate) async fn bench(options: &Options) -> Result<InternetFigures, BenchError> {
    if options.domains > MAX_SITES {
        return Err(BenchError::Usage(format!(
            "--internet serves at most {MAX_SITES} domains"
        )));
    }
    let corpus = Arc::new(Corpus::load(&options.corpus)?);
    let baseline = baseline(options, &corpus).await?;
    eprintln!(
        "bench-e2e: no latency: {} settled; now the simulated internet",
        baseline.completed + baseline.failed + baseline.waiting_retry
    );
    let contacts = Arc::new(Contacts::new(options.domains));
    let keep_alive =
        (options.keep_alive_seconds > 0).then(|| Duration::from_secs(options.keep_alive_seconds));
    let server = InternetServer::start(
        Mix::new(options.seed, options.domains, 0),
        Arc::clone(&corpus),
        Arc::clone(&contacts),
        keep_alive,
    )
    .await
    .map_err(io_error("starting the simulated internet"))?;
    let mix = Arc::clone(server.mix());
    let dns = DnsServer::start(Arc::clone(&mix), Arc::clone(&contacts))
        .await
        .map_err(io_error("starting the DNS server"))?;
    let database = BenchDatabase::create(options.db, options.pgbouncer_pool).await?;
    let outcome = simulate(options, &mix, &server, &dns, &database).await;
    database.remove().await;
    let (resolution, run, rows) = outcome?;

    let index_of = |row: &FinishedRow| mix.index_of(&row.domain).map(|(index, _)| index);
    let seeded = rows.len();
    let internet = PhaseFigures::of(&run, &rows, seeded, |row| contacts.first(index_of(row)?));
    let mut by_kind: HashMap<SiteKind, KindRow> = HashMap::new();
    for site in mix.sites() {
        let entry = by_kind
            .entry(site.kind)
            .or_insert_with(|| KindRow::new(site.kind));
        entry.sites += 1;
        if resolution == Resolution::ResolveRules && site.kind.bare_name_missing() {
            entry.not_simulated += 1;
        }
    }
    for row in &rows {
        if let Some(index) = index_of(row)
            && let Some(entry) = by_kind.get_mut(&mix.site(index).kind)
        {
            entry.count(row_state(row, run.observed_at));
        }
    }
    let mut by_kind: Vec<KindRow> = by_kind.into_values().collect();
    by_kind.sort_by_key(|row| SiteKind::ALL.iter().position(|kind| *kind == row.kind));
    Ok(InternetFigures {
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        database: options.db,
        seed: options.seed,
        domains: options.domains,
        resolution,
        nameserver: dns.address().to_string(),
        baseline,
        internet,
        rows_ending_429: rows
            .iter()
            .filter(|row| {
                row.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains(HTTP_429))
            })
            .count(),
        server: server.figures(),
        dns: (resolution == Resolution::Nameservers).then(|| dns.figures()),
        by_kind,
    })
}

/// The baseline: every site answers at once.
async fn baseline(options: &Options, corpus: &Arc<Corpus>) -> Result<PhaseFigures, BenchError> {
    let names = site_names(options.domains, site_name)?;
    let server = start_fixture(options, corpus).await?;
    let database = BenchDatabase::create(options.db, options.pgbouncer_pool).await?;
    let fetch = fixture_fetch_settings(&server);
    let program = options.the_worker_program()?;
    let outcome = run::drain(
        options,
        (&program, None),
        &names,
        &database,
        &fetch,
        Until::Settled,
    )
    .await;
    database.remove().await;
    let (run, rows) = outcome?;
    let first_connections = server.first_connection_times();
    Ok(PhaseFigures::of(&run, &rows, names.len(), |row| {
        first_connections.get(&row.domain).copied()
    }))
}

/// Picks how the worker resolves, seeds the list (without the names that
/// cannot be simulated, when resolve rules must do) and runs it.
async fn simulate(
    options: &Options,
    mix: &Mix,
    server: &InternetServer,
    dns: &DnsServer,
    database: &BenchDatabase,
) -> Result<(Resolution, Run, Vec<FinishedRow>), BenchError> {
    let common = vec![
        format!(
            "extra_root_certificates = [{}]",
            toml_string(&server.ca_pem_path().to_string_lossy())
        ),
        "allow_private_networks = true".to_owned(),
    ];
    let mut with_nameservers = common.clone();
    with_nameservers.push(format!(
        "{NAMESERVERS_KEY} = [{}]",
        toml_string(&dns.address().to_string())
    ));
    let (resolution, fetch) = if worker_accepts(options, database, &with_nameservers)? {
        (Resolution::Nameservers, with_nameservers)
    } else {
        let mut fetch = common;
        fetch.push(resolve_rules(mix));
        (Resolution::ResolveRules, fetch)
    };
    let names: Vec<DomainName> = (0..mix.len())
        .filter(|index| {
            resolution == Resolution::Nameservers || !mix.site(*index).kind.bare_name_missing()
        })
        .map(|index| {
            DomainName::parse(&Mix::name(index))
                .map_err(|error| BenchError::Usage(format!("site name: {error}")))
        })
        .collect::<Result<_, _>>()?;
    let program = options.the_worker_program()?;
    // The recording, when asked for, is of the internet's drain.
    let record = options.perf_record.as_deref();
    let (run, rows) = run::drain(
        options,
        (&program, record),
        &names,
        database,
        &fetch,
        Until::Settled,
    )
    .await?;
    Ok((resolution, run, rows))
}

/// Whether the worker's settings take `fetch` (they refuse unknown keys).
/// When they do not, the same file without it must load, or the error is
/// another one and is returned.
fn worker_accepts(
    options: &Options,
    database: &BenchDatabase,
    fetch: &[String],
) -> Result<bool, BenchError> {
    let dir = tempfile::tempdir().map_err(io_error("creating a directory for a trial config"))?;
    let config = run::write_config(options, dir.path(), database, fetch)?;
    if Settings::load(Some(&config), |_| None).is_ok() {
        return Ok(true);
    }
    let without = &fetch[..fetch.len().saturating_sub(1)];
    let config = run::write_config(options, dir.path(), database, without)?;
    Settings::load(Some(&config), |_| None)?;
    Ok(false)
}

/// `resolve = { ... }`: every name that exists to its address, and every
/// other name under the suffix to an address where nothing listens, so
/// that no lookup leaves the machine.
fn resolve_rules(mix: &Mix) -> String {
    let mut rules: Vec<String> = mix
        .resolvable_names()
        .into_iter()
        .map(|(name, address)| {
            format!(
                "{} = {}",
                toml_string(&name),
                toml_string(&address.to_string())
            )
        })
        .collect();
    rules.push(format!(
        "{} = {}",
        toml_string(&format!("*.{INTERNET_SUFFIX}")),
        toml_string(&mix.unused_address().to_string())
    ));
    format!("resolve = {{ {} }}", rules.join(", "))
}

/// Where a row stands at the end of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowState {
    Completed,
    Failed,
    /// Pending, its next attempt still to come when the run ended (the
    /// run waits only for attempts due within
    /// [`crate::database::RETRY_HORIZON`]).
    WaitingRetry,
    /// Processing or due: the run's deadline came first.
    Unfinished,
}

pub(crate) fn row_state(row: &FinishedRow, observed_at: DateTime<Utc>) -> RowState {
    match row.status.as_str() {
        "completed" => RowState::Completed,
        "error" => RowState::Failed,
        "pending" if row.next_attempt_at.is_some_and(|next| next > observed_at) => {
            RowState::WaitingRetry
        }
        _ => RowState::Unfinished,
    }
}

/// When `share` of the `seeded` rows had settled, from the sorted
/// seconds at which the settled ones did; `None` when they never did.
fn settled_by(sorted_seconds: &[f64], seeded: usize, share: f64) -> Option<f64> {
    let needed = (share * seeded as f64).ceil() as usize;
    sorted_seconds
        .get(needed.max(1) - 1)
        .copied()
        .filter(|_| needed > 0)
}

/// Rows settled per second between [`MIDDLE_SHARES`].
fn middle_rate(sorted_seconds: &[f64], seeded: usize) -> Option<f64> {
    let (from, to) = MIDDLE_SHARES;
    settled_by(sorted_seconds, seeded, from)
        .zip(settled_by(sorted_seconds, seeded, to))
        .filter(|(start, end)| end > start)
        .map(|(start, end)| (to - from) * seeded as f64 / (end - start))
}

impl PhaseFigures {
    /// The figures of one run of `seeded` rows; `first_contact` says when
    /// the servers first heard of a row's site.
    fn of(
        run: &Run,
        rows: &[FinishedRow],
        seeded: usize,
        first_contact: impl Fn(&FinishedRow) -> Option<SystemTime>,
    ) -> PhaseFigures {
        let started = DateTime::<Utc>::from(run.started);
        let states: Vec<RowState> = rows
            .iter()
            .map(|row| row_state(row, run.observed_at))
            .collect();
        let count = |state| states.iter().filter(|found| **found == state).count();
        let settled: Vec<&FinishedRow> = rows
            .iter()
            .zip(&states)
            .filter(|(_, state)| **state != RowState::Unfinished)
            .map(|(row, _)| row)
            .collect();
        let mut settle_seconds: Vec<f64> = settled
            .iter()
            .filter_map(|row| Some((row.settled_at()? - started).as_seconds_f64()))
            .collect();
        settle_seconds.sort_by(f64::total_cmp);
        let needed = (SETTLED_SHARE * seeded as f64).ceil() as usize;
        let seconds_to_share = settled_by(&settle_seconds, seeded, SETTLED_SHARE);
        let middle_per_second = middle_rate(&settle_seconds, seeded);
        let per_domain = settled
            .iter()
            .filter_map(|row| {
                let first = DateTime::<Utc>::from(first_contact(row)?);
                Some((row.settled_at()? - first).as_seconds_f64() * 1e3)
            })
            .collect();
        PhaseFigures {
            seeded,
            completed: count(RowState::Completed),
            failed: count(RowState::Failed),
            waiting_retry: count(RowState::WaitingRetry),
            unfinished: count(RowState::Unfinished),
            seconds_to_90: seconds_to_share,
            settled_per_second: seconds_to_share
                .map(|seconds| needed as f64 / seconds.max(f64::EPSILON)),
            middle_per_second,
            per_domain_ms: Percentiles::of(per_domain),
            peak_rss_mb: run.probe.peak_rss_kib as f64 * 1024.0 / 1e6,
            max_sockets: run.probe.max_sockets,
            max_threads: run.probe.max_threads,
            cpu_seconds: run.probe.cpu_seconds(),
            concurrency: run.concurrency,
            pool: run.pool,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::RETRY_HORIZON;

    fn row(status: &str, next_attempt_in: Option<i64>, now: DateTime<Utc>) -> FinishedRow {
        FinishedRow {
            domain: "d000001.inet.test".into(),
            status: status.into(),
            updated_at: Some(now),
            last_error: None,
            next_attempt_at: next_attempt_in
                .map(|seconds| now + chrono::Duration::seconds(seconds)),
            first_settled_at: None,
        }
    }

    #[test]
    fn a_pending_row_waits_for_a_retry_only_when_its_attempt_is_to_come() {
        let now = Utc::now();
        let later = RETRY_HORIZON.as_secs() as i64 * 5;
        assert_eq!(
            row_state(&row("completed", None, now), now),
            RowState::Completed
        );
        assert_eq!(row_state(&row("error", None, now), now), RowState::Failed);
        assert_eq!(
            row_state(&row("pending", Some(later), now), now),
            RowState::WaitingRetry
        );
        assert_eq!(
            row_state(&row("pending", Some(-2), now), now),
            RowState::Unfinished
        );
        assert_eq!(
            row_state(&row("pending", None, now), now),
            RowState::Unfinished
        );
        assert_eq!(
            row_state(&row("processing", None, now), now),
            RowState::Unfinished
        );
    }

    #[test]
    fn a_row_has_an_outcome_once_tried_not_when_handed_back_untried() {
        let now = Utc::now();
        assert!(row("completed", None, now).has_outcome());
        assert!(row("error", None, now).has_outcome());
        assert!(!row("processing", None, now).has_outcome());
        // Handed back because its address was busy: no error written.
        assert!(!row("pending", Some(3), now).has_outcome());
        let failed = FinishedRow {
            last_error: Some("connection refused".into()),
            ..row("pending", Some(60), now)
        };
        assert!(failed.has_outcome());
        let claimed_again = FinishedRow {
            last_error: Some("connection refused".into()),
            ..row("pending", None, now)
        };
        assert!(!claimed_again.has_outcome());
    }

    #[test]
    fn a_row_settles_at_its_first_outcome_when_it_was_watched() {
        let now = Utc::now();
        let first = now - chrono::Duration::seconds(300);
        let unwatched = row("pending", Some(60), now);
        assert_eq!(unwatched.settled_at(), Some(now));
        let watched = FinishedRow {
            first_settled_at: Some(first),
            ..row("pending", Some(60), now)
        };
        assert_eq!(watched.settled_at(), Some(first));
    }

    #[test]
    fn the_middle_rate_leaves_out_a_slow_start_and_a_long_tail() {
        // 100 rows: the first 10 take 5 s to come, then one every 0.1 s,
        // the last 10 a minute.
        let mut seconds: Vec<f64> = (0..10).map(|i| 5.0 + f64::from(i) * 0.01).collect();
        seconds.extend((0..80).map(|i| 5.1 + f64::from(i) * 0.1));
        seconds.extend((0..10).map(|i| 60.0 + f64::from(i)));
        let rate = middle_rate(&seconds, 100).expect("80% settled");
        assert!((rate - 10.0).abs() < 0.2, "{rate}");
        assert_eq!(settled_by(&seconds, 100, 0.9), Some(seconds[89]));
        // Fewer than 80% settled: no rate.
        assert_eq!(middle_rate(&seconds[..50], 100), None);
    }
}
