//! The Friends section end to end, on SQLite and MariaDB: requests, responses,
//! removal, presence and blocking, live and across logout/login.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chat_proto::ErrorCode;
use chat_proto::event::{self, Event};
use chat_proto::request::{
    Block, DeleteAccount, FriendList, FriendRemove, FriendRequest, FriendRequests, FriendRespond, Unblock,
};
use chat_tests::{Backend, PASSWORD, TestServer, User, backend_tests, code};

backend_tests!(
    request_and_accept,
    request_and_reject,
    crossing_requests_befriend_at_once,
    refusals,
    removal_tells_the_other_side,
    presence_follows_first_and_last_connection,
    requests_wait_for_an_offline_user,
    blocking_stops_requests_and_presence_both_ways,
    deleting_an_account_ends_its_friendships,
);

fn request(user: &str, note: Option<&str>) -> FriendRequest {
    FriendRequest { user: user.into(), note: note.map(Into::into) }
}

fn presence(user: &User, online: bool) -> Event {
    Event::Presence(event::Presence { user: user.username.clone(), user_id: user.user_id, online })
}

async fn friends_of(u: &User) -> Vec<(String, bool, bool)> {
    let list = u.client.call(FriendList {}).await.unwrap().friends;
    list.into_iter().map(|f| (f.username, f.online, f.blocked)).collect()
}

/// Makes `a` and `b` friends, consuming the events it causes.
pub async fn befriend(a: &mut User, b: &mut User) {
    let r = a.client.call(request(&b.username, None)).await.unwrap();
    b.client.call(FriendRespond { request_id: r.request_id, accept: true }).await.unwrap();
    a.events_so_far().await;
    b.events_so_far().await;
}

async fn request_and_accept(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;

    let r = alice.client.call(request("BOB", Some("hi, it's alice"))).await.unwrap();
    assert!(!r.accepted);
    let expected = event::FriendRequest {
        request_id: r.request_id,
        from: "alice".into(),
        from_id: alice.user_id,
        note: "hi, it's alice".into(),
    };
    assert_eq!(bob.events_so_far().await, vec![Event::FriendRequest(expected)]);

    // Asking again changes nothing and tells nobody twice.
    let again = alice.client.call(request("bob", Some("hello?"))).await.unwrap();
    assert_eq!(again.request_id, r.request_id);
    assert!(bob.events_so_far().await.is_empty());

    let incoming = bob.client.call(FriendRequests::default()).await.unwrap();
    assert_eq!(incoming.incoming.len(), 1);
    assert_eq!((incoming.incoming[0].from.as_str(), incoming.incoming[0].from_id), ("alice", alice.user_id));
    assert_eq!(incoming.incoming[0].note, "hi, it's alice");
    assert!(incoming.outgoing.is_empty());
    let outgoing = alice.client.call(FriendRequests::default()).await.unwrap();
    assert_eq!((outgoing.outgoing[0].to.as_str(), outgoing.outgoing[0].request_id), ("bob", r.request_id));

    bob.client.call(FriendRespond { request_id: r.request_id, accept: true }).await.unwrap();
    let response = event::FriendResponse {
        request_id: r.request_id,
        user: "bob".into(),
        user_id: bob.user_id,
        accepted: true,
    };
    assert_eq!(alice.events_so_far().await, vec![Event::FriendResponse(response), presence(&bob, true)]);
    assert_eq!(bob.events_so_far().await, vec![presence(&alice, true)]);

    assert_eq!(friends_of(&alice).await, vec![("bob".into(), true, false)]);
    assert_eq!(friends_of(&bob).await, vec![("alice".into(), true, false)]);
    let none = bob.client.call(FriendRequests::default()).await.unwrap();
    assert!(none.incoming.is_empty() && none.outgoing.is_empty());
    server.finish().await;
}

async fn request_and_reject(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let mut alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let r = alice.client.call(request("bob", None)).await.unwrap();
    bob.client.call(FriendRespond { request_id: r.request_id, accept: false }).await.unwrap();
    let response = event::FriendResponse {
        request_id: r.request_id,
        user: "bob".into(),
        user_id: bob.user_id,
        accepted: false,
    };
    assert_eq!(alice.events_so_far().await, vec![Event::FriendResponse(response)]);
    assert!(friends_of(&alice).await.is_empty());
    assert_eq!(
        code(bob.client.call(FriendRespond { request_id: r.request_id, accept: true }).await),
        ErrorCode::NotFound,
        "an answered request is gone"
    );
    // A new request may follow a rejection.
    let r2 = alice.client.call(request("bob", None)).await.unwrap();
    assert_ne!(r2.request_id, r.request_id);
    server.finish().await;
}

async fn crossing_requests_befriend_at_once(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let r = alice.client.call(request("bob", None)).await.unwrap();
    bob.events_so_far().await;
    let crossing = bob.client.call(request("alice", None)).await.unwrap();
    assert!(crossing.accepted);
    assert_eq!(crossing.request_id, r.request_id, "the pending request is the one accepted");
    let to_alice = event::FriendResponse {
        request_id: r.request_id,
        user: "bob".into(),
        user_id: bob.user_id,
        accepted: true,
    };
    let to_bob = event::FriendResponse {
        request_id: r.request_id,
        user: "alice".into(),
        user_id: alice.user_id,
        accepted: true,
    };
    assert_eq!(alice.events_so_far().await, vec![Event::FriendResponse(to_alice), presence(&bob, true)]);
    assert_eq!(bob.events_so_far().await, vec![Event::FriendResponse(to_bob), presence(&alice, true)]);
    assert_eq!(friends_of(&alice).await.len(), 1);
    server.finish().await;
}

async fn refusals(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let c = &alice.client;
    assert_eq!(code(c.call(request("nobody", None)).await), ErrorCode::NotFound);
    assert_eq!(code(c.call(request("no such name!", None)).await), ErrorCode::BadRequest);
    assert_eq!(code(c.call(request("ALICE", None)).await), ErrorCode::Conflict, "to self");
    assert_eq!(code(c.call(request("carol", Some(&"n".repeat(257)))).await), ErrorCode::BadRequest);
    befriend(&mut alice, &mut bob).await;
    let c = &alice.client;
    assert_eq!(code(c.call(request("bob", None)).await), ErrorCode::Conflict, "already friends");
    // Only the addressee answers a request.
    let r = c.call(request("carol", None)).await.unwrap();
    assert_eq!(
        code(c.call(FriendRespond { request_id: r.request_id, accept: true }).await),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(bob.client.call(FriendRespond { request_id: r.request_id, accept: true }).await),
        ErrorCode::NotFound
    );
    assert_eq!(code(c.call(FriendRespond { request_id: 999_999, accept: true }).await), ErrorCode::NotFound);
    assert_eq!(
        code(c.call(FriendRemove { user: "carol".into() }).await),
        ErrorCode::NotFound,
        "pending is not friends"
    );
    assert_eq!(code(c.call(FriendRemove { user: "nobody".into() }).await), ErrorCode::NotFound);
    assert_eq!(code(c.call(Block { user: "nobody".into() }).await), ErrorCode::NotFound);
    assert_eq!(code(c.call(Block { user: "alice".into() }).await), ErrorCode::BadRequest);
    assert_eq!(code(c.call(Unblock { user: "carol".into() }).await), ErrorCode::NotFound, "not blocked");
    assert_eq!(code(c.call(Unblock { user: "nobody".into() }).await), ErrorCode::NotFound);
    // None of that changed anything.
    assert_eq!(friends_of(&alice).await, vec![("bob".into(), true, false)]);
    assert_eq!(carol.client.call(FriendRequests::default()).await.unwrap().incoming.len(), 1);
    server.finish().await;
}

async fn removal_tells_the_other_side(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    befriend(&mut alice, &mut bob).await;
    alice.client.call(FriendRemove { user: "Bob".into() }).await.unwrap();
    let removed = event::FriendRemoved { user: "alice".into(), user_id: alice.user_id };
    assert_eq!(bob.events_so_far().await, vec![Event::FriendRemoved(removed)]);
    assert!(friends_of(&alice).await.is_empty());
    assert!(friends_of(&bob).await.is_empty());
    assert_eq!(code(alice.client.call(FriendRemove { user: "bob".into() }).await), ErrorCode::NotFound);
    server.finish().await;
}

async fn presence_follows_first_and_last_connection(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    befriend(&mut alice, &mut bob).await;

    // A second device is not news; the last one leaving is.
    let bob_phone = server.login("bob").await;
    assert!(alice.events_so_far().await.is_empty());
    bob.client.call(chat_proto::request::Logout {}).await.unwrap();
    assert!(alice.events_so_far().await.is_empty(), "bob's phone is still online");
    assert_eq!(friends_of(&alice).await, vec![("bob".into(), true, false)]);
    // The phone's connection drops without a logout.
    drop(bob_phone);
    assert_eq!(alice.next_event().await, presence(&bob, false));
    assert_eq!(friends_of(&alice).await, vec![("bob".into(), false, false)]);

    let bob_again = server.login("bob").await;
    assert_eq!(alice.next_event().await, presence(&bob_again, true));
    server.finish().await;
}

async fn requests_wait_for_an_offline_user(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    bob.client.call(chat_proto::request::Logout {}).await.unwrap();
    drop(bob);
    let r = alice.client.call(request("bob", Some("while you were out"))).await.unwrap();
    let mut bob = server.login("bob").await;
    assert!(bob.events_so_far().await.is_empty(), "the live event was missed");
    let pending = bob.client.call(FriendRequests::default()).await.unwrap();
    assert_eq!(pending.incoming.len(), 1);
    assert_eq!(
        (pending.incoming[0].request_id, pending.incoming[0].note.as_str()),
        (r.request_id, "while you were out")
    );
    bob.client.call(FriendRespond { request_id: r.request_id, accept: true }).await.unwrap();
    assert_eq!(friends_of(&bob).await, vec![("alice".into(), true, false)]);
    server.finish().await;
}

async fn blocking_stops_requests_and_presence_both_ways(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let mut dave = server.user("dave").await;

    // A block drops pending requests in both directions, and refuses new ones both
    // ways with the op's one refusal text.
    dave.client.call(request("carol", None)).await.unwrap();
    carol.client.call(Block { user: "dave".into() }).await.unwrap();
    carol.client.call(Block { user: "dave".into() }).await.unwrap(); // idempotent
    assert!(carol.client.call(FriendRequests::default()).await.unwrap().incoming.is_empty());
    assert!(dave.client.call(FriendRequests::default()).await.unwrap().outgoing.is_empty());
    for (from, to) in [(&dave, "carol"), (&carol, "dave")] {
        let err = from.client.call(request(to, None)).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::Forbidden));
        assert!(err.to_string().contains(chat_server::service::friends::REQUEST_REFUSED), "{err}");
    }
    dave.events_so_far().await;

    // Between friends, a block hides presence in both directions.
    befriend(&mut alice, &mut bob).await;
    alice.client.call(Block { user: "bob".into() }).await.unwrap();
    assert_eq!(friends_of(&alice).await, vec![("bob".into(), false, true)]);
    assert_eq!(friends_of(&bob).await, vec![("alice".into(), false, false)], "bob is not told he is blocked");
    let bob_id = bob.user_id;
    drop(bob);
    let bob = server.login("bob").await;
    assert!(alice.events_so_far().await.is_empty(), "no presence across a block");
    drop(alice);
    let mut alice = server.login("alice").await;
    let mut bob = bob;
    assert!(bob.events_so_far().await.is_empty(), "nor the other way");

    alice.client.call(Unblock { user: "bob".into() }).await.unwrap();
    assert_eq!(friends_of(&alice).await, vec![("bob".into(), true, false)]);
    drop(bob);
    assert_eq!(
        alice.next_event().await,
        Event::Presence(event::Presence { user: "bob".into(), user_id: bob_id, online: false })
    );
    server.finish().await;
}

async fn deleting_an_account_ends_its_friendships(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let carol = server.user("carol").await;
    befriend(&mut alice, &mut bob).await;
    carol.client.call(request("bob", None)).await.unwrap();
    bob.client.call(DeleteAccount { password: PASSWORD.into() }).await.unwrap();
    let removed = event::FriendRemoved { user: "bob".into(), user_id: bob.user_id };
    assert_eq!(alice.events_so_far().await, vec![Event::FriendRemoved(removed)]);
    assert!(friends_of(&alice).await.is_empty());
    assert!(
        carol.client.call(FriendRequests::default()).await.unwrap().outgoing.is_empty(),
        "pending request gone"
    );
    server.finish().await;
}
