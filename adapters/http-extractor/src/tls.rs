//! The rustls client configuration: the ring provider, the webpki roots,
//! the system's trust store and the operator's extra PEM roots.
//!
//! The configuration is built here rather than by reqwest so that the one
//! crypto provider of the process is ring (the database driver uses it too)
//! and so that a bad PEM file stops start-up with its path.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

use crate::error::HttpExtractorError;

pub(crate) fn client_config(extra_roots: &[PathBuf]) -> Result<ClientConfig, HttpExtractorError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    add_system_roots(&mut roots);
    for path in extra_roots {
        add_pem_roots(&mut roots, path)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| HttpExtractorError::Tls(error.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // reqwest leaves ALPN alone on a preconfigured config; without it a
    // server would never pick HTTP/2.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The system's trust store (`/etc/ssl/certs`, or `SSL_CERT_FILE` /
/// `SSL_CERT_DIR`): where a company's own CA is usually installed. The
/// webpki roots still stand when it is missing or unreadable.
fn add_system_roots(roots: &mut RootCertStore) {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!("system trust store: {error}");
    }
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    tracing::debug!(added, ignored, "roots from the system trust store");
}

fn add_pem_roots(roots: &mut RootCertStore, path: &Path) -> Result<(), HttpExtractorError> {
    let invalid = |reason: String| HttpExtractorError::InvalidCertificateFile {
        path: path.to_owned(),
        reason,
    };
    let pem = fs::read(path).map_err(|source| HttpExtractorError::UnreadableCertificateFile {
        path: path.to_owned(),
        source,
    })?;
    let mut added = 0;
    for (index, certificate) in CertificateDer::pem_slice_iter(&pem).enumerate() {
        let certificate = certificate.map_err(|error| invalid(format!("bad PEM: {error}")))?;
        roots
            .add(certificate)
            .map_err(|error| invalid(format!("certificate #{}: {error}", index + 1)))?;
        added += 1;
    }
    if added == 0 {
        return Err(invalid("no `BEGIN CERTIFICATE` block found".to_owned()));
    }
    Ok(())
}
