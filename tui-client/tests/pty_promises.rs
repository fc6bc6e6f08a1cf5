//! The TUI's promises, kept by the real `chat-tui` in a pseudo-terminal against a
//! real server: Tab never moves a draft to another conversation, a recall leaves no
//! trace of the text in any view, a group one was removed from stays gone across a
//! restart, and unread counts agree between the TUI and `chat-tui conversations`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use support::{Pty, TestServer, befriend, eventually, register, stdout_of, tui};

fn homes<const N: usize>() -> [tempfile::TempDir; N] {
    std::array::from_fn(|_| tempfile::tempdir().unwrap())
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap()
}

/// The unread count `chat-tui conversations --json` gives for `with`.
fn server_unread(home: &std::path::Path, server: &TestServer, with: &str) -> u64 {
    let out = stdout_of(tui(home, server).args(["conversations", "--json"]));
    out.lines()
        .map(json)
        .find(|c| c["with"]["user"] == with)
        .and_then(|c| c["unread"].as_u64())
        .unwrap_or_else(|| panic!("no conversation with {with}: {out}"))
}

#[test]
fn tab_on_an_unknown_name_never_sends_the_draft_elsewhere() {
    let server = TestServer::start();
    let [a, b, c] = homes();
    for (home, name) in [(&a, "alice"), (&b, "bob"), (&c, "carol")] {
        register(home.path(), &server, name);
    }
    befriend(&server, ("alice", a.path()), ("bob", b.path()));
    befriend(&server, ("alice", a.path()), ("carol", c.path()));
    stdout_of(tui(c.path(), &server).args(["send", "--to", "alice", "from carol"]));
    stdout_of(tui(b.path(), &server).args(["send", "--to", "alice", "from bob"]));

    let mut alice = Pty::start(a.path(), &server);
    alice.wait_for("online");
    alice.wait_for(" bob ─");
    alice.type_text("for bob only @zz");
    alice.send(b"\t");
    alice.wait_for("no one here to complete @zz");
    assert!(alice.contents().contains(" bob ─"), "still bob's conversation:\n{}", alice.contents());
    alice.send(b"\r");
    eventually(
        "bob getting the draft",
        || stdout_of(tui(b.path(), &server).args(["history", "--with", "alice"])),
        |h| h.contains("for bob only @zz"),
    );
    let carols = stdout_of(tui(c.path(), &server).args(["history", "--with", "alice"]));
    assert!(!carols.contains("for bob only"), "carol never gets it:\n{carols}");
    alice.quit();
}

#[test]
fn a_recall_leaves_no_trace_in_either_sidebar_and_is_not_unread() {
    let server = TestServer::start();
    let [a, b, c] = homes();
    for (home, name) in [(&a, "alice"), (&b, "bob"), (&c, "carol")] {
        register(home.path(), &server, name);
    }
    befriend(&server, ("alice", a.path()), ("bob", b.path()));
    befriend(&server, ("bob", b.path()), ("carol", c.path()));
    stdout_of(tui(a.path(), &server).args(["send", "--to", "bob", "an older one"]));
    // Bob's most recent conversation, open when his TUI starts, is carol's.
    stdout_of(tui(c.path(), &server).args(["send", "--to", "bob", "hi bob"]));

    let bob = Pty::start(b.path(), &server);
    bob.wait_for("online");
    bob.wait_for(" carol ─");
    let mut alice = Pty::start(a.path(), &server);
    alice.wait_for("online");
    alice.type_text("SECRET-TOKEN-123");
    alice.send(b"\r");
    bob.wait_for("alice: SECRET-T");
    eventually(
        "bob's count",
        || bob.row_with("alice"),
        |r| r.as_deref().is_some_and(|r| r.contains("alice (2)")),
    );

    alice.type_text("/recall");
    alice.send(b"\r");
    alice.wait_for("message recalled");
    // At once, in the sender's list and pane, and in the recipient's list, where the
    // withdrawn message no longer counts as unread.
    alice.wait_gone("SECRET-T");
    bob.wait_gone("SECRET-T");
    eventually(
        "bob's count",
        || bob.row_with("alice"),
        |r| r.as_deref().is_some_and(|r| r.contains("alice (1)")),
    );
    assert_eq!(server_unread(b.path(), &server, "alice"), 1, "the server agrees");
    alice.quit();
    bob.quit();
}

#[test]
fn a_group_one_was_removed_from_stays_gone_across_a_restart() {
    let mut server = TestServer::start();
    let [a, c] = homes();
    register(a.path(), &server, "alice");
    register(c.path(), &server, "carol");
    let created = json(&stdout_of(tui(c.path(), &server).args(["--json", "groups", "create", "bookclub"])));
    let id = created["group_id"].as_u64().unwrap().to_string();
    stdout_of(tui(a.path(), &server).args(["groups", "join", &id]));
    stdout_of(tui(c.path(), &server).args(["groups", "accept", &id, "alice"]));
    stdout_of(tui(c.path(), &server).args(["send", "--group", &id, "welcome"]));

    let alice = Pty::start(a.path(), &server);
    alice.wait_for("online");
    alice.wait_for("bookclub");
    stdout_of(tui(c.path(), &server).args(["groups", "kick", &id, "alice"]));
    alice.wait_for("no longer in");
    alice.wait_gone("bookclub");
    alice.quit();

    // Started again with the server away: the list comes from the local history
    // alone, and the group is not in it.
    server.stop();
    let alice = Pty::start(a.path(), &server);
    alice.wait_for("offline");
    alice.wait_for("Conversations");
    assert!(!alice.contents().contains(&format!("#{id}")), "the group came back:\n{}", alice.contents());
    // Its history stays readable, marked closed.
    let mut alice = alice;
    alice.type_text(&format!("/history #{id}"));
    alice.send(b"\r");
    alice.wait_for(&format!("#{id} (closed)"));
    alice.wait_for("carol: welcome");
    alice.quit();
    let local = stdout_of(tui(a.path(), &server).args(["conversations", "--local"]));
    assert!(local.contains(&format!("#{id} (closed)")), "{local}");

    server.restart();
    let alice = Pty::start(a.path(), &server);
    alice.wait_for("online");
    assert!(!alice.contents().contains(&format!("#{id}")), "back after connecting:\n{}", alice.contents());
    alice.quit();
}

#[test]
fn unread_counts_agree_between_the_tui_and_the_subcommands_after_a_restart() {
    let mut server = TestServer::start();
    let [a, b, c] = homes();
    for (home, name) in [(&a, "alice"), (&b, "bob"), (&c, "carol")] {
        register(home.path(), &server, name);
    }
    befriend(&server, ("alice", a.path()), ("bob", b.path()));
    befriend(&server, ("alice", a.path()), ("carol", c.path()));
    for text in ["b1", "b2"] {
        stdout_of(tui(b.path(), &server).args(["send", "--to", "alice", text]));
    }
    for text in ["c1", "c2", "c3"] {
        stdout_of(tui(c.path(), &server).args(["send", "--to", "alice", text]));
    }
    // Alice's local history learns of them (`tail` catches up and reads nothing).
    caught_up(a.path(), &server);

    // Alice opens the TUI while the server is away: she sees carol's messages (the
    // newest), but the server cannot be told, so nothing is marked read, here or
    // there.
    server.stop();
    let alice = Pty::start(a.path(), &server);
    alice.wait_for("offline");
    alice.wait_for("c3");
    alice.quit();
    server.restart();
    assert_eq!(server_unread(a.path(), &server, "carol"), 3);

    // Online, the conversation on screen is read, on the server too; the others
    // keep their counts, and the TUI and the subcommand say the same.
    let alice = Pty::start(a.path(), &server);
    alice.wait_for("online");
    eventually("carol's read on the server", || server_unread(a.path(), &server, "carol"), |n| *n == 0);
    assert_eq!(server_unread(a.path(), &server, "bob"), 2);
    let agree = |alice: &Pty| {
        eventually(
            "bob's count in the TUI",
            || alice.row_with("bob"),
            |r| r.as_deref().is_some_and(|r| r.contains("bob (2)")),
        );
        let carol = alice.row_with("○ carol").or_else(|| alice.row_with("● carol")).unwrap();
        assert!(!carol.contains("carol ("), "carol has nothing unread: {carol}");
    };
    agree(&alice);
    alice.quit();
    let alice = Pty::start(a.path(), &server);
    alice.wait_for("online");
    agree(&alice);
    alice.quit();
    assert_eq!((server_unread(a.path(), &server, "carol"), server_unread(a.path(), &server, "bob")), (0, 2));
}

/// Runs `chat-tui tail` until it is online: the local history is caught up.
fn caught_up(home: &std::path::Path, server: &TestServer) {
    use std::io::BufRead;
    let mut tail = std::process::Command::new(assert_cmd::cargo::cargo_bin("chat-tui"))
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("CHAT_PROFILE")
        .env("CHAT_SERVER", &server.addr)
        .arg("tail")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(tail.stderr.take().unwrap());
    let online = stderr.lines().map_while(Result::ok).any(|line| line == "online");
    tail.kill().unwrap();
    tail.wait().unwrap();
    assert!(online, "tail never got online");
}
