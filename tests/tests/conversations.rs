//! The listing of conversations pages with a cursor that never skips one, even when
//! hundreds share one activity timestamp (group commit gives a whole batch one), and
//! the client's catch-up sees every one of them.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::HashSet;

use chat_proto::model::Target;
use chat_proto::request::Conversations;
use chat_server::store::{AppendOutcome, AppendRequest, FriendRequestOutcome, SendTo, UserRef};
use chat_tests::{Backend, TestServer, backend_tests, code};

backend_tests!(conversations_with_one_timestamp_page_without_skipping);

const FRIENDS: usize = 240;

async fn conversations_with_one_timestamp_page_without_skipping(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let alice = server.user("alice").await;
    // Friends made through the store: hashing 240 passwords over the wire would
    // spend the test's time for nothing.
    let store = server.db.as_ref().unwrap().open_store().await;
    let now = 1_765_000_000_000;
    let mut batch = Vec::new();
    for i in 0..FRIENDS {
        let name = format!("friend{i:03}");
        let id = store.create_user(&name, "$argon2id$unused", now).await.unwrap();
        let FriendRequestOutcome::Created { request_id } =
            store.friend_request(id, alice.user_id, "", u64::MAX, now).await.unwrap()
        else {
            panic!("not created")
        };
        store.friend_respond(request_id, alice.user_id, true, now).await.unwrap();
        batch.push(AppendRequest::Text {
            sender: UserRef { id, username: name },
            to: SendTo::User("alice".into()),
            body: "hi".into(),
            client_msg_id: None,
        });
    }
    // One batch, one commit, one timestamp for all 240.
    for outcome in store.append(&batch, now).await.unwrap() {
        assert!(matches!(outcome, AppendOutcome::Stored { .. }), "{outcome:?}");
    }

    // Paged by 7, following `next`: every conversation exactly once.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = alice.client.call(Conversations { limit: Some(7), before: None, cursor }).await.unwrap();
        assert!(page.conversations.iter().all(|c| c.activity == now));
        seen.extend(page.conversations.into_iter().map(|c| c.with));
        cursor = page.next;
        if !page.more {
            assert!(cursor.is_none(), "no `next` on the last page");
            break;
        }
    }
    let distinct: HashSet<&Target> = seen.iter().collect();
    assert_eq!((seen.len(), distinct.len()), (FRIENDS, FRIENDS));

    // The client library's full listing (the catch-up's) sees them all too.
    assert_eq!(chat_tui::pages::conversations(&alice.client).await.unwrap().len(), FRIENDS);

    // A cursor the server did not give is refused, not guessed at.
    for bad in ["oops", "1|x:1", "1|g:1 OR 1=1"] {
        let call = Conversations { limit: None, before: None, cursor: Some(bad.into()) };
        assert_eq!(code(alice.client.call(call).await), chat_proto::ErrorCode::BadRequest);
    }
    server.finish().await;
}
