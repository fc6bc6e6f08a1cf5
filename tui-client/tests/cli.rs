//! The subcommands end to end: the real `chat-tui` binary against a real server,
//! driven as a shell script would drive it.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command as StdCommand, Stdio};

use assert_cmd::Command;
use serde_json::Value;
use support::{TestServer, tui};

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{:?} failed: {}", cmd, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_scripted_session() {
    let server = TestServer::start();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (alice, bob) = (a.path(), b.path());

    // Not logged in yet: exit code 4 and a hint.
    tui(alice, &server).arg("whoami").assert().code(4);
    for (home, name) in [(alice, "alice"), (bob, "bob")] {
        let out = stdout_of(
            tui(home, &server).args(["register", name, "--password-stdin"]).write_stdin("hunter2hunter2\n"),
        );
        assert!(out.contains(&format!("registered and logged in as {name}")), "{out}");
    }
    assert!(stdout_of(tui(alice, &server).arg("whoami")).starts_with("alice (user 1)"));
    // A wrong password is the server's refusal: exit code 1, the code on stderr.
    let wrong = tui(alice, &server)
        .args(["login", "alice", "--password-stdin"])
        .write_stdin("nope-nope-nope\n")
        .assert();
    let wrong = wrong.code(1);
    assert!(String::from_utf8_lossy(&wrong.get_output().stderr).contains("invalid_credentials"));

    stdout_of(tui(alice, &server).args(["friends", "add", "bob", "--note", "hi"]));
    let requests = json_lines(&stdout_of(tui(bob, &server).args(["--json", "friends", "requests"])));
    assert_eq!(requests[0]["incoming"][0]["from"], "alice");
    stdout_of(tui(bob, &server).args(["friends", "accept", "alice"]));
    let friends = json_lines(&stdout_of(tui(alice, &server).args(["friends", "--json"])));
    assert_eq!(
        (friends[0]["username"].as_str(), friends[0]["blocked"].as_bool()),
        (Some("bob"), Some(false))
    );

    // bob listens while alice sends, from an argument and from stdin.
    let mut tail = StdCommand::new(assert_cmd::cargo::cargo_bin("chat-tui"))
        .args(["tail", "--json"])
        .env("HOME", bob)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env("CHAT_SERVER", &server.addr)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut status = BufReader::new(tail.stderr.take().unwrap()).lines();
    while status.next().unwrap().unwrap() != "online" {}
    let sent =
        json_lines(&stdout_of(tui(alice, &server).args(["--json", "send", "--to", "bob", "hello bob"])));
    assert_eq!(sent[0]["seq"], 1);
    stdout_of(tui(alice, &server).args(["send", "--to", "bob", "-"]).write_stdin("line one\nline two\n"));
    // Every line is one JSON event; alice's short connections also show as presence.
    let mut events = BufReader::new(tail.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str::<Value>(&l.unwrap()).unwrap())
        .filter(|e| e["event"] != "presence");
    let first = events.next().unwrap();
    assert_eq!(
        (first["event"].as_str(), first["message"]["body"].as_str()),
        (Some("message"), Some("hello bob"))
    );
    let second = events.next().unwrap();
    assert_eq!(second["message"]["body"], "line one\nline two");
    tail.kill().unwrap();
    tail.wait().unwrap();

    let history = stdout_of(tui(bob, &server).args(["history", "--with", "alice"]));
    let lines: Vec<&str> = history.lines().filter(|l| !l.starts_with('\t')).collect();
    assert_eq!(lines.len(), 2, "{history}");
    assert!(history.contains("alice: line one\n\tline two"), "continuation lines are indented");
    assert!(lines[0].starts_with("1\t") && lines[0].ends_with("alice: hello bob"), "{history}");
    let conversations = json_lines(&stdout_of(tui(bob, &server).args(["--json", "conversations"])));
    assert_eq!(
        (conversations[0]["with"]["user"].as_str(), conversations[0]["unread"].as_u64()),
        (Some("alice"), Some(2))
    );

    // Groups, from creation to membership.
    let created =
        json_lines(&stdout_of(tui(alice, &server).args(["--json", "groups", "create", "book club"])));
    let g = created[0]["group_id"].as_u64().unwrap().to_string();
    stdout_of(tui(bob, &server).args(["groups", "join", &g, "--note", "me too"]));
    let pending = json_lines(&stdout_of(tui(alice, &server).args(["--json", "groups", "requests", &g])));
    assert_eq!(pending[0]["user"], "bob");
    // Answered by name, as friend requests are.
    stdout_of(tui(alice, &server).args(["groups", "accept", &g, "bob"]));
    stdout_of(tui(alice, &server).args(["groups", "promote", &g, "bob"]));
    let members = stdout_of(tui(bob, &server).args(["groups", "members", &g]));
    assert_eq!(members.lines().collect::<Vec<_>>(), ["alice\towner\toffline", "bob\tadmin\tonline"]);
    stdout_of(tui(bob, &server).args(["send", "--group", &g, "hello club"]));
    let search = stdout_of(tui(bob, &server).args(["groups", "search", "BOOK"]));
    assert!(search.starts_with(&format!("{g}\tbook club\t2 members")), "{search}");

    // A password change keeps this session (with its new token) and ends the others.
    let bob_elsewhere = tempfile::tempdir().unwrap();
    stdout_of(
        tui(bob_elsewhere.path(), &server)
            .args(["login", "bob", "--password-stdin"])
            .write_stdin("hunter2hunter2\n"),
    );
    stdout_of(
        tui(bob, &server)
            .args(["passwd", "--password-stdin"])
            .write_stdin("hunter2hunter2\nnew-password-1\n"),
    );
    assert!(stdout_of(tui(bob, &server).arg("whoami")).starts_with("bob"));
    tui(bob_elsewhere.path(), &server).arg("whoami").assert().code(4);
    tui(bob, &server)
        .args(["passwd", "--password-stdin"])
        .write_stdin("wrong-password\nx-password-2\n")
        .assert()
        .code(1);
    // Deleting needs --yes, then the password; the session is gone afterwards.
    tui(bob, &server)
        .args(["delete-account", "--password-stdin"])
        .write_stdin("new-password-1\n")
        .assert()
        .code(2);
    stdout_of(
        tui(bob, &server)
            .args(["delete-account", "--yes", "--password-stdin"])
            .write_stdin("new-password-1\n"),
    );
    tui(bob, &server).arg("whoami").assert().code(4);
    assert_eq!(
        stdout_of(tui(alice, &server).args(["friends"])),
        "no friends yet\n",
        "bob's friendships went with him"
    );

    // Usage errors are exit code 2; a refusal 1; logging out makes whoami 4 again.
    tui(alice, &server).args(["send", "hello"]).assert().code(2);
    tui(alice, &server).args(["send", "--to", "nobody", "hi"]).assert().code(1);
    stdout_of(tui(alice, &server).arg("logout"));
    tui(alice, &server).arg("whoami").assert().code(4);
}

#[test]
fn every_other_subcommand() {
    let server = TestServer::start();
    let homes: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (ann, ben, cat) = (homes[0].path(), homes[1].path(), homes[2].path());
    for (home, name) in [(ann, "ann"), (ben, "ben"), (cat, "cat")] {
        stdout_of(
            tui(home, &server).args(["register", name, "--password-stdin"]).write_stdin("password-123\n"),
        );
    }
    // friends: reject, then befriend, remove, block, unblock
    stdout_of(tui(ann, &server).args(["friends", "add", "ben"]));
    assert!(stdout_of(tui(ben, &server).args(["friends", "requests"])).starts_with("from ann"));
    stdout_of(tui(ben, &server).args(["friends", "reject", "ann"]));
    tui(ben, &server).args(["friends", "accept", "ann"]).assert().code(1);
    stdout_of(tui(ann, &server).args(["friends", "add", "ben"]));
    stdout_of(tui(ben, &server).args(["friends", "accept", "ANN"]));
    assert_eq!(stdout_of(tui(ann, &server).args(["friends", "list"])), "ben\toffline\n");
    stdout_of(tui(ann, &server).args(["friends", "block", "ben"]));
    assert_eq!(stdout_of(tui(ann, &server).args(["friends"])), "ben\toffline\tblocked\n");
    tui(ben, &server).args(["send", "--to", "ann", "hi"]).assert().code(1);
    stdout_of(tui(ann, &server).args(["friends", "unblock", "ben"]));
    stdout_of(tui(ben, &server).args(["send", "--to", "ann", "hi ann"]));
    stdout_of(tui(ann, &server).args(["history", "--with", "ben"]));
    // the local copy answers without the server
    let local =
        stdout_of(tui(ann, &server).args(["--server", "127.0.0.1:9", "history", "--with", "ben", "--local"]));
    assert!(local.ends_with("ben: hi ann\n"), "{local}");
    let offline =
        stdout_of(tui(ann, &server).args(["--server", "127.0.0.1:9", "conversations", "--local", "--json"]));
    assert_eq!(json_lines(&offline)[0]["with"]["user"], "ben");
    stdout_of(tui(ann, &server).args(["friends", "remove", "ben"]));
    assert_eq!(stdout_of(tui(ben, &server).args(["friends"])), "no friends yet\n");

    // groups: info, list, reject, kick, demote, leave, dissolve
    let g = json_lines(&stdout_of(tui(ann, &server).args([
        "--json",
        "groups",
        "create",
        "club",
        "--description",
        "d",
    ])))[0]["group_id"]
        .as_u64()
        .unwrap()
        .to_string();
    let info = stdout_of(tui(cat, &server).args(["groups", "info", &g]));
    assert_eq!(info, format!("{g}\tclub\towner ann\t1 members\td\n"));
    for (home, accept) in [(ben, true), (cat, false)] {
        stdout_of(tui(home, &server).args(["groups", "join", &g]));
        let who = if accept { "ben" } else { "cat" };
        stdout_of(tui(ann, &server).args(["groups", if accept { "accept" } else { "reject" }, &g, who]));
    }
    assert_eq!(stdout_of(tui(ben, &server).args(["groups", "list"])), format!("{g}\tclub\tmember\n"));
    assert_eq!(stdout_of(tui(cat, &server).args(["groups"])), "no groups yet\n");
    stdout_of(tui(ann, &server).args(["groups", "promote", &g, "ben"]));
    stdout_of(tui(ann, &server).args(["groups", "demote", &g, "ben"]));
    stdout_of(tui(ann, &server).args(["groups", "kick", &g, "ben"]));
    tui(ben, &server).args(["groups", "members", &g]).assert().code(1);
    stdout_of(tui(cat, &server).args(["groups", "join", &g]));
    // A name with no pending request is a refusal, not a guess.
    tui(ann, &server).args(["groups", "accept", &g, "ben"]).assert().code(1);
    stdout_of(tui(ann, &server).args(["groups", "accept", &g, "CAT"]));
    stdout_of(tui(cat, &server).args(["groups", "leave", &g]));
    stdout_of(tui(ann, &server).args(["groups", "dissolve", &g]));
    tui(ann, &server).args(["groups", "info", &g]).assert().code(1);
}

#[test]
fn an_unreachable_server_is_exit_code_3() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::cargo_bin("chat-tui").unwrap();
    cmd.env("HOME", home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .args(["--server", "127.0.0.1:9", "register", "zed", "--password-stdin"])
        .write_stdin("password123\n")
        .assert()
        .code(3);
}
