//! A password changed on this machine (the saved session replaced, as `chat-tui
//! passwd` does) does not log the running client out: it carries on with the new
//! token. Without a newer token, the client stops as logged out.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_proto::request::ChangePassword;
use chat_tests::{Backend, PASSWORD, TestServer, WAIT};
use chat_tui::local_history::LocalHistory;
use chat_tui::session::{self, SessionConfig, Status, Update};
use chat_tui::tls::Endpoint;
use tokio::sync::mpsc;

/// The next status the session reports, skipping everything else.
async fn next_status(updates: &mut mpsc::Receiver<Update>) -> Status {
    loop {
        match tokio::time::timeout(WAIT, updates.recv()).await.expect("no status in time") {
            Some(Update::Status(s)) => return s,
            Some(_) => {}
            None => panic!("the session ended"),
        }
    }
}

async fn until(updates: &mut mpsc::Receiver<Update>, wanted: fn(&Status) -> bool) -> Status {
    loop {
        let s = next_status(updates).await;
        if wanted(&s) {
            return s;
        }
    }
}

#[tokio::test]
async fn a_password_changed_here_keeps_the_session_going() {
    let server = TestServer::start(Backend::Sqlite).await.unwrap();
    let bob = server.user("bob").await;
    let saved = Arc::new(Mutex::new(bob.token.clone()));
    let source = saved.clone();
    let config = |renewed| SessionConfig {
        server: Endpoint::plain(server.addr.to_string()),
        username: "bob".into(),
        token: bob.token.clone(),
        request_timeout: Duration::from_secs(10),
        renewed_token: renewed,
    };
    let renewing: session::TokenSource = Arc::new(move || Some(source.lock().unwrap().clone()));
    let (here, mut here_updates) =
        session::spawn(config(Some(renewing)), LocalHistory::open_in_memory().await.unwrap());
    let (elsewhere, mut elsewhere_updates) =
        session::spawn(config(None), LocalHistory::open_in_memory().await.unwrap());
    until(&mut here_updates, |s| *s == Status::Online).await;
    until(&mut elsewhere_updates, |s| *s == Status::Online).await;

    // The password changes, and the new token is saved where the client looks.
    let new = ChangePassword { old_password: PASSWORD.into(), new_password: "a new password 1".into() };
    let token = bob.client.call(new).await.unwrap().token;
    *saved.lock().unwrap() = token;

    // The session that can find the new token goes offline and comes back...
    until(&mut here_updates, |s| matches!(s, Status::Offline { .. })).await;
    assert_eq!(
        until(&mut here_updates, |s| matches!(s, Status::Online | Status::LoggedOut)).await,
        Status::Online
    );
    // ...the one that cannot is logged out, as before.
    assert_eq!(
        until(&mut elsewhere_updates, |s| matches!(s, Status::Online | Status::LoggedOut)).await,
        Status::LoggedOut
    );
    here.stop();
    elsewhere.stop();
    server.finish().await;
}
