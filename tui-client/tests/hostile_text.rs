//! Server text with terminal escape sequences in it, printed by the real `chat-tui`
//! binary: every subcommand shows it escaped, never as raw control bytes.
//!
//! The text comes from a stand-in server (and then from the local history the client
//! kept), so the test holds however strictly the real server filters what it stores.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;

use assert_cmd::Command;
use chat_tui::config::{Profile, SavedSession};
use serde_json::{Value, json};

/// Retitles the window, rings the bell, clears the screen; then a C1 CSI, DEL and a
/// right-to-left override.
const HOSTILE: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{7f}\u{202e}";
const SHOWN: &str = r"\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{7f}\u{202e}";

fn message() -> Value {
    json!({"msg_id": 5, "seq": 1, "from": "mallory", "from_id": 2, "to": {"user": "alice"},
           "body": format!("{HOSTILE}\nsecond {HOSTILE}"), "ts": 0, "kind": "text"})
}

/// The result fields a stand-in server answers `op` with, or its error.
fn answer(op: &str) -> Result<Value, Value> {
    let (h, m) = (HOSTILE, message());
    Ok(match op {
        "resume" => json!({"user_id": 1, "username": "alice", "token": "t"}),
        "history" => json!({"messages": [m], "more": false}),
        "conversations" => json!({"conversations": [{"with": {"user": "mallory"}, "last_seq": 1,
            "read_seq": 0, "unread": 1, "last_message": m, "activity": 0}], "more": false}),
        "friend_list" => {
            json!({"friends": [{"user_id": 2, "username": h, "online": true, "blocked": false}]})
        }
        "friend_requests" => json!({
            "incoming": [{"request_id": 1, "from": h, "from_id": 2, "note": h, "ts": 0}],
            "outgoing": [{"request_id": 2, "to": h, "to_id": 3, "note": h, "ts": 0}]}),
        "group_list" => json!({"groups": [{"group_id": 1, "name": h, "description": h, "role": "member"}]}),
        "group_info" => json!({"group_id": 1, "name": h, "description": h, "owner": h, "owner_id": 2,
            "member_count": 2}),
        "group_search" => {
            json!({"groups": [{"group_id": 1, "name": h, "description": h, "member_count": 2}]})
        }
        "group_requests" => {
            json!({"requests": [{"request_id": 1, "user": h, "user_id": 2, "note": h, "ts": 0}]})
        }
        "group_members" => {
            json!({"members": [{"user_id": 2, "username": h, "role": "owner", "online": true}]})
        }
        _ => return Err(json!({"code": "bad_request", "message": format!("no: {h}\nerror: forged line")})),
    })
}

/// Answers one connection's frames until it closes.
fn serve(mut stream: TcpStream) {
    let mut header = [0u8; 4];
    while stream.read_exact(&mut header).is_ok() {
        let mut payload = vec![0u8; u32::from_be_bytes(header) as usize];
        stream.read_exact(&mut payload).unwrap();
        let request: Value = serde_json::from_slice(&payload).unwrap();
        let mut reply = match answer(request["op"].as_str().unwrap()) {
            Ok(fields) => fields,
            Err(error) => json!({"ok": false, "error": error}),
        };
        reply["re"] = request["id"].clone();
        if reply.get("ok").is_none() {
            reply["ok"] = json!(true);
        }
        let bytes = serde_json::to_vec(&reply).unwrap();
        stream.write_all(&(bytes.len() as u32).to_be_bytes()).unwrap();
        stream.write_all(&bytes).unwrap();
    }
}

/// A stand-in server on a free port; it lives as long as the test process.
fn stand_in() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            std::thread::spawn(move || serve(stream.unwrap()));
        }
    });
    addr
}

fn profile(home: &Path) -> Profile {
    Profile::under(&home.join(".config/chat-tui"), &home.join(".local/share/chat-tui"), "default").unwrap()
}

fn tui(home: &Path, server: &str) -> Command {
    let mut cmd = Command::cargo_bin("chat-tui").unwrap();
    cmd.env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("CHAT_PROFILE")
        .env("CHAT_SERVER", server)
        // Times are shown in the machine's zone: fixed here, so the lines are known.
        .env("TZ", "UTC");
    cmd
}

/// Runs `args`, which must succeed with no control character in stdout or stderr
/// but the layout's `\n` and `\t`; returns stdout.
fn run(home: &Path, server: &str, args: &[&str]) -> String {
    let out = tui(home, server).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    for text in [&stdout, &String::from_utf8(out.stderr).unwrap()] {
        let raw = text.chars().find(|&c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{202e}');
        assert_eq!(raw, None, "{args:?} printed a raw control character: {text:?}");
    }
    stdout
}

/// [`run`], and stdout shows the hostile text escaped.
fn printed(home: &Path, server: &str, args: &[&str]) -> String {
    let stdout = run(home, server, args);
    assert!(stdout.contains(SHOWN), "{args:?} shows the text escaped: {stdout}");
    stdout
}

#[test]
fn every_subcommand_prints_server_text_escaped() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let server = stand_in();
    let session = SavedSession {
        server: server.clone(),
        username: "alice".into(),
        user_id: 1,
        token: "t".into(),
        tls: Default::default(),
    };
    profile(home).save_session(&session).unwrap();

    let history = printed(home, &server, &["history", "--with", "mallory"]);
    assert_eq!(
        history,
        format!("1\t1970-01-01 00:00:00\tmallory: {SHOWN}\n\tsecond {SHOWN}\n"),
        "continuations stay"
    );
    printed(home, &server, &["conversations"]);
    let friends = printed(home, &server, &["friends"]);
    assert_eq!(friends, format!("{SHOWN}\tonline\n"));
    let requests = printed(home, &server, &["friends", "requests"]);
    assert_eq!(requests, format!("from {SHOWN}\t{SHOWN}\nto {SHOWN}\t{SHOWN}\n"));
    for args in [
        &["groups"][..],
        &["groups", "info", "1"],
        &["groups", "search", "x"],
        &["groups", "requests", "1"],
        &["groups", "members", "1"],
    ] {
        printed(home, &server, args);
    }
    // --json: still JSON, with the same text once decoded, and no raw control byte.
    for args in [&["--json", "history", "--with", "mallory"][..], &["--json", "friends", "requests"]] {
        let stdout = run(home, &server, args);
        let line = stdout.lines().next().unwrap();
        assert!(line.contains(r"\u001b]0;pwned\u0007\u001b[2J\u009b31m\u007f\u202e"), "{line}");
        let value: Value = serde_json::from_str(line).unwrap();
        let text = value.get("body").or(value["incoming"][0].get("note")).unwrap();
        assert!(text.as_str().unwrap().starts_with(HOSTILE), "{value}");
    }
    // Local history: the same, without the server.
    let local = printed(home, &server, &["history", "--local", "--with", "mallory"]);
    assert_eq!(local, history);
    printed(home, &server, &["conversations", "--local"]);

    // The server's error message reaches stderr on one line, escaped.
    let out = tui(home, &server).args(["send", "--to", "mallory", "hi"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!(r"no: {SHOWN}\u{{a}}error: forged line")), "{stderr}");
}
