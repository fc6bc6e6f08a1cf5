//! The client library's reader task: under many concurrent requests with events
//! interleaved, every reply reaches its own caller (the seed client's background
//! reader stole replies); no reply means a clear timeout; a lost connection fails
//! every pending request at once.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::{Duration, Instant};

use chat_proto::model::Target;
use chat_proto::request::{FriendRequest, FriendRespond, GroupCreate, GroupInfo, Hello, Ping, Send, Sync};
use chat_tests::{Backend, TestServer};
use chat_tui::{Client, ClientError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reply_reaches_its_own_caller() {
    let server =
        TestServer::start_with(Backend::Sqlite, &["--send-rate", "100000", "--send-burst", "100000"])
            .await
            .unwrap();
    let mut alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let r = alice.client.call(FriendRequest { user: "bob".into(), note: None }).await.unwrap();
    bob.client.call(FriendRespond { request_id: r.request_id, accept: true }).await.unwrap();
    let mut groups = Vec::new();
    for i in 0..10 {
        let g = alice.client.call(GroupCreate { name: format!("g{i}"), description: None }).await.unwrap();
        groups.push((g.group_id, format!("g{i}")));
    }
    for i in 0..50 {
        let send = Send {
            to: Target::User("alice".into()),
            body: format!("b{i}"),
            client_msg_id: None,
            file_id: None,
        };
        bob.client.call(send).await.unwrap();
    }

    // bob keeps pushing events at alice while she has hundreds of requests in flight.
    let flood = {
        let bob = bob.client.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                let send = Send {
                    to: Target::User("alice".into()),
                    body: format!("f{i}"),
                    client_msg_id: None,
                    file_id: None,
                };
                bob.call(send).await.unwrap();
            }
        })
    };
    let mut calls = Vec::new();
    for i in 0..600usize {
        let c = alice.client.clone();
        let (group_id, name) = groups[i % groups.len()].clone();
        calls.push(tokio::spawn(async move {
            match i % 3 {
                0 => {
                    let info = c.call(GroupInfo { group_id }).await.unwrap();
                    assert_eq!((info.group_id, info.name), (group_id, name), "request {i}");
                }
                1 => {
                    let after = (i % 50) as u64;
                    let page = c
                        .call(Sync { with: Target::User("bob".into()), after, limit: Some(5) })
                        .await
                        .unwrap();
                    assert_eq!(page.messages.first().map(|m| m.seq), Some(after + 1), "request {i}");
                }
                _ => {
                    let hello =
                        c.call(Hello { client: Some(format!("c{i}")), protocol: Some(1) }).await.unwrap();
                    assert_eq!(hello.protocol, 1);
                }
            }
        }));
    }
    for c in calls {
        c.await.unwrap();
    }
    flood.await.unwrap();
    // The events went to the events channel, none lost among the replies.
    let messages = alice
        .events_so_far()
        .await
        .into_iter()
        .filter(|e| matches!(e, chat_proto::Event::Message(_)))
        .count();
    assert_eq!(messages, 350);
    server.finish().await;
}

#[tokio::test]
async fn no_reply_is_a_timeout_and_a_lost_connection_fails_everything_at_once() {
    // A peer that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move { silent.accept().await.unwrap() });
    let c = Client::connect_with_timeout(addr, Duration::from_millis(200)).await.unwrap().client;
    let err = c.call(Ping {}).await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout { op: "ping", .. }), "{err}");
    assert!(err.to_string().contains("no reply to `ping`"));

    // A peer that hangs up while requests wait: they fail at once, not at the timeout.
    let (sock, _) = hold.await.unwrap();
    let c2 = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let c2 = Client::connect_with_timeout(addr, Duration::from_secs(60)).await.unwrap().client;
        let (peer, _) = listener.accept().await.unwrap();
        let pending: Vec<_> = (0..20)
            .map(|_| {
                let c = c2.clone();
                tokio::spawn(async move { c.call(Ping {}).await })
            })
            .collect();
        tokio::task::yield_now().await;
        let started = Instant::now();
        drop(peer);
        for p in pending {
            assert!(matches!(p.await.unwrap(), Err(ClientError::Disconnected)));
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        c2
    };
    assert!(c2.is_closed());
    assert!(matches!(c2.call(Ping {}).await, Err(ClientError::Disconnected)));
    drop(sock);
}
