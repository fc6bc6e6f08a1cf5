//! The README's tour, run literally: each `$` command of its two shell blocks, in
//! order, against a fresh server, printing what the README says it prints (times
//! may differ, and `...` stands for the rest of a line). Only the commands that
//! start or build the server and the client are left to the test.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use support::{TestServer, eventually};

/// The `sh` block that follows `heading` in the README.
fn block_after<'a>(readme: &'a str, heading: &str) -> &'a str {
    let from = readme.find(heading).unwrap_or_else(|| panic!("no `{heading}` in the README"));
    let start = from + readme[from..].find("```sh\n").unwrap() + "```sh\n".len();
    let end = start + readme[start..].find("```").unwrap();
    &readme[start..end]
}

/// The commands of a block, each with the lines the README shows it printing.
fn steps(block: &str) -> Vec<(String, Vec<String>)> {
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    for line in block.lines() {
        match line.strip_prefix("$ ") {
            Some(command) => steps.push((command.to_owned(), Vec::new())),
            None => steps.last_mut().unwrap().1.push(line.to_owned()),
        }
    }
    steps
}

/// `HH:MM:SS` anywhere becomes `hh:mm:ss`: the tour's times are examples.
fn without_times(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let time = chars.len() - i >= 8
            && (0..8)
                .all(|k| if k == 2 || k == 5 { chars[i + k] == ':' } else { chars[i + k].is_ascii_digit() });
        if time {
            out.push_str("hh:mm:ss");
            i += 8;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

fn matches(expected: &str, actual: &str) -> bool {
    let (expected, actual) = (without_times(expected), without_times(actual));
    match expected.split_once("...") {
        Some((head, tail)) => actual.starts_with(head) && actual.ends_with(tail),
        None => expected == actual,
    }
}

fn shell(command: &str, dir: &Path, home: &Path, path: &str, server: &TestServer) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(dir)
        .env("HOME", home)
        .env("PATH", path)
        .env("CHAT_SERVER", &server.addr)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("CHAT_PROFILE");
    cmd
}

/// Background jobs of the tour, ended with the test however it ends.
struct Jobs(Vec<Child>);

impl Drop for Jobs {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn the_readme_tour_works_from_top_to_bottom() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("chat-tui");
    let path = format!("{}:{}", bin.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let mut background = Jobs(Vec::new());

    let tour = [
        (block_after(&readme, "## A 60-second tour"), repo),
        (block_after(&readme, "### From a shell script"), work.path()),
    ];
    let mut ran = 0;
    for (block, dir) in tour {
        for (command, expected) in steps(block) {
            // The test has started the server and built the client already.
            if command.starts_with("cargo ") {
                continue;
            }
            let command = command.replace("127.0.0.1:7878", &server.addr);
            if let Some(job) = command.split(" #").next().unwrap().trim_end().strip_suffix('&') {
                // `exec`: the job is the child, so killing it ends it.
                let mut child = shell(&format!("exec {job}"), dir, home.path(), &path, &server)
                    .stdin(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                // As a person typing the next command would, wait until it is up.
                let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
                let mut lines = std::io::BufRead::lines(stderr).map_while(Result::ok);
                assert!(lines.any(|l| l == "online"), "`{job}` never got online");
                std::thread::spawn(move || lines.for_each(drop));
                background.0.push(child);
                continue;
            }
            let out = shell(&command, dir, home.path(), &path, &server).output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "`{command}` failed: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let actual: Vec<&str> = stdout.lines().collect();
            assert_eq!(
                actual.len(),
                expected.len(),
                "`{command}` printed:\n{stdout}\nthe README says:\n{expected:#?}"
            );
            for (e, a) in expected.iter().zip(&actual) {
                assert!(matches(e, a), "`{command}` printed `{a}`, the README says `{e}`");
            }
            ran += 1;
        }
    }
    assert!(ran >= 8, "the tour has its commands ({ran})");
    // `tail` wrote what came, as JSON lines, and is still running.
    let events = work.path().join("bob-events.jsonl");
    let events = eventually(
        "alice's message in bob-events.jsonl",
        || std::fs::read_to_string(&events).unwrap_or_default(),
        |e| e.contains("lunch at noon?"),
    );
    assert!(events.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()), "{events}");
    for child in &mut background.0 {
        assert!(child.try_wait().unwrap().is_none(), "a background command of the tour ended");
    }
}

#[test]
fn the_matcher_allows_times_and_elisions_only() {
    assert!(matches("1\t12:00:03\talice: hi", "1\t09:41:59\talice: hi"));
    assert!(matches("{\"a\":1,...}", "{\"a\":1,\"b\":2}"));
    assert!(!matches("sent to bob (seq 1, msg 1)", "sent to bob (seq 2, msg 2)"));
}
