//! The pages the sites serve: the corpus's real pages (hand-made
//! `synthetic` edge cases left out), and a bare kuchikiki parse of them on
//! two threads, the yardstick every figure is compared with.

use std::fs;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kuchikiki::traits::TendrilSink;
use serde::Serialize;

use crate::BenchError;

/// The corpus pages, each shared by every site that serves it.
#[derive(Debug)]
pub(crate) struct Corpus {
    pages: Vec<Arc<[u8]>>,
}

/// What two threads of bare parsing manage on this machine.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct BareParse {
    /// Threads that parsed at once.
    pub(crate) threads: usize,
    /// Bytes of HTML parsed per second by all threads together, in MB.
    pub(crate) mb_per_second: f64,
    /// Pages parsed per second by all threads together.
    pub(crate) pages_per_second: f64,
    /// CPU time per page, in ms: what a bare parse costs, whatever else
    /// runs on the machine.
    pub(crate) ms_per_page: f64,
    /// Bytes parsed per CPU second, in MB, times the threads: what the
    /// threads would parse on cores of their own.
    pub(crate) mb_per_second_unshared: f64,
}

impl Corpus {
    /// Every `<set>/<name>/page.html` under `root` whose `expected.json`
    /// does not mark it `synthetic`.
    pub(crate) fn load(root: &Path) -> Result<Corpus, BenchError> {
        let unreadable = |source| BenchError::Io {
            context: format!("reading the corpus {}", root.display()),
            source,
        };
        let mut paths = Vec::new();
        for set in fs::read_dir(root).map_err(unreadable)? {
            let set = set.map_err(unreadable)?.path();
            if !set.is_dir() {
                continue;
            }
            for page in fs::read_dir(&set).map_err(unreadable)? {
                paths.push(page.map_err(unreadable)?.path());
            }
        }
        // Sorted, so that site N serves the same page in every run.
        paths.sort();
        let mut pages = Vec::new();
        for dir in paths {
            let Ok(body) = fs::read(dir.join("page.html")) else {
                continue;
            };
            let synthetic = fs::read_to_string(dir.join("expected.json"))
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                .and_then(|expected| expected["synthetic"].as_bool())
                .unwrap_or(false);
            if !synthetic {
                pages.push(Arc::from(body));
            }
        }
        if pages.is_empty() {
            return Err(BenchError::Corpus(format!(
                "no page.html under {}",
                root.display()
            )));
        }
        Ok(Corpus { pages })
    }

    /// How many distinct pages there are.
    pub(crate) fn len(&self) -> usize {
        self.pages.len()
    }

    /// Their total size, in bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.pages.iter().map(|page| page.len()).sum()
    }

    /// The page site number `site` serves.
    pub(crate) fn page(&self, site: usize) -> &Arc<[u8]> {
        &self.pages[site % self.pages.len()]
    }

    /// Parses the pages with kuchikiki alone on `threads` threads for about
    /// `period`, each thread starting at a different page.
    pub(crate) fn bare_parse(&self, threads: usize, period: Duration) -> BareParse {
        let started = Instant::now();
        let counts: Vec<(usize, usize, Duration)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|thread| {
                    scope.spawn(move || {
                        let (mut pages, mut bytes) = (0, 0);
                        let offset = thread * self.pages.len() / threads.max(1);
                        while started.elapsed() < period {
                            let page = self.page(offset + pages);
                            let text = String::from_utf8_lossy(page);
                            black_box(kuchikiki::parse_html().one(text.as_ref()));
                            pages += 1;
                            bytes += page.len();
                        }
                        (pages, bytes, thread_cpu_time())
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().unwrap_or((0, 0, Duration::ZERO)))
                .collect()
        });
        let seconds = started.elapsed().as_secs_f64();
        let pages: usize = counts.iter().map(|(pages, _, _)| pages).sum();
        let bytes: usize = counts.iter().map(|(_, bytes, _)| bytes).sum();
        let cpu: f64 = counts
            .iter()
            .map(|(_, _, cpu)| cpu.as_secs_f64())
            .sum::<f64>()
            .max(f64::EPSILON);
        BareParse {
            threads,
            mb_per_second: bytes as f64 / 1e6 / seconds,
            pages_per_second: pages as f64 / seconds,
            ms_per_page: cpu * 1e3 / pages.max(1) as f64,
            mb_per_second_unshared: bytes as f64 / 1e6 / cpu * threads as f64,
        }
    }
}

/// The CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(time.tv_sec).unwrap_or(0),
        u32::try_from(time.tv_nsec).unwrap_or(0),
    )
}
