//! The worker's CPU profile: `perf record` attached to the worker while it
//! drains, and the samples' attribution to the parts of the work.
//!
//! Each sample's stack is read from the leaf towards the root; the first
//! frame that belongs to a known part names the sample's part, except
//! that the allocator and `memcpy`/`memset` are parts of their own when
//! they are the leaf (and their caller's part is counted beside). Frames
//! are matched by the crate or library that defines them, so the table
//! holds as the code changes. A profile is only as good as its stacks:
//! the `profiling` Cargo profile keeps line tables and `just profile`
//! builds with frame pointers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::{BenchError, io_error};

/// Samples per second and thread.
const FREQUENCY: &str = "999";

/// `perf record` attached to one process.
#[derive(Debug)]
pub(crate) struct Recorder {
    perf: Child,
}

impl Recorder {
    /// Starts recording the process `pid` (all its threads) into `file`.
    pub(crate) fn start(pid: u32, file: &Path) -> Result<Recorder, BenchError> {
        let perf = Command::new("perf")
            .args(["record", "--call-graph", "fp", "-F", FREQUENCY, "-p"])
            .arg(pid.to_string())
            .arg("-o")
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io_error(
                "starting `perf record` (Debian's package linux-perf)",
            ))?;
        Ok(Recorder { perf })
    }

    /// Stops recording (SIGINT, as at a terminal) and waits for the file.
    pub(crate) fn finish(mut self) -> Result<(), BenchError> {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_child(&self.perf),
            rustix::process::Signal::INT,
        );
        self.perf
            .wait()
            .map(drop)
            .map_err(io_error("waiting for `perf record`"))
    }
}

/// A part of the work and the frames that belong to it: a frame belongs
/// when its symbol or its library contains one of the needles.
struct Part {
    name: &'static str,
    needles: &'static [&'static str],
}

/// Tried in this order for each frame, so that the more specific parts of
/// this project's crates come before the libraries they call.
const PARTS: &[Part] = &[
    Part {
        name: "walk",
        needles: &["scheduler_html_metadata::walk"],
    },
    Part {
        name: "technologies",
        needles: &[
            "scheduler_html_metadata::tech",
            "scheduler_html_metadata::site_kind",
        ],
    },
    Part {
        name: "contacts and company",
        needles: &[
            "scheduler_html_metadata::contacts",
            "scheduler_html_metadata::social",
            "scheduler_html_metadata::company",
            "phonenumber::",
        ],
    },
    Part {
        name: "fields (title, icons, JSON-LD, links)",
        needles: &[
            "scheduler_html_metadata::fields",
            "scheduler_html_metadata::chains",
            "scheduler_html_metadata::icons",
            "scheduler_html_metadata::jsonld",
            "scheduler_html_metadata::resolve",
            "scheduler_html_metadata::contact_pages",
            "scheduler_html_metadata::text",
            "serde_json::",
        ],
    },
    Part {
        name: "decode (charset, decompression)",
        needles: &[
            "scheduler_html_metadata::charset",
            "encoding_rs",
            "chardetng",
            "flate2",
            "miniz_oxide",
            "brotli",
        ],
    },
    Part {
        name: "parse (html5ever, kuchikiki)",
        needles: &[
            "html5ever",
            "markup5ever",
            "kuchikiki",
            "tendril",
            "scheduler_html_metadata::parse",
            // Decoding, parsing and the walk's set-up, inlined into one.
            "scheduler_html_metadata::Parsed::read",
            "selectors::",
            "cssparser",
        ],
    },
    Part {
        name: "extraction, the rest (pipeline, site kind, links)",
        needles: &["scheduler_html_metadata::"],
    },
    Part {
        name: "TLS (rustls, ring)",
        needles: &[
            "rustls",
            "ring::",
            "ring_core_",
            "webpki",
            // ring's assembly: elliptic curves, bignums, AES-GCM, hashes.
            "nistz256",
            "bn_mul",
            "bn_sqr",
            "aes_hw",
            "aesni",
            "gcm_",
            "sha256_block",
            "sha512_block",
            "x25519",
            "ChaCha20",
            "fiat_",
        ],
    },
    Part {
        name: "DNS",
        needles: &["hickory", "resolver::"],
    },
    Part {
        name: "HTTP (reqwest, hyper, fetch)",
        needles: &[
            "hyper",
            "reqwest",
            "h2::",
            "http::",
            "scheduler_http_extractor",
        ],
    },
    Part {
        name: "database (sqlx, sea-orm)",
        needles: &["sqlx", "sea_orm", "sea_query", "scheduler_storage_seaorm"],
    },
    Part {
        name: "scheduler and logs",
        needles: &[
            "scheduler_application",
            "domain_scheduler::",
            "tracing",
            "metrics",
        ],
    },
    Part {
        name: "runtime (tokio, threads)",
        needles: &[
            "tokio::",
            "std::thread",
            "crossbeam",
            "parking_lot",
            "futures_",
        ],
    },
];

/// Leaf frames of the allocator: the C library's, jemalloc's (prefixed
/// `_rjem_` when linked from its crate), mimalloc's and Rust's shims.
const ALLOCATOR: &[&str] = &[
    "malloc",
    "free",
    "realloc",
    "calloc",
    "cfree",
    "_int_",
    "__libc_malloc",
    "__libc_free",
    "unlink_chunk",
    "sdallocx",
    "do_rallocx",
    "je_",
    "_rjem_",
    "mi_",
    "_mi_",
    "__rust_alloc",
    "__rust_dealloc",
    "__rust_realloc",
    "tcache",
];
/// Leaf frames of memory copies.
const COPY: &[&str] = &[
    "memcpy",
    "memmove",
    "memset",
    "__memcpy",
    "__memmove",
    "__memset",
];

/// What the kernel was doing, for kernel samples whose user-space caller
/// is unknown (the C library's system call wrappers keep no frame
/// pointer): the first needle found in the stack names it.
const KERNEL_PARTS: &[(&str, &[&str])] = &[
    (
        "kernel: network",
        &[
            "tcp_", "sock_", "skb", "inet_", "ip_", "netif", "loopback", "udp_",
        ],
    ),
    (
        "kernel: memory",
        &[
            "page_fault",
            "do_anonymous_page",
            "mmap",
            "munmap",
            "brk",
            "madvise",
        ],
    ),
    (
        "kernel: waiting and scheduling",
        &["schedule", "futex", "epoll", "hrtimer", "nanosleep"],
    ),
];

fn kernel_part(stack: &[Frame<'_>]) -> &'static str {
    KERNEL_PARTS
        .iter()
        .find(|(_, needles)| {
            stack
                .iter()
                .filter(|frame| is_kernel(frame))
                .any(|frame| needles.iter().any(|needle| frame.symbol.contains(needle)))
        })
        .map_or("kernel: other", |(name, _)| *name)
}

/// The kernel's frames.
fn is_kernel(frame: &Frame<'_>) -> bool {
    frame.library.contains("kernel.kallsyms") || frame.library.contains("[kernel")
}

struct Frame<'a> {
    symbol: &'a str,
    library: &'a str,
}

fn part_of(frame: &Frame<'_>) -> Option<&'static str> {
    PARTS
        .iter()
        .find(|part| {
            part.needles
                .iter()
                .any(|needle| frame.symbol.contains(needle) || frame.library.contains(needle))
        })
        .map(|part| part.name)
}

fn leaf_kind(frame: &Frame<'_>) -> Option<&'static str> {
    let symbol = frame.symbol;
    // A needle names the symbol or one of its path's segments.
    if ALLOCATOR.iter().any(|needle| {
        symbol
            .split("::")
            .any(|segment| segment.starts_with(needle))
    }) {
        return Some("allocator");
    }
    if COPY.iter().any(|needle| symbol.starts_with(needle)) {
        return Some("memcpy/memset");
    }
    if is_kernel(frame) {
        return Some("kernel");
    }
    None
}

/// How the samples of one recording fall into parts.
#[derive(Debug, Default)]
struct Attribution {
    samples: u64,
    /// Part → samples whose stack it names.
    by_part: BTreeMap<&'static str, u64>,
    /// Leaf kind (allocator, copies, kernel) → part of the caller → samples.
    by_leaf: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
}

const UNATTRIBUTED: &str = "unattributed";

impl Attribution {
    fn add(&mut self, stack: &[Frame<'_>]) {
        let Some(leaf) = stack.first() else {
            return;
        };
        self.samples += 1;
        let caller = stack.iter().find_map(part_of);
        if caller.is_none() && is_kernel(leaf) {
            *self.by_part.entry(kernel_part(stack)).or_default() += 1;
            return;
        }
        let caller = caller.unwrap_or(UNATTRIBUTED);
        match leaf_kind(leaf) {
            Some(kind) => {
                *self.by_part.entry(kind).or_default() += 1;
                *self
                    .by_leaf
                    .entry(kind)
                    .or_default()
                    .entry(caller)
                    .or_default() += 1;
            }
            None => *self.by_part.entry(caller).or_default() += 1,
        }
    }

    fn table(&self) -> String {
        let total = self.samples.max(1) as f64;
        let share = |count: u64| 100.0 * count as f64 / total;
        let parts = most_first(&self.by_part);
        let mut table = format!("{} samples of the worker\n", self.samples);
        let _ = writeln!(
            table,
            "| part | share of the worker's CPU | of which, by caller |"
        );
        let _ = writeln!(table, "|---|---|---|");
        for (part, count) in &parts {
            let callers = self
                .by_leaf
                .get(part)
                .map(|callers| {
                    most_first(callers)
                        .iter()
                        .take(5)
                        .map(|(caller, count)| format!("{caller} {:.1}%", share(*count)))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let _ = writeln!(table, "| {part} | {:.1}% | {callers} |", share(*count));
        }
        let unattributed = self.by_part.get(UNATTRIBUTED).copied().unwrap_or(0)
            + self
                .by_leaf
                .values()
                .filter_map(|callers| callers.get(UNATTRIBUTED))
                .sum::<u64>();
        let _ = writeln!(
            table,
            "attributed to a part (a leaf's caller included): {:.1}%",
            100.0 - share(unattributed)
        );
        table
    }
}

/// The counts, the largest first (a tie in name order).
fn most_first<'a>(counts: &BTreeMap<&'a str, u64>) -> Vec<(&'a str, u64)> {
    let mut sorted: Vec<(&str, u64)> = counts.iter().map(|(name, count)| (*name, *count)).collect();
    sorted.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
    sorted
}

/// The table of a recording: runs `perf script` on it and attributes
/// every sample.
pub(crate) fn attribute(recording: &Path) -> Result<String, BenchError> {
    let output = Command::new("perf")
        .args(["script", "-F", "comm,tid,ip,sym,dso", "-i"])
        .arg(recording)
        .stderr(Stdio::null())
        .output()
        .map_err(io_error("running `perf script`"))?;
    if !output.status.success() {
        return Err(BenchError::Usage(format!(
            "`perf script -i {}` failed ({})",
            recording.display(),
            output.status
        )));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut attribution = Attribution::default();
    for sample in text.split("\n\n") {
        let stack: Vec<Frame<'_>> = sample.lines().skip(1).filter_map(frame).collect();
        attribution.add(&stack);
    }
    Ok(attribution.table())
}

/// One frame line of `perf script`: `addr symbol+off (library)`.
fn frame(line: &str) -> Option<Frame<'_>> {
    let line = line.trim();
    let (_address, rest) = line.split_once(' ')?;
    let (symbol, library) = match rest.rfind(" (") {
        Some(at) => (&rest[..at], rest[at + 2..].trim_end_matches(')')),
        None => (rest, ""),
    };
    Some(Frame { symbol, library })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack<'a>(lines: &[&'a str]) -> Vec<Frame<'a>> {
        lines.iter().filter_map(|line| frame(line)).collect()
    }

    #[test]
    fn a_sample_counts_for_its_nearest_part_and_the_allocator_names_its_caller_beside() {
        let mut attribution = Attribution::default();
        attribution.add(&stack(&[
            "7f01 _int_malloc+0x1f (/usr/lib/x86_64-linux-gnu/libc.so.6)",
            "55aa html5ever::tree_builder::TreeBuilder::process_token+0x10 (/bench-e2e)",
            "55ab scheduler_html_metadata::parse::document+0x10 (/bench-e2e)",
        ]));
        attribution.add(&stack(&[
            "55aa scheduler_html_metadata::walk::Walker::visit+0x10 (/bench-e2e)",
            "55ab scheduler_html_metadata::extract+0x10 (/bench-e2e)",
        ]));
        attribution.add(&stack(&["ffff0 [unknown] ([unknown])"]));
        attribution.add(&stack(&[
            "ffff1 _copy_to_iter ([kernel.kallsyms])",
            "ffff2 tcp_recvmsg ([kernel.kallsyms])",
            "7f02 __libc_recv (/usr/lib/x86_64-linux-gnu/libc.so.6)",
        ]));
        assert_eq!(attribution.by_part["allocator"], 1);
        assert_eq!(
            attribution.by_leaf["allocator"]["parse (html5ever, kuchikiki)"],
            1
        );
        assert_eq!(attribution.by_part["walk"], 1);
        assert_eq!(attribution.by_part[UNATTRIBUTED], 1);
        assert_eq!(attribution.by_part["kernel: network"], 1);
        assert!(
            attribution
                .table()
                .contains("attributed to a part (a leaf's caller included): 75.0%")
        );
    }
}
