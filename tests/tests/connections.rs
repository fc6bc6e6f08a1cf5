//! Connection-level behaviour: idle timeout, connection cap, graceful shutdown.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chat_proto::Event;
use chat_proto::event::{CloseReason, Closing};
use chat_proto::request::Ping;
use chat_tests::{Backend, TestServer, WAIT, raw_code};
use serde_json::json;

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let server = TestServer::start_with(Backend::Sqlite, &["--idle-timeout", "3"]).await.unwrap();
    let mut silent = server.raw().await;
    let hello = silent.call(&json!({"id": 1, "op": "hello"})).await;
    assert_eq!(hello["heartbeat_secs"], 1);
    // Waits for the server's own close: the test sleeps on nothing else.
    let last = silent.until_closed().await;
    assert_eq!(last, vec![json!({"event": "closing", "reason": "idle_timeout"})]);
    server.finish().await;
}

#[tokio::test]
async fn pings_keep_a_connection_alive() {
    let server = TestServer::start_with(Backend::Sqlite, &["--idle-timeout", "3"]).await.unwrap();
    let mut alice = server.user("alice").await;
    let mut idle = server.raw().await;
    // While the idle connection runs out its 3 s, alice pings every 500 ms.
    let closed = tokio::spawn(async move { idle.until_closed().await });
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    while !closed.is_finished() {
        tick.tick().await;
        alice.client.call(Ping {}).await.unwrap();
    }
    // One more tick past the idle connection's end: alice is still there.
    tick.tick().await;
    alice.client.call(Ping {}).await.unwrap();
    assert!(alice.events.try_recv().is_err(), "no closing event for alice");
    server.finish().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_are_refused_and_the_rest_served() {
    let server = TestServer::start_with(Backend::Sqlite, &["--max-connections", "2"]).await.unwrap();
    let mut a = server.raw().await;
    let mut b = server.raw().await;
    a.call(&json!({"id": 1, "op": "ping"})).await;
    b.call(&json!({"id": 1, "op": "ping"})).await;
    let mut c = server.raw().await;
    let refusal = c.until_closed().await;
    assert_eq!(refusal.len(), 1);
    assert_eq!(refusal[0]["re"], 0);
    assert_eq!(raw_code(&refusal[0]), "unavailable");
    assert_eq!(a.call(&json!({"id": 2, "op": "ping"})).await["ok"], true);
    // A freed place is taken again.
    drop(a);
    let mut d = chat_tests::admitted(|| server.raw()).await;
    assert_eq!(d.call(&json!({"id": 2, "op": "ping"})).await["ok"], true);
    server.finish().await;
}

#[tokio::test]
async fn shutdown_tells_every_client_and_the_data_survives() {
    let server = TestServer::start(Backend::Sqlite).await.unwrap();
    let mut alice = server.user("alice").await;
    let mut raw = server.raw().await;
    raw.call(&json!({"id": 1, "op": "ping"})).await;
    let db = server.stop().await.unwrap();
    match alice.next_event().await {
        Event::Closing(Closing { reason }) => assert_eq!(reason, CloseReason::Shutdown),
        e => panic!("unexpected {e:?}"),
    }
    tokio::time::timeout(WAIT, alice.client.closed()).await.unwrap();
    assert_eq!(raw.until_closed().await, vec![json!({"event": "closing", "reason": "shutdown"})]);

    // Restarted on the same database, the account and its session are still there.
    let again = TestServer::start_on(&db.url, &[]).await;
    let c = again.connect().await.client;
    let back =
        c.call(chat_proto::request::Resume { token: alice.token.clone(), device: None }).await.unwrap();
    assert_eq!(back.user_id, alice.user_id);
    again.stop().await;
    db.cleanup().await;
}
