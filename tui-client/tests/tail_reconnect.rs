//! `tail` prints the messages that arrived while it was reconnecting, as it prints
//! live ones, each once: a bot built on it misses nothing.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use chat_server::config::Durability;
use chat_server::store::{AppendRequest, SendTo, SqlStore, UserRef};
use serde_json::Value;
use support::{TestServer, register, tui};

#[test]
fn a_message_sent_while_tail_reconnects_is_printed() {
    let mut server = TestServer::start();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    register(a.path(), &server, "alice");
    register(b.path(), &server, "bob");
    tui(a.path(), &server).args(["friends", "add", "bob"]).assert().success();
    tui(b.path(), &server).args(["friends", "accept", "alice"]).assert().success();
    tui(a.path(), &server).args(["send", "--to", "bob", "before"]).assert().success();

    let mut tail = Command::new(assert_cmd::cargo::cargo_bin("chat-tui"))
        .args(["tail", "--json"])
        .env("HOME", b.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("CHAT_PROFILE")
        .env("CHAT_SERVER", &server.addr)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status_tx, status) = mpsc::channel();
    let stderr = BufReader::new(tail.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = status_tx.send(line);
        }
    });
    let (lines_tx, lines) = mpsc::channel();
    let stdout = BufReader::new(tail.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = lines_tx.send(serde_json::from_str::<Value>(&line).unwrap());
        }
    });
    let all = std::cell::RefCell::new(Vec::new());
    let wait_for = |what: &str| loop {
        let line = status.recv_timeout(Duration::from_secs(20)).expect("tail said nothing in time");
        all.borrow_mut().push(line.clone());
        if line.starts_with(what) {
            break;
        }
    };
    wait_for("online");

    // The server goes; while it is down a message is stored for bob, which no live
    // event can bring; then it comes back.
    server.stop();
    wait_for("offline");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = SqlStore::open(&server.database_url(), Durability::Process).await.unwrap();
        let alice = chat_server::store::AccountStore::user_by_name(&store, "alice").await.unwrap().unwrap();
        let sent = AppendRequest::Text {
            sender: UserRef { id: alice.id, username: "alice".into() },
            to: SendTo::User("bob".into()),
            body: "while you were away".into(),
            client_msg_id: None,
        };
        chat_server::store::MessageStore::append(&store, &[sent], 1_765_000_000_000).await.unwrap();
        chat_server::store::Store::close(&store).await;
    });
    server.restart();
    wait_for("online");
    tui(a.path(), &server).args(["send", "--to", "bob", "after"]).assert().success();

    let mut bodies = Vec::new();
    while bodies.last().map(String::as_str) != Some("after") {
        let event = lines.recv_timeout(Duration::from_secs(20)).expect("no message printed in time");
        if event["event"] == "message" {
            bodies.push(event["message"]["body"].as_str().unwrap().to_owned());
        }
    }
    let said: Vec<String> = all.borrow().iter().cloned().chain(status.try_iter()).collect();
    assert_eq!(bodies, ["while you were away", "after"], "each once, in order; tail said {said:?}");
    let _ = tail.kill();
    let _ = tail.wait();
}
