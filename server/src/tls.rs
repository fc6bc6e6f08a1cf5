//! TLS for client connections (rustls with the ring provider): the acceptor built
//! from PEM files at start-up, and telling a plain client on a TLS port apart.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

/// The first byte of every TLS connection: a handshake record. A frame of this
/// protocol starts with the high byte of its length, which is 0 for any frame a
/// server accepts.
const TLS_HANDSHAKE: u8 = 0x16;

/// Why TLS could not be set up; the message names the file and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

/// An acceptor serving the certificate chain in `cert` with the private key in
/// `key`, both PEM.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError(format!("cannot read the certificate {}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(TlsError(format!("{} holds no PEM certificate", cert.display())));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| TlsError(format!("cannot read the private key {}: {e}", key.display())))?;
    // ring, as the project chose (no C toolchain beyond cc, no cmake); rustls marks
    // it deprecated only because it lacks post-quantum key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError(format!("the certificate and key do not make a TLS identity: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Whether the client's first byte opens a TLS handshake (waiting for it without
/// taking it from the stream). False when it is something else, or nothing came.
pub async fn starts_with_handshake(stream: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(stream.peek(&mut first).await, Ok(1) if first[0] == TLS_HANDSHAKE)
}
