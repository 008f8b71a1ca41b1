//! `enqueue`: add domains to the queue.
//!
//! The input is streamed: a thread of its own reads and parses it (reads
//! block, and stdin may never end) and hands chunks of names through a
//! bounded channel, so memory stays flat whatever the input's size. Each
//! chunk is one `enqueue` of the repository, one transaction: an import cut
//! short keeps the chunks already written, and a rerun reports them as
//! already present. Names are deduplicated within a chunk; across chunks
//! the database does it.

use std::collections::HashSet;
use std::process::ExitCode;
use std::thread;

use scheduler_domain::{DomainName, DomainRepository};
use tokio::sync::mpsc;

use super::input::{self, Entry, LineSource};
use super::progress::Progress;
use super::{CliError, Schema, open_repository};
use crate::cli::EnqueueArgs;
use crate::settings::Settings;

/// Parsed chunks waiting to be written: two keep the database busy while
/// the reader prepares the next one.
const CHUNKS_IN_FLIGHT: usize = 2;

/// Entries read and parsed, to be written in one transaction.
#[derive(Debug, Default)]
struct Chunk {
    /// Distinct valid names.
    names: Vec<DomainName>,
    /// Entries whose name was already in this chunk.
    repeated: u64,
    /// One message per invalid entry.
    invalid: Vec<String>,
    /// Where the chunk's last entry came from.
    last_origin: String,
    /// Bytes of the input read up to the chunk's end.
    bytes_read: u64,
}

/// What became of the entries so far.
#[derive(Debug, Default)]
struct Totals {
    added: u64,
    already_present: u64,
    invalid: u64,
}

impl Totals {
    fn counts(&self) -> String {
        format!(
            "{} new, {} already present, {} invalid",
            self.added, self.already_present, self.invalid
        )
    }
}

pub(super) async fn run(settings: &Settings, args: EnqueueArgs) -> Result<ExitCode, CliError> {
    let source = LineSource::open(args.file.as_deref(), args.domains.is_empty())?;
    let repository = open_repository(settings, Schema::Columns).await?;
    let mut progress = Progress::new(
        source.as_ref().and_then(|source| source.size),
        args.progress_interval,
    );
    let (sender, mut chunks) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let chunk_size = usize::try_from(args.chunk_size).unwrap_or(usize::MAX);
    // A plain thread, not `spawn_blocking`: a read of stdin that never
    // returns must not hold up the runtime's shutdown after a failure.
    thread::Builder::new()
        .name("enqueue-reader".into())
        .spawn(move || read_chunks(&args.domains, source, chunk_size, &sender))
        .map_err(|error| CliError::Failed(format!("cannot start the reader: {error}")))?;

    let mut totals = Totals::default();
    let mut outcome = Ok(());
    while let Some(chunk) = chunks.recv().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                outcome = Err(error);
                break;
            }
        };
        for message in &chunk.invalid {
            progress.message(message);
        }
        totals.invalid += chunk.invalid.len() as u64;
        totals.already_present += chunk.repeated;
        if !chunk.names.is_empty() {
            match repository.enqueue(&chunk.names, chrono::Utc::now()).await {
                Ok(report) => {
                    totals.added += report.added.len() as u64;
                    totals.already_present += report.already_present.len() as u64;
                }
                Err(error) => {
                    outcome = Err(CliError::Failed(format!(
                        "the chunk ending at {} was not enqueued: {error}; \
                         the chunks before it are ({}); a rerun skips them",
                        chunk.last_origin,
                        totals.counts()
                    )));
                    break;
                }
            }
        }
        progress.update(chunk.bytes_read, &totals.counts());
    }
    progress.finish();
    repository.close().await;
    outcome?;
    #[allow(clippy::print_stdout)]
    {
        println!(
            "enqueued {} in {:.1}s",
            totals.counts(),
            progress.elapsed().as_secs_f64()
        );
    }
    Ok(if totals.invalid > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Reads the arguments, then `source`, and sends them as chunks of at most
/// `chunk_size` distinct names. Stops when the receiver is gone.
fn read_chunks(
    arguments: &[String],
    source: Option<LineSource>,
    chunk_size: usize,
    sender: &mpsc::Sender<Result<Chunk, CliError>>,
) {
    let mut chunk = Chunk::default();
    let mut seen = HashSet::new();
    let mut add = |entry: Entry, bytes_read: u64| -> bool {
        match DomainName::parse(&entry.raw) {
            Ok(name) => {
                if seen.insert(name.clone()) {
                    chunk.names.push(name);
                } else {
                    chunk.repeated += 1;
                }
            }
            Err(error) => chunk.invalid.push(format!("{}: {error}", entry.origin)),
        }
        chunk.last_origin = entry.origin;
        chunk.bytes_read = bytes_read;
        if chunk.names.len() < chunk_size {
            return true;
        }
        seen.clear();
        sender.blocking_send(Ok(std::mem::take(&mut chunk))).is_ok()
    };
    for entry in input::arguments(arguments) {
        if !add(entry, 0) {
            return;
        }
    }
    if let Some(source) = source
        && let Err(error) = source.for_each(&mut add)
    {
        // The receiver may be gone already; then nobody is left to tell.
        let _ = sender.blocking_send(Err(error));
        return;
    }
    let last = std::mem::take(&mut chunk);
    if !last.names.is_empty() || !last.invalid.is_empty() || last.repeated > 0 {
        let _ = sender.blocking_send(Ok(last));
    }
}
