//! Lists that strangers can grow stay usable (issue 9, item 8), replayed on SQLite
//! and MariaDB: control characters are refused, pending requests are capped, and a
//! target flooded with requests pages through every one of them, each exactly once,
//! in replies that fit the server's frame.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::sync::Arc;

use chat_proto::ErrorCode;
use chat_proto::model::Target;
use chat_proto::request::{
    FriendRequest, FriendRequests, FriendRespond, GroupCreate, GroupJoin, GroupRequests, GroupRespond, Send,
};
use chat_server::store::{FriendRequestOutcome, JoinOutcome, Store};
use chat_tests::{Backend, TestServer, backend_tests, code};

backend_tests!(
    a_flood_of_requests_pages_through_whole,
    control_characters_are_refused,
    pending_requests_are_capped
);

/// Small frames, so that a few dozen requests already need several of them.
const SMALL_FRAME: &[&str] = &["--max-frame", "8192", "--max-body", "1024"];
const NOW: i64 = 1_763_800_000_000;

/// Throwaway accounts made through the store: hashing passwords over the wire would
/// spend the test's time.
async fn throwaways(store: &Arc<dyn Store>, prefix: &str, n: usize) -> Vec<u64> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(store.create_user(&format!("{prefix}{i:03}"), "$argon2id$unused", NOW).await.unwrap());
    }
    ids
}

fn max_note() -> String {
    "群".repeat(256)
}

async fn a_flood_of_requests_pages_through_whole(b: Backend) {
    let Some(server) = TestServer::start_with(b, SMALL_FRAME).await else {
        return;
    };
    let target = server.user("target").await;
    let g =
        target.client.call(GroupCreate { name: "club".into(), description: None }).await.unwrap().group_id;
    let store = server.db.as_ref().unwrap().open_store().await;
    let flood = throwaways(&store, "thrower", 40).await;
    let mut friend_ids = BTreeSet::new();
    let mut join_ids = BTreeSet::new();
    for &u in &flood {
        let FriendRequestOutcome::Created { request_id } =
            store.friend_request(u, target.user_id, &max_note(), 1000, NOW).await.unwrap()
        else {
            panic!()
        };
        friend_ids.insert(request_id);
        let JoinOutcome::Pending { request_id, .. } =
            store.group_join(g, u, &max_note(), 1000, NOW).await.unwrap()
        else {
            panic!()
        };
        join_ids.insert(request_id);
    }
    // The target's own request goes out too: outgoing pages with incoming.
    let outgoing = throwaways(&store, "wanted", 1).await[0];
    let FriendRequestOutcome::Created { request_id: out_id } =
        store.friend_request(target.user_id, outgoing, "", 1000, NOW).await.unwrap()
    else {
        panic!()
    };

    // Page by page, while requests come and go between pages: one already seen is
    // answered, a new one arrives. Every request present throughout is seen once.
    let mut seen = Vec::new();
    let mut seen_out = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    let mut late = None;
    loop {
        let page = target.client.call(FriendRequests { cursor, limit: None }).await.unwrap();
        pages += 1;
        assert!(pages < 100, "paging does not end");
        seen.extend(page.incoming.iter().map(|r| r.request_id));
        seen_out.extend(page.outgoing.iter().map(|r| r.request_id));
        assert!(page.incoming.iter().all(|r| r.note == max_note()));
        if pages == 1 {
            let first = page.incoming[0].request_id;
            target.client.call(FriendRespond { request_id: first, accept: false }).await.unwrap();
            let newcomer = throwaways(&store, "late", 1).await[0];
            let FriendRequestOutcome::Created { request_id } =
                store.friend_request(newcomer, target.user_id, &max_note(), 1000, NOW).await.unwrap()
            else {
                panic!()
            };
            late = Some(request_id);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert!(pages >= 4, "40 max-size notes need several 8 KiB frames, got {pages} pages");
    let unique: BTreeSet<u64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "a request listed twice");
    friend_ids.insert(late.unwrap());
    assert_eq!(unique, friend_ids, "every request, the late one included");
    assert_eq!(seen_out, [out_id]);

    // A page limit below the frame's.
    let page = target.client.call(FriendRequests { cursor: None, limit: Some(3) }).await.unwrap();
    assert_eq!(page.incoming.len() + page.outgoing.len(), 3);
    assert!(page.next.is_some());

    // The client library follows `next` to the end.
    let all = chat_tui::pages::friend_requests(&target.client).await.unwrap();
    assert_eq!(all.incoming.len(), friend_ids.len() - 1, "all but the one answered");
    assert_eq!(all.outgoing.len(), 1);
    let joins = chat_tui::pages::group_requests(&target.client, g).await.unwrap();
    assert_eq!(joins.iter().map(|r| r.request_id).collect::<BTreeSet<_>>(), join_ids);
    assert_eq!(joins.len(), join_ids.len(), "each join request once");
    let first = target.client.call(GroupRequests { group_id: g, cursor: None, limit: None }).await.unwrap();
    assert!(first.requests.len() < join_ids.len() && first.next.is_some(), "cut to the frame");

    // A cursor that is no id is refused.
    for bad in [0, 1 << 53] {
        let r = target.client.call(FriendRequests { cursor: Some(bad), limit: None }).await;
        assert_eq!(code(r), ErrorCode::BadRequest);
        let r = target.client.call(GroupRequests { group_id: g, cursor: Some(bad), limit: None }).await;
        assert_eq!(code(r), ErrorCode::BadRequest);
    }
    store.close().await;
    server.finish().await;
}

async fn control_characters_are_refused(b: Backend) {
    let Some(server) = TestServer::start_with(b, SMALL_FRAME).await else {
        return;
    };
    let target = server.user("target").await;
    let thrower = server.user("thrower").await;
    // The attack: notes of 256 ESC characters.
    let esc = "\u{1b}".repeat(256);
    let r = thrower.client.call(FriendRequest { user: "target".into(), note: Some(esc.clone()) }).await;
    assert_eq!(code(r), ErrorCode::BadRequest);
    let pending = target.client.call(FriendRequests::default()).await.unwrap();
    assert!(pending.incoming.is_empty(), "a refused request stores nothing");

    let g =
        target.client.call(GroupCreate { name: "club".into(), description: None }).await.unwrap().group_id;
    let r = thrower.client.call(GroupJoin { group_id: g, note: Some(esc.clone()) }).await;
    assert_eq!(code(r), ErrorCode::BadRequest);
    for description in ["\u{1b}[2J", "two\nlines"] {
        let r =
            target.client.call(GroupCreate { name: "x".into(), description: Some(description.into()) }).await;
        assert_eq!(code(r), ErrorCode::BadRequest, "{description:?}");
    }
    let r = target.client.call(GroupCreate { name: "a\u{1b}b".into(), description: None }).await;
    assert_eq!(code(r), ErrorCode::BadRequest);

    // Bodies: line breaks and tabs are text, other control characters are not.
    let send =
        |body: &str| Send { to: Target::Group(g), body: body.into(), client_msg_id: None, file_id: None };
    target.client.call(send("two\nlines\tand a tab")).await.unwrap();
    for body in ["\u{1b}]0;pwned\u{7}", "carriage\rreturn", "\u{0}", "\u{9b}31m"] {
        assert_eq!(code(target.client.call(send(body)).await), ErrorCode::BadRequest, "{body:?}");
    }
    // Valid notes still pass.
    let join = thrower.client.call(GroupJoin { group_id: g, note: Some(max_note()) }).await.unwrap();
    target.client.call(GroupRespond { request_id: join.request_id, accept: true }).await.unwrap();
    server.finish().await;
}

async fn pending_requests_are_capped(b: Backend) {
    let args = ["--max-pending-friend-requests", "3", "--max-pending-join-requests", "3"];
    let Some(server) = TestServer::start_with(b, &args).await else {
        return;
    };
    let target = server.user("target").await;
    let g =
        target.client.call(GroupCreate { name: "club".into(), description: None }).await.unwrap().group_id;
    let store = server.db.as_ref().unwrap().open_store().await;
    for u in throwaways(&store, "thrower", 3).await {
        store.friend_request(u, target.user_id, "", 3, NOW).await.unwrap();
        store.group_join(g, u, "", 3, NOW).await.unwrap();
    }
    store.close().await;
    let honest = server.user("honest").await;
    let r = honest.client.call(FriendRequest { user: "target".into(), note: None }).await;
    let err = r.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Conflict));
    assert!(err.to_string().contains("too many pending"), "{err}");
    let r = honest.client.call(GroupJoin { group_id: g, note: None }).await;
    assert_eq!(code(r), ErrorCode::Conflict);
    // Nothing was dropped to make room, and answering one makes room again.
    let pending = target.client.call(FriendRequests::default()).await.unwrap().incoming;
    assert_eq!(pending.len(), 3);
    target.client.call(FriendRespond { request_id: pending[0].request_id, accept: false }).await.unwrap();
    honest.client.call(FriendRequest { user: "target".into(), note: None }).await.unwrap();
    let joins = target.client.call(GroupRequests { group_id: g, cursor: None, limit: None }).await.unwrap();
    assert_eq!(joins.requests.len(), 3);
    server.finish().await;
}
