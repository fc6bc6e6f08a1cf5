//! A connection that stops reading is closed once its outbox is full; everyone else
//! keeps receiving without delay, and the slow one catches up with `sync`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chat_proto::Event;
use chat_proto::model::Target;
use chat_proto::request::{GroupCreate, GroupJoin, GroupRespond, Send, Sync};
use chat_tests::{Backend, PASSWORD, TestServer};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_is_dropped_and_catches_up_later() {
    let args = ["--outbox-bytes", "1048576", "--send-rate", "100000", "--send-burst", "100000"];
    let server = TestServer::start_with(Backend::Sqlite, &args).await.unwrap();
    let alice = server.user("alice").await;
    let mut carol = server.user("carol").await;
    let bob = server.user("bob").await;
    let g = alice.client.call(GroupCreate { name: "room".into(), description: None }).await.unwrap().group_id;
    for u in [&bob, &carol] {
        let r = u.client.call(GroupJoin { group_id: g, note: None }).await.unwrap();
        alice.client.call(GroupRespond { request_id: r.request_id, accept: true }).await.unwrap();
    }
    carol.events_so_far().await;

    // Bob's second device logs in and then never reads again.
    let mut stalled = server.raw().await;
    let login = json!({"id": 1, "op": "login", "username": "bob", "password": PASSWORD});
    assert_eq!(stalled.call(&login).await["ok"], true);

    // Far more than the socket buffers and a 16-frame outbox hold.
    let total = 400;
    let body = "x".repeat(60_000);
    for _ in 0..total {
        let send = Send { to: Target::Group(g), body: body.clone(), client_msg_id: None, file_id: None };
        alice.client.call(send).await.unwrap();
    }
    // Carol, reading, got every one.
    let mut got = 0;
    while got < total {
        match carol.next_event().await {
            Event::Message(m) => {
                got += 1;
                assert_eq!(m.message.seq, got);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // The stalled connection was closed by the server: reading now drains what the
    // socket held, then ends.
    let mut frames = 0;
    while stalled.recv().await.is_some() {
        frames += 1;
    }
    assert!(frames < total as usize, "it was cut off, not served everything ({frames})");
    // Bob's own connection was never affected, and any device catches up with sync.
    let mut after = 0;
    while after < total {
        let page = bob.client.call(Sync { with: Target::Group(g), after, limit: None }).await.unwrap();
        assert_eq!(page.messages.first().map(|m| m.seq), Some(after + 1));
        after = page.messages.last().unwrap().seq;
    }
    server.finish().await;
}
