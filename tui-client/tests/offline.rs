//! What the subcommands do without a server: `whoami` says who (unchecked) and
//! `logout` forgets the local session; neither needs the server to answer.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use support::{TestServer, register, tui};

#[test]
fn whoami_and_logout_work_while_the_server_is_down() {
    let mut server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    register(home.path(), &server, "alice");
    server.stop();

    let who = tui(home.path(), &server).arg("whoami").assert().success();
    let who = String::from_utf8_lossy(&who.get_output().stdout).into_owned();
    assert!(who.starts_with("alice (user 1)") && who.contains("not checked"), "{who}");

    let out = tui(home.path(), &server).arg("logout").assert().success();
    let out = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(out.contains("logged out alice here"), "{out}");
    // The session is gone locally: nobody is logged in on this machine any more.
    tui(home.path(), &server).arg("whoami").assert().code(4);
}
