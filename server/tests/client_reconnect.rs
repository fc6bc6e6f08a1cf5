//! The client's session against a server that is killed and restarted in the middle
//! of a conversation: it reconnects by itself, and its local history ends identical
//! to the server's conversation, gapless, nothing lost, nothing twice.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::time::Duration;

use chat_proto::model::Target;
use chat_proto::request::{FriendRequest, FriendRespond, Login, Register, Send, Sync};
use chat_tui::Client;
use chat_tui::local_history::LocalHistory;
use chat_tui::session::{self, SessionConfig, Status, Update};
use support::Daemon;

const PASSWORD: &str = "reconnect password";

fn start(addr: &str, database: &str) -> Daemon {
    let mut cmd = support::command();
    cmd.args(["--listen", addr, "--database", database, "--send-rate", "100000", "--send-burst", "100000"]);
    support::start(cmd).0
}

async fn logged_in(addr: &str, name: &str) -> (Client, String) {
    let c = Client::connect(addr).await.unwrap().client;
    let me = c.call(Login { username: name.into(), password: PASSWORD.into(), device: None }).await.unwrap();
    (c, me.token)
}

async fn send_burst(addr: &str, from: i32, to: i32) -> usize {
    let (alice, _) = logged_in(addr, "alice").await;
    let mut acked = 0;
    for i in from..to {
        let body = format!("m{i}");
        let send = Send {
            to: Target::User("bob".into()),
            body: body.clone(),
            client_msg_id: Some(body),
            file_id: None,
        };
        if alice.call(send).await.is_ok() {
            acked += 1;
        }
    }
    acked
}

/// Waits for updates until `done` says so, failing after 60 s.
async fn until(updates: &mut tokio::sync::mpsc::Receiver<Update>, mut done: impl FnMut(&Update) -> bool) {
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(u) = updates.recv().await {
            if done(&u) {
                return;
            }
        }
        panic!("session ended");
    })
    .await
    .expect("the awaited update never came");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_reconnects_and_its_history_matches_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("chat.db").display());
    let addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().to_string()
    };
    let mut daemon = start(&addr, &database);
    for name in ["alice", "bob"] {
        let c = Client::connect(addr.as_str()).await.unwrap().client;
        c.call(Register { username: name.into(), password: PASSWORD.into() }).await.unwrap();
    }
    let (alice, _) = logged_in(&addr, "alice").await;
    let (bob, token) = logged_in(&addr, "bob").await;
    let r = alice.call(FriendRequest { user: "bob".into(), note: None }).await.unwrap();
    bob.call(FriendRespond { request_id: r.request_id, accept: true }).await.unwrap();
    drop((alice, bob));

    let config = SessionConfig {
        server: chat_tui::tls::Endpoint::plain(addr.clone()),
        username: "bob".into(),
        token,
        request_timeout: Duration::from_secs(10),
        renewed_token: None,
    };
    let history = LocalHistory::open(dir.path().join("bob.db")).await.unwrap();
    let (handle, mut updates) = session::spawn(config, history);
    until(&mut updates, |u| *u == Update::Status(Status::Online)).await;

    // Messages arrive live; then the server dies in the middle of more of them.
    let acked_before = send_burst(&addr, 0, 20).await;
    assert_eq!(acked_before, 20);
    let killer = {
        let addr = addr.clone();
        tokio::spawn(async move { send_burst(&addr, 20, 2000).await })
    };
    // Bob sees a few of the burst live, then the server is killed under it.
    until(
        &mut updates,
        |u| matches!(u, Update::Event(chat_proto::Event::Message(m)) if m.message.body == "m25"),
    )
    .await;
    daemon.0.kill().unwrap(); // SIGKILL, mid-burst
    daemon.0.wait().unwrap();
    killer.await.unwrap();
    until(&mut updates, |u| matches!(u, Update::Status(Status::Offline { .. }))).await;

    // While it is down the session keeps trying; it comes back once the server does,
    // which then gets more messages while bob is catching up.
    let _daemon = start(&addr, &database);
    send_burst(&addr, 5000, 5030).await;
    until(&mut updates, |u| *u == Update::Status(Status::Online)).await;

    // The server's conversation, whole.
    let (alice, _) = logged_in(&addr, "alice").await;
    let mut server_side = Vec::new();
    loop {
        let after = server_side.last().map_or(0, |m: &chat_proto::model::Message| m.seq);
        let page =
            alice.call(Sync { with: Target::User("bob".into()), after, limit: Some(200) }).await.unwrap();
        server_side.extend(page.messages);
        if !page.more {
            break;
        }
    }
    let last = server_side.len() as u64;
    assert_eq!(server_side.iter().map(|m| m.seq).collect::<Vec<_>>(), (1..=last).collect::<Vec<_>>());
    assert!(last >= 50, "{last}");
    let history = handle.history();
    let alice_conv = Target::User("alice".into());
    // Whatever came live after the catch-up is stored as it arrives.
    let highest = |with: Target| history.call(move |h| h.highest_seq(&with));
    while highest(alice_conv.clone()).await.unwrap() < last {
        until(&mut updates, |_| true).await;
    }
    let local = history.call(move |h| h.messages_after(&alice_conv, 0, 100_000)).await.unwrap();
    assert_eq!(local, server_side, "the local history is the server's conversation, gapless, nothing twice");
    handle.stop();
}
