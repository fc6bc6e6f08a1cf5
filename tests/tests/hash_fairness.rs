//! Password hashing is shared fairly between addresses, and `register` is limited
//! per address: floods from two addresses do not hold up a third address's login.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::{Duration, Instant};

use chat_proto::request::{Login, Register};
use chat_proto::{ErrorCode, Request};
use chat_tests::{Backend, PASSWORD, TestServer, raw_code};
use serde_json::json;
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_from_other_addresses_do_not_delay_a_login() {
    // The connection caps alone would turn most of the flood away at the door; lifted,
    // every one of its requests reaches the hashing queue.
    let caps = ["--max-connections-per-addr", "2000", "--max-unauthenticated", "2000"];
    let server = TestServer::start_with(Backend::Sqlite, &caps).await.unwrap();
    server.user("bob").await;
    let bob = server.connect_from("127.0.0.4").await.client;
    // 64 connections registering from one address and 1,000 guessing passwords from
    // another, each asking again as soon as it is answered, until it is refused.
    let (hashed_tx, mut hashed) = mpsc::unbounded_channel();
    let mut conns = Vec::new();
    for i in 0..1064 {
        let (ip, op) = if i < 64 { ("127.0.0.2", "register") } else { ("127.0.0.3", "login") };
        conns.push((i, op, server.raw_from(ip).await));
    }
    let mut flood = Vec::new();
    for (i, op, mut conn) in conns {
        let hashed_tx = hashed_tx.clone();
        flood.push(tokio::spawn(async move {
            for round in 0.. {
                let password = if op == "login" { "wrong password" } else { PASSWORD };
                let username = format!("spam{i}x{round}");
                let reply =
                    conn.call(&json!({"id": 1, "op": op, "username": username, "password": password})).await;
                if reply["ok"] != true && raw_code(&reply) != "invalid_credentials" {
                    assert_eq!(raw_code(&reply), "rate_limited", "{reply}");
                    assert!(reply["error"]["retry_after_ms"].as_u64().unwrap() > 0, "{reply}");
                    return;
                }
                let _ = hashed_tx.send(());
            }
        }));
    }
    // Once the floods keep the hashing threads busy, bob logs in.
    for _ in 0..10 {
        hashed.recv().await.unwrap();
    }
    let started = Instant::now();
    bob.call(Login { username: "bob".into(), password: PASSWORD.into(), device: None }).await.unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "bob's login took {took:?} behind the floods");
    // Both floods end refused: register per address, the guesses by the throttle.
    drop(hashed_tx);
    for f in flood {
        f.await.unwrap();
    }
    let mut hashes = 0;
    while hashed.recv().await.is_some() {
        hashes += 1;
    }
    assert!(hashes <= 20 + 30, "{hashes} flooding requests were hashed");
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_is_limited_per_address() {
    let server = TestServer::start_with(Backend::Sqlite, &["--register-burst", "3"]).await.unwrap();
    let c = server.connect_from("127.0.0.2").await.client;
    for i in 0..3 {
        c.call(Register { username: format!("user{i}"), password: PASSWORD.into() }).await.unwrap();
    }
    let err = c.call(Register { username: "user3".into(), password: PASSWORD.into() }).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::RateLimited));
    // 3 per minute by default: the next one comes within 20 s.
    assert!(err.retry_after().is_some_and(|w| w <= Duration::from_secs(20)), "{err}");
    // Another address registers as usual; the refused name was not taken.
    let other = server.connect_from("127.0.0.3").await.client;
    let request: Request = Register { username: "user3".into(), password: PASSWORD.into() }.into();
    other.call_raw(request).await.unwrap();
    server.finish().await;
}
