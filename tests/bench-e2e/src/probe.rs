//! What the worker process uses, read from `/proc/<pid>` while it runs:
//! its peak resident memory, its CPU time, and its open sockets.

use std::collections::HashSet;
use std::fs;

/// Samples of one process. Every figure is the worst (or the latest, for
/// the CPU) over the samples taken.
#[derive(Debug)]
pub(crate) struct Probe {
    pid: u32,
    ticks_per_second: u64,
    /// `VmHWM`, in KiB: the process's peak resident set so far.
    pub(crate) peak_rss_kib: u64,
    /// `VmRSS`, in KiB, at the last sample.
    pub(crate) rss_kib: u64,
    /// `VmRSS` when half the domains were done (set by the caller).
    pub(crate) rss_kib_half_done: Option<u64>,
    /// The most sockets other than Unix-domain ones seen at once.
    pub(crate) max_sockets: usize,
    /// The most threads seen at once.
    pub(crate) max_threads: u64,
    /// utime + stime of the whole process (its threads, dead ones too).
    cpu_ticks: u64,
    /// How many samples were taken.
    pub(crate) samples: u64,
}

impl Probe {
    pub(crate) fn new(pid: u32) -> Probe {
        Probe {
            pid,
            ticks_per_second: rustix::param::clock_ticks_per_second().max(1),
            peak_rss_kib: 0,
            rss_kib: 0,
            rss_kib_half_done: None,
            max_sockets: 0,
            max_threads: 0,
            cpu_ticks: 0,
            samples: 0,
        }
    }

    /// Reads the process's figures now; a process that is gone leaves the
    /// last ones standing.
    pub(crate) fn sample(&mut self) {
        let proc_dir = format!("/proc/{}", self.pid);
        if let Ok(status) = fs::read_to_string(format!("{proc_dir}/status")) {
            if let Some(peak) = status_kib(&status, "VmHWM:") {
                self.peak_rss_kib = self.peak_rss_kib.max(peak);
            }
            if let Some(now) = status_kib(&status, "VmRSS:") {
                self.rss_kib = now;
            }
            if let Some(threads) = status_kib(&status, "Threads:") {
                self.max_threads = self.max_threads.max(threads);
            }
        }
        if let Some(ticks) = fs::read_to_string(format!("{proc_dir}/stat"))
            .ok()
            .as_deref()
            .and_then(cpu_ticks)
        {
            self.cpu_ticks = ticks;
        }
        self.max_sockets = self.max_sockets.max(network_sockets(&proc_dir));
        self.samples += 1;
    }

    /// The CPU time used so far, in seconds.
    pub(crate) fn cpu_seconds(&self) -> f64 {
        self.cpu_ticks as f64 / self.ticks_per_second as f64
    }
}

/// A number field such as `VmHWM:` (in KiB) or `Threads:` of a
/// `/proc/<pid>/status`.
fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

/// utime + stime of a `/proc/<pid>/stat`, in clock ticks.
fn cpu_ticks(stat: &str) -> Option<u64> {
    // The command name may hold spaces and parentheses: fields are counted
    // from the last `)`. After it come state (field 3) ... utime (14), stime (15).
    let (_, fields) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = fields.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The process's socket descriptors that are not Unix-domain sockets (the
/// runtime's signal pipe is one): its TCP connections to the sites and the
/// database.
fn network_sockets(proc_dir: &str) -> usize {
    let Ok(descriptors) = fs::read_dir(format!("{proc_dir}/fd")) else {
        return 0;
    };
    let socket_inodes: Vec<u64> = descriptors
        .filter_map(|entry| fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| socket_inode(&target.to_string_lossy()))
        .collect();
    if socket_inodes.is_empty() {
        return 0;
    }
    let unix = fs::read_to_string(format!("{proc_dir}/net/unix"))
        .map(|table| unix_inodes(&table))
        .unwrap_or_default();
    socket_inodes
        .iter()
        .filter(|inode| !unix.contains(inode))
        .count()
}

/// The inode of a descriptor's link `socket:[12345]`.
fn socket_inode(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The inodes of `/proc/net/unix` (the seventh column).
fn unix_inodes(table: &str) -> HashSet<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(6)?.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_stat_fields_are_read() {
        let status = "Name:\tbench\nVmPeak:\t  900 kB\nVmHWM:\t  12345 kB\nVmRSS:\t 100 kB\n";
        assert_eq!(status_kib(status, "VmHWM:"), Some(12_345));
        assert_eq!(status_kib(status, "VmRSS:"), Some(100));
        assert_eq!(status_kib("Threads:\t7\n", "Threads:"), Some(7));
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 5 0";
        assert_eq!(cpu_ticks(stat), Some(281));
        assert_eq!(socket_inode("socket:[998]"), Some(998));
        assert_eq!(socket_inode("pipe:[998]"), None);
        let unix = "Num RefCount Protocol Flags Type St Inode Path\n\
                    0000: 00000002 00000000 00000000 0001 03 4711\n";
        assert!(unix_inodes(unix).contains(&4711));
    }

    #[test]
    fn this_process_can_be_sampled() {
        let mut probe = Probe::new(std::process::id());
        probe.sample();
        assert!(probe.peak_rss_kib > 0);
        assert_eq!(probe.samples, 1);
    }
}
