//! Connections that have not logged in are cheap and short-lived: a small frame
//! limit, a deadline to log in that pings do not extend, a cap per address and a cap
//! on all of them together; logged-in users are not touched by any of it.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chat_proto::request::Ping;
use chat_tests::{Backend, PASSWORD, TestServer, frame, raw_code};
use serde_json::{Value, json};

fn login(name: &str) -> Value {
    json!({"id": 1, "op": "login", "username": name, "password": PASSWORD})
}

/// A header announcing `len` bytes, and the first bytes of its payload.
fn partial_frame(len: usize) -> Vec<u8> {
    let mut bytes = frame(&vec![b' '; len]);
    bytes.truncate(4 + 100);
    bytes
}

#[tokio::test]
async fn before_login_only_small_frames_are_read() {
    let server = TestServer::start(Backend::Sqlite).await.unwrap();
    server.user("alice").await;
    // A stranger announcing a 64 KiB frame is refused on the header alone.
    let mut stranger = server.raw().await;
    stranger.write(&partial_frame(64 * 1024)).await;
    let last = stranger.until_closed().await;
    assert_eq!(last.len(), 1, "{last:?}");
    assert_eq!(raw_code(&last[0]), "frame_too_large");
    assert!(last[0]["error"]["message"].as_str().unwrap().contains("16384"), "{last:?}");

    // Logged in, the same frame is within max_frame.
    let mut alice = server.raw().await;
    assert_eq!(alice.call(&login("alice")).await["ok"], true);
    let mut big = serde_json::to_vec(&json!({"id": 2, "op": "ping"})).unwrap();
    big.truncate(big.len() - 1);
    big.extend(std::iter::repeat_n(b' ', 64 * 1024));
    big.push(b'}');
    alice.send(&big).await;
    assert_eq!(alice.recv().await.unwrap(), json!({"re": 2, "ok": true}));
    // Logged out, it is a stranger again.
    assert_eq!(alice.call(&json!({"id": 3, "op": "logout"})).await["ok"], true);
    alice.write(&partial_frame(64 * 1024)).await;
    assert_eq!(raw_code(&alice.until_closed().await[0]), "frame_too_large");
    server.finish().await;
}

#[tokio::test]
async fn a_connection_that_does_not_log_in_is_closed_even_if_it_pings() {
    let server = TestServer::start_with(Backend::Sqlite, &["--auth-timeout", "1"]).await.unwrap();
    let mut alice = server.user("alice").await;
    let mut pinger = server.raw().await;
    let pinging = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
        for id in 1.. {
            tick.tick().await;
            pinger.send_json(&json!({"id": id, "op": "ping"})).await;
            match pinger.recv().await {
                Some(f) if f.get("re").is_some() => {}
                Some(f) => return f,
                None => return Value::Null,
            }
        }
        unreachable!()
    });
    let last = pinging.await.unwrap();
    assert_eq!(last, json!({"event": "closing", "reason": "auth_timeout"}));
    // The deadline is over for alice, who logged in in time.
    alice.client.call(Ping {}).await.unwrap();
    assert!(alice.events.try_recv().is_err());
    server.finish().await;
}

#[tokio::test]
async fn connections_per_address_are_capped() {
    let server = TestServer::start_with(Backend::Sqlite, &["--max-connections-per-addr", "3"]).await.unwrap();
    let mut mine = Vec::new();
    for _ in 0..3 {
        let mut c = server.raw_from("127.0.0.2").await;
        assert_eq!(c.call(&json!({"id": 1, "op": "ping"})).await["ok"], true);
        mine.push(c);
    }
    let mut fourth = server.raw_from("127.0.0.2").await;
    let refusal = fourth.until_closed().await;
    assert_eq!(raw_code(&refusal[0]), "unavailable");
    assert!(refusal[0]["error"]["message"].as_str().unwrap().contains("your address"));
    // Another address is not affected, and a closed connection frees its place.
    let mut other = server.raw_from("127.0.0.3").await;
    assert_eq!(other.call(&json!({"id": 1, "op": "ping"})).await["ok"], true);
    drop(mine.pop());
    let mut again = chat_tests::admitted(|| server.raw_from("127.0.0.2")).await;
    assert_eq!(again.call(&json!({"id": 2, "op": "ping"})).await["ok"], true);
    server.finish().await;
}

#[tokio::test]
async fn connections_waiting_to_log_in_are_capped_but_logged_in_ones_are_not() {
    let server = TestServer::start_with(Backend::Sqlite, &["--max-unauthenticated", "2"]).await.unwrap();
    let mut a = server.raw_from("127.0.0.2").await;
    let mut b = server.raw_from("127.0.0.3").await;
    let register = json!({"id": 1, "op": "register", "username": "alice", "password": PASSWORD});
    assert_eq!(a.call(&register).await["ok"], true);
    assert_eq!(b.call(&json!({"id": 1, "op": "ping"})).await["ok"], true);
    let mut c = server.raw_from("127.0.0.4").await;
    let refusal = c.until_closed().await;
    assert_eq!(raw_code(&refusal[0]), "unavailable");
    // Once one of them logs in, there is room for another stranger.
    assert_eq!(a.call(&login("alice")).await["ok"], true);
    let mut d = server.raw_from("127.0.0.4").await;
    assert_eq!(d.call(&json!({"id": 1, "op": "ping"})).await["ok"], true);
    server.finish().await;
}

#[tokio::test]
async fn a_stranger_that_never_pauses_is_closed_at_the_deadline_too() {
    // Paced to 100 requests a second, 1,000 pings queue up for ten seconds: the
    // socket never falls silent, and the deadline (1 s) must hold all the same.
    let args = ["--auth-timeout", "1", "--conn-rate", "100", "--conn-burst", "1"];
    let server = TestServer::start_with(Backend::Sqlite, &args).await.unwrap();
    let mut stranger = server.raw().await;
    let pings: Vec<u8> = (1..=1000)
        .flat_map(|id| frame(&serde_json::to_vec(&json!({"id": id, "op": "ping"})).unwrap()))
        .collect();
    stranger.write(&pings).await;
    let frames = stranger.until_closed().await;
    assert_eq!(frames.last(), Some(&json!({"event": "closing", "reason": "auth_timeout"})));
    assert!(frames.len() < 500, "served {} pings past its deadline", frames.len());
    server.finish().await;
}

#[tokio::test]
async fn logging_out_when_strangers_are_at_their_cap_closes_the_connection() {
    let server = TestServer::start_with(Backend::Sqlite, &["--max-unauthenticated", "1"]).await.unwrap();
    let mut a = server.raw_from("127.0.0.2").await;
    let register = json!({"id": 1, "op": "register", "username": "alice", "password": PASSWORD});
    assert_eq!(a.call(&register).await["ok"], true);
    assert_eq!(a.call(&login("alice")).await["ok"], true);
    // a's place among strangers is taken by b...
    let mut b = chat_tests::admitted(|| server.raw_from("127.0.0.3")).await;
    // ...so a, logging out, cannot become a stranger again: it is told and closed.
    assert_eq!(a.call(&json!({"id": 2, "op": "logout"})).await["ok"], true);
    let last = a.until_closed().await;
    assert_eq!(raw_code(&last[0]), "unavailable", "{last:?}");
    assert_eq!(b.call(&json!({"id": 2, "op": "ping"})).await["ok"], true);
    server.finish().await;
}
