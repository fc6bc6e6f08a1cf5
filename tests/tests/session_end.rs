//! A session ends everywhere at once: `logout` closes every connection that used its
//! token, and a connection whose session expires is closed when it does.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chat_proto::ErrorCode;
use chat_proto::Event;
use chat_proto::event::{CloseReason, Closing};
use chat_proto::request::{FriendList, Logout, Ping, Resume};
use chat_tests::{Backend, TestServer, WAIT, backend_tests, code, expect_event};
use chat_tui::client::ClientError;

backend_tests!(logout_ends_every_connection_of_that_token, an_expired_session_closes_its_connections);

async fn logout_ends_every_connection_of_that_token(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let alice = server.user("alice").await;
    // A second device resumed with the same token, and a third with a session of its own.
    let same = server.connect().await;
    same.client.call(Resume { token: alice.token.clone(), device: None }).await.unwrap();
    let mut same_events = same.events;
    let mut other = server.login("alice").await;

    alice.client.call(Logout {}).await.unwrap();
    match tokio::time::timeout(WAIT, same_events.recv()).await.unwrap().map(expect_event) {
        Some(Event::Closing(Closing { reason })) => assert_eq!(reason, CloseReason::LoggedOut),
        e => panic!("unexpected {e:?}"),
    }
    tokio::time::timeout(WAIT, same.client.closed()).await.unwrap();
    assert!(matches!(same.client.call(FriendList {}).await, Err(ClientError::Disconnected)));
    // The logged-out connection itself stays, logged out; the other session is untouched.
    assert_eq!(code(alice.client.call(FriendList {}).await), ErrorCode::Unauthenticated);
    other.client.call(FriendList {}).await.unwrap();
    assert!(other.events_so_far().await.is_empty());
    let again = server.connect().await.client;
    assert_eq!(
        code(again.call(Resume { token: alice.token.clone(), device: None }).await),
        ErrorCode::InvalidCredentials
    );
    server.finish().await;
}

async fn an_expired_session_closes_its_connections(b: Backend) {
    // 0.00003 days: 2.6 s.
    let Some(server) = TestServer::start_with(b, &["--session-ttl-days", "0.00003"]).await else {
        return;
    };
    let mut alice = server.user("alice").await;
    let resumed = server.connect().await;
    resumed.client.call(Resume { token: alice.token.clone(), device: None }).await.unwrap();
    let mut resumed_events = resumed.events;
    for events in [&mut alice.events, &mut resumed_events] {
        loop {
            match tokio::time::timeout(WAIT, events.recv()).await.unwrap().map(expect_event) {
                Some(Event::Closing(Closing { reason })) => {
                    assert_eq!(reason, CloseReason::SessionExpired);
                    break;
                }
                Some(Event::Presence(_)) => {}
                e => panic!("unexpected {e:?}"),
            }
        }
    }
    tokio::time::timeout(WAIT, alice.client.closed()).await.unwrap();
    let again = server.connect().await.client;
    again.call(Ping {}).await.unwrap();
    assert_eq!(
        code(again.call(Resume { token: alice.token.clone(), device: None }).await),
        ErrorCode::InvalidCredentials
    );
    server.finish().await;
}
