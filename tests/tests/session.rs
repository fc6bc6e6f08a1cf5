//! Session ops end to end, on SQLite and on MariaDB: every success and every error
//! code each can return.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chat_proto::ErrorCode;
use chat_proto::event::{CloseReason, Closing};
use chat_proto::model::Target;
use chat_proto::request::{
    ChangePassword, DeleteAccount, FileUpload, FriendList, Hello, Login, Logout, Ping, Register, Resume, Send,
};
use chat_proto::{Event, PROTOCOL_VERSION};
use chat_tests::{Backend, PASSWORD, TestServer, backend_tests, code};

backend_tests!(
    hello_advertises_limits,
    register_rules,
    login_rules,
    ops_need_login_and_unbuilt_ops_answer_unavailable,
    resume_and_logout,
    several_devices_at_once,
    change_password_revokes_everything_else,
    delete_account_frees_the_name,
    failed_logins_are_throttled,
);

fn login(name: &str, password: &str) -> Login {
    Login { username: name.into(), password: password.into(), device: Some("laptop".into()) }
}

async fn hello_advertises_limits(b: Backend) {
    let Some(server) = TestServer::start_with(b, &["--idle-timeout", "60", "--node-id", "n7"]).await else {
        return;
    };
    let c = server.connect().await.client;
    let h = c.call(Hello { client: Some("test".into()), protocol: Some(1) }).await.unwrap();
    assert_eq!(h.protocol, PROTOCOL_VERSION);
    assert_eq!(h.node, "n7");
    assert_eq!(h.heartbeat_secs, 20);
    assert_eq!(h.max_frame, 1 << 20);
    assert!(h.max_body > 0 && h.max_chunk > 0 && h.page_limit > 0);
    assert!(h.max_group_members >= 2000);
    assert_eq!(code(c.call(Hello { client: None, protocol: Some(2) }).await), ErrorCode::BadRequest);
    // hello may come at any time, also after login
    server.user("alice").await.client.call(Hello::default()).await.unwrap();
    c.call(Ping {}).await.unwrap();
    server.finish().await;
}

async fn register_rules(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let c = server.connect().await.client;
    let reg = |u: &str, p: &str| Register { username: u.into(), password: p.into() };
    let alice = c.call(reg("Alice", PASSWORD)).await.unwrap().user_id;
    let bob = c.call(reg("bob", PASSWORD)).await.unwrap().user_id;
    assert!(alice >= 1 && bob != alice);
    assert_eq!(code(c.call(reg("alice", PASSWORD)).await), ErrorCode::UsernameTaken, "case-insensitive");
    assert_eq!(code(c.call(reg("ALICE", "another password")).await), ErrorCode::UsernameTaken);
    assert_eq!(code(c.call(reg("carol", "short")).await), ErrorCode::WeakPassword);
    assert_eq!(code(c.call(reg("carol", "")).await), ErrorCode::WeakPassword);
    assert_eq!(code(c.call(reg("no spaces", PASSWORD)).await), ErrorCode::BadRequest);
    assert_eq!(code(c.call(reg("ab", PASSWORD)).await), ErrorCode::BadRequest);
    assert_eq!(code(c.call(reg(&"x".repeat(33), PASSWORD)).await), ErrorCode::BadRequest);
    assert_eq!(code(c.call(reg("robert'); DROP TABLE users;--", PASSWORD)).await), ErrorCode::BadRequest);
    assert_eq!(code(c.call(reg("carol", &"p".repeat(2000))).await), ErrorCode::BadRequest);
    // nothing above created carol
    assert_eq!(code(c.call(login("carol", "short")).await), ErrorCode::InvalidCredentials);
    // names are kept as typed
    let me = c.call(login("ALICE", PASSWORD)).await.unwrap();
    assert_eq!((me.user_id, me.username.as_str()), (alice, "Alice"));
    server.finish().await;
}

async fn login_rules(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    server.user("alice").await;
    let c = server.connect().await.client;
    let wrong = code(c.call(login("alice", "wrong password")).await);
    let nobody = c.call(login("nobody", PASSWORD)).await.unwrap_err();
    assert_eq!(wrong, ErrorCode::InvalidCredentials);
    assert_eq!(nobody.code(), Some(ErrorCode::InvalidCredentials));
    // the same words either way: a wrong password does not reveal that the user exists
    let wrong_msg = c.call(login("alice", "wrong password")).await.unwrap_err().to_string();
    assert_eq!(wrong_msg, nobody.to_string().replace("nobody", "alice"));
    assert_eq!(code(c.call(login("a b", PASSWORD)).await), ErrorCode::BadRequest);
    let me = c.call(login("alice", PASSWORD)).await.unwrap();
    assert_eq!(me.token.len(), 64);
    assert!(me.token.chars().all(|c| c.is_ascii_hexdigit()));
    server.finish().await;
}

async fn ops_need_login_and_unbuilt_ops_answer_unavailable(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let c = server.connect().await.client;
    assert_eq!(code(c.call(Logout {}).await), ErrorCode::Unauthenticated);
    let cp = ChangePassword { old_password: PASSWORD.into(), new_password: "new password".into() };
    assert_eq!(code(c.call(cp).await), ErrorCode::Unauthenticated);
    assert_eq!(code(c.call(DeleteAccount { password: PASSWORD.into() }).await), ErrorCode::Unauthenticated);
    let send =
        Send { to: Target::User("alice".into()), body: "hi".into(), client_msg_id: None, file_id: None };
    assert_eq!(code(c.call(send.clone()).await), ErrorCode::Unauthenticated);
    assert_eq!(code(c.call(FriendList {}).await), ErrorCode::Unauthenticated);
    c.call(Ping {}).await.unwrap();

    let alice = server.user("alice").await;
    let upload = FileUpload { name: "a.txt".into(), size: 1, sha256: "00".repeat(32) };
    assert_eq!(code(alice.client.call(upload).await), ErrorCode::Unavailable);
    assert_eq!(code(alice.client.call(send).await), ErrorCode::NotFriend, "not even with oneself");
    assert!(alice.client.call(FriendList {}).await.unwrap().friends.is_empty());
    server.finish().await;
}

async fn resume_and_logout(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let alice = server.user("alice").await;

    // A new connection gets back in with the token alone.
    let c = server.connect().await.client;
    let again = c.call(Resume { token: alice.token.clone(), device: None }).await.unwrap();
    assert_eq!((again.user_id, again.username.as_str()), (alice.user_id, "alice"));
    assert_eq!(again.token, alice.token);
    c.call(Logout {}).await.unwrap(); // this connection's session only: alice's token

    let bad = |t: &str| Resume { token: t.into(), device: None };
    let c2 = server.connect().await.client;
    assert_eq!(code(c2.call(bad(&alice.token)).await), ErrorCode::InvalidCredentials, "logout revoked it");
    assert_eq!(code(c2.call(bad("not a token")).await), ErrorCode::InvalidCredentials);
    assert_eq!(code(c2.call(bad(&"0".repeat(64))).await), ErrorCode::InvalidCredentials);

    // Logged out, the connection stays open but unauthenticated.
    assert_eq!(code(c.call(Logout {}).await), ErrorCode::Unauthenticated);
    c.call(Ping {}).await.unwrap();
    // ... and can log in again.
    let fresh = c.call(login("alice", PASSWORD)).await.unwrap();
    assert_ne!(fresh.token, alice.token);
    c2.call(bad(&fresh.token)).await.unwrap();
    server.finish().await;
}

async fn several_devices_at_once(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let phone = server.user("alice").await;
    let laptop = server.login("alice").await;
    assert_eq!(phone.user_id, laptop.user_id);
    assert_ne!(phone.token, laptop.token);
    laptop.client.call(Logout {}).await.unwrap();
    // the other device's session is untouched
    let c = server.connect().await.client;
    c.call(Resume { token: phone.token.clone(), device: None }).await.unwrap();
    server.finish().await;
}

async fn change_password_revokes_everything_else(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let alice = server.user("alice").await;
    let mut other = server.login("alice").await;
    let change = |old: &str, new: &str| ChangePassword { old_password: old.into(), new_password: new.into() };

    assert_eq!(
        code(alice.client.call(change("wrong password", "new password")).await),
        ErrorCode::InvalidCredentials
    );
    assert_eq!(code(alice.client.call(change(PASSWORD, "short")).await), ErrorCode::WeakPassword);
    // refused attempts changed nothing
    let probe = server.connect().await.client;
    probe.call(login("alice", PASSWORD)).await.unwrap();
    probe.call(Logout {}).await.unwrap();

    let reply = alice.client.call(change(PASSWORD, "new password")).await.unwrap();
    assert_ne!(reply.token, alice.token);

    // the other device is told why and disconnected
    match other.next_event().await {
        Event::Closing(Closing { reason }) => assert_eq!(reason, CloseReason::SessionRevoked),
        e => panic!("unexpected {e:?}"),
    }
    tokio::time::timeout(chat_tests::WAIT, other.client.closed()).await.unwrap();

    // every older token is revoked; the new one works
    let c = server.connect().await.client;
    let resume = |t: &str| Resume { token: t.into(), device: None };
    assert_eq!(code(c.call(resume(&alice.token)).await), ErrorCode::InvalidCredentials);
    assert_eq!(code(c.call(resume(&other.token)).await), ErrorCode::InvalidCredentials);
    c.call(resume(&reply.token)).await.unwrap();
    // old password out, new one in
    let d = server.connect().await.client;
    assert_eq!(code(d.call(login("alice", PASSWORD)).await), ErrorCode::InvalidCredentials);
    d.call(login("alice", "new password")).await.unwrap();
    // the changing connection is still logged in
    alice.client.call(change("new password", "newer password")).await.unwrap();
    server.finish().await;
}

async fn delete_account_frees_the_name(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let mut alice = server.user("alice").await;
    let mut other = server.login("alice").await;
    assert_eq!(
        code(alice.client.call(DeleteAccount { password: "wrong password".into() }).await),
        ErrorCode::InvalidCredentials
    );
    alice.client.call(DeleteAccount { password: PASSWORD.into() }).await.unwrap();
    for conn in [&mut alice, &mut other] {
        match conn.next_event().await {
            Event::Closing(Closing { reason }) => assert_eq!(reason, CloseReason::AccountDeleted),
            e => panic!("unexpected {e:?}"),
        }
        tokio::time::timeout(chat_tests::WAIT, conn.client.closed()).await.unwrap();
    }
    let c = server.connect().await.client;
    assert_eq!(code(c.call(login("alice", PASSWORD)).await), ErrorCode::InvalidCredentials);
    assert_eq!(
        code(c.call(Resume { token: alice.token.clone(), device: None }).await),
        ErrorCode::InvalidCredentials
    );
    let reborn = c.call(Register { username: "ALICE".into(), password: PASSWORD.into() }).await.unwrap();
    assert!(reborn.user_id > alice.user_id, "a new account gets a new id");
    server.finish().await;
}

async fn failed_logins_are_throttled(b: Backend) {
    let args = ["--login-max-failures", "3", "--login-max-failures-per-addr", "6"];
    let Some(server) = TestServer::start_with(b, &args).await else {
        return;
    };
    server.user("alice").await;
    server.user("bob").await;
    let c = server.connect().await.client;
    for _ in 0..3 {
        assert_eq!(code(c.call(login("alice", "wrong password")).await), ErrorCode::InvalidCredentials);
    }
    // locked: even the right password is refused for now
    assert_eq!(code(c.call(login("ALICE", PASSWORD)).await), ErrorCode::RateLimited);
    // another user from the same address is not locked yet
    c.call(login("bob", PASSWORD)).await.unwrap();
    // ... until the address has failed too often, whatever the names
    for name in ["carol", "dave", "erin"] {
        assert_eq!(code(c.call(login(name, "wrong password")).await), ErrorCode::InvalidCredentials);
    }
    let refused = c.call(login("bob", PASSWORD)).await.unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::RateLimited));
    assert!(refused.retry_after().is_some_and(|w| w <= std::time::Duration::from_secs(300)), "{refused}");
    // Password failures never throttle tokens: a bad one is just invalid.
    assert_eq!(
        code(c.call(Resume { token: "0".repeat(64), device: None }).await),
        ErrorCode::InvalidCredentials
    );
    server.finish().await;
}
