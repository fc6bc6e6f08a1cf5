//! The Groups section end to end, on SQLite and MariaDB: creation, discovery,
//! joining by approval, roles, leaving, kicking, dissolving, and their events.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chat_proto::ErrorCode;
use chat_proto::event::{self, Event};
use chat_proto::model::{LeaveReason, Role};
use chat_proto::request::{
    Block, DeleteAccount, GroupCreate, GroupDissolve, GroupInfo, GroupJoin, GroupKick, GroupLeave, GroupList,
    GroupMembers, GroupRequests, GroupRespond, GroupSearch, GroupSetRole,
};
use chat_tests::{Backend, PASSWORD, TestServer, User, backend_tests, code};

backend_tests!(
    create_info_list_and_search,
    join_by_approval,
    rejection_and_repeated_requests,
    roles_decide_who_may_do_what,
    leaving_and_dissolving,
    a_full_group_refuses_more,
    join_requests_wait_for_an_offline_owner,
    deleting_an_account_dissolves_and_leaves,
    a_block_hides_presence_among_members,
);

async fn create(u: &User, name: &str) -> u64 {
    u.client
        .call(GroupCreate { name: name.into(), description: Some(format!("about {name}")) })
        .await
        .unwrap()
        .group_id
}

/// Adds `user` to the group through a request the owner accepts; consumes events.
pub async fn add(owner: &mut User, user: &mut User, group_id: u64) {
    let r = user.client.call(GroupJoin { group_id, note: None }).await.unwrap();
    owner.client.call(GroupRespond { request_id: r.request_id, accept: true }).await.unwrap();
    owner.events_so_far().await;
    user.events_so_far().await;
}

async fn pending(u: &User, group_id: u64) -> usize {
    u.client.call(GroupRequests { group_id, cursor: None, limit: None }).await.unwrap().requests.len()
}

async fn members(u: &User, group_id: u64) -> Vec<(String, Role, bool)> {
    let m = u.client.call(GroupMembers { group_id }).await.unwrap().members;
    m.into_iter().map(|m| (m.username, m.role, m.online)).collect()
}

fn joined(group_id: u64, u: &User) -> Event {
    Event::GroupMemberJoined(event::GroupMemberJoined {
        group_id,
        user: u.username.clone(),
        user_id: u.user_id,
    })
}

fn left(group_id: u64, u: &User, reason: LeaveReason) -> Event {
    Event::GroupMemberLeft(event::GroupMemberLeft {
        group_id,
        user: u.username.clone(),
        user_id: u.user_id,
        reason,
    })
}

async fn create_info_list_and_search(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let rust = create(&alice, "Rust Lovers").await;
    let cjk = create(&bob, "中文 Rust 群").await;
    let pct = bob
        .client
        .call(GroupCreate { name: "100% rust_fans".into(), description: None })
        .await
        .unwrap()
        .group_id;

    let info = bob.client.call(GroupInfo { group_id: rust }).await.unwrap();
    assert_eq!((info.name.as_str(), info.description.as_str()), ("Rust Lovers", "about Rust Lovers"));
    assert_eq!((info.owner.as_str(), info.owner_id, info.member_count), ("alice", alice.user_id, 1));
    assert_eq!(code(bob.client.call(GroupInfo { group_id: 999_999 }).await), ErrorCode::NotFound);

    let mine = alice.client.call(GroupList {}).await.unwrap().groups;
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0].group_id, mine[0].role), (rust, Role::Owner));

    let search = |q: &str| GroupSearch { query: q.into() };
    let found: Vec<u64> =
        bob.client.call(search("RUST")).await.unwrap().groups.iter().map(|g| g.group_id).collect();
    assert_eq!(found.len(), 3);
    assert!(found.contains(&rust) && found.contains(&cjk) && found.contains(&pct));
    let by = |q: &'static str| {
        let c = bob.client.clone();
        async move { c.call(search(q)).await.unwrap().groups.into_iter().map(|g| g.group_id).collect::<Vec<_>>() }
    };
    assert_eq!(by("中文").await, vec![cjk]);
    assert_eq!(by("0%").await, vec![pct], "wildcards are plain text");
    assert_eq!(by("t_f").await, vec![pct]);
    assert!(by("nothing like it").await.is_empty());
    assert_eq!(code(bob.client.call(search("  ")).await), ErrorCode::BadRequest);

    let bad = |name: &str| GroupCreate { name: name.into(), description: None };
    assert_eq!(code(alice.client.call(bad("")).await), ErrorCode::BadRequest);
    assert_eq!(code(alice.client.call(bad(&"x".repeat(65))).await), ErrorCode::BadRequest);
    let long = GroupCreate { name: "ok".into(), description: Some("d".repeat(257)) };
    assert_eq!(code(alice.client.call(long).await), ErrorCode::BadRequest);
    server.finish().await;
}

async fn join_by_approval(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let g = create(&alice, "club").await;

    let r = bob.client.call(GroupJoin { group_id: g, note: Some("let me in".into()) }).await.unwrap();
    let request = event::GroupJoinRequest {
        group_id: g,
        request_id: r.request_id,
        user: "bob".into(),
        user_id: bob.user_id,
        note: "let me in".into(),
    };
    assert_eq!(alice.events_so_far().await, vec![Event::GroupJoinRequest(request)]);
    let pending =
        alice.client.call(GroupRequests { group_id: g, cursor: None, limit: None }).await.unwrap().requests;
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].request_id, pending[0].user.as_str(), pending[0].note.as_str()),
        (r.request_id, "bob", "let me in")
    );
    assert_eq!(code(bob.client.call(GroupMembers { group_id: g }).await), ErrorCode::NotMember, "not yet");

    alice.client.call(GroupRespond { request_id: r.request_id, accept: true }).await.unwrap();
    let response = event::GroupJoinResponse { group_id: g, request_id: r.request_id, accepted: true };
    assert_eq!(bob.events_so_far().await, vec![Event::GroupJoinResponse(response), joined(g, &bob)]);
    assert_eq!(alice.events_so_far().await, vec![joined(g, &bob)]);

    assert_eq!(
        members(&bob, g).await,
        vec![("alice".into(), Role::Owner, true), ("bob".into(), Role::Member, true)]
    );
    assert_eq!(bob.client.call(GroupInfo { group_id: g }).await.unwrap().member_count, 2);
    assert!(
        alice
            .client
            .call(GroupRequests { group_id: g, cursor: None, limit: None })
            .await
            .unwrap()
            .requests
            .is_empty()
    );
    assert_eq!(code(bob.client.call(GroupJoin { group_id: g, note: None }).await), ErrorCode::Conflict);
    assert_eq!(code(bob.client.call(GroupJoin { group_id: 999_999, note: None }).await), ErrorCode::NotFound);
    drop(alice);
    // The server sees the close on its own time: ask until it has.
    let offline = async {
        while members(&bob, g).await[0] != ("alice".into(), Role::Owner, false) {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(chat_tests::WAIT, offline).await.expect("online follows connections");
    server.finish().await;
}

async fn rejection_and_repeated_requests(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let g = create(&alice, "club").await;
    let r = bob.client.call(GroupJoin { group_id: g, note: None }).await.unwrap();
    let again = bob.client.call(GroupJoin { group_id: g, note: Some("please".into()) }).await.unwrap();
    assert_eq!(again.request_id, r.request_id);
    assert_eq!(alice.events_so_far().await.len(), 1, "one request, one event");
    alice.client.call(GroupRespond { request_id: r.request_id, accept: false }).await.unwrap();
    let response = event::GroupJoinResponse { group_id: g, request_id: r.request_id, accepted: false };
    assert_eq!(bob.events_so_far().await, vec![Event::GroupJoinResponse(response)]);
    assert_eq!(code(bob.client.call(GroupMembers { group_id: g }).await), ErrorCode::NotMember);
    assert_eq!(
        code(alice.client.call(GroupRespond { request_id: r.request_id, accept: true }).await),
        ErrorCode::NotFound
    );
    server.finish().await;
}

async fn roles_decide_who_may_do_what(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let mut owner = server.user("olga").await;
    let mut admin = server.user("adam").await;
    let mut m1 = server.user("mia").await;
    let mut m2 = server.user("max").await;
    let g = create(&owner, "club").await;
    for u in [&mut admin, &mut m1, &mut m2] {
        add(&mut owner, u, g).await;
    }
    for u in [&mut admin, &mut m1, &mut m2] {
        u.events_so_far().await;
    }

    let set = |user: &str, role: Role| GroupSetRole { group_id: g, user: user.into(), role };
    owner.client.call(set("adam", Role::Admin)).await.unwrap();
    let changed = Event::GroupRoleChanged(event::GroupRoleChanged {
        group_id: g,
        user: "adam".into(),
        user_id: admin.user_id,
        role: Role::Admin,
    });
    for u in [&mut owner, &mut admin, &mut m1, &mut m2] {
        assert_eq!(u.events_so_far().await, vec![changed.clone()]);
    }
    owner.client.call(set("adam", Role::Admin)).await.unwrap();
    assert!(m1.events_so_far().await.is_empty(), "no change, no event");
    assert_eq!(code(owner.client.call(set("mia", Role::Owner)).await), ErrorCode::BadRequest);
    assert_eq!(code(admin.client.call(set("mia", Role::Admin)).await), ErrorCode::Forbidden);

    // An admin answers join requests and kicks members, but not admins or the owner.
    let mut newbie = server.user("nina").await;
    let r = newbie.client.call(GroupJoin { group_id: g, note: None }).await.unwrap();
    assert_eq!(admin.events_so_far().await.len(), 1, "admins hear of join requests");
    assert!(m1.events_so_far().await.is_empty(), "members do not");
    assert_eq!(pending(&admin, g).await, 1);
    admin.client.call(GroupRespond { request_id: r.request_id, accept: true }).await.unwrap();
    newbie.events_so_far().await;
    owner.events_so_far().await;
    let kick = |user: &str| GroupKick { group_id: g, user: user.into() };
    assert_eq!(code(admin.client.call(kick("olga")).await), ErrorCode::Forbidden);
    owner.client.call(set("max", Role::Admin)).await.unwrap();
    assert_eq!(code(admin.client.call(kick("max")).await), ErrorCode::Forbidden);
    assert_eq!(code(m1.client.call(kick("nina")).await), ErrorCode::Forbidden);
    admin.client.call(kick("nina")).await.unwrap();
    let gone = left(g, &newbie, LeaveReason::Kicked);
    assert!(newbie.events_so_far().await.contains(&gone), "the kicked user is told too");
    assert!(m1.events_so_far().await.contains(&gone));
    assert_eq!(code(newbie.client.call(GroupMembers { group_id: g }).await), ErrorCode::NotMember);

    // The owner may kick admins too, never itself.
    assert_eq!(code(owner.client.call(kick("olga")).await), ErrorCode::Forbidden);
    owner.client.call(kick("max")).await.unwrap();
    assert_eq!(code(owner.client.call(kick("max")).await), ErrorCode::NotMember);
    assert_eq!(code(owner.client.call(kick("nobody")).await), ErrorCode::NotFound);
    owner.client.call(set("adam", Role::Member)).await.unwrap();
    assert_eq!(
        members(&m1, g).await,
        vec![
            ("olga".into(), Role::Owner, true),
            ("adam".into(), Role::Member, true),
            ("mia".into(), Role::Member, true)
        ]
    );
    server.finish().await;
}

/// A group "club" of alice (its owner), bob and carol, all online.
async fn club(server: &TestServer) -> (User, User, User, u64) {
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let mut carol = server.user("carol").await;
    let g = create(&alice, "club").await;
    add(&mut alice, &mut bob, g).await;
    add(&mut alice, &mut carol, g).await;
    (alice, bob, carol, g)
}

async fn leaving_and_dissolving(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let (mut alice, mut bob, mut carol, g) = club(&server).await;
    bob.events_so_far().await;

    assert_eq!(
        code(alice.client.call(GroupLeave { group_id: g }).await),
        ErrorCode::Forbidden,
        "owner dissolves"
    );
    bob.client.call(GroupLeave { group_id: g }).await.unwrap();
    let gone = left(g, &bob, LeaveReason::Left);
    for u in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(u.events_so_far().await, vec![gone.clone()]);
    }
    assert_eq!(code(bob.client.call(GroupLeave { group_id: g }).await), ErrorCode::NotMember);
    assert!(bob.client.call(GroupList {}).await.unwrap().groups.is_empty());

    assert_eq!(code(carol.client.call(GroupDissolve { group_id: g }).await), ErrorCode::Forbidden);
    alice.client.call(GroupDissolve { group_id: g }).await.unwrap();
    let dissolved = Event::GroupDissolved(event::GroupDissolved { group_id: g });
    for u in [&mut alice, &mut carol] {
        assert_eq!(u.events_so_far().await, vec![dissolved.clone()]);
    }
    assert!(bob.events_so_far().await.is_empty(), "bob had left");
    // A dissolved group is gone for every op.
    assert_eq!(code(carol.client.call(GroupInfo { group_id: g }).await), ErrorCode::NotFound);
    assert_eq!(code(carol.client.call(GroupMembers { group_id: g }).await), ErrorCode::NotFound);
    assert_eq!(code(alice.client.call(GroupDissolve { group_id: g }).await), ErrorCode::NotFound);
    assert_eq!(code(bob.client.call(GroupJoin { group_id: g, note: None }).await), ErrorCode::NotFound);
    assert!(alice.client.call(GroupList {}).await.unwrap().groups.is_empty());
    assert!(carol.client.call(GroupSearch { query: "club".into() }).await.unwrap().groups.is_empty());
    server.finish().await;
}

async fn a_full_group_refuses_more(b: Backend) {
    let Some(server) = TestServer::start_with(b, &["--max-group-members", "2"]).await else {
        return;
    };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let g = create(&alice, "pair").await;
    let rc = carol.client.call(GroupJoin { group_id: g, note: None }).await.unwrap();
    add(&mut alice, &mut bob, g).await;
    let full = alice.client.call(GroupRespond { request_id: rc.request_id, accept: true }).await;
    assert_eq!(code(full), ErrorCode::Conflict);
    assert_eq!(alice.client.call(GroupInfo { group_id: g }).await.unwrap().member_count, 2);
    assert_eq!(pending(&alice, g).await, 1, "still pending");
    // Rejecting is always possible.
    alice.client.call(GroupRespond { request_id: rc.request_id, accept: false }).await.unwrap();
    server.finish().await;
}

async fn join_requests_wait_for_an_offline_owner(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let g = create(&alice, "club").await;
    drop(alice);
    let r = bob.client.call(GroupJoin { group_id: g, note: Some("hello".into()) }).await.unwrap();
    let mut alice = server.login("alice").await;
    assert!(alice.events_so_far().await.is_empty());
    let pending =
        alice.client.call(GroupRequests { group_id: g, cursor: None, limit: None }).await.unwrap().requests;
    assert_eq!((pending[0].request_id, pending[0].user_id), (r.request_id, bob.user_id));
    server.finish().await;
}

async fn deleting_an_account_dissolves_and_leaves(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let mut carol = server.user("carol").await;
    let owned = create(&alice, "alice's").await;
    let other = create(&carol, "carol's").await;
    add(&mut alice, &mut bob, owned).await;
    add(&mut carol, &mut alice, other).await;
    add(&mut carol, &mut bob, other).await;
    for u in [&mut alice, &mut bob, &mut carol] {
        u.events_so_far().await;
    }
    alice.client.call(DeleteAccount { password: PASSWORD.into() }).await.unwrap();
    let dissolved = Event::GroupDissolved(event::GroupDissolved { group_id: owned });
    let gone = left(other, &alice, LeaveReason::Left);
    assert_eq!(bob.events_so_far().await, vec![dissolved, gone.clone()]);
    assert_eq!(carol.events_so_far().await, vec![gone]);
    assert_eq!(code(bob.client.call(GroupInfo { group_id: owned }).await), ErrorCode::NotFound);
    let info = carol.client.call(GroupInfo { group_id: other }).await.unwrap();
    assert_eq!(info.member_count, 2);
    assert_eq!(members(&carol, other).await.len(), 2);
    server.finish().await;
}

/// `online` in `group_members` never crosses a block, in either direction, as in
/// `friend_list`; members with no block between them still see each other.
async fn a_block_hides_presence_among_members(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let (alice, bob, carol, g) = club(&server).await;
    bob.client.call(Block { user: "alice".into() }).await.unwrap();
    let online = |list: Vec<(String, Role, bool)>| list.into_iter().map(|m| (m.0, m.2)).collect::<Vec<_>>();
    let pair = |a: bool, b: bool, c: bool| {
        vec![("alice".to_string(), a), ("bob".to_string(), b), ("carol".to_string(), c)]
    };
    assert_eq!(online(members(&alice, g).await), pair(true, false, true), "the blocker is hidden");
    assert_eq!(online(members(&bob, g).await), pair(false, true, true), "the blocked is hidden");
    assert_eq!(online(members(&carol, g).await), pair(true, true, true), "no block, no hiding");
    server.finish().await;
}
