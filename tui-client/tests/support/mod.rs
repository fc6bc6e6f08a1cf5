//! What the chat-tui end-to-end tests share: a real server, and the binary run with
//! a home directory of the test's own.

#![allow(dead_code)] // each test file uses its own part of it
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::Path;

use assert_cmd::Command;
use chat_server::{Config, Server};
use clap::Parser;
use tokio_util::sync::CancellationToken;

/// A server over a SQLite file of the test's own, run on its own runtime thread so
/// the blocking subprocess calls of the test do not starve it. It can be stopped and
/// started again on the same address and data.
pub struct TestServer {
    pub addr: String,
    shutdown: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
    dir: tempfile::TempDir,
}

impl TestServer {
    /// A server on a free port over a fresh database.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (addr, shutdown, thread) = serve(&dir, "127.0.0.1:0");
        Self { addr, shutdown, thread: Some(thread), dir }
    }

    /// Stops the server (as on SIGTERM) and waits until it is gone.
    pub fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }

    /// Its database, to write to while it is stopped.
    pub fn database_url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.dir.path().join("chat.db").display())
    }

    /// Starts it again, on the same address and database.
    pub fn restart(&mut self) {
        let (addr, shutdown, thread) = serve(&self.dir, &self.addr);
        assert_eq!(addr, self.addr);
        (self.shutdown, self.thread) = (shutdown, Some(thread));
    }
}

fn serve(dir: &tempfile::TempDir, listen: &str) -> (String, CancellationToken, std::thread::JoinHandle<()>) {
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("chat.db").display());
    let config =
        Config::try_parse_from(["chat-server", "--listen", listen, "--database", &url, "--log", "warn"])
            .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let server = Server::bind(config).await.unwrap();
            tx.send(server.local_addr().to_string()).unwrap();
            server.serve(token).await;
        });
    });
    (rx.recv().unwrap(), shutdown, thread)
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// `chat-tui` with its own home (so its config, session and history are the
/// test's) pointed at the server.
pub fn tui(home: &Path, server: &TestServer) -> Command {
    let mut cmd = Command::cargo_bin("chat-tui").unwrap();
    cmd.env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("CHAT_PROFILE")
        .env("CHAT_SERVER", &server.addr);
    cmd
}

/// Registers `name` (password `hunter2hunter2`) in the profile under `home`, logged in.
pub fn register(home: &Path, server: &TestServer, name: &str) {
    tui(home, server)
        .args(["register", name, "--password-stdin"])
        .write_stdin("hunter2hunter2\n")
        .assert()
        .success();
}
