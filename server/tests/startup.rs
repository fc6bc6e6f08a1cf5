//! Starting the real `chat-server` binary as a newcomer does: a database path that
//! does not exist yet, a permissive umask, a port already taken, a place it cannot
//! write.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

/// The daemon started by a shell whose umask lets everyone read what it creates
/// (the test process's own umask is left alone: tests run on threads).
fn permissive(args: &[&str], home: &Path, dir: &Path) -> Command {
    let mut cmd = support::command_after("umask 000");
    cmd.args(["--listen", "127.0.0.1:0"]).args(args).env("HOME", home).env_remove("XDG_DATA_HOME");
    cmd.current_dir(dir);
    cmd
}

/// Registers a user, so the database has written through its WAL.
fn register(addr: &str) {
    let mut s = TcpStream::connect(addr).unwrap();
    let payload = serde_json::to_vec(
        &json!({"id": 1, "op": "register", "username": "ann", "password": "password one"}),
    )
    .unwrap();
    s.write_all(&(payload.len() as u32).to_be_bytes()).unwrap();
    s.write_all(&payload).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut reply = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut reply).unwrap();
    let reply: Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(reply["ok"], true, "{reply}");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{path:?}: {e}")).permissions().mode() & 0o777
}

/// The database, its side files and the directories created for it are private.
fn assert_private(created_dirs: &[&Path], db: &Path) {
    for dir in created_dirs {
        assert_eq!(mode(dir), 0o700, "{dir:?}");
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", db.display());
        assert_eq!(mode(Path::new(&file)), 0o600, "{file}");
    }
}

#[test]
fn a_new_database_path_is_created_private_whatever_the_umask() {
    let base = tempfile::tempdir().unwrap();
    let (home, work) = (base.path().join("home"), base.path().join("work"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&work).unwrap();

    // sqlite:///abs/path, in directories that do not exist yet, without ?mode=rwc.
    let data = base.path().join("srv/data");
    let url = format!("sqlite://{}", data.join("chat.db").display());
    let (_daemon, addr, _log) = support::start(permissive(&["--database", &url], &home, &work));
    register(&addr);
    assert_private(&[&base.path().join("srv"), &data], &data.join("chat.db"));

    // sqlite:/abs/path.db and sqlite:relative.db (beside the working directory).
    let abs = base.path().join("abs.db");
    let url = format!("sqlite:{}", abs.display());
    let (_daemon, addr, _log) = support::start(permissive(&["--database", &url], &home, &work));
    register(&addr);
    assert_private(&[], &abs);
    let (_daemon, addr, _log) =
        support::start(permissive(&["--database", "sqlite:relative.db"], &home, &work));
    register(&addr);
    assert_private(&[], &work.join("relative.db"));

    // No flag at all: the platform data directory.
    let (_daemon, addr, _log) = support::start(permissive(&[], &home, &work));
    register(&addr);
    let default = home.join(".local/share/chat-server");
    assert_private(&[&home.join(".local"), &home.join(".local/share"), &default], &default.join("chat.db"));
}

/// Runs the daemon, which must fail to start: its exit code and stderr.
fn failed_start(args: &[&str], home: &Path) -> (i32, String) {
    let out = support::command().args(args).env("HOME", home).env_remove("XDG_DATA_HOME").output().unwrap();
    assert!(!out.status.success(), "{args:?} started");
    (out.status.code().unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// One line that says what failed, where, and what to do.
fn assert_one_line(stderr: &str, naming: &str, hint: &str) {
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("chat-server: "), "{stderr}");
    assert!(stderr.contains(naming) && stderr.contains(hint), "names {naming} and says {hint}: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("Caused by"), "{stderr}");
}

#[test]
fn a_failed_start_says_what_where_and_what_to_do_on_one_line() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let db = format!("sqlite:{}", home.join("chat.db").display());
    let (code, err) = failed_start(&["--listen", &addr, "--database", &db], home);
    assert_eq!(code, 1);
    assert_one_line(&err, &addr, "--listen");

    // A directory that cannot be created: its parent is a file.
    std::fs::write(home.join("file"), b"").unwrap();
    let inside = home.join("file/data/chat.db");
    let url = format!("sqlite://{}", inside.display());
    let (code, err) = failed_start(&["--listen", "127.0.0.1:0", "--database", &url], home);
    assert_eq!(code, 1);
    assert_one_line(&err, &inside.display().to_string(), "--database");

    // A database that is not there, opened without creating it (an explicit mode).
    let missing = format!("sqlite:{}?mode=rw", home.join("missing.db").display());
    let (code, err) = failed_start(&["--listen", "127.0.0.1:0", "--database", &missing], home);
    assert_eq!(code, 1);
    assert_one_line(&err, &missing, "check");
    assert!(!home.join("missing.db").exists(), "mode=rw creates nothing");

    // An unsupported URL, its password kept out of the message.
    let (code, err) =
        failed_start(&["--listen", "127.0.0.1:0", "--database", "postgres://u:s3cret@h/db"], home);
    assert_eq!(code, 1);
    assert_one_line(&err, "postgres://u:***@h/db", "mysql://");
    assert!(!err.contains("s3cret"));

    // A MySQL server that refuses the password: named, the password not shown.
    if let Ok(mysql) = std::env::var("CHAT_TEST_MYSQL_URL") {
        let wrong = mysql.replacen('@', ":s3cret-wrong@", 1);
        let (code, err) = failed_start(&["--listen", "127.0.0.1:0", "--database", &wrong], home);
        assert_eq!(code, 1);
        assert_one_line(&err, ":***@", "password");
        assert!(!err.contains("s3cret"), "{err}");
    }

    // Bad settings: contradicting each other, or malformed.
    let (code, err) = failed_start(&["--max-body", "1000000", "--listen", "127.0.0.1:0"], home);
    assert_eq!(code, 1);
    assert_one_line(&err, "--max-body 1000000", "--help");
    let (code, err) = failed_start(&["--listen", "nowhere"], home);
    assert_eq!(code, 2);
    assert_one_line(&err, "nowhere", "--help");
    let (code, err) = failed_start(&["--log", "a=b=c"], home);
    assert_eq!(code, 2);
    assert_one_line(&err, "a=b=c", "info");
    let (code, err) = failed_start(&["--listen", "127.0.0.1:0", "--tls-cert", "/nowhere/cert.pem"], home);
    assert_eq!(code, 2);
    assert_one_line(&err, "--tls-key", "--help");

    // A certificate that cannot be read.
    let tls = ["--tls-cert", "/nowhere/cert.pem", "--tls-key", "/nowhere/key.pem"];
    let (code, err) =
        failed_start(&[&["--listen", "127.0.0.1:0", "--database", &db][..], &tls].concat(), home);
    assert_eq!(code, 1);
    assert_one_line(&err, "/nowhere/cert.pem", "--tls-cert");
}
