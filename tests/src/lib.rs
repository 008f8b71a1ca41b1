//! Cross-crate test support for domain-scheduler.
//!
//! # Layout
//!
//! - [`postgres`]: a fresh Postgres database per test, dropped at the end.
//! - [`pgbouncer`]: a real PgBouncer in transaction mode in front of it.
//! - [`https_fixture`]: a local HTTPS server that plays several web sites.
//! - [`dns_fixture`]: a local authoritative DNS server that counts queries.
//! - [`conformance`]: the storage port's conformance suite, run by
//!   `tests/conformance.rs` against every storage adapter.

pub mod conformance;
pub mod dns_fixture;
pub mod https_fixture;
pub mod pgbouncer;
pub mod postgres;
