//! Progress of a long command on stderr: a bar on a terminal, a plain line
//! every so often otherwise (a log file, a CI job), so that neither floods
//! what it writes to.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

enum Display {
    Bar(ProgressBar),
    Lines { every: Duration, last: Instant },
}

/// Where a command reports how far it got.
pub(super) struct Progress {
    display: Display,
    started: Instant,
    /// The input's size in bytes, when known (a file, not stdin).
    total: Option<u64>,
}

impl Progress {
    /// A bar when stderr is a terminal, else a line at most every `every`.
    pub(super) fn new(total: Option<u64>, every: Duration) -> Progress {
        let started = Instant::now();
        let display = if std::io::stderr().is_terminal() {
            Display::Bar(bar(total))
        } else {
            Display::Lines {
                every,
                last: started,
            }
        };
        Progress {
            display,
            started,
            total,
        }
    }

    /// Shows `done` bytes of the input read and `counts` (what became of the
    /// entries so far).
    pub(super) fn update(&mut self, done: u64, counts: &str) {
        match &mut self.display {
            Display::Bar(bar) => {
                bar.set_position(done);
                bar.set_message(counts.to_owned());
            }
            Display::Lines { every, last } => {
                if last.elapsed() < *every {
                    return;
                }
                *last = Instant::now();
                let share = match self.total {
                    Some(total) if total > 0 => {
                        format!(" ({:.0}% of the input)", done as f64 * 100.0 / total as f64)
                    }
                    _ => String::new(),
                };
                let elapsed = self.started.elapsed().as_secs_f64();
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("progress: {counts}{share} after {elapsed:.1}s");
                }
            }
        }
    }

    /// A message of its own line (an invalid entry), above the bar.
    pub(super) fn message(&self, text: &str) {
        match &self.display {
            Display::Bar(bar) => bar.println(text),
            Display::Lines { .. } => {
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("{text}");
                }
            }
        }
    }

    /// Time since the start.
    pub(super) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Removes the bar, so that what follows starts on a clean line.
    pub(super) fn finish(&self) {
        if let Display::Bar(bar) = &self.display {
            bar.finish_and_clear();
        }
    }
}

fn bar(total: Option<u64>) -> ProgressBar {
    let (bar, template) = match total {
        Some(total) => (
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
            "{elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {msg}",
        ),
        None => (
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            "{elapsed_precise} {spinner} {bytes} {msg}",
        ),
    };
    // The templates are constant and valid; were one refused, the default
    // style still shows the position.
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
