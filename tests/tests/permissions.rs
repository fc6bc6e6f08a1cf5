//! The permission matrix: every friend and group op, by every relationship or role
//! that must be refused, is refused with the contract's code and changes nothing.
//! Run on SQLite and on MariaDB.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chat_proto::model::Role;
use chat_proto::request::*;
use chat_proto::{ErrorCode, Request};
use chat_tests::{Backend, TestServer, User, backend_tests};
use chat_tui::Client;

backend_tests!(refused_ops_change_nothing);

/// Everything the world's users can observe of friends and groups.
async fn snapshot(users: &[&User], groups: &[u64], owner: &User) -> String {
    let mut seen = String::new();
    for u in users {
        let friends = u.client.call(FriendList {}).await.unwrap();
        let requests = u.client.call(FriendRequests::default()).await.unwrap();
        let groups = u.client.call(GroupList {}).await.unwrap();
        seen += &format!("{}: {friends:?} {requests:?} {groups:?}\n", u.username);
    }
    for &g in groups {
        let info = owner.client.call(GroupInfo { group_id: g }).await;
        let members = owner.client.call(GroupMembers { group_id: g }).await;
        let requests = owner.client.call(GroupRequests { group_id: g, cursor: None, limit: None }).await;
        seen += &format!("group {g}: {info:?} {members:?} {requests:?}\n");
    }
    seen
}

async fn refused_ops_change_nothing(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    // Groups: olga owns, adam is admin, mia and max are members, pete's request is
    // pending, xena is an outsider.
    let mut olga = server.user("olga").await;
    let adam = server.user("adam").await;
    let mia = server.user("mia").await;
    let max = server.user("max").await;
    let pete = server.user("pete").await;
    let xena = server.user("xena").await;
    // Friends, seen from mia: fred is a friend, pat's request to her is pending, she
    // blocks bea, boris blocks her, sam is a stranger.
    let fred = server.user("fred").await;
    let pat = server.user("pat").await;
    let bea = server.user("bea").await;
    let boris = server.user("boris").await;
    let sam = server.user("sam").await;
    let anonymous = server.connect().await.client;

    let g = olga.client.call(GroupCreate { name: "club".into(), description: None }).await.unwrap().group_id;
    for u in [&adam, &mia, &max] {
        let r = u.client.call(GroupJoin { group_id: g, note: None }).await.unwrap();
        olga.client.call(GroupRespond { request_id: r.request_id, accept: true }).await.unwrap();
    }
    olga.client.call(GroupSetRole { group_id: g, user: "adam".into(), role: Role::Admin }).await.unwrap();
    let pending = pete.client.call(GroupJoin { group_id: g, note: None }).await.unwrap().request_id;
    let gone =
        olga.client.call(GroupCreate { name: "gone".into(), description: None }).await.unwrap().group_id;
    let gone_request = xena.client.call(GroupJoin { group_id: gone, note: None }).await.unwrap().request_id;
    olga.client.call(GroupDissolve { group_id: gone }).await.unwrap();
    let missing = 9_000_000;

    let r = fred.client.call(FriendRequest { user: "mia".into(), note: None }).await.unwrap();
    mia.client.call(FriendRespond { request_id: r.request_id, accept: true }).await.unwrap();
    let pat_request =
        pat.client.call(FriendRequest { user: "mia".into(), note: None }).await.unwrap().request_id;
    mia.client.call(Block { user: "bea".into() }).await.unwrap();
    boris.client.call(Block { user: "mia".into() }).await.unwrap();
    olga.events_so_far().await;

    use ErrorCode::*;
    let req = |u: &str| FriendRequest { user: u.into(), note: None };
    let kick = |group_id, u: &str| GroupKick { group_id, user: u.into() };
    let set = |group_id, u: &str, role| GroupSetRole { group_id, user: u.into(), role };
    let cases: Vec<(&str, &Client, Request, ErrorCode)> = vec![
        // friends
        ("request to self", &mia.client, req("MIA").into(), Conflict),
        ("request to a friend", &mia.client, req("fred").into(), Conflict),
        ("request to someone I block", &mia.client, req("bea").into(), Forbidden),
        ("request from someone I block", &bea.client, req("mia").into(), Forbidden),
        ("request to someone who blocks me", &mia.client, req("boris").into(), Forbidden),
        ("request from someone I was blocked by", &boris.client, req("mia").into(), Forbidden),
        ("request to nobody", &mia.client, req("ghost").into(), NotFound),
        (
            "answer my own request",
            &pat.client,
            FriendRespond { request_id: pat_request, accept: true }.into(),
            NotFound,
        ),
        (
            "answer someone else's request",
            &sam.client,
            FriendRespond { request_id: pat_request, accept: true }.into(),
            NotFound,
        ),
        (
            "answer no request",
            &mia.client,
            FriendRespond { request_id: missing, accept: true }.into(),
            NotFound,
        ),
        ("remove a stranger", &mia.client, FriendRemove { user: "sam".into() }.into(), NotFound),
        ("remove a pending requester", &mia.client, FriendRemove { user: "pat".into() }.into(), NotFound),
        ("remove a blocked non-friend", &mia.client, FriendRemove { user: "bea".into() }.into(), NotFound),
        ("remove nobody", &mia.client, FriendRemove { user: "ghost".into() }.into(), NotFound),
        ("block nobody", &mia.client, Block { user: "ghost".into() }.into(), NotFound),
        ("unblock a stranger", &mia.client, Unblock { user: "sam".into() }.into(), NotFound),
        ("unblock someone who blocks me", &mia.client, Unblock { user: "boris".into() }.into(), NotFound),
        // groups: a group that does not exist, and one that was dissolved
        ("info, no group", &mia.client, GroupInfo { group_id: missing }.into(), NotFound),
        ("info, dissolved", &olga.client, GroupInfo { group_id: gone }.into(), NotFound),
        ("join, dissolved", &xena.client, GroupJoin { group_id: gone, note: None }.into(), NotFound),
        (
            "requests, dissolved",
            &olga.client,
            GroupRequests { group_id: gone, cursor: None, limit: None }.into(),
            NotFound,
        ),
        (
            "respond, dissolved",
            &olga.client,
            GroupRespond { request_id: gone_request, accept: true }.into(),
            NotFound,
        ),
        ("members, dissolved", &olga.client, GroupMembers { group_id: gone }.into(), NotFound),
        ("leave, dissolved", &olga.client, GroupLeave { group_id: gone }.into(), NotFound),
        ("kick, dissolved", &olga.client, kick(gone, "mia").into(), NotFound),
        ("set role, dissolved", &olga.client, set(gone, "mia", Role::Admin).into(), NotFound),
        ("dissolve, dissolved", &olga.client, GroupDissolve { group_id: gone }.into(), NotFound),
        (
            "respond, no request",
            &olga.client,
            GroupRespond { request_id: missing, accept: true }.into(),
            NotFound,
        ),
        // groups: joining
        ("join as owner", &olga.client, GroupJoin { group_id: g, note: None }.into(), Conflict),
        ("join as member", &mia.client, GroupJoin { group_id: g, note: None }.into(), Conflict),
        // groups: join requests
        (
            "requests as outsider",
            &xena.client,
            GroupRequests { group_id: g, cursor: None, limit: None }.into(),
            NotMember,
        ),
        (
            "requests as applicant",
            &pete.client,
            GroupRequests { group_id: g, cursor: None, limit: None }.into(),
            NotMember,
        ),
        (
            "requests as member",
            &mia.client,
            GroupRequests { group_id: g, cursor: None, limit: None }.into(),
            Forbidden,
        ),
        (
            "respond as member",
            &mia.client,
            GroupRespond { request_id: pending, accept: true }.into(),
            Forbidden,
        ),
        (
            "respond as outsider",
            &xena.client,
            GroupRespond { request_id: pending, accept: true }.into(),
            Forbidden,
        ),
        (
            "respond as applicant",
            &pete.client,
            GroupRespond { request_id: pending, accept: true }.into(),
            Forbidden,
        ),
        // groups: membership
        ("members as outsider", &xena.client, GroupMembers { group_id: g }.into(), NotMember),
        ("members as applicant", &pete.client, GroupMembers { group_id: g }.into(), NotMember),
        ("leave as owner", &olga.client, GroupLeave { group_id: g }.into(), Forbidden),
        ("leave as outsider", &xena.client, GroupLeave { group_id: g }.into(), NotMember),
        // groups: kicking
        ("kick as outsider", &xena.client, kick(g, "mia").into(), NotMember),
        ("kick as member", &mia.client, kick(g, "max").into(), Forbidden),
        ("member kicks admin", &mia.client, kick(g, "adam").into(), Forbidden),
        ("admin kicks owner", &adam.client, kick(g, "olga").into(), Forbidden),
        ("admin kicks self", &adam.client, kick(g, "adam").into(), Forbidden),
        ("owner kicks self", &olga.client, kick(g, "olga").into(), Forbidden),
        ("kick an outsider", &olga.client, kick(g, "xena").into(), NotMember),
        ("kick nobody", &olga.client, kick(g, "ghost").into(), NotFound),
        // groups: roles
        ("set role as admin", &adam.client, set(g, "mia", Role::Admin).into(), Forbidden),
        ("set role as member", &mia.client, set(g, "max", Role::Admin).into(), Forbidden),
        ("set role as outsider", &xena.client, set(g, "mia", Role::Admin).into(), NotMember),
        ("set the owner's role", &olga.client, set(g, "olga", Role::Admin).into(), Forbidden),
        ("set an outsider's role", &olga.client, set(g, "xena", Role::Admin).into(), NotMember),
        ("make someone owner", &olga.client, set(g, "mia", Role::Owner).into(), BadRequest),
        // groups: dissolving
        ("dissolve as admin", &adam.client, GroupDissolve { group_id: g }.into(), Forbidden),
        ("dissolve as member", &mia.client, GroupDissolve { group_id: g }.into(), Forbidden),
        ("dissolve as outsider", &xena.client, GroupDissolve { group_id: g }.into(), NotMember),
        // not logged in at all
        ("anonymous friend_list", &anonymous, FriendList {}.into(), Unauthenticated),
        ("anonymous friend_request", &anonymous, req("mia").into(), Unauthenticated),
        ("anonymous group_join", &anonymous, GroupJoin { group_id: g, note: None }.into(), Unauthenticated),
        ("anonymous group_dissolve", &anonymous, GroupDissolve { group_id: g }.into(), Unauthenticated),
        (
            "anonymous group_create",
            &anonymous,
            GroupCreate { name: "x".into(), description: None }.into(),
            Unauthenticated,
        ),
    ];

    let everyone = [&olga, &adam, &mia, &max, &pete, &xena, &fred, &pat, &bea, &boris, &sam];
    let before = snapshot(&everyone, &[g, gone], &olga).await;
    for (what, client, request, expected) in cases {
        let op = request.op();
        let got = client.call_raw(request).await.map(|_| ()).map_err(|e| e.code());
        assert_eq!(got, Err(Some(expected)), "{what} ({op})");
        assert_eq!(snapshot(&everyone, &[g, gone], &olga).await, before, "{what} ({op}) changed something");
    }
    assert!(olga.events_so_far().await.is_empty(), "refusals send no events");
    server.finish().await;
}
