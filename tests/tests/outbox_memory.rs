//! A connection that pipelines large requests and never reads its replies is not
//! read either once its queue is full: the server's memory stays bounded, the
//! connection gets every reply once it reads, and everyone else is served meanwhile.
//! Alone in its test binary, because it measures this process's memory.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::Duration;

use chat_proto::model::Target;
use chat_proto::request::{FriendRequest, FriendRespond, Ping, Send};
use chat_tests::{Backend, PASSWORD, TestServer, WAIT};
use serde_json::json;

/// This process's resident memory, in MiB.
fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_nobody_reads_do_not_grow_the_server() {
    let server = TestServer::start(Backend::Sqlite).await.unwrap();
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let r = alice.client.call(FriendRequest { user: "bob".into(), note: None }).await.unwrap();
    bob.client.call(FriendRespond { request_id: r.request_id, accept: true }).await.unwrap();
    // 40 messages of 60 KB: every history page is cut to about max_frame (1 MiB).
    for i in 0..40 {
        let body = format!("{i:02}{}", "x".repeat(60_000));
        alice
            .client
            .call(Send { to: Target::User("bob".into()), body, client_msg_id: None, file_id: None })
            .await
            .unwrap();
    }

    let mut hog = server.raw().await;
    hog.call(&json!({"id": 1, "op": "login", "username": "alice", "password": PASSWORD})).await;
    let before = rss_mib();
    // 200 requests for a 1 MiB page each, written at once (they fit the socket
    // buffers) and never read: 200 MiB of replies if the server queued them all.
    const REQUESTS: u64 = 200;
    let mut burst = Vec::new();
    for id in 2..2 + REQUESTS {
        let payload = json!({"id": id, "op": "history", "with": {"user": "bob"}, "limit": 200});
        burst.extend(chat_tests::frame(&serde_json::to_vec(&payload).unwrap()));
    }
    hog.write(&burst).await;
    // Let the server do whatever it will with them: until its memory stops growing.
    let mut last = rss_mib();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = rss_mib();
        if now <= last + 1 {
            break;
        }
        last = now;
    }
    let grown = rss_mib().saturating_sub(before);
    assert!(grown < 64, "the server took {grown} MiB for replies nobody read");

    // Meanwhile everyone else is served.
    tokio::time::timeout(Duration::from_secs(2), bob.client.call(Ping {})).await.unwrap().unwrap();
    // And the hog loses nothing: every reply comes, in order, once it reads.
    for id in 2..2 + REQUESTS {
        let reply = tokio::time::timeout(WAIT, hog.recv()).await.unwrap().unwrap();
        assert_eq!(reply["re"], id);
        assert_eq!(reply["ok"], true);
    }
    server.finish().await;
}
