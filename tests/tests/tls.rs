//! TLS: a server started with a certificate serves clients that trust its CA,
//! refuses a client that trusts another CA, and tells a plain client on its port to
//! use TLS instead of leaving it hanging. Certificates are made for each test run.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use chat_proto::request::{Login, Register};
use chat_tests::{PASSWORD, Raw, TestServer, raw_code};
use chat_tui::client::DEFAULT_TIMEOUT;
use chat_tui::tls::{Endpoint, TlsOptions};
use chat_tui::{Client, ClientError};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::json;

/// A CA's certificate (PEM file) and its issuer, to sign server certificates with.
fn ca(dir: &Path, name: &str) -> (PathBuf, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, format!("chat test {name}"));
    let cert = params.self_signed(&key).unwrap();
    let path = dir.join(format!("{name}.pem"));
    std::fs::write(&path, cert.pem()).unwrap();
    (path, Issuer::new(params, key))
}

/// A server certificate for localhost and 127.0.0.1 signed by `issuer`: (cert, key).
fn server_identity(dir: &Path, issuer: &Issuer<'static, KeyPair>) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

fn trusting(ca: &Path) -> TlsOptions {
    TlsOptions { enabled: true, ca_file: Some(ca.to_owned()) }
}

#[tokio::test]
async fn tls_clients_are_served_and_wrong_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_file, issuer) = ca(dir.path(), "ca");
    let (stranger_ca, _) = ca(dir.path(), "other-ca");
    let (cert, key) = server_identity(dir.path(), &issuer);
    let args = ["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()];
    let server = TestServer::start_with(chat_tests::Backend::Sqlite, &args).await.unwrap();

    // By IP address and by name, through a CA the client was told to trust.
    for host in ["127.0.0.1", "localhost"] {
        let endpoint = Endpoint::new(format!("{host}:{}", server.addr.port()), &trusting(&ca_file)).unwrap();
        let c = Client::open(&endpoint, DEFAULT_TIMEOUT).await.unwrap().client;
        if host == "127.0.0.1" {
            c.call(Register { username: "alice".into(), password: PASSWORD.into() }).await.unwrap();
        }
        let me = c
            .call(Login { username: "alice".into(), password: PASSWORD.into(), device: None })
            .await
            .unwrap();
        assert_eq!(me.username, "alice");
    }

    // A client trusting another CA refuses the server's certificate.
    let endpoint = Endpoint::new(server.addr.to_string(), &trusting(&stranger_ca)).unwrap();
    match Client::open(&endpoint, DEFAULT_TIMEOUT).await {
        Err(ClientError::Tls(e)) => assert!(e.to_string().contains("UnknownIssuer"), "{e}"),
        other => panic!("expected a refused certificate, got {other:?}"),
    }

    // A plain client is told, in plain frames, to use TLS, and closed.
    let mut plain = Raw::connect(server.addr).await;
    plain.send_json(&json!({"id": 1, "op": "ping"})).await;
    let frames = plain.until_closed().await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(raw_code(&frames[0]), "bad_request");
    assert!(frames[0]["error"]["message"].as_str().unwrap().contains("TLS"), "{frames:?}");
    // The client library reports that refusal instead of a bare disconnection.
    let c = Client::open(&Endpoint::plain(server.addr.to_string()), DEFAULT_TIMEOUT).await.unwrap().client;
    let e = c.call(chat_proto::request::Ping {}).await.unwrap_err();
    assert!(e.to_string().contains("TLS"), "{e}");
    server.finish().await;
}

#[tokio::test]
async fn a_tls_client_on_a_plain_server_fails_cleanly() {
    let server = TestServer::start(chat_tests::Backend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca_file, _) = ca(dir.path(), "ca");
    let endpoint = Endpoint::new(server.addr.to_string(), &trusting(&ca_file)).unwrap();
    let result =
        tokio::time::timeout(DEFAULT_TIMEOUT, Client::open(&endpoint, DEFAULT_TIMEOUT)).await.unwrap();
    assert!(matches!(result, Err(ClientError::Tls(_))), "{result:?}");
    server.finish().await;
}

#[test]
fn a_bad_certificate_file_stops_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let err = chat_server::tls::acceptor(&missing, &missing).err().unwrap().to_string();
    assert!(err.contains("missing.pem"), "{err}");
    std::fs::write(dir.path().join("empty.pem"), "").unwrap();
    let err = chat_server::tls::acceptor(&dir.path().join("empty.pem"), &missing).err().unwrap().to_string();
    assert!(err.contains("no PEM certificate"), "{err}");
}
