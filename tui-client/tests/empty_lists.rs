//! An empty list says so in text (a bare prompt after a command reads as a hang or
//! a failure), and prints nothing with --json (no line is no item).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use support::{TestServer, register, tui};

#[test]
fn empty_lists_say_so() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    register(home.path(), &server, "alice");
    let cases: [(&[&str], &str); 5] = [
        (&["friends"], "no friends yet"),
        (&["friends", "requests"], "no pending friend requests"),
        (&["groups"], "no groups yet"),
        (&["groups", "search", "nothing-like-this"], "no group matches"),
        (&["conversations"], "no conversations yet"),
    ];
    for (args, says) in cases {
        let out = tui(home.path(), &server).args(args).assert().success();
        assert_eq!(String::from_utf8_lossy(&out.get_output().stdout).trim(), says, "{args:?}");
        let json = tui(home.path(), &server).arg("--json").args(args).assert().success();
        let json = String::from_utf8_lossy(&json.get_output().stdout).into_owned();
        if args != ["friends", "requests"] {
            assert!(json.is_empty(), "{args:?}: {json}");
        }
    }
}
