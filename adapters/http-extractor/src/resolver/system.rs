//! The system resolver (getaddrinfo: `/etc/hosts`, nsswitch, DNS) on
//! tokio's blocking pool, kept for hosts whose names come from nsswitch
//! sources the asynchronous resolver does not read (LDAP, mDNS).

use std::net::IpAddr;

use dns_lookup::LookupErrorKind;

use super::LookupFailed;

/// The addresses of `host`, its failure classified by the `EAI_*` code
/// rather than by a message that differs between C libraries. Each lookup
/// holds a blocking thread until getaddrinfo returns.
pub(super) async fn lookup(host: &str) -> Result<Vec<IpAddr>, LookupFailed> {
    let name = host.to_owned();
    let looked_up = tokio::task::spawn_blocking(move || {
        dns_lookup::lookup_host(&name).map(Iterator::collect::<Vec<IpAddr>>)
    })
    .await;
    match looked_up {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(error)) => {
            // The message reads "failed to lookup address information: Name
            // or service not known"; the reason is what is worth keeping.
            let text = error.to_string();
            let reason = text
                .strip_prefix("failed to lookup address information: ")
                .map_or_else(|| text.clone(), str::to_owned);
            Err(LookupFailed {
                host: host.to_owned(),
                reason,
                temporary: is_temporary(error.kind()),
            })
        }
        // The blocking pool is shutting down or the call panicked: nothing
        // was learnt about the name.
        Err(error) => Err(LookupFailed {
            host: host.to_owned(),
            reason: format!("the lookup did not finish: {error}"),
            temporary: true,
        }),
    }
}

/// Whether a failed lookup may succeed later. Only "no such name"
/// (`EAI_NONAME`, NXDOMAIN) and "no address for the name" (`EAI_NODATA`) say
/// something about the name; every other code says the resolver could not
/// answer (`EAI_AGAIN`: no server reachable, SERVFAIL) or failed in itself,
/// and condemning the domain for it would turn a DNS outage into errors.
fn is_temporary(kind: LookupErrorKind) -> bool {
    !matches!(kind, LookupErrorKind::NoName | LookupErrorKind::NoData)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_answer_about_the_name_is_permanent() {
        let cases = [
            (LookupErrorKind::NoName, false),
            (LookupErrorKind::NoData, false),
            (LookupErrorKind::Again, true),
            (LookupErrorKind::Fail, true),
            (LookupErrorKind::System, true),
            (LookupErrorKind::Memory, true),
            (LookupErrorKind::IO, true),
            (LookupErrorKind::Unknown, true),
            (LookupErrorKind::Badflags, true),
            (LookupErrorKind::Family, true),
            (LookupErrorKind::Socktype, true),
            (LookupErrorKind::Service, true),
        ];
        for (kind, temporary) in cases {
            assert_eq!(is_temporary(kind), temporary, "{kind:?}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn getaddrinfo_codes_map_to_their_kinds() {
        // The codes as glibc and musl number them: musl's "Try again" text
        // for EAI_AGAIN is where reading the message went wrong.
        let temporary_of = |code| is_temporary(dns_lookup::LookupError::new(code).kind());
        assert!(temporary_of(libc::EAI_AGAIN));
        assert!(temporary_of(libc::EAI_FAIL));
        assert!(temporary_of(libc::EAI_SYSTEM));
        assert!(!temporary_of(libc::EAI_NONAME));
        assert!(!temporary_of(libc::EAI_NODATA));
    }
}
