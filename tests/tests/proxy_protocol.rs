//! Behind a load balancer speaking the PROXY protocol: the per-address limits count
//! each real client (here: one connection per address), and a PROXY header from a
//! peer that is not a trusted proxy is not believed.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chat_tests::{Backend, Raw, TestServer};
use serde_json::json;

async fn proxied(server: &TestServer, header: &[u8]) -> Raw {
    let mut raw = server.raw().await;
    raw.write(header).await;
    raw
}

fn v1(client: &str) -> Vec<u8> {
    format!("PROXY TCP4 {client} 127.0.0.1 40000 7878\r\n").into_bytes()
}

#[tokio::test]
async fn the_real_client_address_counts() {
    let Some(server) =
        TestServer::start_with(Backend::Sqlite, &["--proxy-protocol", "--max-connections-per-addr", "1"])
            .await
    else {
        return;
    };
    let hello = json!({"id": 1, "op": "hello"});
    let mut first = proxied(&server, &v1("203.0.113.7")).await;
    assert_eq!(first.call(&hello).await["ok"], true);
    // Another client through the same balancer: its own address, its own place.
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    v2.extend([0x21, 0x11, 0, 12, 198, 51, 100, 9, 127, 0, 0, 1, 0x9c, 0x40, 0x1e, 0xc6]);
    let mut second = proxied(&server, &v2).await;
    assert_eq!(second.call(&hello).await["ok"], true);
    // A second connection of the first client is over its limit.
    let mut again = proxied(&server, &v1("203.0.113.7")).await;
    let refused = again.recv().await.unwrap();
    assert_eq!(refused["error"]["code"], "unavailable", "{refused}");
    server.finish().await;
}

#[tokio::test]
async fn a_header_from_an_untrusted_peer_is_not_believed() {
    let Some(server) =
        TestServer::start_with(Backend::Sqlite, &["--proxy-protocol", "--trusted-proxy", "10.9.9.9"]).await
    else {
        return;
    };
    let mut raw = proxied(&server, &v1("203.0.113.7")).await;
    let closed = raw.until_closed().await;
    assert!(
        closed.iter().any(|f| f["ok"] == false),
        "its bytes are a broken frame, answered and closed: {closed:?}"
    );
    server.finish().await;
}
