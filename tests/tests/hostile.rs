//! Attacks from the hostile review, replayed: each is refused while honest users on
//! the same server are served.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chat_proto::ErrorCode;
use chat_proto::model::Target;
use chat_proto::request::{FriendRequest, FriendRespond, Recall, Send};
use chat_tests::{Backend, TestServer, backend_tests, code};

backend_tests!(impossible_ids_never_fail_anyone_elses_send);

/// A recall of msg_id 2^64-1 used to fail the writer's whole batch, so the other
/// users' sends in it answered `internal`.
async fn impossible_ids_never_fail_anyone_elses_send(b: Backend) {
    let Some(server) = TestServer::start(b).await else {
        return;
    };
    let mut alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let r = alice.client.call(FriendRequest { user: "bob".into(), note: None }).await.unwrap();
    bob.client.call(FriendRespond { request_id: r.request_id, accept: true }).await.unwrap();
    alice.events_so_far().await;
    server.user("mallory").await;
    let mut attackers = Vec::new();
    for _ in 0..20 {
        attackers.push(server.login("mallory").await);
    }

    let attacks = futures::future::join_all(attackers.iter().map(|m| async {
        let mut codes = Vec::new();
        for _ in 0..20 {
            codes.push(code(m.client.call(Recall { msg_id: u64::MAX }).await));
        }
        codes
    }));
    let sends = futures::future::join_all((0..40).map(|i| {
        let send = Send {
            to: Target::User("bob".into()),
            body: format!("m{i}"),
            client_msg_id: None,
            file_id: None,
        };
        alice.client.call(send)
    }));
    let (attacks, sends) = tokio::join!(attacks, sends);
    for s in sends {
        s.unwrap();
    }
    for c in attacks.into_iter().flatten() {
        assert_ne!(c, ErrorCode::Internal);
    }
    server.finish().await;
}
