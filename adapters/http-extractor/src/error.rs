//! [`HttpExtractorError`]: why the extractor could not be built.

use std::io;
use std::path::PathBuf;

/// Why an [`HttpExtractor`](crate::HttpExtractor) could not be built. Each
/// one is a configuration mistake to report at start-up.
#[derive(Debug, thiserror::Error)]
pub enum HttpExtractorError {
    /// An `extra_root_certificates` file could not be read.
    #[error("cannot read certificate file {}: {source}", path.display())]
    UnreadableCertificateFile {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: io::Error,
    },
    /// An `extra_root_certificates` file holds no usable certificate.
    #[error("invalid certificate file {}: {reason}", path.display())]
    InvalidCertificateFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A `resolve` entry is not `host pattern -> IP address`.
    #[error("invalid resolve rule `{entry}`: {reason}")]
    InvalidResolveRule {
        /// The entry as given.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The TLS configuration could not be built.
    #[error("cannot configure TLS: {0}")]
    Tls(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// A setting is out of its range, or a proxy is not confirmed as
    /// trusted (through a proxy the address filter cannot apply).
    #[error(transparent)]
    Setting(#[from] scheduler_domain::InvalidSetting),
    /// `proxy` is not a usable proxy URL.
    #[error("invalid fetch.proxy {proxy}: {reason}")]
    InvalidProxy {
        /// The URL, its password replaced by `***`.
        proxy: String,
        /// What is wrong with it.
        reason: String,
    },
}
