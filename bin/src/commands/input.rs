//! Domains given on the command line, in a file or on stdin, one entry at a
//! time, each with where it came from for error messages.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use super::CliError;

/// One raw entry and where it came from (`argument 3`, `list.txt line 5`).
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) origin: String,
    pub(super) raw: String,
}

/// A file or stdin, read line by line.
pub(super) struct LineSource {
    name: String,
    reader: Box<dyn BufRead + Send>,
    /// The file's size in bytes; unknown for stdin.
    pub(super) size: Option<u64>,
}

impl LineSource {
    /// `path` (`-`: stdin), or stdin when there is no path and
    /// `stdin_by_default`.
    pub(super) fn open(
        path: Option<&Path>,
        stdin_by_default: bool,
    ) -> Result<Option<LineSource>, CliError> {
        let stdin = || LineSource {
            name: "stdin".into(),
            reader: Box::new(BufReader::with_capacity(1 << 16, io::stdin())),
            size: None,
        };
        Ok(match path {
            Some(path) if path.as_os_str() == "-" => Some(stdin()),
            Some(path) => {
                let cannot = |error: io::Error| {
                    CliError::Failed(format!("cannot read {}: {error}", path.display()))
                };
                let file = File::open(path).map_err(cannot)?;
                let size = file.metadata().map_err(cannot)?.len();
                Some(LineSource {
                    name: path.display().to_string(),
                    reader: Box::new(BufReader::with_capacity(1 << 16, file)),
                    size: Some(size),
                })
            }
            None if stdin_by_default => Some(stdin()),
            None => None,
        })
    }

    /// Calls `each` with every entry (blank lines and `#` comments skipped)
    /// and the bytes read so far. Blocks on the reads: call it from a thread
    /// of its own, not from the runtime. Stops early when `each` returns
    /// false.
    pub(super) fn for_each(
        mut self,
        mut each: impl FnMut(Entry, u64) -> bool,
    ) -> Result<(), CliError> {
        let mut line = Vec::with_capacity(256);
        let mut number = 0u64;
        let mut bytes = 0u64;
        loop {
            line.clear();
            let read = self
                .reader
                .read_until(b'\n', &mut line)
                .map_err(|error| CliError::Failed(format!("cannot read {}: {error}", self.name)))?;
            if read == 0 {
                return Ok(());
            }
            number += 1;
            bytes += read as u64;
            // A line that is not UTF-8 is kept (lossily) so that it is
            // reported as invalid with its number instead of ending the run.
            let text = String::from_utf8_lossy(&line);
            let raw = text.trim();
            if raw.is_empty() || raw.starts_with('#') {
                continue;
            }
            let entry = Entry {
                origin: format!("{} line {number}", self.name),
                raw: raw.to_owned(),
            };
            if !each(entry, bytes) {
                return Ok(());
            }
        }
    }
}

/// The command-line arguments as entries.
pub(super) fn arguments(domains: &[String]) -> impl Iterator<Item = Entry> + '_ {
    domains.iter().enumerate().map(|(index, raw)| Entry {
        origin: format!("argument {}", index + 1),
        raw: raw.clone(),
    })
}
