//! Running the real `chat-server` binary, for the tests that need a process to
//! signal or kill.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

/// The daemon's process, killed if a test fails before it exits.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `chat-server` command with a clean environment: no `CHAT_*` setting leaks in
/// from the machine running the tests.
pub fn command() -> Command {
    clean(Command::new(env!("CARGO_BIN_EXE_chat-server")))
}

/// A `chat-server` command started by `sh` after the shell ran `setup` (such as
/// `umask 000`), which would be unsafe to do in the threaded test process itself.
#[allow(dead_code)] // not every test file needs a shell
pub fn command_after(setup: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &format!(r#"{setup}; exec "$0" "$@""#), env!("CARGO_BIN_EXE_chat-server")]);
    clean(cmd)
}

fn clean(mut cmd: Command) -> Command {
    for (key, _) in std::env::vars() {
        if key.starts_with("CHAT_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Starts `cmd` and returns the daemon with the address it listens on (read from its
/// log) and a thread that keeps draining the log, so the daemon never blocks on a full
/// pipe, and hands it over at the end.
pub fn start(mut cmd: Command) -> (Daemon, String, JoinHandle<Vec<String>>) {
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("chat-server starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("daemon exited before listening").expect("log is text");
        if line.contains("listening") {
            break line.rsplit("addr=").next().unwrap_or_default().trim().to_owned();
        }
    };
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect());
    (Daemon(child), addr, rest)
}
