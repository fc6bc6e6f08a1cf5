//! The real `chat-tui` in a pseudo-terminal against a real server: it starts
//! online, shows a message that arrives, sends one typed at its input, queues one
//! typed while the server is down and sends it once when it is back, and quits
//! cleanly on Ctrl+C.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use support::{TestServer, tui};

/// The screen as the terminal shows it, kept up to date from the pty's output.
struct Screen {
    parser: Arc<Mutex<vt100::Parser>>,
}

impl Screen {
    fn contents(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Waits until the screen shows `text`, failing after 20 s with the screen.
    fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let now = self.contents();
            if now.contains(text) {
                return;
            }
            assert!(Instant::now() < deadline, "`{text}` never appeared; the screen:\n{now}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn stdout_of(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_tui_shows_receives_sends_and_quits() {
    let mut server = TestServer::start();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for (home, name) in [(a.path(), "alice"), (b.path(), "bob")] {
        stdout_of(
            tui(home, &server).args(["register", name, "--password-stdin"]).write_stdin("password-123\n"),
        );
    }
    stdout_of(tui(a.path(), &server).args(["friends", "add", "bob"]));
    stdout_of(tui(b.path(), &server).args(["friends", "accept", "alice"]));
    stdout_of(tui(b.path(), &server).args(["send", "--to", "alice", "before you came"]));

    let pty =
        native_pty_system().openpty(PtySize { rows: 24, cols: 80, pixel_width: 0, pixel_height: 0 }).unwrap();
    let mut cmd = CommandBuilder::new(assert_cmd::cargo::cargo_bin("chat-tui"));
    cmd.env("HOME", a.path());
    cmd.env_remove("XDG_CONFIG_HOME");
    cmd.env_remove("XDG_DATA_HOME");
    cmd.env("CHAT_SERVER", &server.addr);
    cmd.env("TERM", "xterm-256color");
    let mut child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);
    let parser = Arc::new(Mutex::new(vt100::Parser::new(
        std::num::NonZeroU16::new(24).unwrap(),
        std::num::NonZeroU16::new(80).unwrap(),
        0,
    )));
    let mut reader = pty.master.try_clone_reader().unwrap();
    let feed = parser.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            feed.lock().unwrap().process(&buf[..n]);
        }
    });
    let screen = Screen { parser };
    let mut keys = pty.master.take_writer().unwrap();

    screen.wait_for("online");
    screen.wait_for("before you came");
    // A message that arrives while it runs is shown.
    stdout_of(tui(b.path(), &server).args(["send", "--to", "alice", "are you there?"]));
    screen.wait_for("are you there?");
    // Typed and sent with Enter; bob receives it.
    keys.write_all(b"yes, here").unwrap();
    keys.flush().unwrap();
    screen.wait_for("yes, here");
    keys.write_all(b"\r").unwrap();
    keys.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let history = stdout_of(tui(b.path(), &server).args(["history", "--with", "alice"]));
        if history.contains("alice: yes, here") {
            break;
        }
        assert!(Instant::now() < deadline, "bob never got it:\n{history}\n{}", screen.contents());
        std::thread::sleep(Duration::from_millis(50));
    }
    // The server goes away while alice types: the message waits, marked as queued,
    // and goes out once, with the same client_msg_id, when the server is back.
    server.stop();
    screen.wait_for("offline");
    keys.write_all(b"written while you were away").unwrap();
    keys.flush().unwrap();
    screen.wait_for("written while you were away");
    keys.write_all(b"\r").unwrap();
    keys.flush().unwrap();
    screen.wait_for("queued");
    server.restart();
    screen.wait_for("online");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let history = stdout_of(tui(b.path(), &server).args(["history", "--with", "alice"]));
        if history.contains("alice: written while you were away") {
            assert_eq!(history.matches("written while you were away").count(), 1, "sent once:\n{history}");
            break;
        }
        assert!(Instant::now() < deadline, "never sent:\n{history}\n{}", screen.contents());
        std::thread::sleep(Duration::from_millis(50));
    }
    screen.wait_for("online");
    assert!(!screen.contents().contains("queued"), "the queue emptied:\n{}", screen.contents());

    // Ctrl+C quits and gives the terminal back.
    keys.write_all(b"\x03").unwrap();
    keys.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "chat-tui did not quit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}
