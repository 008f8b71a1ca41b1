//! Which IP addresses a fetch may connect to.
//!
//! A domain in the table is untrusted input: its DNS records can point at
//! the cloud metadata service (169.254.169.254), at the worker's own
//! loopback, or at a host of the private network it runs in. Unless the
//! operator allows private networks, only globally routable unicast
//! addresses are reached.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `address` is a globally routable unicast address: not loopback,
/// private (RFC 1918), shared (CGNAT, RFC 6598), link-local, unique-local,
/// unspecified, multicast, broadcast, reserved, or set aside for
/// documentation and benchmarks. IPv6 forms that embed an IPv4 address
/// (mapped, NAT64, 6to4) are judged by that IPv4 address.
pub fn is_public_address(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(address: Ipv4Addr) -> bool {
    let [a, b, c, _] = address.octets();
    let forbidden = a == 0 // "this network", unspecified
        || a == 10
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || a == 127
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224; // multicast, reserved, broadcast
    !forbidden
}

fn is_public_v6(address: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(address) {
        return is_public_v4(v4);
    }
    let segments = address.segments();
    let first = segments[0];
    let forbidden = address.is_unspecified()
        || address.is_loopback()
        // ::/8 but the IPv4-mapped form handled above: IPv4-compatible,
        // IPv4-translated (::ffff:0:a.b.c.d) and other reserved forms
        || first < 0x0100
        // local-use NAT64 (64:ff9b:1::/48): translates to private IPv4 space
        || (first == 0x64 && segments[1] == 0xff9b && segments[2] == 1)
        || (first == 0x100 && segments[1..4].iter().all(|&s| s == 0)) // discard-only
        || (first == 0x2001 && segments[1] < 0x200) // IETF assignments, Teredo
        || (first == 0x2001 && segments[1] == 0x0db8) // documentation
        || (first == 0x3fff && segments[1] < 0x1000) // documentation (RFC 9637)
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (first & 0xff00) == 0xff00; // multicast
    !forbidden
}

/// The IPv4 address carried by an IPv4-mapped (`::ffff:a.b.c.d`), NAT64
/// well-known prefix (`64:ff9b::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::`)
/// address: a connection to it reaches that IPv4 host.
fn embedded_v4(address: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = address.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..5].iter().all(|&x| x == 0) && s[5] == 0xffff {
        return Some(tail());
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|&x| x == 0) {
        return Some(tail());
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(text: &str) -> bool {
        is_public_address(text.parse().unwrap())
    }

    #[test]
    fn ordinary_internet_addresses_are_public() {
        for address in [
            "93.184.215.14",
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "198.17.255.255",
            "223.255.255.255",
            "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
            "2a00:1450:4007:80e::200e",
            "2001:4860:4860::8888",
        ] {
            assert!(public(address), "{address} should be public");
        }
    }

    #[test]
    fn loopback_private_and_link_local_v4_are_refused() {
        for address in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.3.4.5",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.10",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!public(address), "{address} should be refused");
        }
    }

    #[test]
    fn loopback_unique_local_link_local_and_special_v6_are_refused() {
        for address in [
            "::",
            "::1",
            "::127.0.0.1",
            "fc00::1",
            "fd12:3456:789a::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "3fff::1",
            "100::1",
            "64:ff9b:1::a00:1",
        ] {
            assert!(!public(address), "{address} should be refused");
        }
    }

    #[test]
    fn v6_forms_embedding_v4_are_judged_by_their_v4_address() {
        assert!(!public("::ffff:127.0.0.1"));
        assert!(!public("::ffff:169.254.169.254"));
        assert!(public("::ffff:93.184.215.14"));
        assert!(!public("::ffff:0:127.0.0.1"));
        assert!(!public("::ffff:0:93.184.215.14"));
        assert!(!public("0:0:1::1"));
        assert!(!public("64:ff9b::10.0.0.1"));
        assert!(public("64:ff9b::8.8.8.8"));
        assert!(!public("2002:c0a8:0101::1")); // 6to4 of 192.168.1.1
        assert!(public("2002:0808:0808::1")); // 6to4 of 8.8.8.8
    }
}
