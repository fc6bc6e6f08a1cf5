//! `chat-tui --ca-file` against a TLS server: registering over TLS saves a session
//! that later subcommands reach over TLS again, without the flag; a client that
//! does not trust the server's CA stops at the handshake, exit code 3.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::path::Path;

use chat_server::{Config, Server};
use clap::Parser;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tokio_util::sync::CancellationToken;

/// Writes a CA (`ca.pem`) and a server identity for 127.0.0.1 it signed
/// (`cert.pem`, `key.pem`) into `dir`.
fn make_pki(dir: &Path) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "chat-tui test CA");
    std::fs::write(dir.join("ca.pem"), ca.self_signed(&ca_key).unwrap().pem()).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".into()]).unwrap().signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

#[test]
fn subcommands_over_tls() {
    let pki = tempfile::tempdir().unwrap();
    make_pki(pki.path());
    let path = |name: &str| pki.path().join(name).to_str().unwrap().to_owned();
    let url = format!("sqlite://{}?mode=rwc", pki.path().join("chat.db").display());
    let argv = ["chat-server", "--listen", "127.0.0.1:0", "--database", &url, "--log", "warn"];
    let tls = ["--tls-cert", &path("cert.pem"), "--tls-key", &path("key.pem")];
    let config = Config::try_parse_from(argv.iter().chain(tls.iter())).unwrap();
    let shutdown = CancellationToken::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let token = shutdown.clone();
    let thread = std::thread::spawn(move || {
        tokio::runtime::Runtime::new().unwrap().block_on(async move {
            let server = Server::bind(config).await.unwrap();
            tx.send(server.local_addr().to_string()).unwrap();
            server.serve(token).await;
        });
    });
    let addr = rx.recv().unwrap();
    let home = tempfile::tempdir().unwrap();
    let tui = || {
        let mut cmd = assert_cmd::Command::cargo_bin("chat-tui").unwrap();
        cmd.env("HOME", home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .env_remove("CHAT_PROFILE")
            .env_remove("CHAT_TLS")
            .env_remove("CHAT_CA_FILE")
            .env("CHAT_SERVER", &addr);
        cmd
    };

    // Plain: the server says to use TLS; that is a refusal, not a hang.
    let plain =
        tui().arg("register").arg("alice").arg("--password-stdin").write_stdin("hunter2hunter2\n").assert();
    let plain = plain.failure();
    assert!(String::from_utf8_lossy(&plain.get_output().stderr).contains("TLS"));

    let ok = tui()
        .args(["--ca-file", &path("ca.pem"), "register", "alice", "--password-stdin"])
        .write_stdin("hunter2hunter2\n")
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&ok.get_output().stdout).contains("logged in as alice"));
    // The saved session remembers how it was reached.
    let who = tui().arg("whoami").assert().success();
    assert!(String::from_utf8_lossy(&who.get_output().stdout).starts_with("alice"));

    // A client trusting only the platform's store (no test CA there) refuses it.
    let untrusted =
        tui().args(["--tls", "login", "alice", "--password-stdin"]).write_stdin("hunter2hunter2\n").assert();
    let untrusted = untrusted.code(3);
    assert!(String::from_utf8_lossy(&untrusted.get_output().stderr).contains("TLS"));

    shutdown.cancel();
    thread.join().unwrap();
}
