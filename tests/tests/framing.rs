//! The Framing section over raw sockets: garbage, oversized, split and concatenated
//! frames, and that none of it disturbs anyone else.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chat_tests::{Backend, Raw, TestServer, frame, raw_code};
use serde_json::json;

async fn server() -> TestServer {
    TestServer::start_with(Backend::Sqlite, &["--max-frame", "4096", "--max-body", "400"]).await.unwrap()
}

async fn assert_usable(raw: &mut Raw, id: u64) {
    let pong = raw.call(&json!({"id": id, "op": "ping"})).await;
    assert_eq!(pong, json!({"re": id, "ok": true}));
}

#[tokio::test]
async fn bad_payloads_get_bad_request_and_the_connection_stays() {
    let server = server().await;
    let mut raw = server.raw().await;
    let cases: &[(&[u8], u64)] = &[
        (b"", 0),
        (b"hello", 0),
        (b"{\"id\":1,", 0),
        (b"\xff\xfe\xfd", 0),
        (b"[1,2,3]", 0),
        (b"\"just a string\"", 0),
        (b"null", 0),
        (b"{}", 0),
        (b"{\"op\":\"ping\"}", 0),
        (b"{\"id\":\"5\",\"op\":\"ping\"}", 0),
        (b"{\"id\":0,\"op\":\"ping\"}", 0),
        (b"{\"id\":9007199254740992,\"op\":\"ping\"}", 0),
        (b"{\"id\":12}", 12),
        (b"{\"id\":13,\"op\":null}", 13),
        (b"{\"id\":14,\"op\":[\"ping\"]}", 14),
        (b"{\"id\":15,\"op\":\"register\",\"username\":\"bob\"}", 15),
        (b"{\"id\":16,\"op\":\"login\",\"username\":42,\"password\":\"x\"}", 16),
    ];
    for (payload, re) in cases {
        raw.send(payload).await;
        let reply = raw.recv().await.expect("connection closed");
        assert_eq!(reply["re"], *re, "{}", String::from_utf8_lossy(payload));
        assert_eq!(raw_code(&reply), "bad_request", "{}", String::from_utf8_lossy(payload));
        assert!(reply["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_usable(&mut raw, 99).await;
    server.finish().await;
}

#[tokio::test]
async fn unknown_op_is_answered_before_and_after_login() {
    let server = server().await;
    let mut raw = server.raw().await;
    let reply = raw.call(&json!({"id": 7, "op": "self_destruct"})).await;
    assert_eq!((reply["re"].as_u64(), raw_code(&reply)), (Some(7), "unknown_op"));
    assert_usable(&mut raw, 8).await;
    server.finish().await;
}

#[tokio::test]
async fn oversized_frame_is_refused_without_its_payload_and_others_carry_on() {
    let server = server().await;
    let mut bystander = server.raw().await;
    assert_usable(&mut bystander, 1).await;

    let mut raw = server.raw().await;
    // Only the header of a 4097-byte frame is ever sent: the server must answer at once.
    raw.write(&4097u32.to_be_bytes()).await;
    let reply = raw.recv().await.expect("an error frame before the close");
    assert_eq!(reply["re"], 0);
    assert_eq!(raw_code(&reply), "frame_too_large");
    assert!(raw.recv().await.is_none(), "the connection is closed");

    // A header announcing 4 GiB is refused the same way.
    let mut huge = server.raw().await;
    huge.write(&u32::MAX.to_be_bytes()).await;
    assert_eq!(raw_code(&huge.recv().await.unwrap()), "frame_too_large");
    assert!(huge.recv().await.is_none());

    // max_frame itself is fine.
    let mut edge = server.raw().await;
    let mut payload = br#"{"id":3,"op":"ping","pad":""#.to_vec();
    payload.resize(4096 - 2, b'x');
    payload.extend_from_slice(b"\"}");
    assert_eq!(payload.len(), 4096);
    edge.send(&payload).await;
    assert_eq!(edge.recv().await.unwrap()["ok"], true);

    assert_usable(&mut bystander, 2).await;
    server.finish().await;
}

#[tokio::test]
async fn a_frame_split_into_single_bytes_is_read_whole() {
    let server = server().await;
    let mut raw = server.raw().await;
    let wire = frame(br#"{"id":41,"op":"hello","client":"byte by byte"}"#);
    for b in &wire {
        raw.write(&[*b]).await;
    }
    let reply = raw.recv().await.unwrap();
    assert_eq!((reply["re"].as_u64(), reply["ok"].as_bool()), (Some(41), Some(true)));
    assert_eq!(reply["protocol"], 1);
    server.finish().await;
}

#[tokio::test]
async fn many_frames_in_one_write_get_every_reply_in_order() {
    let server = server().await;
    let mut raw = server.raw().await;
    let mut wire = Vec::new();
    for id in 1..=200u64 {
        let payload = if id % 10 == 0 {
            b"garbage".to_vec()
        } else {
            serde_json::to_vec(&json!({"id": id, "op": "ping"})).unwrap()
        };
        wire.extend(frame(&payload));
    }
    // and half of one more, finished by a second write
    let tail = frame(br#"{"id":201,"op":"ping"}"#);
    wire.extend_from_slice(&tail[..7]);
    raw.write(&wire).await;
    raw.write(&tail[7..]).await;
    for id in 1..=201u64 {
        let reply = raw.recv().await.unwrap();
        if id % 10 == 0 && id <= 200 {
            assert_eq!((reply["re"].as_u64(), raw_code(&reply)), (Some(0), "bad_request"));
        } else {
            assert_eq!(reply, json!({"re": id, "ok": true}));
        }
    }
    server.finish().await;
}

#[tokio::test]
async fn garbage_from_one_connection_never_disturbs_another() {
    let server = server().await;
    let alice = server.user("alice").await;
    let mut noisy = server.raw().await;
    // Pseudo-random bytes, deterministic: headers of every size, invalid UTF-8, ...
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut garbage = Vec::with_capacity(64 * 1024);
    for _ in 0..64 * 1024 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        garbage.push(x as u8);
    }
    let _ = noisy.stream.try_write(&garbage);
    noisy.until_closed().await;
    // The server still serves its logged-in user, and new connections.
    alice.client.call(chat_proto::request::Ping {}).await.unwrap();
    let mut fresh = server.raw().await;
    assert_usable(&mut fresh, 5).await;
    server.finish().await;
}

#[tokio::test]
async fn an_unfinished_frame_at_close_is_harmless() {
    let server = server().await;
    let mut raw = server.raw().await;
    raw.write(&frame(br#"{"id":1,"op":"ping"}"#)[..10]).await;
    drop(raw);
    let mut other = server.raw().await;
    assert_usable(&mut other, 1).await;
    server.finish().await;
}
