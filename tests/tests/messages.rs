//! The Messages section end to end, on SQLite and MariaDB: sending, live delivery,
//! offline catch-up, paging, read markers, recall, idempotency, limits, and seqs that
//! stay gapless under concurrent senders.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chat_proto::ErrorCode;
use chat_proto::event::{self, Event};
use chat_proto::model::{Message, MessageKind, Target};
use chat_proto::request::{
    Block, Conversations, FriendRequest, FriendRespond, GroupCreate, GroupDissolve, GroupJoin, GroupLeave,
    GroupRespond, History, Read, Recall, Send, Sync,
};
use chat_tests::{Backend, TestServer, User, backend_tests, code};

backend_tests!(
    direct_messages_reach_every_other_device,
    group_messages_reach_every_member,
    refusals_and_limits,
    client_msg_id_makes_send_idempotent,
    offline_catch_up_with_conversations_and_sync,
    history_pages_backwards,
    read_markers_only_rise_and_tell_the_other_devices,
    recall_withdraws_within_the_window,
    concurrent_senders_get_gapless_seqs,
    who_may_read_a_conversation,
);

fn to_user(name: &str) -> Target {
    Target::User(name.into())
}

fn text(to: Target, body: &str) -> Send {
    Send { to, body: body.into(), client_msg_id: None, file_id: None }
}

async fn befriend(a: &mut User, b: &mut User) {
    let r = a.client.call(FriendRequest { user: b.username.clone(), note: None }).await.unwrap();
    b.client.call(FriendRespond { request_id: r.request_id, accept: true }).await.unwrap();
    a.events_so_far().await;
    b.events_so_far().await;
}

async fn group_of(owner: &mut User, others: &mut [&mut User]) -> u64 {
    let g = owner.client.call(GroupCreate { name: "room".into(), description: None }).await.unwrap().group_id;
    for u in others.iter_mut() {
        let r = u.client.call(GroupJoin { group_id: g, note: None }).await.unwrap();
        owner.client.call(GroupRespond { request_id: r.request_id, accept: true }).await.unwrap();
    }
    owner.events_so_far().await;
    for u in others.iter_mut() {
        u.events_so_far().await;
    }
    g
}

fn messages_of(events: Vec<Event>) -> Vec<Message> {
    events
        .into_iter()
        .map(|e| match e {
            Event::Message(m) => m.message,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

async fn sync_all(u: &User, with: Target) -> Vec<Message> {
    u.client.call(Sync { with, after: 0, limit: None }).await.unwrap().messages
}

async fn direct_messages_reach_every_other_device(b: Backend) {
    let Some(server) = TestServer::start(b).await else { return };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    befriend(&mut alice, &mut bob).await;
    let mut alice_phone = server.login("alice").await;

    let sent = alice.client.call(text(to_user("bob"), "hello bob")).await.unwrap();
    assert_eq!(sent.seq, 1);
    let got = messages_of(bob.events_so_far().await);
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!((m.msg_id, m.seq, m.ts), (sent.msg_id, 1, sent.ts));
    assert_eq!((m.from.as_str(), m.from_id, &m.to), ("alice", alice.user_id, &to_user("bob")));
    assert_eq!((m.body.as_str(), m.kind, m.recalled), ("hello bob", MessageKind::Text, false));
    assert_eq!(messages_of(alice_phone.events_so_far().await), got, "the sender's other device");
    assert!(alice.events_so_far().await.is_empty(), "the sending connection has its reply instead");

    // Both directions share one conversation and one sequence.
    let back = bob.client.call(text(to_user("ALICE"), "hi alice")).await.unwrap();
    assert_eq!(back.seq, 2);
    let third = alice.client.call(text(to_user("bob"), "third")).await.unwrap();
    assert_eq!(third.seq, 3);
    let all = sync_all(&bob, to_user("alice")).await;
    let seqs: Vec<u64> = all.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(all[1].to, to_user("alice"));
    assert_eq!(sync_all(&alice, to_user("bob")).await, all, "the same entries for both");
    server.finish().await;
}

async fn group_messages_reach_every_member(b: Backend) {
    let Some(server) = TestServer::start(b).await else { return };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let mut carol = server.user("carol").await;
    let g = group_of(&mut alice, &mut [&mut bob, &mut carol]).await;
    let sent = bob.client.call(text(Target::Group(g), "hi all")).await.unwrap();
    assert_eq!(sent.seq, 1);
    for u in [&mut alice, &mut carol] {
        let got = messages_of(u.events_so_far().await);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].msg_id, &got[0].to, got[0].from.as_str()),
            (sent.msg_id, &Target::Group(g), "bob")
        );
    }
    assert!(bob.events_so_far().await.is_empty());
    // Stored once: every member reads back the same single entry.
    for u in [&alice, &bob, &carol] {
        let all = sync_all(u, Target::Group(g)).await;
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].msg_id, sent.msg_id);
    }
    server.finish().await;
}

async fn refusals_and_limits(b: Backend) {
    let args = ["--max-body", "100", "--send-rate", "1", "--send-burst", "4"];
    let Some(server) = TestServer::start_with(b, &args).await else { return };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let carol = server.user("carol").await;
    befriend(&mut alice, &mut bob).await;
    let g = alice.client.call(GroupCreate { name: "room".into(), description: None }).await.unwrap().group_id;
    let c = &carol.client;
    assert_eq!(code(c.call(text(to_user("alice"), "hi")).await), ErrorCode::NotFriend);
    assert_eq!(code(c.call(text(to_user("nobody"), "hi")).await), ErrorCode::NotFound);
    assert_eq!(code(c.call(text(Target::Group(g), "hi")).await), ErrorCode::NotMember);
    assert_eq!(code(c.call(text(Target::Group(999_999), "hi")).await), ErrorCode::NotFound);
    assert_eq!(code(c.call(text(to_user("bad name"), "hi")).await), ErrorCode::BadRequest);
    assert_eq!(code(alice.client.call(text(to_user("bob"), "")).await), ErrorCode::BadRequest);
    assert_eq!(code(alice.client.call(text(to_user("bob"), &"x".repeat(101))).await), ErrorCode::TooLarge);
    // A block between friends refuses both ways with one text; the conversation stays.
    alice.client.call(text(to_user("bob"), "before the block")).await.unwrap();
    bob.client.call(Block { user: "alice".into() }).await.unwrap();
    for (from, to) in [(&alice, "bob"), (&bob, "alice")] {
        let err = from.client.call(text(to_user(to), "hi")).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::Forbidden));
        assert!(err.to_string().contains(chat_server::service::messages::SEND_REFUSED));
    }
    assert_eq!(sync_all(&alice, to_user("bob")).await.len(), 1, "still readable");
    assert_eq!(
        bob.client
            .call(History { with: to_user("alice"), before: None, limit: None })
            .await
            .unwrap()
            .messages
            .len(),
        1
    );
    // None of the refused sends was stored.
    assert_eq!(
        alice.client.call(Sync { with: to_user("bob"), after: 0, limit: None }).await.unwrap().last_seq,
        1
    );
    // The rate: a burst of 4 (two already spent above: the stored send and the one
    // refused by the block), then one more per second. Ten quick sends see at least
    // three refusals even on a machine slow enough to refill a few tokens meanwhile.
    let mut refused = 0;
    for i in 0..10 {
        if let Err(e) = alice.client.call(text(Target::Group(g), &format!("n{i}"))).await {
            assert_eq!(e.code(), Some(ErrorCode::RateLimited));
            refused += 1;
        }
    }
    assert!(refused >= 3, "{refused}");
    assert_eq!(
        alice
            .client
            .call(Sync { with: Target::Group(g), after: 0, limit: None })
            .await
            .unwrap()
            .messages
            .len(),
        10 - refused,
        "refused sends store nothing"
    );
    server.finish().await;
}

async fn client_msg_id_makes_send_idempotent(b: Backend) {
    let Some(server) = TestServer::start(b).await else { return };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    befriend(&mut alice, &mut bob).await;
    let with_id = |body: &str, id: &str| Send {
        to: to_user("bob"),
        body: body.into(),
        client_msg_id: Some(id.into()),
        file_id: None,
    };
    let first = alice.client.call(with_id("once", "c-1")).await.unwrap();
    let again = alice.client.call(with_id("something else", "c-1")).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(messages_of(bob.events_so_far().await).len(), 1, "delivered once");
    // The same id from another sender is another message.
    let theirs = bob.client.call(Send { to: to_user("alice"), ..with_id("mine", "c-1") }).await.unwrap();
    assert_ne!(theirs.msg_id, first.msg_id);
    // Concurrent retries of one id still store it once.
    let retries: Vec<_> = (0..8)
        .map(|_| {
            let c = alice.client.clone();
            tokio::spawn(async move { c.call(with_id("retry", "c-2")).await.unwrap() })
        })
        .collect();
    let mut results = Vec::new();
    for r in retries {
        results.push(r.await.unwrap());
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    let all = sync_all(&alice, to_user("bob")).await;
    assert_eq!(all.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["once", "mine", "retry"]);
    assert_eq!(code(alice.client.call(with_id("x", &"i".repeat(65))).await), ErrorCode::BadRequest);
    server.finish().await;
}

async fn offline_catch_up_with_conversations_and_sync(b: Backend) {
    let Some(server) = TestServer::start(b).await else { return };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let mut carol = server.user("carol").await;
    befriend(&mut alice, &mut bob).await;
    let g = group_of(&mut alice, &mut [&mut bob, &mut carol]).await;
    drop(bob);
    for i in 1..=5 {
        alice.client.call(text(to_user("bob"), &format!("dm {i}"))).await.unwrap();
    }
    carol.client.call(text(Target::Group(g), "group news")).await.unwrap();

    let bob = server.login("bob").await;
    let list = bob.client.call(Conversations::default()).await.unwrap();
    assert!(!list.more);
    assert_eq!(list.conversations.len(), 2);
    let (newest, older) = (&list.conversations[0], &list.conversations[1]);
    assert_eq!((&newest.with, newest.last_seq, newest.unread, newest.read_seq), (&Target::Group(g), 1, 1, 0));
    assert_eq!(newest.last_message.as_ref().unwrap().body, "group news");
    assert!(newest.activity >= older.activity);
    assert_eq!((&older.with, older.last_seq, older.unread), (&to_user("alice"), 5, 5));
    assert_eq!(older.last_message.as_ref().unwrap().body, "dm 5");

    // Page by page, oldest first, gapless.
    let p1 = bob.client.call(Sync { with: to_user("alice"), after: 0, limit: Some(2) }).await.unwrap();
    assert_eq!((p1.messages.len(), p1.last_seq, p1.more), (2, 5, true));
    let p2 = bob.client.call(Sync { with: to_user("alice"), after: 2, limit: Some(10) }).await.unwrap();
    assert!(!p2.more);
    let seqs: Vec<u64> = p1.messages.iter().chain(&p2.messages).map(|m| m.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    let empty = bob.client.call(Sync { with: to_user("alice"), after: 5, limit: None }).await.unwrap();
    assert!(empty.messages.is_empty() && !empty.more && empty.last_seq == 5);
    // Its own messages never count as unread for the sender.
    let alices = alice.client.call(Conversations::default()).await.unwrap();
    let dm = alices.conversations.iter().find(|c| c.with == to_user("bob")).unwrap();
    assert_eq!(dm.unread, 0);
    // Paging the list itself.
    let first = bob.client.call(Conversations { limit: Some(1), ..Default::default() }).await.unwrap();
    assert!(first.more);
    let before = Some(first.conversations[0].activity);
    let next = bob.client.call(Conversations { limit: Some(1), before, cursor: None }).await;
    let next = next.unwrap();
    assert!(next.conversations.len() <= 1);
    server.finish().await;
}

async fn history_pages_backwards(b: Backend) {
    let Some(server) = TestServer::start(b).await else { return };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    befriend(&mut alice, &mut bob).await;
    for i in 1..=7 {
        alice.client.call(text(to_user("bob"), &format!("m{i}"))).await.unwrap();
    }
    let h = |before, limit| History { with: to_user("alice"), before, limit };
    let newest = bob.client.call(h(None, Some(3))).await.unwrap();
    assert_eq!(newest.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), [7, 6, 5]);
    assert!(newest.more);
    let older = bob.client.call(h(Some(5), Some(3))).await.unwrap();
    assert_eq!(older.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), [4, 3, 2], "before is exclusive");
    let oldest = bob.client.call(h(Some(2), Some(3))).await.unwrap();
    assert_eq!(oldest.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), [1]);
    assert!(!oldest.more);
    server.finish().await;
}

async fn read_markers_only_rise_and_tell_the_other_devices(b: Backend) {
    let Some(server) = TestServer::start(b).await else { return };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    befriend(&mut alice, &mut bob).await;
    let mut bob_phone = server.login("bob").await;
    for i in 1..=4 {
        alice.client.call(text(to_user("bob"), &format!("m{i}"))).await.unwrap();
    }
    bob.events_so_far().await;
    bob_phone.events_so_far().await;
    alice.events_so_far().await;

    bob.client.call(Read { with: to_user("alice"), seq: 3 }).await.unwrap();
    let to_phone = event::Read { with: to_user("alice"), user: "bob".into(), user_id: bob.user_id, seq: 3 };
    assert_eq!(bob_phone.events_so_far().await, vec![Event::Read(to_phone)]);
    let to_alice = event::Read { with: to_user("bob"), user: "bob".into(), user_id: bob.user_id, seq: 3 };
    assert_eq!(alice.events_so_far().await, vec![Event::Read(to_alice)], "with, from alice's side");
    assert!(bob.events_so_far().await.is_empty());

    let unread = |u: &User| {
        let c = u.client.clone();
        async move { c.call(Conversations::default()).await.unwrap().conversations[0].clone() }
    };
    let c = unread(&bob_phone).await;
    assert_eq!((c.read_seq, c.unread), (3, 1), "agrees across devices");
    // Lower or equal: nothing moves, nobody is told.
    bob.client.call(Read { with: to_user("alice"), seq: 2 }).await.unwrap();
    bob.client.call(Read { with: to_user("alice"), seq: 3 }).await.unwrap();
    assert!(bob_phone.events_so_far().await.is_empty());
    assert_eq!(unread(&bob).await.read_seq, 3);
    // Past the end: up to the last entry only.
    bob.client.call(Read { with: to_user("alice"), seq: 99 }).await.unwrap();
    assert_eq!((unread(&bob).await.read_seq, unread(&bob).await.unread), (4, 0));
    assert_eq!(code(bob.client.call(Read { with: to_user("nobody"), seq: 1 }).await), ErrorCode::NotFound);
    assert_eq!(
        code(bob.client.call(Read { with: Target::Group(999_999), seq: 1 }).await),
        ErrorCode::NotFound
    );
    server.finish().await;
}

async fn recall_withdraws_within_the_window(b: Backend) {
    let Some(server) = TestServer::start(b).await else { return };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    befriend(&mut alice, &mut bob).await;
    let oops = alice.client.call(text(to_user("bob"), "oops")).await.unwrap();
    bob.events_so_far().await;
    let r = alice.client.call(Recall { msg_id: oops.msg_id }).await.unwrap();
    assert_eq!(r.seq, 2, "a recall entry takes the next seq");
    let got = messages_of(bob.events_so_far().await);
    assert_eq!(
        (got[0].kind, got[0].recalls, got[0].body.as_str()),
        (MessageKind::Recall, Some(oops.msg_id), "")
    );
    let all = sync_all(&bob, to_user("alice")).await;
    assert_eq!((all[0].recalled, all[0].body.as_str()), (true, ""), "withdrawn, its text gone");
    assert_eq!(all[1].kind, MessageKind::Recall);
    let conv = bob.client.call(Conversations::default()).await.unwrap().conversations[0].clone();
    assert_eq!(conv.unread, 0, "neither withdrawn messages nor recall entries count");

    assert_eq!(code(alice.client.call(Recall { msg_id: oops.msg_id }).await), ErrorCode::Conflict);
    let recall_entry = all[1].msg_id;
    assert_eq!(code(alice.client.call(Recall { msg_id: recall_entry }).await), ErrorCode::Forbidden);
    let bobs = bob.client.call(text(to_user("alice"), "mine")).await.unwrap();
    assert_eq!(
        code(alice.client.call(Recall { msg_id: bobs.msg_id }).await),
        ErrorCode::Forbidden,
        "not the sender"
    );
    assert_eq!(code(alice.client.call(Recall { msg_id: 999_999 }).await), ErrorCode::NotFound);
    let carol = server.user("carol").await;
    assert_eq!(
        code(carol.client.call(Recall { msg_id: bobs.msg_id }).await),
        ErrorCode::NotFound,
        "not hers to see"
    );
    server.finish().await;

    let Some(server) = TestServer::start_with(b, &["--recall-window", "0"]).await else { return };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    befriend(&mut alice, &mut bob).await;
    let sent = alice.client.call(text(to_user("bob"), "too late")).await.unwrap();
    // With a zero window only a message from this very millisecond could go; wait
    // for the clock to move past it (a condition, not a guess).
    while chat_server::state::now_ms() <= sent.ts {
        tokio::task::yield_now().await;
    }
    assert_eq!(code(alice.client.call(Recall { msg_id: sent.msg_id }).await), ErrorCode::Forbidden);
    server.finish().await;
}

async fn concurrent_senders_get_gapless_seqs(b: Backend) {
    let Some(server) = TestServer::start_with(b, &["--send-rate", "100000", "--send-burst", "100000"]).await
    else {
        return;
    };
    let mut owner = server.user("owner").await;
    let mut members = Vec::new();
    for i in 0..8 {
        members.push(server.user(&format!("member{i}")).await);
    }
    let mut refs: Vec<&mut User> = members.iter_mut().collect();
    let g = group_of(&mut owner, &mut refs).await;
    let per = 25;
    let tasks: Vec<_> = members
        .iter()
        .map(|m| {
            let c = m.client.clone();
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..per {
                    seqs.push(c.call(text(Target::Group(g), &format!("n{i}"))).await.unwrap().seq);
                }
                seqs
            })
        })
        .collect();
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    acked.sort();
    let n = (members.len() * per) as u64;
    assert_eq!(acked, (1..=n).collect::<Vec<_>>(), "every seq once, none missing");
    let mut stored = Vec::new();
    let mut after = 0;
    loop {
        let page = owner.client.call(Sync { with: Target::Group(g), after, limit: Some(50) }).await.unwrap();
        stored.extend(page.messages.iter().map(|m| m.seq));
        after = page.messages.last().map_or(after, |m| m.seq);
        if !page.more {
            break;
        }
    }
    assert_eq!(stored, (1..=n).collect::<Vec<_>>());
    // The owner saw every one live, in seq order.
    let live: Vec<u64> = messages_of(owner.events_so_far().await).iter().map(|m| m.seq).collect();
    assert_eq!(live, (1..=n).collect::<Vec<_>>());
    server.finish().await;
}

async fn who_may_read_a_conversation(b: Backend) {
    let Some(server) = TestServer::start(b).await else { return };
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let g = group_of(&mut alice, &mut [&mut bob]).await;
    alice.client.call(text(Target::Group(g), "before carol")).await.unwrap();
    let r = carol.client.call(GroupJoin { group_id: g, note: None }).await.unwrap();
    assert_eq!(
        code(carol.client.call(Sync { with: Target::Group(g), after: 0, limit: None }).await),
        ErrorCode::NotMember
    );
    alice.client.call(GroupRespond { request_id: r.request_id, accept: true }).await.unwrap();
    assert_eq!(sync_all(&carol, Target::Group(g)).await.len(), 1, "members read from before they joined");
    bob.client.call(GroupLeave { group_id: g }).await.unwrap();
    assert_eq!(
        code(bob.client.call(Sync { with: Target::Group(g), after: 0, limit: None }).await),
        ErrorCode::NotMember
    );
    assert!(bob.client.call(Conversations::default()).await.unwrap().conversations.is_empty());
    let h = History { with: to_user("carol"), before: None, limit: None };
    assert_eq!(code(alice.client.call(h).await), ErrorCode::NotFriend);
    alice.client.call(GroupDissolve { group_id: g }).await.unwrap();
    assert!(
        carol.client.call(Conversations::default()).await.unwrap().conversations.is_empty(),
        "dissolved: gone"
    );
    assert_eq!(
        code(carol.client.call(Sync { with: Target::Group(g), after: 0, limit: None }).await),
        ErrorCode::NotFound
    );
    server.finish().await;
}
