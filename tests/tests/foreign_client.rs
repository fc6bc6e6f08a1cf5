//! A client written in another language from docs/PROTOCOL.md alone
//! (docs/examples/client.py) registers, logs in, resumes and logs out.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chat_tests::{Backend, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_from_the_protocol_doc() {
    let server = TestServer::start(Backend::Sqlite).await.unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/examples/client.py");
    let out = tokio::process::Command::new("python3")
        .args([script, &server.addr.to_string(), "Zoë_is_not_valid", "pw"])
        .output()
        .await
        .expect("python3 is needed for this test (.ci/run installs it)");
    assert!(!out.status.success(), "an invalid username must be refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad_request"));

    let out = tokio::process::Command::new("python3")
        .args([script, &server.addr.to_string(), "zoe", "a long enough password"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for step in ["hello: chat-server/", "registered: user_id", "logged in: zoe", "resumed: zoe", "logged out"]
    {
        assert!(stdout.contains(step), "missing `{step}` in:\n{stdout}");
    }
    server.finish().await;
}
