//! The pure model of domain-scheduler.
//!
//! This crate holds what the worker is about, with no I/O: no runtime, no
//! database driver, no HTTP client (`cargo tree -p scheduler-domain` shows
//! none). Every other crate depends on it; it depends on none of them.
//!
//! # Layout
//!
//! - [`name`]: [`DomainName`], the standardized and validated host name.
//! - [`status`]: [`DomainStatus`] and the moves allowed between states.
//! - [`metadata`]: [`SiteMetadata`], what a home page says about its site.
//! - [`failure`]: [`ExtractionError`], whether a failure is worth a retry,
//!   and the kinds `status` groups `last_error` by ([`ERROR_KINDS`]).
//! - [`model`]: identifiers and the records that cross the ports.
//! - [`stored`]: what every repository does to the values it stores (caps,
//!   JSON documents, the rescue's message).
//! - [`record`]: [`DomainRecord`], one row as an operator reads it, and
//!   [`ErrorQuery`], a page of the latest errors.
//! - [`requeue`]: [`RequeueSelection`], which finished rows go back to `pending`.
//! - [`ports`]: the [`DomainRepository`] and [`MetadataExtractor`] traits the
//!   adapters implement and the application drives. With the `mocks` feature,
//!   mockall mocks of both (`MockDomainRepository`, `MockMetadataExtractor`).
//!   [`WorkSignal`] wakes an idle worker when rows become due.
//! - [`throughput`]: [`MinuteTally`], rows finished per minute for the
//!   status page's chart.
//! - [`settings`]: [`InvalidSetting`] and the duration readers every
//!   crate's settings share.
#![deny(missing_docs)]

pub mod failure;
pub mod metadata;
pub mod model;
pub mod name;
pub mod ports;
pub mod record;
pub mod requeue;
pub mod settings;
pub mod status;
pub mod stored;
pub mod throughput;

pub use failure::{
    ERROR_KINDS, ErrorKindRule, ExtractionError, FailureKind, MessageShape, OTHER_ERROR_KIND,
    error_kind,
};
pub use metadata::{
    Company, CompanyIdentifier, CompanyPart, CompanySource, ContactKind, ContactPage,
    ContactSource, CountrySource, IdentifierKind, MetadataDocument, PageContacts, PostalAddress,
    SiteKind, SiteMetadata, SocialProfiles, TechStack, Technology, WordPressInfo,
};
pub use model::{
    ClaimRequest, ClaimedDomain, CompletedSample, Completion, DomainId, EnqueueReport,
    ErrorKindCount, ErrorSample, LastHour, Rate, RescueReport, STATUS_ERROR_KINDS, StatusReport,
    StatusRequest, WorkerId, WriteOutcome, counted,
};
pub use name::{DomainName, DomainNameError};
pub use ports::{DomainRepository, MetadataExtractor, RepositoryError, WorkSignal};
pub use record::{DomainRecord, ErrorQuery};
pub use requeue::{ErrorPattern, NotRequeuable, RequeueReport, RequeueSelection};
pub use settings::InvalidSetting;
pub use status::{DomainStatus, TransitionError, UnknownStatus};
pub use throughput::{MinuteChange, MinuteCounts, MinuteTally};

#[cfg(feature = "mocks")]
pub use ports::{MockDomainRepository, MockMetadataExtractor, MockWorkSignal};
