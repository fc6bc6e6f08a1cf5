//! Request parsing follows the Framing and Precise rules sections exactly.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chat_proto::envelope::{ErrReply, OkReply, OutgoingRequest, ServerFrame};
use chat_proto::model::Target;
use chat_proto::reply::{Empty, RegisterReply};
use chat_proto::request::{self, OP_NAMES, Request};
use chat_proto::{ErrorBody, ErrorCode, Event, encode_frame, parse_request};
use serde_json::json;

fn err(payload: &[u8]) -> (u64, ErrorCode) {
    let e = parse_request(payload).unwrap_err();
    (e.re, e.error.code)
}

#[test]
fn bad_payloads_get_bad_request_with_the_right_re() {
    assert_eq!(err(b""), (0, ErrorCode::BadRequest));
    assert_eq!(err(b"not json"), (0, ErrorCode::BadRequest));
    assert_eq!(err(b"\xff\xfe{}"), (0, ErrorCode::BadRequest));
    assert_eq!(err(b"[1,2]"), (0, ErrorCode::BadRequest));
    assert_eq!(err(b"42"), (0, ErrorCode::BadRequest));
    assert_eq!(err(br#"{"op":"ping"}"#), (0, ErrorCode::BadRequest));
    assert_eq!(err(br#"{"id":0,"op":"ping"}"#), (0, ErrorCode::BadRequest));
    assert_eq!(err(br#"{"id":-1,"op":"ping"}"#), (0, ErrorCode::BadRequest));
    assert_eq!(err(br#"{"id":1.5,"op":"ping"}"#), (0, ErrorCode::BadRequest));
    assert_eq!(err(br#"{"id":"7","op":"ping"}"#), (0, ErrorCode::BadRequest));
    assert_eq!(err(br#"{"id":9007199254740992,"op":"ping"}"#), (0, ErrorCode::BadRequest));
    assert_eq!(err(br#"{"id":9007199254740991}"#), (9007199254740991, ErrorCode::BadRequest));
    assert_eq!(err(br#"{"id":5,"op":null}"#), (5, ErrorCode::BadRequest));
    assert_eq!(err(br#"{"id":5,"op":3}"#), (5, ErrorCode::BadRequest));
    assert_eq!(err(br#"{"id":5,"op":"login"}"#), (5, ErrorCode::BadRequest));
    assert_eq!(err(br#"{"id":5,"op":"login","username":1,"password":"x"}"#), (5, ErrorCode::BadRequest));
}

#[test]
fn unknown_op_is_its_own_code() {
    assert_eq!(err(br#"{"id":8,"op":"launch_missiles"}"#), (8, ErrorCode::UnknownOp));
    assert_eq!(err(br#"{"id":8,"op":"Ping"}"#), (8, ErrorCode::UnknownOp));
}

#[test]
fn every_op_name_is_known_to_the_parser() {
    assert_eq!(OP_NAMES.len(), 37);
    for op in OP_NAMES {
        let payload = format!(r#"{{"id":1,"op":"{op}"}}"#);
        match parse_request(payload.as_bytes()) {
            Ok((1, r)) => assert_eq!(r.op(), *op),
            Ok(other) => panic!("{op}: {other:?}"),
            Err(e) => assert_eq!(e.error.code, ErrorCode::BadRequest, "{op}: {e:?}"),
        }
    }
}

#[test]
fn unknown_fields_are_ignored() {
    let (id, r) = parse_request(br#"{"id":3,"op":"ping","extra":[1,2,3]}"#).unwrap();
    assert_eq!(id, 3);
    assert_eq!(r, Request::Ping(request::Ping {}));
}

#[test]
fn typed_requests_read_their_fields() {
    let (_, r) =
        parse_request(br#"{"id":1,"op":"send","to":{"group":12},"body":"hi","client_msg_id":"c1"}"#).unwrap();
    let Request::Send(s) = r else { panic!() };
    assert_eq!(s.to, Target::Group(12));
    assert_eq!(s.body, "hi");
    assert_eq!(s.client_msg_id.as_deref(), Some("c1"));
    let (_, r) = parse_request(br#"{"id":1,"op":"sync","with":{"user":"bob"},"after":4}"#).unwrap();
    let Request::Sync(s) = r else { panic!() };
    assert_eq!((s.with, s.after, s.limit), (Target::User("bob".into()), 4, None));
}

#[test]
fn requests_serialize_as_the_contract_shows() {
    let r: Request =
        request::Login { username: "alice".into(), password: "secret123".into(), device: None }.into();
    let v = serde_json::to_value(OutgoingRequest { id: 17, request: &r }).unwrap();
    assert_eq!(v, json!({"id": 17, "op": "login", "username": "alice", "password": "secret123"}));
}

#[test]
fn secrets_are_redacted_from_debug_output() {
    let r = request::Login { username: "alice".into(), password: "hunter2hunter2".into(), device: None };
    let shown = format!("{r:?}");
    assert!(shown.contains("alice") && !shown.contains("hunter2"), "{shown}");
}

#[test]
fn replies_have_exact_bytes() {
    let ok = encode_frame(&OkReply::new(17, &RegisterReply { user_id: 4 }), 1024).unwrap();
    assert_eq!(&ok[4..], br#"{"re":17,"ok":true,"user_id":4}"#);
    let empty = encode_frame(&OkReply::new(2, &Empty {}), 1024).unwrap();
    assert_eq!(&empty[4..], br#"{"re":2,"ok":true}"#);
    let e = ErrorBody::new(ErrorCode::NotFriend, "bob is not your friend");
    let bytes = encode_frame(&ErrReply::new(17, &e), 1024).unwrap();
    assert_eq!(
        &bytes[4..],
        br#"{"re":17,"ok":false,"error":{"code":"not_friend","message":"bob is not your friend"}}"#
    );
}

#[test]
fn server_frames_are_told_apart_by_key() {
    match ServerFrame::parse(br#"{"re":3,"ok":true,"user_id":9}"#).unwrap() {
        ServerFrame::Reply { re: 3, result: Ok(map) } => assert_eq!(map["user_id"], 9),
        other => panic!("{other:?}"),
    }
    match ServerFrame::parse(br#"{"re":4,"ok":false,"error":{"code":"forbidden","message":"no"}}"#).unwrap() {
        ServerFrame::Reply { re: 4, result: Err(e) } => assert_eq!(e.code, ErrorCode::Forbidden),
        other => panic!("{other:?}"),
    }
    let ev = ServerFrame::parse(br#"{"event":"presence","user":"bob","user_id":2,"online":true}"#).unwrap();
    assert!(matches!(ev, ServerFrame::Event(Event::Presence(p)) if p.online && p.user == "bob"));
    assert!(matches!(
        ServerFrame::parse(br#"{"event":"from_the_future","x":1}"#).unwrap(),
        ServerFrame::UnknownEvent(_)
    ));
    assert!(ServerFrame::parse(br#"{"x":1}"#).is_err());
}

#[test]
fn every_error_code_has_its_wire_name() {
    for code in ErrorCode::ALL {
        assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
    }
}

#[test]
fn every_id_and_count_out_of_range_is_a_bad_request_naming_its_field() {
    let huge = u64::MAX;
    let cases = [
        (json!({"op": "recall", "msg_id": huge}), "msg_id"),
        (json!({"op": "group_info", "group_id": huge}), "group_id"),
        (json!({"op": "group_join", "group_id": 0}), "group_id"),
        (json!({"op": "friend_respond", "request_id": huge, "accept": true}), "request_id"),
        (json!({"op": "group_respond", "request_id": 9007199254740992u64, "accept": true}), "request_id"),
        (json!({"op": "file_finish", "file_id": huge}), "file_id"),
        (json!({"op": "file_download", "file_id": 1, "offset": huge, "length": 1}), "offset"),
        (json!({"op": "read", "with": {"user": "bob"}, "seq": huge}), "seq"),
        (json!({"op": "sync", "with": {"user": "bob"}, "after": huge}), "after"),
        (json!({"op": "history", "with": {"user": "bob"}, "before": huge}), "before"),
        (json!({"op": "history", "with": {"user": "bob"}, "limit": huge}), "limit"),
        (json!({"op": "conversations", "before": -5}), "before"),
        (json!({"op": "send", "to": {"group": huge}, "body": "x"}), "group"),
        (json!({"op": "sync", "with": {"group": 0}}), "group"),
    ];
    for (mut payload, field) in cases {
        payload["id"] = json!(4);
        let e = parse_request(payload.to_string().as_bytes()).unwrap_err();
        assert_eq!((e.re, e.error.code), (4, ErrorCode::BadRequest), "{payload}");
        assert!(e.error.message.contains(&format!("`{field}`")), "{payload}: {}", e.error.message);
    }
    let (_, r) = parse_request(br#"{"id":1,"op":"recall","msg_id":9007199254740991}"#).unwrap();
    assert_eq!(r, Request::Recall(request::Recall { msg_id: 9007199254740991 }));
}
