//! One story through the Store trait, told against SQLite and against MariaDB: the
//! two backends must behave the same.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chat_server::store::{NewSession, StoreError};
use chat_tests::{Backend, TestDb, backend_tests};

backend_tests!(accounts_and_sessions_story);

const DAY: i64 = 86_400_000;

fn session<'a>(user_id: u64, token_hash: &'a str, now: i64) -> NewSession<'a> {
    NewSession {
        user_id,
        token_hash,
        device: "phone",
        now,
        expires_at: now + DAY,
    }
}

async fn accounts_and_sessions_story(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    let store = db.open_store().await;
    let now = 1_763_800_000_000;

    // Accounts: ids from 1, names unique case-insensitively and kept as typed.
    let alice = store
        .create_user("Alice", "$argon2id$hash-a", now)
        .await
        .unwrap();
    let bob = store
        .create_user("bob", "$argon2id$hash-b", now)
        .await
        .unwrap();
    assert!(alice >= 1 && bob > alice);
    assert!(matches!(
        store.create_user("ALICE", "x", now).await,
        Err(StoreError::Conflict)
    ));
    let found = store.user_by_name("aLiCe").await.unwrap().unwrap();
    assert_eq!(
        (
            found.id,
            found.username.as_str(),
            found.password_hash.as_str()
        ),
        (alice, "Alice", "$argon2id$hash-a")
    );
    assert_eq!(
        store.user_by_id(bob).await.unwrap().unwrap().username,
        "bob"
    );
    assert!(store.user_by_name("carol").await.unwrap().is_none());
    // Values that look like SQL are only data.
    let tricky = store
        .create_user("x'); DROP TABLE users;--", "h", now)
        .await
        .unwrap();
    assert_eq!(
        store.user_by_id(tricky).await.unwrap().unwrap().username,
        "x'); DROP TABLE users;--"
    );

    // Sessions: found by token hash while unexpired; each resume pushes the expiry.
    let s1 = store
        .create_session(session(alice, "aa", now))
        .await
        .unwrap();
    let s2 = store
        .create_session(session(alice, "bb", now))
        .await
        .unwrap();
    let s3 = store.create_session(session(bob, "cc", now)).await.unwrap();
    assert!(s1 != s2 && s2 != s3);
    let (sid, user) = store
        .resume_session("aa", now + 1, now + 2 * DAY)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((sid, user.id), (s1, alice));
    assert!(
        store
            .resume_session("aa", now + DAY + 1, now + 3 * DAY)
            .await
            .unwrap()
            .is_some(),
        "expiry was pushed"
    );
    assert!(
        store
            .resume_session("bb", now + DAY, now + 2 * DAY)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    assert!(
        store
            .resume_session("zz", now, now + DAY)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store.create_session(session(bob, "cc", now)).await,
        Err(StoreError::Conflict)
    ));

    // Pruning drops expired sessions only.
    assert_eq!(
        store.prune_sessions(now + DAY).await.unwrap(),
        2,
        "bb and cc"
    );
    assert!(
        store
            .resume_session("aa", now + DAY + 2, now + 3 * DAY)
            .await
            .unwrap()
            .is_some()
    );

    // A password change revokes every session and opens exactly one new one.
    let fresh = store
        .replace_password(alice, "$argon2id$hash-a2", session(alice, "dd", now))
        .await
        .unwrap();
    assert!(
        store
            .resume_session("aa", now, now + DAY)
            .await
            .unwrap()
            .is_none()
    );
    let (sid, user) = store
        .resume_session("dd", now, now + DAY)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (sid, user.password_hash.as_str()),
        (fresh, "$argon2id$hash-a2")
    );

    // Logout deletes one session.
    store.delete_session(fresh).await.unwrap();
    assert!(
        store
            .resume_session("dd", now, now + DAY)
            .await
            .unwrap()
            .is_none()
    );

    // Deleting an account takes its sessions and frees its name; ids are not reused.
    store.create_session(session(bob, "ee", now)).await.unwrap();
    assert!(store.delete_user(bob).await.unwrap());
    assert!(!store.delete_user(bob).await.unwrap());
    assert!(store.user_by_name("bob").await.unwrap().is_none());
    assert!(
        store
            .resume_session("ee", now, now + DAY)
            .await
            .unwrap()
            .is_none()
    );
    let bob2 = store.create_user("Bob", "h", now).await.unwrap();
    assert!(bob2 > tricky, "a new account gets a new id");

    // Reopening applies no migration twice and keeps the data.
    store.close().await;
    let store = db.open_store().await;
    assert_eq!(
        store.user_by_name("alice").await.unwrap().unwrap().id,
        alice
    );
    store.close().await;
    db.cleanup().await;
}
