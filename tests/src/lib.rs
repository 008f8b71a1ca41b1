//! Cross-crate test support for domain-scheduler.
//!
//! # Layout
//!
//! - [`postgres`]: a fresh Postgres database per test, dropped at the end.
//! - [`pgbouncer`]: a real PgBouncer in transaction mode in front of it.
//! - [`https_fixture`]: a local HTTPS server that plays several web sites.
//! - [`socks_fixture`]: a SOCKS5 proxy that records what it was asked for.
//! - [`dns_fixture`]: a local authoritative DNS server that counts queries.
//! - [`conformance`]: the storage port's conformance suite, run by
//!   `tests/conformance.rs` against every storage adapter.

pub mod conformance;
pub mod dns_fixture;
pub mod https_fixture;
pub mod pgbouncer;
pub mod postgres;
pub mod socks_fixture;
