//! The `chat-server` binary as an operator runs it: no setup, signals, exit codes.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::Daemon;

/// Starts the daemon with `home` as its home directory.
fn start(args: &[&str], home: &std::path::Path) -> (Daemon, String, std::thread::JoinHandle<Vec<String>>) {
    let mut cmd = support::command();
    cmd.args(["--listen", "127.0.0.1:0"]).args(args).env("HOME", home).env_remove("XDG_DATA_HOME");
    support::start(cmd)
}

struct Conn(TcpStream);

impl Conn {
    fn open(addr: &str) -> Self {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Conn(s)
    }
    fn send(&mut self, v: Value) {
        let payload = serde_json::to_vec(&v).unwrap();
        self.0.write_all(&(payload.len() as u32).to_be_bytes()).unwrap();
        self.0.write_all(&payload).unwrap();
    }
    fn recv(&mut self) -> Option<Value> {
        let mut len = [0u8; 4];
        self.0.read_exact(&mut len).ok()?;
        let mut payload = vec![0u8; u32::from_be_bytes(len) as usize];
        self.0.read_exact(&mut payload).ok()?;
        Some(serde_json::from_slice(&payload).unwrap())
    }
    fn call(&mut self, v: Value) -> Value {
        self.send(v);
        self.recv().unwrap()
    }
}

/// Waits for the daemon to exit on its own (a thread blocks in `wait`), failing the
/// test if it has not within 20 s.
fn wait_exit(daemon: &mut Daemon) -> std::process::ExitStatus {
    let pid = daemon.0.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| tx.send(daemon.0.wait().unwrap()).unwrap());
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(status) => status,
            Err(_) => {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                panic!("daemon did not exit");
            }
        }
    })
}

fn signal(Daemon(child): &Daemon, sig: &str) {
    let ok = Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap().success();
    assert!(ok);
}

#[test]
fn runs_with_no_setup_and_stops_cleanly_on_sigterm() {
    let home = tempfile::tempdir().unwrap();
    let (mut child, addr, log) = start(&[], home.path());
    let mut c = Conn::open(&addr);
    let r = c.call(json!({"id": 1, "op": "register", "username": "alice", "password": "password one"}));
    assert_eq!(r["ok"], true, "{r}");
    let r = c.call(json!({"id": 2, "op": "login", "username": "alice", "password": "password one"}));
    let token = r["token"].as_str().unwrap().to_owned();

    signal(&child, "-TERM");
    assert_eq!(c.recv(), Some(json!({"event": "closing", "reason": "shutdown"})));
    assert_eq!(c.recv(), None, "closed after the notice");
    assert!(wait_exit(&mut child).success(), "exit status 0");

    // The default database is a SQLite file in the platform data directory.
    let db = home.path().join(".local/share/chat-server/chat.db");
    assert!(db.exists(), "{db:?}");
    let log = log.join().unwrap().join("\n");
    assert!(!log.contains("password one") && !log.contains(&token), "no secret in the log");

    // Started again, it finds the account where it left it; SIGINT stops it as well.
    let (mut child, addr, _) = start(&[], home.path());
    let mut c = Conn::open(&addr);
    let r = c.call(json!({"id": 1, "op": "resume", "token": token}));
    assert_eq!(r["username"], "alice", "{r}");
    signal(&child, "-INT");
    assert!(wait_exit(&mut child).success());
}

#[test]
fn help_documents_every_flag_and_its_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_chat-server")).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for (flag, var) in [
        ("--listen", "CHAT_LISTEN"),
        ("--database", "CHAT_DATABASE"),
        ("--max-frame", "CHAT_MAX_FRAME"),
        ("--idle-timeout", "CHAT_IDLE_TIMEOUT"),
        ("--max-connections", "CHAT_MAX_CONNECTIONS"),
        ("--log", "CHAT_LOG"),
    ] {
        assert!(help.contains(flag) && help.contains(var), "{flag} / {var} missing from --help");
    }
}

#[test]
fn bad_settings_are_refused_with_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["--database", "postgres://nowhere/db", "--listen", "127.0.0.1:0"])
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unsupported database URL"), "{err}");

    // A body limit whose frames could not fit max_frame is refused before anything starts.
    let out = support::command()
        .args(["--max-body", "1000000", "--listen", "127.0.0.1:0"])
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--max-body 1000000 needs --max-frame"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_chat-server")).args(["--max-frame", "10"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-frame"));
}

#[test]
fn running_out_of_file_descriptors_refuses_newcomers_and_serves_the_rest() {
    let home = tempfile::tempdir().unwrap();
    // The same binary, started by a shell that first lowers its descriptor limit.
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "ulimit -n 64 && exec \"$0\" --listen 127.0.0.1:0 --log warn,chat_server::server=info"])
        .arg(env!("CARGO_BIN_EXE_chat-server"))
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME");
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("CHAT_")) {
        cmd.env_remove(key);
    }
    let (_daemon, addr, _log) = support::start(cmd);

    // Each newcomer is either served, or told `unavailable` and closed (a client that
    // already sent its request may see the close as a reset instead); none hangs.
    let mut served = Vec::new();
    let mut refused = 0;
    for i in 0..100u64 {
        let Ok(stream) = TcpStream::connect(&addr) else {
            refused += 1;
            continue;
        };
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut c = Conn(stream);
        let payload = serde_json::to_vec(&json!({"id": i + 1, "op": "ping"})).unwrap();
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend(payload);
        let mut len = [0u8; 4];
        let got = c.0.write_all(&frame).and_then(|_| c.0.read_exact(&mut len));
        match got {
            Ok(()) => {
                let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
                c.0.read_exact(&mut body).unwrap();
                let reply: Value = serde_json::from_slice(&body).unwrap();
                if reply["ok"] == true {
                    served.push(c);
                } else {
                    assert_eq!(
                        (reply["re"].as_u64(), reply["error"]["code"].as_str()),
                        (Some(0), Some("unavailable"))
                    );
                    refused += 1;
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                panic!("connection {i} hangs: neither served nor refused")
            }
            Err(_) => refused += 1, // reset or closed: refused
        }
    }
    assert!(served.len() >= 10 && refused > 0, "served {}, refused {refused}", served.len());
    // Everyone already in is still served.
    for (i, c) in served.iter_mut().enumerate() {
        assert_eq!(c.call(json!({"id": 1000 + i, "op": "ping"}))["ok"], true);
    }
    // Places freed are taken again.
    served.truncate(served.len() - 5);
    let mut fresh = loop {
        let mut c = Conn::open(&addr);
        let payload = serde_json::to_vec(&json!({"id": 1, "op": "ping"})).unwrap();
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend(payload);
        if c.0.write_all(&frame).is_ok() && c.recv().is_some_and(|r| r["ok"] == true) {
            break c;
        }
    };
    assert_eq!(fresh.call(json!({"id": 2, "op": "ping"}))["ok"], true);
}
