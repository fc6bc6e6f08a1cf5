//! The real `chat-tui` in a pseudo-terminal against a real server: it starts
//! online, shows a message that arrives, sends one typed at its input, queues one
//! typed while the server is down and sends it once when it is back, and quits
//! cleanly on Ctrl+C.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::time::{Duration, Instant};

use support::{Pty, TestServer, stdout_of, tui};

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

    let mut screen = Pty::start(a.path(), &server);
    screen.wait_for("online");
    screen.wait_for("before you came");
    // A message that arrives while it runs is shown.
    stdout_of(tui(b.path(), &server).args(["send", "--to", "alice", "are you there?"]));
    screen.wait_for("are you there?");
    // Typed and sent with Enter; bob receives it.
    screen.type_text("yes, here");
    screen.send(b"\r");
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
    screen.type_text("written while you were away");
    screen.send(b"\r");
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
    screen.quit();
}
