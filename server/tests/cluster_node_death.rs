//! The real thing: three `chat-server` processes on one MariaDB database, joined by
//! a Redis of the test's own, nginx in front. Senders talk through nginx while one
//! node is SIGKILLed: their clients reconnect (through nginx, to the survivors) and
//! send again what was not acknowledged, under the same `client_msg_id`. Afterwards
//! every acknowledged message is stored exactly once with gapless seqs, every
//! recipient has everything, and the dead node's users are offline for their friends
//! on the other nodes within the node timeout.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chat_proto::Event;
use chat_proto::model::Target;
use chat_proto::request::{FriendRequest, FriendRespond, Login, Register, Send, Sync};
use chat_tui::{Client, ClientError, Connected, Incoming};
use sqlx::Connection as _;
use support::Daemon;

const PASSWORD: &str = "correct horse battery";
const PAIRS: usize = 15;
const MESSAGES: usize = 40;
/// Seconds without a heartbeat before a node counts as dead.
const NODE_TIMEOUT: u64 = 3;
const WAIT: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A process killed when the test ends, however it ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_for_port(port: u16) {
    let deadline = Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn nginx(dir: &Path, listen: u16, nodes: &[String]) -> Process {
    let module =
        ["/usr/lib/nginx/modules/ngx_stream_module.so", "/usr/share/nginx/modules/ngx_stream_module.so"]
            .into_iter()
            .find(|m| Path::new(m).exists())
            .map(|m| format!("load_module {m};"))
            .unwrap_or_default();
    let servers: String =
        nodes.iter().map(|n| format!("server {n} max_fails=1 fail_timeout=5s;\n")).collect();
    let conf = format!(
        "{module}\ndaemon off;\npid {dir}/nginx.pid;\nerror_log {dir}/nginx.log;\nworker_processes 1;\nevents {{}}\n\
         stream {{\n upstream nodes {{ least_conn;\n{servers} }}\n server {{ listen 127.0.0.1:{listen};\n \
         proxy_pass nodes; proxy_connect_timeout 1s; proxy_timeout 120s; proxy_next_upstream on; }}\n}}\n",
        dir = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new("nginx")
        .args(["-p", &dir.display().to_string(), "-c", &dir.join("nginx.conf").display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx with the stream module is needed (Debian: nginx-core, libnginx-mod-stream; .ci/run installs them)");
    Process(child)
}

/// A logged-in connection through `addr`, made again whenever it is lost.
async fn login(addr: &str, name: &str) -> Connected {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(connected) = Client::connect(addr).await {
            let login = Login { username: name.into(), password: PASSWORD.into(), device: None };
            if connected.client.call(login).await.is_ok() {
                return connected;
            }
        }
        assert!(Instant::now() < deadline, "{name} could not log in again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The highest seq with every seq from 1 to it received.
fn prefix(got: &BTreeSet<u64>) -> u64 {
    got.iter().zip(1..).take_while(|(seq, n)| **seq == *n).count() as u64
}

/// The node a connection landed on, as its `hello` says.
async fn node_of(client: &Client) -> String {
    client.call(chat_proto::request::Hello { client: None, protocol: None }).await.unwrap().node
}

fn lost(e: &ClientError) -> bool {
    matches!(e, ClientError::Disconnected | ClientError::Timeout { .. } | ClientError::Connect(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_mid_load_loses_nothing() {
    let Ok(base) = std::env::var("CHAT_TEST_MYSQL_URL") else {
        eprintln!("SKIPPED a_node_killed_mid_load_loses_nothing: CHAT_TEST_MYSQL_URL is not set");
        return;
    };
    let name = format!("chat_death_{}", std::process::id());
    let mut admin = sqlx::mysql::MySqlConnection::connect(&base).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    let dir = tempfile::tempdir().unwrap();

    let redis_port = free_port();
    let _redis = Process(
        Command::new("redis-server")
            .args([
                "--port",
                &redis_port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is needed (.ci/run installs it)"),
    );
    wait_for_port(redis_port).await;
    let redis = format!("redis://127.0.0.1:{redis_port}");
    let timeout = NODE_TIMEOUT.to_string();
    let mut nodes: Vec<(Option<Daemon>, String)> = Vec::new();
    for n in 1..=3 {
        let mut cmd = support::command();
        let id = format!("n{n}");
        cmd.args(["--listen", "127.0.0.1:0", "--database", &url, "--redis", &redis, "--node-id", &id]);
        cmd.args(["--node-timeout", &timeout, "--max-connections-per-addr", "1000"]);
        cmd.args(["--register-burst", "1000", "--send-burst", "1000"]);
        let (daemon, addr, _log) = support::start(cmd);
        nodes.push((Some(daemon), addr));
    }
    let front = free_port();
    let addrs: Vec<String> = nodes.iter().map(|(_, a)| a.clone()).collect();
    let _nginx = nginx(dir.path(), front, &addrs);
    wait_for_port(front).await;
    let front = format!("127.0.0.1:{front}");

    eprintln!("stage: cluster up");
    // The users: senders and their recipients through nginx; a watcher on node 1
    // and a friend of it on node 2, connected directly, for presence.
    let register = |addr: String, name: String| async move {
        let c = Client::connect(addr.as_str()).await.unwrap();
        c.client.call(Register { username: name, password: PASSWORD.into() }).await.unwrap();
    };
    for i in 0..PAIRS {
        register(front.clone(), format!("sender{i}")).await;
        register(front.clone(), format!("recipient{i}")).await;
    }
    register(addrs[0].clone(), "watcher".into()).await;
    for (n, addr) in addrs.iter().enumerate() {
        register(addr.clone(), format!("doomed{n}")).await;
    }
    let befriend = |addr: String, a: String, b: String| async move {
        let x = login(&addr, &a).await;
        let y = login(&addr, &b).await;
        x.client.call(FriendRequest { user: b.clone(), note: None }).await.unwrap();
        let pending =
            y.client.call(chat_proto::request::FriendRequests { cursor: None, limit: None }).await.unwrap();
        let request_id = pending.incoming.iter().find(|r| r.from == a).unwrap().request_id;
        y.client.call(FriendRespond { request_id, accept: true }).await.unwrap();
    };
    for i in 0..PAIRS {
        befriend(front.clone(), format!("sender{i}"), format!("recipient{i}")).await;
    }
    for n in 0..addrs.len() {
        befriend(addrs[0].clone(), "watcher".into(), format!("doomed{n}")).await;
    }
    eprintln!("stage: friends made");
    // On every node: a user, and a connection of the watcher, their friend.
    let mut watchers = Vec::new();
    let mut doomed = Vec::new();
    for (n, addr) in addrs.iter().enumerate() {
        watchers.push(login(addr, "watcher").await);
        doomed.push(login(addr, &format!("doomed{n}")).await);
    }

    // Recipients read live, and catch up with `sync` whenever they reconnect.
    let mut recipients = Vec::new();
    for i in 0..PAIRS {
        let front = front.clone();
        recipients.push(tokio::spawn(async move {
            let me = format!("recipient{i}");
            let with = Target::User(format!("sender{i}"));
            let mut got: BTreeSet<u64> = BTreeSet::new();
            // As chat-tui does: catch up with `sync` after the gapless prefix, on every
            // connection, on a live seq that skips ahead, and when told to (`resync`).
            'connection: loop {
                let Connected { client, mut events } = login(&front, &me).await;
                loop {
                    let mut after = prefix(&got);
                    loop {
                        let page = client.call(Sync { with: with.clone(), after, limit: None }).await;
                        let Ok(page) = page else { continue 'connection };
                        got.extend(page.messages.iter().map(|m| m.seq));
                        after = prefix(&got);
                        if !page.more {
                            break;
                        }
                    }
                    if got.len() >= MESSAGES {
                        return got;
                    }
                    loop {
                        match events.recv().await {
                            None => continue 'connection,
                            Some(Incoming::Event(Event::Message(m))) => {
                                let gap = m.message.seq > prefix(&got) + 1;
                                got.insert(m.message.seq);
                                if got.len() >= MESSAGES {
                                    return got;
                                }
                                if gap {
                                    break;
                                }
                            }
                            Some(Incoming::Event(Event::Resync(_))) => break,
                            Some(_) => {}
                        }
                    }
                }
            }
        }));
    }

    // Senders: each message until acknowledged, with the same client_msg_id.
    // Each sender says which node nginx gave it, and waits for the start.
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(PAIRS + 1));
    let (placed, mut places) = tokio::sync::mpsc::channel(PAIRS);
    let mut senders = Vec::new();
    for i in 0..PAIRS {
        let (front, start, placed) = (front.clone(), start.clone(), placed.clone());
        senders.push(tokio::spawn(async move {
            let me = format!("sender{i}");
            let (mut acked, mut reconnects) = (Vec::new(), 0);
            let mut connected = login(&front, &me).await;
            placed.send(node_of(&connected.client).await).await.unwrap();
            start.wait().await;
            for k in 0..MESSAGES {
                let send = Send {
                    to: Target::User(format!("recipient{i}")),
                    body: format!("{me} #{k}"),
                    client_msg_id: Some(format!("{me}-{k}")),
                    file_id: None,
                };
                loop {
                    match connected.client.call(send.clone()).await {
                        Ok(reply) => {
                            acked.push(reply.seq);
                            break;
                        }
                        Err(e) if lost(&e) => {
                            reconnects += 1;
                            connected = login(&front, &me).await;
                        }
                        Err(e) => panic!("{me}'s send refused: {e}"),
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (acked, reconnects)
        }));
    }

    eprintln!("stage: load started");
    // Mid-load, the node holding the most senders is SIGKILLed.
    let mut per_node = [0usize; 3];
    for _ in 0..PAIRS {
        let node = places.recv().await.unwrap();
        per_node[node.trim_start_matches('n').parse::<usize>().unwrap() - 1] += 1;
    }
    let victim = (0..3).max_by_key(|n| per_node[*n]).unwrap();
    let survivor = (victim + 1) % 3;
    start.wait().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let killed_at = Instant::now();
    drop(nodes[victim].0.take());

    eprintln!("stage: node killed");
    let mut acked_all = Vec::new();
    let mut reconnects = 0;
    for s in senders {
        let (acked, again) = s.await.unwrap();
        acked_all.push(acked);
        reconnects += again;
    }
    assert!(reconnects > 0, "the kill hit senders mid-load");
    for (i, (acked, recipient)) in acked_all.iter().zip(recipients).enumerate() {
        assert_eq!(acked.len(), MESSAGES, "sender{i}: everything acknowledged");
        assert_eq!(*acked, (1..=MESSAGES as u64).collect::<Vec<_>>(), "sender{i}: one seq each, in order");
        let got =
            tokio::time::timeout(WAIT, recipient).await.expect("a recipient never got everything").unwrap();
        assert_eq!(got.into_iter().collect::<Vec<_>>(), *acked, "recipient{i} has every message once");
    }

    eprintln!("stage: all acknowledged and received");
    // In the database: each conversation exactly the acknowledged messages, once.
    for i in 0..PAIRS {
        let check = login(&addrs[survivor], &format!("sender{i}")).await;
        let with = Target::User(format!("recipient{i}"));
        let page = check.client.call(Sync { with, after: 0, limit: None }).await.unwrap();
        let bodies: BTreeSet<String> = page.messages.iter().map(|m| m.body.clone()).collect();
        assert_eq!(
            (page.messages.len(), bodies.len()),
            (MESSAGES, MESSAGES),
            "pair {i}: nothing twice, none lost"
        );
    }

    // The dead node's user is offline for the watcher on a survivor, within the bound.
    let gone = format!("doomed{victim}");
    let watcher = &mut watchers[survivor];
    let offline = tokio::time::timeout(WAIT, async {
        while let Some(incoming) = watcher.events.recv().await {
            if let Incoming::Event(Event::Presence(p)) = incoming
                && p.user == gone
                && !p.online
            {
                return;
            }
        }
    })
    .await;
    assert!(offline.is_ok(), "the dead node's user never went offline");
    let took = killed_at.elapsed();
    assert!(took <= Duration::from_secs(NODE_TIMEOUT * 3), "offline only after {took:?}");

    drop((nodes, doomed));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE `{name}`"))).execute(&mut admin).await.unwrap();
}
