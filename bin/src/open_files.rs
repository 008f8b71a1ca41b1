//! The open-file limit. Every domain in flight holds a socket, so a worker
//! sized for the internet (`scheduler.concurrency` in the thousands) needs
//! more descriptors than the soft limit most systems start a service with
//! (1024). The soft limit is raised to the hard one at start, as the Go
//! and Java runtimes do; what is left is checked against the concurrency.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors kept for everything but the domains' sockets: the database
/// pool, the listener, the endpoint, log files, the parsing threads.
pub const RESERVED_DESCRIPTORS: u64 = 128;

/// Raises the soft limit on open files to the hard limit, and returns the
/// limit in force afterwards (`None`: unlimited).
pub fn raise_open_files_limit() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return limit.maximum;
        }
    }
    limit.current
}

/// The sockets that may be open at once under an open-file `limit`,
/// besides [`RESERVED_DESCRIPTORS`].
pub fn sockets_allowed(limit: Option<u64>) -> Option<u64> {
    limit.map(|limit| limit.saturating_sub(RESERVED_DESCRIPTORS))
}

/// The domains that may be in flight at once under an open-file `limit`
/// when each holds up to `sockets_per_domain` sockets at once (one for its
/// home page, whose next hop opens after the last closed; then one per
/// linked page, read at once).
pub fn domains_allowed(limit: Option<u64>, sockets_per_domain: u64) -> Option<u64> {
    sockets_allowed(limit).map(|sockets| sockets / sockets_per_domain.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let after = raise_open_files_limit();
        let limit = getrlimit(Resource::Nofile);
        assert_eq!(limit.current, limit.maximum);
        assert_eq!(after, limit.current);
    }

    #[test]
    fn sockets_leave_room_for_the_rest_of_the_process() {
        assert_eq!(sockets_allowed(Some(1024)), Some(896));
        assert_eq!(sockets_allowed(Some(64)), Some(0));
        assert_eq!(sockets_allowed(None), None);
        assert_eq!(domains_allowed(Some(1024), 2), Some(448));
        assert_eq!(domains_allowed(Some(1024), 0), Some(896));
    }
}
