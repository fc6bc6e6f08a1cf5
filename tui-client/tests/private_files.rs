//! The client's files under a permissive umask: the real `chat-tui` binary, started
//! by a shell that ran `umask 000` (the threaded test process keeps its own umask),
//! still creates its directories 0700 and its session and history 0600.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use assert_cmd::Command;
use support::TestServer;

fn permissive(home: &Path, server: &TestServer) -> std::process::Command {
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", r#"umask 000; exec "$0" "$@""#])
        .arg(assert_cmd::cargo::cargo_bin("chat-tui"))
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("CHAT_PROFILE")
        .env("CHAT_SERVER", &server.addr);
    cmd
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{path:?}: {e}")).permissions().mode() & 0o777
}

#[test]
fn session_history_and_directories_are_owner_only_whatever_the_umask() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    Command::from_std(permissive(home, &server))
        .args(["register", "ann", "--password-stdin"])
        .write_stdin("hunter2hunter2\n")
        .assert()
        .success();
    // `tail` keeps the history open, so SQLite's side files are there to be seen.
    let mut tail =
        permissive(home, &server).arg("tail").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut status = BufReader::new(tail.stderr.take().unwrap()).lines();
    while status.next().unwrap().unwrap() != "online" {}

    let data = home.join(".local/share/chat-tui/default");
    for dir in
        [home.join(".local"), home.join(".local/share"), home.join(".local/share/chat-tui"), data.clone()]
    {
        assert_eq!(mode(&dir), 0o700, "{dir:?}");
    }
    assert_eq!(mode(&data.join("session.toml")), 0o600);
    assert_eq!(mode(&data.join("history-ann.db")), 0o600);
    for side in ["history-ann.db-wal", "history-ann.db-shm"] {
        assert_eq!(mode(&data.join(side)), 0o600, "{side}");
    }
    tail.kill().unwrap();
    tail.wait().unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name()).collect();
    for name in &leftovers {
        assert_eq!(mode(&data.join(name)) & 0o077, 0, "{name:?} is private");
    }
}
