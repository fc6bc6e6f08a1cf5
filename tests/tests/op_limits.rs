//! Per-user budgets of the ops that write or cost, and the per-connection budget
//! that slows a spinning connection down without refusing anything.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::{Duration, Instant};

use chat_proto::model::Target;
use chat_proto::request::{FriendRequest, GroupCreate, GroupJoin, Ping, Read, Recall};
use chat_proto::{ErrorCode, Request};
use chat_tests::{Backend, TestServer, frame};
use chat_tui::Client;
use serde_json::json;

/// The limited ops, each as a request that passes validation.
fn requests(n: usize) -> Vec<Request> {
    vec![
        Recall { msg_id: 999_999 }.into(),
        Read { with: Target::User("nobody".into()), seq: 1 }.into(),
        FriendRequest { user: "nobody".into(), note: None }.into(),
        GroupCreate { name: format!("room{n}"), description: None }.into(),
        GroupJoin { group_id: 999_999, note: None }.into(),
    ]
}

async fn refused_for(c: &Client, request: Request) -> Option<Duration> {
    match c.call_raw(request).await {
        Err(e) if e.code() == Some(ErrorCode::RateLimited) => Some(e.retry_after().expect("a retry hint")),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_costly_op_is_refused_past_its_budget_with_a_retry_hint() {
    let mut args = Vec::new();
    for op in ["recall", "read", "friend-request", "group-create", "group-join"] {
        args.extend([format!("--{op}-per-min"), "1".into(), format!("--{op}-burst"), "2".into()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = TestServer::start_with(Backend::Sqlite, &args).await.unwrap();
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    for round in 0..2 {
        for request in requests(round) {
            let op = request.op();
            assert_eq!(refused_for(&alice.client, request).await, None, "{op} within the burst");
        }
    }
    for request in requests(2) {
        let op = request.op();
        let wait = refused_for(&alice.client, request).await.unwrap_or_else(|| panic!("{op} not refused"));
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60), "{op}: {wait:?}");
    }
    // Other users have budgets of their own.
    for request in requests(3) {
        let op = request.op();
        assert_eq!(refused_for(&bob.client, request).await, None, "{op} for bob");
    }
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_connection_is_slowed_while_others_stay_fast() {
    let server =
        TestServer::start_with(Backend::Sqlite, &["--conn-rate", "100", "--conn-burst", "50"]).await.unwrap();
    let alice = server.user("alice").await;
    let mut spinner = server.raw().await;
    let total = 300;
    let mut pipelined = Vec::new();
    for id in 1..=total {
        pipelined.extend(frame(json!({"id": id, "op": "ping"}).to_string().as_bytes()));
    }
    let started = Instant::now();
    spinner.write(&pipelined).await;
    let spin = tokio::spawn(async move {
        for id in 1..=total {
            let reply = spinner.recv().await.unwrap();
            assert_eq!((reply["re"].as_u64(), &reply["ok"]), (Some(id), &json!(true)), "{reply}");
        }
        started.elapsed()
    });
    // While it spins, alice's pings are answered promptly.
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let t = Instant::now();
        alice.client.call(Ping {}).await.unwrap();
        slowest = slowest.max(t.elapsed());
    }
    let spun = spin.await.unwrap();
    // 50 at once, then 100 a second: the rest needs 2.5 s at least.
    assert!(spun >= Duration::from_secs(2), "300 pipelined pings took only {spun:?}");
    assert!(slowest < Duration::from_millis(500), "alice's ping took {slowest:?}");
    server.finish().await;
}
