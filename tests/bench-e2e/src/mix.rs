//! The make-up of the simulated internet: which site is which kind, how
//! long each takes to answer, and where each name points. Pure and
//! deterministic: the same seed and list length give the same mix.
//!
//! Shares of the list (rounded to whole sites; plain sites take the rest):
//!
//! | kind | share | what the site does |
//! |---|---|---|
//! | plain | 66.5% | its own address; serves its page after its first-byte delay |
//! | shared host | 10% | all on ONE address that answers 429 (`Retry-After: 1`) to a request beyond 8 in flight there |
//! | redirect to `www.` | 6% | the bare name answers 301 to `https://www.<name>/`, on another address |
//! | `www.` only | 2% | the bare name is NXDOMAIN; `www.<name>` serves the page |
//! | 503, recovers | 1.5% | `503` with `Retry-After: 2` to its first two requests, then the page |
//! | 503, down | 1.5% | `503` without `Retry-After` for the whole run |
//! | NXDOMAIN | 4% | no such name (nor its `www.`) |
//! | refused | 3% | resolves to an address where nothing listens |
//! | hanging | 3% | accepts the connection and never says a word |
//! | trickling | 2.5% | answers its head, then one byte of body a second |
//!
//! Dead hosts (the last four) are one in eight. Every site that answers
//! waits its first-byte delay before each answer: 0.1 s plus a log-normal
//! of median 0.4 s and σ 1 (so half answer within 0.5 s, about 97% within
//! 3 s, a tail of a few seconds more), at most 20 s.

use std::net::Ipv4Addr;
use std::time::Duration;

use serde::Serialize;

/// The simulated sites' names end in this.
pub(crate) const INTERNET_SUFFIX: &str = "inet.test";
/// How many requests the shared host serves at once before it answers 429.
pub(crate) const SHARED_HOST_LIMIT: usize = 8;
/// The shared host's `Retry-After`, in seconds.
pub(crate) const SHARED_HOST_RETRY_AFTER: u32 = 1;
/// How many requests a recovering 503 site refuses first.
pub(crate) const UNAVAILABLE_REQUESTS: u32 = 2;
/// Its `Retry-After`, in seconds.
pub(crate) const UNAVAILABLE_RETRY_AFTER: u32 = 2;
/// The most sites a mix holds: each may need two addresses of a /16.
pub(crate) const MAX_SITES: usize = (ADDRESSES_PER_BLOCK - 2) / 2;

/// Third and fourth octets used in a block: `.1` to `.250` of 256 /24s.
const ADDRESSES_PER_BLOCK: usize = 256 * HOSTS_PER_SUBNET;
const HOSTS_PER_SUBNET: usize = 250;
/// The first-byte delay's floor, the log-normal's median and σ, its cap.
const FIRST_BYTE_FLOOR: Duration = Duration::from_millis(100);
const FIRST_BYTE_MEDIAN_SECONDS: f64 = 0.4;
const FIRST_BYTE_SIGMA: f64 = 1.0;
const FIRST_BYTE_CAP: Duration = Duration::from_secs(20);

/// What one site of the list does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SiteKind {
    Plain,
    SharedHost,
    RedirectToWww,
    WwwOnly,
    UnavailableRecovers,
    UnavailableDown,
    NoSuchName,
    Refused,
    Hanging,
    Trickling,
}

/// Shares of the list in thousandths; `Plain` takes what is left.
const SHARES: [(SiteKind, usize); 9] = [
    (SiteKind::SharedHost, 100),
    (SiteKind::RedirectToWww, 60),
    (SiteKind::WwwOnly, 20),
    (SiteKind::UnavailableRecovers, 15),
    (SiteKind::UnavailableDown, 15),
    (SiteKind::NoSuchName, 40),
    (SiteKind::Refused, 30),
    (SiteKind::Hanging, 30),
    (SiteKind::Trickling, 25),
];

impl SiteKind {
    /// Every kind, in the order the table lists them.
    pub(crate) const ALL: [SiteKind; 10] = [
        SiteKind::Plain,
        SiteKind::SharedHost,
        SiteKind::RedirectToWww,
        SiteKind::WwwOnly,
        SiteKind::UnavailableRecovers,
        SiteKind::UnavailableDown,
        SiteKind::NoSuchName,
        SiteKind::Refused,
        SiteKind::Hanging,
        SiteKind::Trickling,
    ];

    /// How the table names the kind.
    pub(crate) fn label(self) -> &'static str {
        match self {
            SiteKind::Plain => "plain",
            SiteKind::SharedHost => "shared host (429 beyond 8)",
            SiteKind::RedirectToWww => "redirect to www. elsewhere",
            SiteKind::WwwOnly => "www. only (bare NXDOMAIN)",
            SiteKind::UnavailableRecovers => "503 + Retry-After, recovers",
            SiteKind::UnavailableDown => "503, down",
            SiteKind::NoSuchName => "NXDOMAIN",
            SiteKind::Refused => "connection refused",
            SiteKind::Hanging => "accepts, never answers",
            SiteKind::Trickling => "trickling body",
        }
    }

    /// Whether the bare name has no address.
    pub(crate) fn bare_name_missing(self) -> bool {
        matches!(self, SiteKind::NoSuchName | SiteKind::WwwOnly)
    }
}

/// One site of the list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SiteSpec {
    pub(crate) kind: SiteKind,
    /// The wait before each answer.
    pub(crate) first_byte: Duration,
}

/// What a listener at one address plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listener {
    /// The shared host: every `SharedHost` site, told apart by `Host`.
    Shared,
    /// Site `index`'s bare name (`www: false`) or its `www.` name.
    Site { index: usize, www: bool },
}

/// The list: a site per index, and the `/16` of loopback its addresses
/// are drawn from (`127.<block>.0.0`).
#[derive(Debug, Clone)]
pub(crate) struct Mix {
    sites: Vec<SiteSpec>,
    block: u8,
}

impl Mix {
    /// `domains` sites (at most [`MAX_SITES`]) drawn from `seed`, with
    /// addresses in `127.<block>.0.0/16`.
    pub(crate) fn new(seed: u64, domains: usize, block: u8) -> Mix {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut kinds = Vec::with_capacity(domains);
        for (kind, per_mille) in SHARES {
            let count = (domains * per_mille + 500) / 1000;
            kinds.extend(std::iter::repeat_n(kind, count));
        }
        kinds.truncate(domains);
        kinds.resize(domains, SiteKind::Plain);
        rng.shuffle(&mut kinds);
        let sites = kinds
            .into_iter()
            .map(|kind| SiteSpec {
                kind,
                first_byte: first_byte_delay(&mut rng),
            })
            .collect();
        Mix { sites, block }
    }

    /// The same sites with their addresses in another block.
    pub(crate) fn moved_to(mut self, block: u8) -> Mix {
        self.block = block;
        self
    }

    pub(crate) fn len(&self) -> usize {
        self.sites.len()
    }

    pub(crate) fn site(&self, index: usize) -> SiteSpec {
        self.sites[index]
    }

    pub(crate) fn sites(&self) -> impl Iterator<Item = SiteSpec> + '_ {
        self.sites.iter().copied()
    }

    /// `dNNNNNN.inet.test`: site number `index` as the list names it.
    pub(crate) fn name(index: usize) -> String {
        format!("d{index:06}.{INTERNET_SUFFIX}")
    }

    /// The site a host name belongs to, and whether it is its `www.` name.
    pub(crate) fn index_of(&self, host: &str) -> Option<(usize, bool)> {
        let (host, www) = match host.strip_prefix("www.") {
            Some(rest) => (rest, true),
            None => (host, false),
        };
        let index: usize = host
            .strip_suffix(INTERNET_SUFFIX)?
            .strip_suffix('.')?
            .strip_prefix('d')?
            .parse()
            .ok()?;
        (index < self.sites.len()).then_some((index, www))
    }

    /// The address a name resolves to, `None` for NXDOMAIN.
    pub(crate) fn resolve(&self, host: &str) -> Option<Ipv4Addr> {
        let (index, www) = self.index_of(&host.to_ascii_lowercase())?;
        match (self.sites[index].kind, www) {
            (SiteKind::NoSuchName, _) | (SiteKind::WwwOnly, false) => None,
            (SiteKind::SharedHost, _) => Some(self.shared_address()),
            (SiteKind::RedirectToWww | SiteKind::WwwOnly, true) => Some(self.www_address(index)),
            // The `www.` of any other site is the same host, as it mostly is.
            _ => Some(self.bare_address(index)),
        }
    }

    /// Every address something listens on, and what it plays there.
    pub(crate) fn listeners(&self) -> Vec<(Ipv4Addr, Listener)> {
        let mut listeners = vec![(self.shared_address(), Listener::Shared)];
        for (index, site) in self.sites.iter().enumerate() {
            let bare = Listener::Site { index, www: false };
            let www = Listener::Site { index, www: true };
            match site.kind {
                SiteKind::SharedHost | SiteKind::NoSuchName | SiteKind::Refused => {}
                SiteKind::WwwOnly => listeners.push((self.www_address(index), www)),
                SiteKind::RedirectToWww => {
                    listeners.push((self.bare_address(index), bare));
                    listeners.push((self.www_address(index), www));
                }
                _ => listeners.push((self.bare_address(index), bare)),
            }
        }
        listeners
    }

    /// Names that resolve, with their address (for resolve rules when the
    /// worker cannot be pointed at the benchmark's DNS server).
    pub(crate) fn resolvable_names(&self) -> Vec<(String, Ipv4Addr)> {
        (0..self.sites.len())
            .flat_map(|index| {
                let bare = Mix::name(index);
                let www = format!("www.{bare}");
                [bare, www]
            })
            .filter_map(|name| Some((self.resolve(&name)?, name)))
            .map(|(address, name)| (name, address))
            .collect()
    }

    pub(crate) fn shared_address(&self) -> Ipv4Addr {
        self.address(0)
    }

    /// An address of the block where nothing ever listens.
    pub(crate) fn unused_address(&self) -> Ipv4Addr {
        self.address(2 * self.sites.len() + 1)
    }

    fn bare_address(&self, index: usize) -> Ipv4Addr {
        self.address(1 + index)
    }

    fn www_address(&self, index: usize) -> Ipv4Addr {
        self.address(1 + self.sites.len() + index)
    }

    fn address(&self, slot: usize) -> Ipv4Addr {
        let slot = slot % ADDRESSES_PER_BLOCK;
        // Both fit a byte: slot / 250 < 256 and slot % 250 + 1 <= 250.
        let subnet = (slot / HOSTS_PER_SUBNET) as u8;
        let host = (slot % HOSTS_PER_SUBNET + 1) as u8;
        Ipv4Addr::new(127, self.block, subnet, host)
    }
}

/// 0.1 s plus a log-normal (Box–Muller from two uniforms), capped.
fn first_byte_delay(rng: &mut fastrand::Rng) -> Duration {
    // 1 - f64() lies in (0, 1]: its logarithm is finite.
    let radius = (-2.0 * (1.0 - rng.f64()).ln()).sqrt();
    let normal = radius * (std::f64::consts::TAU * rng.f64()).cos();
    let seconds = FIRST_BYTE_MEDIAN_SECONDS * (FIRST_BYTE_SIGMA * normal).exp();
    (FIRST_BYTE_FLOOR + Duration::from_secs_f64(seconds.min(FIRST_BYTE_CAP.as_secs_f64())))
        .min(FIRST_BYTE_CAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(mix: &Mix, kind: SiteKind) -> usize {
        mix.sites().filter(|site| site.kind == kind).count()
    }

    #[test]
    fn the_mix_is_the_same_for_the_same_seed_and_differs_for_another() {
        let first = Mix::new(7, 500, 9);
        assert_eq!(first.sites, Mix::new(7, 500, 200).sites);
        assert_ne!(first.sites, Mix::new(8, 500, 9).sites);
    }

    #[test]
    fn the_mix_has_the_shares_asked_for() {
        let mix = Mix::new(42, 3000, 9);
        assert_eq!(mix.len(), 3000);
        assert_eq!(count(&mix, SiteKind::SharedHost), 300, "a tenth shared");
        let dead: usize = [
            SiteKind::NoSuchName,
            SiteKind::Refused,
            SiteKind::Hanging,
            SiteKind::Trickling,
        ]
        .into_iter()
        .map(|kind| count(&mix, kind))
        .sum();
        assert_eq!(dead, 375, "one in eight dead");
        assert_eq!(count(&mix, SiteKind::UnavailableRecovers), 45);
        assert_eq!(count(&mix, SiteKind::WwwOnly), 60);
        assert_eq!(count(&mix, SiteKind::Plain), 1995);
        let delays: Vec<Duration> = mix.sites().map(|site| site.first_byte).collect();
        let within = |limit: Duration| delays.iter().filter(|delay| **delay <= limit).count();
        assert!(delays.iter().all(|delay| *delay >= FIRST_BYTE_FLOOR));
        assert!(within(Duration::from_secs(3)) > 2800, "most within 3 s");
        assert!(within(Duration::from_secs(3)) < 3000, "a tail beyond");
    }

    #[test]
    fn names_resolve_as_their_kind_says() {
        let mix = Mix::new(3, 1000, 9);
        let find = |kind| mix.sites().position(|site| site.kind == kind).unwrap();
        let www_only = Mix::name(find(SiteKind::WwwOnly));
        assert_eq!(mix.resolve(&www_only), None);
        assert!(mix.resolve(&format!("WWW.{www_only}")).is_some());
        let shared = Mix::name(find(SiteKind::SharedHost));
        assert_eq!(mix.resolve(&shared), Some(mix.shared_address()));
        let redirect = Mix::name(find(SiteKind::RedirectToWww));
        assert_ne!(
            mix.resolve(&redirect),
            mix.resolve(&format!("www.{redirect}"))
        );
        assert_eq!(mix.resolve("d999999.inet.test"), None);
        assert_eq!(mix.resolve("elsewhere.test"), None);
        let listened: Vec<Ipv4Addr> = mix.listeners().iter().map(|(ip, _)| *ip).collect();
        let refused = Mix::name(find(SiteKind::Refused));
        assert!(!listened.contains(&mix.resolve(&refused).unwrap()));
        assert!(!listened.contains(&mix.unused_address()));
        let mut distinct = listened.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), listened.len(), "one address per listener");
    }
}
