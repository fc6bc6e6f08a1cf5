//! One story through the Store trait, told against SQLite and against MariaDB: the
//! two backends must behave the same.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chat_proto::model::Role;
use chat_server::store::{
    DeletedAccount, FriendRequestOutcome as F, GroupRefusal, JoinOutcome, NewSession, StoreError, UserRef,
};
use chat_tests::{Backend, TestDb, backend_tests};

backend_tests!(
    accounts_and_sessions_story,
    friends_and_groups_story,
    a_lost_role_is_refused_by_the_store,
    pending_requests_are_capped_and_paged_by_id
);

const DAY: i64 = 86_400_000;
/// A cap on pending requests that the story never reaches.
const CAP: u64 = 1000;

fn session<'a>(user_id: u64, token_hash: &'a str, now: i64) -> NewSession<'a> {
    NewSession { user_id, token_hash, device: "phone", now, expires_at: now + DAY }
}

async fn accounts_and_sessions_story(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    let store = db.open_store().await;
    let now = 1_763_800_000_000;

    // Accounts: ids from 1, names unique case-insensitively and kept as typed.
    let alice = store.create_user("Alice", "$argon2id$hash-a", now).await.unwrap();
    let bob = store.create_user("bob", "$argon2id$hash-b", now).await.unwrap();
    assert!(alice >= 1 && bob > alice);
    assert!(matches!(store.create_user("ALICE", "x", now).await, Err(StoreError::Conflict)));
    let found = store.user_by_name("aLiCe").await.unwrap().unwrap();
    assert_eq!(
        (found.id, found.username.as_str(), found.password_hash.as_str()),
        (alice, "Alice", "$argon2id$hash-a")
    );
    assert_eq!(store.user_by_id(bob).await.unwrap().unwrap().username, "bob");
    assert!(store.user_by_name("carol").await.unwrap().is_none());
    // Values that look like SQL are only data.
    let tricky = store.create_user("x'); DROP TABLE users;--", "h", now).await.unwrap();
    assert_eq!(store.user_by_id(tricky).await.unwrap().unwrap().username, "x'); DROP TABLE users;--");

    // Sessions: found by token hash while unexpired; each resume pushes the expiry.
    let s1 = store.create_session(session(alice, "aa", now)).await.unwrap();
    let s2 = store.create_session(session(alice, "bb", now)).await.unwrap();
    let s3 = store.create_session(session(bob, "cc", now)).await.unwrap();
    assert!(s1 != s2 && s2 != s3);
    // A resume within a day of the last push leaves the expiry; a later one moves it.
    let (sid, user, _) = store.resume_session("aa", now + 1, now + 2 * DAY).await.unwrap().unwrap();
    assert_eq!((sid, user.id), (s1, alice));
    assert!(store.resume_session("aa", now + 2, now + 3 * DAY).await.unwrap().is_some());
    assert!(
        store.resume_session("aa", now + DAY + 1, now + 4 * DAY).await.unwrap().is_some(),
        "expiry was pushed"
    );
    assert!(store.resume_session("bb", now + DAY, now + 2 * DAY).await.unwrap().is_none(), "expired");
    assert!(store.resume_session("zz", now, now + DAY).await.unwrap().is_none());
    // A short lifetime (here 10 s) moves with each resume too, by a tenth of itself.
    let short = NewSession { user_id: bob, token_hash: "ss", device: "", now, expires_at: now + 10_000 };
    store.create_session(short).await.unwrap();
    let (_, _, until) = store.resume_session("ss", now + 5_000, now + 15_000).await.unwrap().unwrap();
    assert_eq!(until, now + 15_000, "pushed, not left to expire 10 s after login");
    let (_, _, until) = store.resume_session("ss", now + 5_500, now + 15_500).await.unwrap().unwrap();
    assert_eq!(until, now + 15_000, "within a tenth of the lifetime: no write");
    assert!(matches!(store.create_session(session(bob, "cc", now)).await, Err(StoreError::Conflict)));

    // Pruning drops expired sessions only.
    assert_eq!(store.prune_sessions(now + DAY).await.unwrap(), 3, "bb, cc and ss");
    assert!(store.resume_session("aa", now + DAY + 2, now + 3 * DAY).await.unwrap().is_some());

    // A password change revokes every session and opens exactly one new one.
    let fresh = store.replace_password(alice, "$argon2id$hash-a2", session(alice, "dd", now)).await.unwrap();
    assert!(store.resume_session("aa", now, now + DAY).await.unwrap().is_none());
    let (sid, user, _) = store.resume_session("dd", now, now + DAY).await.unwrap().unwrap();
    assert_eq!((sid, user.password_hash.as_str()), (fresh, "$argon2id$hash-a2"));

    // Logout deletes one session.
    store.delete_session(fresh).await.unwrap();
    assert!(store.resume_session("dd", now, now + DAY).await.unwrap().is_none());

    // Deleting an account takes its sessions and frees its name; ids are not reused.
    store.create_session(session(bob, "ee", now)).await.unwrap();
    assert!(store.delete_user(bob).await.unwrap().is_some());
    assert!(store.delete_user(bob).await.unwrap().is_none());
    assert!(store.user_by_name("bob").await.unwrap().is_none());
    assert!(store.resume_session("ee", now, now + DAY).await.unwrap().is_none());
    let bob2 = store.create_user("Bob", "h", now).await.unwrap();
    assert!(bob2 > tricky, "a new account gets a new id");

    // Reopening applies no migration twice and keeps the data.
    store.close().await;
    let store = db.open_store().await;
    assert_eq!(store.user_by_name("alice").await.unwrap().unwrap().id, alice);
    store.close().await;
    db.cleanup().await;
}

async fn friends_and_groups_story(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    let store = db.open_store().await;
    let now = 1_763_800_000_000;
    let mut ids = Vec::new();
    for name in ["ann", "ben", "cat", "dan", "eve"] {
        ids.push(store.create_user(name, "h", now).await.unwrap());
    }
    let [ann, ben, cat, dan, eve] = ids[..] else { unreachable!() };
    let user = |id, name: &str| UserRef { id, username: name.into() };

    // Friend requests: new, repeated, crossing, already friends.
    let F::Created { request_id: r1 } = store.friend_request(ann, ben, "hi", CAP, now).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        store.friend_request(ann, ben, "again", CAP, now).await.unwrap(),
        F::AlreadyPending { request_id: r1 }
    );
    let (incoming, outgoing) = store.friend_requests(ben, 0, 100).await.unwrap();
    assert_eq!((incoming.len(), outgoing.len()), (1, 0));
    assert_eq!((incoming[0].other.clone(), incoming[0].note.as_str()), (user(ann, "ann"), "hi"));
    assert_eq!(store.friend_request(ben, ann, "", CAP, now).await.unwrap(), F::Accepted { request_id: r1 });
    assert_eq!(store.friend_request(ann, ben, "", CAP, now).await.unwrap(), F::AlreadyFriends);
    assert!(store.friend_requests(ben, 0, 100).await.unwrap().0.is_empty());

    // Responding: only the addressee, only once.
    let F::Created { request_id: r2 } = store.friend_request(cat, ann, "", CAP, now).await.unwrap() else {
        panic!()
    };
    assert_eq!(store.friend_respond(r2, cat, true, now).await.unwrap(), None, "not addressed to cat");
    assert_eq!(store.friend_respond(r2, ann, true, now).await.unwrap(), Some(user(cat, "cat")));
    assert_eq!(store.friend_respond(r2, ann, true, now).await.unwrap(), None);
    let names = |rows: Vec<chat_server::store::FriendRow>| {
        rows.into_iter().map(|f| f.user.username).collect::<Vec<_>>()
    };
    assert_eq!(names(store.friend_list(ann).await.unwrap()), ["ben", "cat"]);

    // Blocks: flags both ways, audience, pending requests dropped, requests refused.
    let F::Created { .. } = store.friend_request(dan, ann, "", CAP, now).await.unwrap() else { panic!() };
    store.block(ann, dan, now).await.unwrap();
    store.block(ann, dan, now).await.unwrap();
    assert!(store.friend_requests(ann, 0, 100).await.unwrap().0.is_empty());
    assert_eq!(store.friend_request(dan, ann, "", CAP, now).await.unwrap(), F::Blocked);
    assert_eq!(store.friend_request(ann, dan, "", CAP, now).await.unwrap(), F::Blocked);
    store.block(cat, ann, now).await.unwrap();
    let list = store.friend_list(ann).await.unwrap();
    assert_eq!((list[1].blocked_by_me, list[1].blocks_me), (false, true), "cat blocks ann");
    assert_eq!(store.presence_audience(ann).await.unwrap(), vec![ben]);
    assert!(store.unblock(cat, ann).await.unwrap());
    assert!(!store.unblock(cat, ann).await.unwrap());
    let mut audience = store.presence_audience(ann).await.unwrap();
    audience.sort();
    assert_eq!(audience, vec![ben, cat]);
    assert!(store.friend_remove(ann, cat).await.unwrap());
    assert!(!store.friend_remove(cat, ann).await.unwrap());

    // Groups: create, join, the size limit, roles, removal, search.
    let g = store.group_create(ann, "Book Club", "books", now).await.unwrap();
    let rec = store.group(g).await.unwrap().unwrap();
    assert_eq!((rec.name.as_str(), rec.owner.clone(), rec.member_count), ("Book Club", user(ann, "ann"), 1));
    let JoinOutcome::Pending { request_id: j1, new: true } =
        store.group_join(g, ben, "me", CAP, now).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(
        store.group_join(g, ben, "", CAP, now).await.unwrap(),
        JoinOutcome::Pending { request_id: j1, new: false }
    );
    assert_eq!(store.group_join(g, ann, "", CAP, now).await.unwrap(), JoinOutcome::AlreadyMember);
    assert_eq!(store.group_join(999_999, ann, "", CAP, now).await.unwrap(), JoinOutcome::NoGroup);
    let JoinOutcome::Pending { request_id: j2, .. } = store.group_join(g, cat, "", CAP, now).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(store.join_requests(g, 0, 100).await.unwrap().len(), 2);
    let req = store.group_respond(j1, ann, true, 2, now).await.unwrap().unwrap();
    assert_eq!((req.user, req.note.as_str()), (user(ben, "ben"), "me"));
    assert_eq!(store.group_respond(j2, ann, true, 2, now).await.unwrap(), Err(GroupRefusal::Full));
    assert_eq!(store.join_requests(g, 0, 100).await.unwrap().len(), 1, "a full group keeps the request");
    assert!(store.group_respond(j2, ann, true, 3, now).await.unwrap().is_ok());
    assert_eq!(store.group_respond(j2, ann, true, 3, now).await.unwrap(), Err(GroupRefusal::NoRequest));
    assert_eq!(store.group(g).await.unwrap().unwrap().member_count, 3);
    assert_eq!(store.group_set_role(g, ann, ben, Role::Admin).await.unwrap(), Ok(true));
    assert_eq!(store.group_set_role(g, ann, ben, Role::Admin).await.unwrap(), Ok(false), "no change");
    assert!(
        matches!(
            store.group_set_role(g, ann, ann, Role::Admin).await.unwrap(),
            Err(GroupRefusal::Forbidden(_))
        ),
        "the owner's role is fixed"
    );
    assert_eq!(
        store.group_set_role(g, ann, dan, Role::Admin).await.unwrap(),
        Err(GroupRefusal::TargetNotMember)
    );
    let roles: Vec<_> =
        store.group_members(g, ann).await.unwrap().into_iter().map(|m| (m.user.username, m.role)).collect();
    assert_eq!(
        roles,
        [("ann".into(), Role::Owner), ("ben".into(), Role::Admin), ("cat".into(), Role::Member)]
    );
    let mut managers = store.group_managers(g).await.unwrap();
    managers.sort();
    assert_eq!(managers, vec![ann, ben]);
    assert!(!store.group_remove_member(g, ann).await.unwrap(), "the owner cannot be removed");
    assert!(store.group_remove_member(g, cat).await.unwrap());
    assert!(!store.group_remove_member(g, cat).await.unwrap());
    assert_eq!(store.group(g).await.unwrap().unwrap().member_count, 2);
    assert_eq!(store.member_role(g, cat).await.unwrap(), None);
    let other = store.group_create(eve, "book swap", "", now).await.unwrap();
    let JoinOutcome::Pending { request_id: j3, .. } =
        store.group_join(other, ann, "", CAP, now).await.unwrap()
    else {
        panic!()
    };
    store.group_respond(j3, eve, true, 10, now).await.unwrap().unwrap();
    let JoinOutcome::Pending { request_id: j4, .. } =
        store.group_join(other, ben, "", CAP, now).await.unwrap()
    else {
        panic!()
    };
    store.group_respond(j4, eve, true, 10, now).await.unwrap().unwrap();
    let found: Vec<_> = store.group_search("BOOK", 50).await.unwrap().into_iter().map(|g| g.id).collect();
    assert_eq!(found, vec![g, other]);
    let of_ann: Vec<_> = store.groups_of(ann).await.unwrap().into_iter().map(|(g, r)| (g.id, r)).collect();
    assert_eq!(of_ann, vec![(g, Role::Owner), (other, Role::Member)]);

    // Deleting ann: her group is dissolved, she leaves eve's, her friend ben is told.
    let gone = store.delete_user(ann).await.unwrap().unwrap();
    let mut dissolved_members = gone.dissolved[0].1.clone();
    dissolved_members.sort();
    let mut left_members = gone.left[0].1.clone();
    left_members.sort();
    assert_eq!(
        DeletedAccount {
            friends: gone.friends.clone(),
            dissolved: vec![(g, dissolved_members)],
            left: vec![(other, left_members)]
        },
        DeletedAccount {
            friends: vec![ben],
            dissolved: vec![(g, vec![ann, ben])],
            left: vec![(other, vec![ben, eve])]
        }
    );
    assert!(store.group(g).await.unwrap().is_none());
    assert_eq!(store.group(other).await.unwrap().unwrap().member_count, 2);
    assert!(store.friend_list(ben).await.unwrap().is_empty());

    // Dissolving returns the former members and leaves nothing behind.
    let JoinOutcome::Pending { .. } = store.group_join(other, dan, "", CAP, now).await.unwrap() else {
        panic!()
    };
    let mut former = store.group_dissolve(other).await.unwrap();
    former.sort();
    assert_eq!(former, vec![ben, eve]);
    assert!(store.group(other).await.unwrap().is_none());
    assert!(store.groups_of(ben).await.unwrap().is_empty());
    assert!(store.group_dissolve(other).await.unwrap().is_empty());
    store.close().await;
    db.cleanup().await;
}

/// The store judges roles in the transaction that acts: an admin demoted before
/// its call is refused by the store itself, whatever the service checked earlier.
async fn a_lost_role_is_refused_by_the_store(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    let store = db.open_store().await;
    let now = 1_763_800_000_000;
    let mut ids = Vec::new();
    for name in ["olga", "adam", "mia", "pete"] {
        ids.push(store.create_user(name, "h", now).await.unwrap());
    }
    let [olga, adam, mia, pete] = ids[..] else { unreachable!() };
    let g = store.group_create(olga, "club", "", now).await.unwrap();
    for u in [adam, mia] {
        let JoinOutcome::Pending { request_id, .. } = store.group_join(g, u, "", CAP, now).await.unwrap()
        else {
            panic!()
        };
        store.group_respond(request_id, olga, true, 100, now).await.unwrap().unwrap();
    }
    assert_eq!(store.group_set_role(g, olga, adam, Role::Admin).await.unwrap(), Ok(true));
    let JoinOutcome::Pending { request_id: pending, .. } =
        store.group_join(g, pete, "", CAP, now).await.unwrap()
    else {
        panic!()
    };

    // The demotion lands between the service's old role check and the act.
    assert_eq!(store.group_set_role(g, olga, adam, Role::Member).await.unwrap(), Ok(true));
    let forbidden = |r: Result<_, GroupRefusal>| matches!(r, Err(GroupRefusal::Forbidden(_)));
    assert!(forbidden(store.group_kick(g, adam, mia).await.unwrap()), "kick by a demoted admin");
    assert!(forbidden(store.group_respond(pending, adam, true, 100, now).await.unwrap().map(|_| ())));
    assert!(forbidden(store.group_set_role(g, adam, mia, Role::Admin).await.unwrap().map(|_| ())));
    assert_eq!(store.group_kick(g, pete, mia).await.unwrap(), Err(GroupRefusal::NotMember));
    assert_eq!(store.group_kick(g, 999_999, mia).await.unwrap(), Err(GroupRefusal::NotMember));
    assert_eq!(store.group_kick(999_999, olga, mia).await.unwrap(), Err(GroupRefusal::NoGroup));
    // Nothing changed.
    let members: Vec<_> =
        store.group_members(g, olga).await.unwrap().into_iter().map(|m| (m.user.id, m.role)).collect();
    assert_eq!(members, [(olga, Role::Owner), (adam, Role::Member), (mia, Role::Member)]);
    assert_eq!(store.join_requests(g, 0, 100).await.unwrap().len(), 1);
    assert_eq!(store.group(g).await.unwrap().unwrap().member_count, 3);

    // The owner still acts; kicking counts the member out.
    assert_eq!(store.group_kick(g, olga, mia).await.unwrap(), Ok(()));
    assert_eq!(store.group_kick(g, olga, mia).await.unwrap(), Err(GroupRefusal::TargetNotMember));
    assert_eq!(store.group(g).await.unwrap().unwrap().member_count, 2);
    store.close().await;
    db.cleanup().await;
}

/// Pending requests stop at the cap (refused, nothing dropped) and list in pages
/// by request id that skip nothing while requests come and go between pages.
async fn pending_requests_are_capped_and_paged_by_id(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    let store = db.open_store().await;
    let now = 1_763_800_000_000;
    let target = store.create_user("target", "h", now).await.unwrap();
    let g = store.group_create(target, "club", "", now).await.unwrap();
    let mut sent = Vec::new();
    for i in 0..5 {
        let u = store.create_user(&format!("asker{i}"), "h", now).await.unwrap();
        let F::Created { request_id } = store.friend_request(u, target, "hi", 4, now).await.unwrap() else {
            assert_eq!(i, 4, "only the fifth is refused");
            assert_eq!(store.friend_request(u, target, "hi", 4, now).await.unwrap(), F::TooManyPending);
            assert_eq!(store.group_join(g, u, "", 4, now).await.unwrap(), JoinOutcome::TooManyPending);
            continue;
        };
        store.group_join(g, u, "", 4, now).await.unwrap();
        sent.push((u, request_id));
    }
    let (incoming, _) = store.friend_requests(target, 0, 100).await.unwrap();
    assert_eq!(
        incoming.iter().map(|r| r.request_id).collect::<Vec<_>>(),
        sent.iter().map(|s| s.1).collect::<Vec<_>>()
    );
    // The same request again, or a crossing one, still passes at the cap.
    assert_eq!(
        store.friend_request(sent[0].0, target, "hi", 4, now).await.unwrap(),
        F::AlreadyPending { request_id: sent[0].1 }
    );

    // Page of two; between pages the first is answered and a new one arrives.
    let (page, _) = store.friend_requests(target, 0, 2).await.unwrap();
    assert_eq!(page.iter().map(|r| r.request_id).collect::<Vec<_>>(), [sent[0].1, sent[1].1]);
    store.friend_respond(sent[0].1, target, false, now).await.unwrap().unwrap();
    let late = store.create_user("late", "h", now).await.unwrap();
    let F::Created { request_id: late_id } = store.friend_request(late, target, "", 4, now).await.unwrap()
    else {
        panic!()
    };
    let (page, _) = store.friend_requests(target, sent[1].1, 2).await.unwrap();
    assert_eq!(page.iter().map(|r| r.request_id).collect::<Vec<_>>(), [sent[2].1, sent[3].1]);
    let (page, _) = store.friend_requests(target, sent[3].1, 2).await.unwrap();
    assert_eq!(page.iter().map(|r| r.request_id).collect::<Vec<_>>(), [late_id]);
    // Outgoing pages the same way.
    let (_, out) = store.friend_requests(sent[1].0, 0, 2).await.unwrap();
    assert_eq!(out.iter().map(|r| r.other.id).collect::<Vec<_>>(), [target]);

    let joins = store.join_requests(g, 0, 2).await.unwrap();
    assert_eq!(joins.len(), 2);
    let rest = store.join_requests(g, joins[1].request_id, 10).await.unwrap();
    assert_eq!(rest.len(), 2);
    assert!(rest[0].request_id > joins[1].request_id);
    store.close().await;
    db.cleanup().await;
}
