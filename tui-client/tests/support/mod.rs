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

/// `chat-tui`'s stdout, failing the test when it fails.
pub fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Polls `check` every 50 ms for up to 30 s; fails with `what` and the last value.
pub fn eventually<T: std::fmt::Debug>(
    what: &str,
    mut probe: impl FnMut() -> T,
    check: impl Fn(&T) -> bool,
) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let value = probe();
        if check(&value) {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "{what} never happened; last: {value:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The real full-screen `chat-tui` in a pseudo-terminal of 24 x 80, with the home
/// of `home`, and what its screen shows.
pub struct Pty {
    child: Box<dyn portable_pty::Child + Send + Sync>,
    parser: std::sync::Arc<std::sync::Mutex<vt100::Parser>>,
    keys: Box<dyn std::io::Write + Send>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Pty {
    pub fn start(home: &Path, server: &TestServer) -> Self {
        use portable_pty::{CommandBuilder, PtySize, native_pty_system};
        let pty = native_pty_system()
            .openpty(PtySize { rows: 24, cols: 80, pixel_width: 0, pixel_height: 0 })
            .unwrap();
        let mut cmd = CommandBuilder::new(assert_cmd::cargo::cargo_bin("chat-tui"));
        cmd.env("HOME", home);
        cmd.env_remove("XDG_CONFIG_HOME");
        cmd.env_remove("XDG_DATA_HOME");
        cmd.env_remove("CHAT_PROFILE");
        cmd.env("CHAT_SERVER", &server.addr);
        cmd.env("TERM", "xterm-256color");
        let child = pty.slave.spawn_command(cmd).unwrap();
        drop(pty.slave);
        let parser = std::sync::Arc::new(std::sync::Mutex::new(vt100::Parser::new(
            std::num::NonZeroU16::new(24).unwrap(),
            std::num::NonZeroU16::new(80).unwrap(),
            0,
        )));
        let mut reader = pty.master.try_clone_reader().unwrap();
        let feed = parser.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut reader, &mut buf) {
                if n == 0 {
                    break;
                }
                feed.lock().unwrap().process(&buf[..n]);
            }
        });
        let keys = pty.master.take_writer().unwrap();
        Self { child, parser, keys, _master: pty.master }
    }

    pub fn contents(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// The screen's row holding `text`, if any.
    pub fn row_with(&self, text: &str) -> Option<String> {
        self.contents().lines().find(|l| l.contains(text)).map(str::to_owned)
    }

    /// Waits until the screen shows `text`.
    pub fn wait_for(&self, text: &str) {
        eventually(&format!("`{text}` on screen"), || self.contents(), |s| s.contains(text));
    }

    /// Waits until the screen no longer shows `text`.
    pub fn wait_gone(&self, text: &str) {
        eventually(&format!("`{text}` gone from the screen"), || self.contents(), |s| !s.contains(text));
    }

    pub fn send(&mut self, bytes: &[u8]) {
        std::io::Write::write_all(&mut self.keys, bytes).unwrap();
        std::io::Write::flush(&mut self.keys).unwrap();
    }

    /// Types `text`, and waits until the input shows it.
    pub fn type_text(&mut self, text: &str) {
        self.send(text.as_bytes());
        self.wait_for(text);
    }

    /// Ctrl+C, and waits for a clean exit.
    pub fn quit(mut self) {
        self.send(b"\x03");
        let status = eventually("chat-tui quitting", || self.child.try_wait().unwrap(), Option::is_some);
        assert!(status.unwrap().success());
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Makes `a` and `b` friends.
pub fn befriend(server: &TestServer, (a, a_home): (&str, &Path), (b, b_home): (&str, &Path)) {
    stdout_of(tui(a_home, server).args(["friends", "add", b]));
    stdout_of(tui(b_home, server).args(["friends", "accept", a]));
}
