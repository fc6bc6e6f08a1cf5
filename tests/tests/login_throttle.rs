//! The login throttle under the attacks of issue 9: concurrent guesses are counted
//! before they are checked, a flood from one address stops at its limit, and
//! strangers' guesses slow a username down without locking its owner out.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::Duration;

use chat_proto::ErrorCode;
use chat_proto::request::{Login, Resume};
use chat_tests::{Backend, PASSWORD, TestServer, code};
use chat_tui::{Client, ClientError};

fn login(name: &str, password: &str) -> Login {
    Login { username: name.into(), password: password.into(), device: None }
}

/// `n` connections from `ip`, all open before any of them is used.
async fn clients_from(server: &TestServer, ip: &str, n: usize) -> Vec<Client> {
    let mut clients = Vec::new();
    for _ in 0..n {
        clients.push(server.connect_from(ip).await.client);
    }
    clients
}

/// Sends `guesses[i]` on `clients[i]`, all at once, and returns the error codes.
async fn guess_at_once(clients: &[Client], guesses: Vec<Login>) -> Vec<ClientError> {
    let tasks: Vec<_> = clients
        .iter()
        .zip(guesses)
        .map(|(c, g)| {
            let c = c.clone();
            tokio::spawn(async move { c.call(g).await.unwrap_err() })
        })
        .collect();
    let mut errors = Vec::new();
    for t in tasks {
        errors.push(t.await.unwrap());
    }
    errors
}

/// The number of `code` among `errors`; every `rate_limited` must carry a hint.
fn count(errors: &[ClientError], code: ErrorCode) -> usize {
    for e in errors.iter().filter(|e| e.code() == Some(ErrorCode::RateLimited)) {
        assert!(e.retry_after().is_some_and(|w| w > Duration::ZERO), "no retry hint: {e}");
    }
    errors.iter().filter(|e| e.code() == Some(code)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_are_counted_before_they_are_checked() {
    let server = TestServer::start_with(Backend::Sqlite, &["--login-max-failures", "3"]).await.unwrap();
    server.user("alice").await;
    let clients = clients_from(&server, "127.0.0.2", 40).await;
    let errors = guess_at_once(&clients, (0..40).map(|_| login("alice", "wrong password")).collect()).await;
    assert_eq!(count(&errors, ErrorCode::InvalidCredentials), 3, "only the allowed guesses are checked");
    assert_eq!(count(&errors, ErrorCode::RateLimited), 37);
    // The pair is locked now, whatever the password.
    assert_eq!(code(clients[0].call(login("alice", PASSWORD)).await), ErrorCode::RateLimited);
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_address_stops_at_its_limit_and_resume_still_works() {
    // Lifted connection caps: every guess gets as far as the login throttle.
    let caps = ["--max-connections-per-addr", "1000", "--max-unauthenticated", "1000"];
    let server = TestServer::start_with(Backend::Sqlite, &caps).await.unwrap();
    let alice = server.user("alice").await;
    let clients = clients_from(&server, "127.0.0.3", 200).await;
    let guesses = (0..200).map(|i| login(&format!("victim{i}"), "wrong password")).collect();
    let errors = guess_at_once(&clients, guesses).await;
    let checked = count(&errors, ErrorCode::InvalidCredentials);
    assert!(checked <= 30, "{checked} guesses checked; the address allows 30");
    assert_eq!(checked + count(&errors, ErrorCode::RateLimited), 200);
    // Spend what is left of the address's allowance: then it is refused...
    let c = &clients[0];
    for i in 0.. {
        match c.call(login(&format!("more{i}"), "wrong password")).await {
            Err(e) if e.code() == Some(ErrorCode::RateLimited) => break,
            Err(e) if e.code() == Some(ErrorCode::InvalidCredentials) => assert!(checked + i < 30),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(code(c.call(login("alice", PASSWORD)).await), ErrorCode::RateLimited);
    // ... but a valid token is no guess: alice resumes from that very address.
    let resumed = c.call(Resume { token: alice.token.clone(), device: None }).await.unwrap();
    assert_eq!(resumed.user_id, alice.user_id);
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_slow_a_username_down_but_never_lock_its_owner_out() {
    let args = ["--login-free-failures", "2", "--login-max-delay", "2"];
    let server = TestServer::start_with(Backend::Sqlite, &args).await.unwrap();
    let alice = server.user("alice").await;
    // Strangers on two addresses guess alice's password, again and again.
    let mut refused = 0;
    for ip in ["127.0.0.2", "127.0.0.3"] {
        let c = server.connect_from(ip).await.client;
        for _ in 0..10 {
            let e = c.call(login("alice", "wrong password")).await.unwrap_err();
            match e.code() {
                Some(ErrorCode::InvalidCredentials) => {}
                Some(ErrorCode::RateLimited) => {
                    let wait = e.retry_after().unwrap();
                    assert!(wait <= Duration::from_secs(2), "the delay is capped: {wait:?}");
                    refused += 1;
                }
                _ => panic!("{e}"),
            }
        }
    }
    assert!(refused > 0, "the username was slowed down");
    // Throttled as alice is, her token still resumes.
    let phone = server.connect_from("127.0.0.2").await.client;
    phone.call(Resume { token: alice.token.clone(), device: None }).await.unwrap();
    // The owner, from elsewhere, gets in after at most the capped delay.
    let owner = server.connect_from("127.0.0.4").await.client;
    if let Err(e) = owner.call(login("alice", PASSWORD)).await {
        assert_eq!(e.code(), Some(ErrorCode::RateLimited), "{e}");
        let wait = e.retry_after().unwrap();
        assert!(wait <= Duration::from_secs(2), "{wait:?}");
        // The server named the time; waiting for it is the condition.
        tokio::time::sleep(wait).await;
        owner.call(login("alice", PASSWORD)).await.unwrap();
    }
    server.finish().await;
}
