//! Two nodes in this process, one MariaDB database, one Redis: users on different
//! nodes befriend, talk, see each other's presence, and a password changed on one
//! node closes the sessions on the other. A node that stops goes offline for the
//! other's users within the node timeout.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chat_proto::Event;
use chat_proto::event::CloseReason;
use chat_proto::model::Target;
use chat_proto::request::{
    ChangePassword, FriendRequest, FriendRespond, GroupCreate, GroupJoin, GroupRespond, Read, Send,
};
use chat_tests::{Backend, PASSWORD, RedisServer, TestDb, TestServer, User, WAIT};
use chat_tui::local_history::LocalHistory;
use chat_tui::session::{self, SessionConfig, Status, Update};
use chat_tui::tls::Endpoint;

/// The next event that `pick` accepts; others are skipped.
async fn until<T>(user: &mut User, mut pick: impl FnMut(Event) -> Option<T>) -> T {
    loop {
        if let Some(found) = pick(user.next_event().await) {
            return found;
        }
    }
}

/// `a` asks `b` to be friends, wherever each is connected, and `b` accepts.
async fn befriend(a: &mut User, b: &mut User) {
    a.client.call(FriendRequest { user: b.username.clone(), note: None }).await.unwrap();
    let request_id = until(b, |e| match e {
        Event::FriendRequest(r) => Some(r.request_id),
        _ => None,
    })
    .await;
    b.client.call(FriendRespond { request_id, accept: true }).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_on_two_nodes_use_them_as_one_server() {
    let Some(db) = TestDb::new(Backend::MySql).await else {
        return;
    };
    let redis = RedisServer::start().await;
    let url = redis.url();
    let cluster = ["--redis", url.as_str(), "--node-timeout", "3"];
    let a = TestServer::start_on(&db.url, &[&cluster[..], &["--node-id", "a"]].concat()).await;
    let b = TestServer::start_on(&db.url, &[&cluster[..], &["--node-id", "b"]].concat()).await;

    let mut alice = a.user("alice").await;
    let mut bob = b.user("bob").await;
    // Friends across nodes: the request, the answer, and each other's presence.
    befriend(&mut alice, &mut bob).await;
    until(&mut alice, |e| matches!(e, Event::Presence(p) if p.user == "bob" && p.online).then_some(())).await;

    // Messages both ways, live.
    let to_bob =
        Send { to: Target::User("bob".into()), body: "hi from a".into(), client_msg_id: None, file_id: None };
    let sent = alice.client.call(to_bob).await.unwrap();
    let got = until(&mut bob, |e| match e {
        Event::Message(m) => Some(m.message),
        _ => None,
    })
    .await;
    assert_eq!((got.seq, got.body.as_str()), (sent.seq, "hi from a"));

    // A group on node b, with a member on node a.
    let group_id =
        bob.client.call(GroupCreate { name: "both".into(), description: None }).await.unwrap().group_id;
    alice.client.call(GroupJoin { group_id, note: None }).await.unwrap();
    let request_id = until(&mut bob, |e| match e {
        Event::GroupJoinRequest(r) => Some(r.request_id),
        _ => None,
    })
    .await;
    bob.client.call(GroupRespond { request_id, accept: true }).await.unwrap();
    until(&mut alice, |e| matches!(e, Event::GroupJoinResponse(r) if r.accepted).then_some(())).await;
    let to_group =
        Send { to: Target::Group(group_id), body: "to everyone".into(), client_msg_id: None, file_id: None };
    bob.client.call(to_group).await.unwrap();
    until(&mut alice, |e| matches!(e, Event::Message(m) if m.message.body == "to everyone").then_some(()))
        .await;

    // Alice's second device is on node b: her read marker reaches it.
    let mut alice_b = b.login("alice").await;
    alice.client.call(Read { with: Target::User("bob".into()), seq: sent.seq }).await.unwrap();
    until(&mut alice_b, |e| {
        matches!(e, Event::Read(r) if r.with == Target::User("bob".into())).then_some(())
    })
    .await;

    // A password changed on node a ends the session on node b.
    let change = ChangePassword { old_password: PASSWORD.into(), new_password: "another password 1".into() };
    alice.client.call(change).await.unwrap();
    let reason = until(&mut alice_b, |e| match e {
        Event::Closing(c) => Some(c.reason),
        _ => None,
    })
    .await;
    assert_eq!(reason, CloseReason::SessionRevoked);

    // Node b stops: bob goes offline for alice on node a, within the node timeout.
    b.stop().await;
    until(&mut alice, |e| matches!(e, Event::Presence(p) if p.user == "bob" && !p.online).then_some(()))
        .await;

    // A node that dies without a word (here: one whose registry entry is left with
    // no heartbeat) is reaped: its users go offline for their friends elsewhere.
    let mut carol = a.user("carol").await;
    befriend(&mut carol, &mut alice).await;
    let carol_id = carol.user_id;
    drop(carol);
    until(&mut alice, |e| matches!(e, Event::Presence(p) if p.user == "carol" && !p.online).then_some(()))
        .await;
    for args in [
        vec!["SADD".to_owned(), "chat:incarnations".into(), "ghost".into()],
        vec!["SADD".into(), "chat:inc:ghost:users".into(), carol_id.to_string()],
        vec!["SADD".into(), format!("chat:user:{carol_id}"), "ghost".into()],
    ] {
        redis.command(&args);
    }
    until(&mut alice, |e| matches!(e, Event::Presence(p) if p.user == "carol" && !p.online).then_some(()))
        .await;
    assert!(redis.command(&["SMEMBERS".into(), "chat:incarnations".into()]).lines().all(|l| l != "ghost"));
    a.stop().await;
    db.cleanup().await;
}

/// Redis dies and comes back empty: every connection is told to catch up, the
/// registry is rebuilt, and live delivery between the nodes resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restarted_empty_costs_a_catch_up_and_nothing_else() {
    let Some(db) = TestDb::new(Backend::MySql).await else {
        return;
    };
    let mut redis = RedisServer::start().await;
    let url = redis.url();
    // Node a is not named: it names itself, once.
    let a = TestServer::start_on(&db.url, &["--redis", &url]).await;
    let b = TestServer::start_on(&db.url, &["--redis", &url, "--node-id", "b"]).await;
    let mut alice = a.user("alice").await;
    let mut bob = b.user("bob").await;
    befriend(&mut alice, &mut bob).await;
    let hello = chat_proto::request::Hello { client: None, protocol: None };
    let name = alice.client.call(hello).await.unwrap().node;
    let incarnations = redis.command(&["SMEMBERS".into(), "chat:incarnations".into()]);
    assert!(
        incarnations.lines().any(|i| i.strip_prefix(name.as_str()).is_some_and(|rest| rest.starts_with('.'))),
        "`hello` names the node its incarnation is of: {name} in {incarnations}"
    );

    // Bob's chat-tui is on node b too: its session catches up when told to.
    let config = SessionConfig {
        server: Endpoint::plain(b.addr.to_string()),
        username: "bob".into(),
        token: bob.token.clone(),
        request_timeout: std::time::Duration::from_secs(10),
        renewed_token: None,
    };
    let (session, mut updates) = session::spawn(config, LocalHistory::open_in_memory().await.unwrap());
    while !matches!(updates.recv().await.unwrap(), Update::Status(Status::Online)) {}

    redis.kill();
    // Sends still succeed meanwhile: the database is the truth.
    let send = |body: &str| Send {
        to: Target::User("bob".into()),
        body: body.into(),
        client_msg_id: None,
        file_id: None,
    };
    let during = alice.client.call(send("while redis was away")).await.unwrap();
    redis.restart().await;
    for user in [&mut alice, &mut bob] {
        until(user, |e| matches!(e, Event::Resync(_)).then_some(())).await;
    }
    // What bob missed live is in the database, where his catch-up finds it.
    let page = bob
        .client
        .call(chat_proto::request::Sync { with: Target::User("alice".into()), after: 0, limit: None })
        .await
        .unwrap();
    assert!(page.messages.iter().any(|m| m.seq == during.seq));
    // The session caught up without going offline, and has it.
    let alice_conv = Target::User("alice".into());
    let caught_up = async {
        loop {
            match updates.recv().await.unwrap() {
                Update::Status(Status::Online) => break,
                Update::Status(other) => panic!("the session went {other:?}"),
                _ => {}
            }
        }
    };
    tokio::time::timeout(WAIT, caught_up).await.expect("the session was never told to catch up");
    let stored = session.history().call(move |h| h.highest_seq(&alice_conv)).await.unwrap();
    assert!(stored >= during.seq, "the chat-tui session caught up ({stored} < {})", during.seq);
    session.stop();
    // Live again, both ways, through the rebuilt registry.
    alice.client.call(send("after")).await.unwrap();
    until(&mut bob, |e| matches!(e, Event::Message(m) if m.message.body == "after").then_some(())).await;
    a.stop().await;
    b.stop().await;
    db.cleanup().await;
}
