//! Where a server is and how to speak to it: plain TCP, or TLS (rustls with the ring
//! provider) verified against the platform's trust store or a private CA's file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::{Deserialize, Serialize};
use tokio_rustls::TlsConnector;

/// Whether to use TLS, and whom to trust: what flags, config and the saved session
/// say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsOptions {
    pub enabled: bool,
    /// PEM file of the CA to trust instead of the platform's store.
    pub ca_file: Option<PathBuf>,
}

impl TlsOptions {
    /// These options, with `other`'s filling what these leave open.
    pub fn or(self, other: &TlsOptions) -> TlsOptions {
        TlsOptions {
            enabled: self.enabled || other.enabled || self.ca_file.is_some() || other.ca_file.is_some(),
            ca_file: self.ca_file.or_else(|| other.ca_file.clone()),
        }
    }
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the CA file {path}: {message}")]
    CaFile { path: PathBuf, message: String },
    #[error("no trusted certificates: the platform's store is empty or unreadable ({0}); use --ca-file")]
    NoRoots(String),
    #[error("`{0}` has no host name to check the server's certificate against")]
    ServerName(String),
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A server address and, for TLS, the connector and the name its certificate must
/// carry.
#[derive(Clone)]
pub struct Endpoint {
    addr: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl Endpoint {
    /// Plain TCP to `addr` (`host:port`).
    pub fn plain(addr: impl Into<String>) -> Self {
        Self { addr: addr.into(), tls: None }
    }

    /// `addr` with `tls` applied.
    pub fn new(addr: impl Into<String>, tls: &TlsOptions) -> Result<Self, TlsError> {
        let addr = addr.into();
        if !tls.enabled && tls.ca_file.is_none() {
            return Ok(Self::plain(addr));
        }
        let name = server_name(&addr)?;
        let connector = connector(tls.ca_file.as_deref())?;
        Ok(Self { addr, tls: Some((connector, name)) })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub(crate) fn tls(&self) -> Option<&(TlsConnector, ServerName<'static>)> {
        self.tls.as_ref()
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("addr", &self.addr).field("tls", &self.is_tls()).finish()
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.addr)?;
        if self.is_tls() { f.write_str(" (TLS)") } else { Ok(()) }
    }
}

/// The host part of `host:port` (`[v6]:port` too), as the certificate must name it.
fn server_name(addr: &str) -> Result<ServerName<'static>, TlsError> {
    let host = match addr.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|_| TlsError::ServerName(addr.to_owned()))
}

fn connector(ca_file: Option<&Path>) -> Result<TlsConnector, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let ca_error = |message: String| TlsError::CaFile { path: path.to_owned(), message };
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| ca_error(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca_error("no PEM certificate in it".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| ca_error(e.to_string()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found.errors.first().map_or_else(|| "none found".to_owned(), |e| e.to_string());
                return Err(TlsError::NoRoots(why));
            }
        }
    }
    // ring, as the project chose; rustls marks it deprecated only because it lacks
    // post-quantum key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_host_part() {
        assert_eq!(
            server_name("chat.example.org:7878").unwrap(),
            ServerName::try_from("chat.example.org").unwrap()
        );
        assert_eq!(server_name("127.0.0.1:7878").unwrap(), ServerName::try_from("127.0.0.1").unwrap());
        assert_eq!(server_name("[::1]:7878").unwrap(), ServerName::try_from("::1").unwrap());
        assert!(server_name("bad name:1").is_err());
    }

    #[test]
    fn options_merge_and_a_ca_file_implies_tls() {
        let flags = TlsOptions { enabled: false, ca_file: Some("ca.pem".into()) };
        let merged = flags.or(&TlsOptions::default());
        assert!(merged.enabled);
        let config = TlsOptions { enabled: true, ca_file: Some("other.pem".into()) };
        assert_eq!(TlsOptions::default().or(&config), config);
        assert_eq!(TlsOptions::default().or(&TlsOptions::default()), TlsOptions::default());
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let tls = TlsOptions { enabled: true, ca_file: Some("/nonexistent/ca.pem".into()) };
        let err = Endpoint::new("h:1", &tls).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }
}
