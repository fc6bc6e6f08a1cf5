//! A session catching up while a busy group floods it with more events than every
//! client-side buffer holds (the connection's events queue and the session's
//! updates together): no reply waits behind those events, so no request times out,
//! the session never goes offline, and its local history ends as the server's
//! conversation, gapless, nothing lost, nothing twice.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::ops::Range;
use std::time::Duration;

use chat_proto::Event;
use chat_proto::model::{Message, Target};
use chat_proto::request::{
    FriendRequest, FriendRespond, GroupCreate, GroupJoin, GroupRespond, Ping, Send, Sync,
};
use chat_tests::{Backend, TestServer, User, WAIT, backend_tests};
use chat_tui::Client;
use chat_tui::client::EVENT_QUEUE;
use chat_tui::local_history::LocalHistory;
use chat_tui::session::{self, SessionConfig, Status, Update};
use chat_tui::tls::Endpoint;
use futures::StreamExt;

backend_tests!(a_catch_up_under_a_flood_of_events_stalls_nothing_and_loses_nothing);

/// What the session's first catch-up has to fetch.
const BACKLOG: u64 = 1_000;
/// Sent while nobody reads the session's updates: a thousand more than its
/// connection's events queue and its updates channel (as large) hold together.
const FLOOD: u64 = 2 * EVENT_QUEUE as u64 + 1_000;
/// Sent while the session catches up what it dropped.
const MORE: u64 = EVENT_QUEUE as u64 / 2;

/// Sends `m{i}` for each `i` to the group, many at once, all accepted.
async fn send(client: Client, group_id: u64, range: Range<u64>) {
    let sends = futures::stream::iter(range).map(|i| {
        let client = client.clone();
        async move {
            let body = format!("m{i}");
            let send = Send {
                to: Target::Group(group_id),
                body: body.clone(),
                client_msg_id: Some(body),
                file_id: None,
            };
            client.call(send).await.unwrap();
        }
    });
    sends.buffer_unordered(64).collect::<Vec<()>>().await;
}

/// Waits for alice to see bob's presence turn to `online`.
async fn presence(alice: &mut User, online: bool) {
    loop {
        if let Event::Presence(p) = alice.next_event().await
            && p.user == "bob"
            && p.online == online
        {
            return;
        }
    }
}

/// The server's conversation, whole.
async fn server_side(client: &Client, with: &Target) -> Vec<Message> {
    let mut all = Vec::new();
    loop {
        let after = all.last().map_or(0, |m: &Message| m.seq);
        let page = client.call(Sync { with: with.clone(), after, limit: Some(200) }).await.unwrap();
        all.extend(page.messages);
        if !page.more {
            return all;
        }
    }
}

async fn a_catch_up_under_a_flood_of_events_stalls_nothing_and_loses_nothing(b: Backend) {
    // The sender is limited by nothing but the server's speed.
    let limits = ["--send-rate", "--send-burst", "--conn-rate", "--conn-burst"];
    let args: Vec<&str> = limits.iter().flat_map(|flag| [*flag, "1000000"]).collect();
    let Some(server) = TestServer::start_with(b, &args).await else {
        return;
    };
    let mut alice = server.user("alice").await;
    let bob = server.user("bob").await;
    // Friends, so that alice sees when bob's session is connected.
    let r = alice.client.call(FriendRequest { user: "bob".into(), note: None }).await.unwrap();
    bob.client.call(FriendRespond { request_id: r.request_id, accept: true }).await.unwrap();
    let group_id =
        alice.client.call(GroupCreate { name: "busy".into(), description: None }).await.unwrap().group_id;
    let r = bob.client.call(GroupJoin { group_id, note: None }).await.unwrap();
    alice.client.call(GroupRespond { request_id: r.request_id, accept: true }).await.unwrap();
    let group = Target::Group(group_id);
    send(alice.client.clone(), group_id, 0..BACKLOG).await;
    let token = bob.token.clone();
    drop(bob);
    presence(&mut alice, false).await;

    // A short timeout, so that a reply stuck behind events fails fast.
    let dir = tempfile::tempdir().unwrap();
    let config = SessionConfig {
        server: Endpoint::plain(server.addr.to_string()),
        username: "bob".into(),
        token,
        request_timeout: Duration::from_secs(3),
        renewed_token: None,
    };
    let (handle, mut updates) =
        session::spawn(config, LocalHistory::open(dir.path().join("bob.db")).await.unwrap());
    // Bob's session is connected and catching up: the flood starts, and nobody reads
    // the session's updates until it is over.
    presence(&mut alice, true).await;
    send(alice.client.clone(), group_id, BACKLOG..BACKLOG + FLOOD).await;
    let client = tokio::time::timeout(WAIT, handle.client()).await.expect("the session's catch-up stalled");
    client.unwrap().call(Ping {}).await.expect("a reply waited behind events nobody read");

    // Now the updates are read while the group goes on talking: the session catches up
    // what it dropped, and never went offline on the way.
    let total = BACKLOG + FLOOD + MORE;
    let more = tokio::spawn(send(alice.client.clone(), group_id, BACKLOG + FLOOD..total));
    let history = handle.history().clone();
    let highest = || {
        let group = group.clone();
        let history = history.clone();
        async move { history.call(move |h| h.highest_seq(&group)).await.unwrap() }
    };
    let mut catch_ups = 0;
    tokio::time::timeout(4 * WAIT, async {
        while highest().await < total {
            match updates.recv().await.expect("the session ended") {
                Update::Status(Status::Online) => catch_ups += 1,
                Update::Status(Status::Connecting { attempt: 0 }) => {}
                Update::Status(status) => panic!("the session went {status:?}"),
                Update::CaughtUp { .. } | Update::Event(_) => {}
            }
        }
    })
    .await
    .expect("the local history never caught up");
    more.await.unwrap();
    assert!(catch_ups >= 2, "the session caught up again after dropping events ({catch_ups})");

    let target = group.clone();
    let local = history.call(move |h| h.messages_after(&target, 0, 100_000)).await.unwrap();
    let remote = server_side(&alice.client, &group).await;
    assert_eq!(remote.len() as u64, total);
    assert!(local == remote, "the local history is the server's conversation, gapless, nothing twice");
    handle.stop();
    server.finish().await;
}
