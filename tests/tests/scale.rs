//! A user with thousands of friends and a group of the largest default size: their
//! lists come back whole (each in one query; see docs/PROTOCOL.md's cost table).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chat_proto::model::Role;
use chat_proto::request::{FriendList, GroupCreate, GroupInfo, GroupMembers};
use chat_tests::{Backend, TestServer, backend_tests};

backend_tests!(thousands_of_friends_and_a_full_group);

const FRIENDS: usize = 2500;
const MEMBERS: u64 = 2000;

async fn thousands_of_friends_and_a_full_group(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let alice = server.user("alice").await;
    let g =
        alice.client.call(GroupCreate { name: "everyone".into(), description: None }).await.unwrap().group_id;
    // Filled through the store directly: registering thousands of users over the
    // wire would spend the test's time on password hashing.
    let store = server.db.as_ref().unwrap().open_store().await;
    let now = 1_763_800_000_000;
    for i in 0..FRIENDS {
        let id = store.create_user(&format!("friend{i:05}"), "$argon2id$unused", now).await.unwrap();
        let outcome = store.friend_request(id, alice.user_id, "", u64::MAX, now).await.unwrap();
        let chat_server::store::FriendRequestOutcome::Created { request_id } = outcome else {
            panic!("{outcome:?}")
        };
        store.friend_respond(request_id, alice.user_id, true, now).await.unwrap();
        if (i as u64) < MEMBERS - 1 {
            let chat_server::store::JoinOutcome::Pending { request_id, .. } =
                store.group_join(g, id, "", u64::MAX, now).await.unwrap()
            else {
                panic!()
            };
            store.group_respond(request_id, alice.user_id, true, MEMBERS, now).await.unwrap().unwrap();
        }
    }
    store.close().await;

    let friends = alice.client.call(FriendList {}).await.unwrap().friends;
    assert_eq!(friends.len(), FRIENDS);
    assert_eq!(friends[0].username, "friend00000");
    assert!(friends.iter().all(|f| !f.online && !f.blocked));

    let members = alice.client.call(GroupMembers { group_id: g }).await.unwrap().members;
    assert_eq!(members.len() as u64, MEMBERS);
    assert_eq!(
        (members[0].username.as_str(), members[0].role, members[0].online),
        ("alice", Role::Owner, true)
    );
    assert_eq!(alice.client.call(GroupInfo { group_id: g }).await.unwrap().member_count, MEMBERS);
    server.finish().await;
}
