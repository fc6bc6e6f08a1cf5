//! Crash safety: senders run against a real server process, which is killed with
//! SIGKILL in the middle of the load and started again on the same database. Every
//! acknowledged message must then be in every participant's `sync` exactly once,
//! with its acknowledged seq, and every conversation's seqs must be gapless.
//! Run on SQLite, and on MariaDB when CHAT_TEST_MYSQL_URL is set (CI sets it).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_proto::model::{Message, Target};
use chat_proto::request::{
    FriendRequest, FriendRespond, GroupCreate, GroupJoin, GroupRespond, Login, Register, Resume, Send, Sync,
};
use chat_tui::Client;
use sqlx::{ConnectOptions, Connection};
use support::Daemon;

const PASSWORD: &str = "crash test password";
/// Acknowledged messages to wait for before the kill.
const BEFORE_KILL: usize = 400;

fn start(database: &str) -> (Daemon, String) {
    let mut cmd = support::command();
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--database",
        database,
        "--send-rate",
        "1000000",
        "--send-burst",
        "1000000",
    ]);
    let (daemon, addr, _log) = support::start(cmd);
    (daemon, addr)
}

/// What a sender saw acknowledged, and what it had in flight when the server died.
#[derive(Debug, Default)]
struct Ledger {
    acked: Vec<(Target, String, u64, u64)>, // (conversation, body, seq, msg_id)
    in_flight: Vec<(Target, String)>,
}

async fn connect(addr: &str, token: &str) -> Client {
    let c = Client::connect(addr).await.unwrap().client;
    c.call(Resume { token: token.into(), device: None }).await.unwrap();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_sigkill_mid_load() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("chat.db").display());
    crash_story(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_survives_sigkill_mid_load() {
    let Ok(base) = std::env::var("CHAT_TEST_MYSQL_URL") else {
        eprintln!("SKIPPED mariadb_survives_sigkill_mid_load: CHAT_TEST_MYSQL_URL is not set");
        return;
    };
    let name = format!("chat_crash_{}", std::process::id());
    let mut admin = base.parse::<sqlx::mysql::MySqlConnectOptions>().unwrap().connect().await.unwrap();
    let drop_db = sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`"));
    sqlx::query(drop_db).execute(&mut admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`"))).execute(&mut admin).await.unwrap();
    let host = base.split('?').next().unwrap().rsplit_once('/').unwrap().0;
    crash_story(&format!("{host}/{name}")).await;
    let drop_db = sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`"));
    sqlx::query(drop_db).execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
}

async fn crash_story(database: &str) {
    let (daemon, addr) = start(database);
    // Four users: two pairs of friends, and one group of all four.
    let names = ["ann", "ben", "cat", "dan"];
    let mut tokens = HashMap::new();
    for n in names {
        let c = Client::connect(addr.as_str()).await.unwrap().client;
        c.call(Register { username: n.into(), password: PASSWORD.into() }).await.unwrap();
        let me = c.call(Login { username: n.into(), password: PASSWORD.into(), device: None }).await.unwrap();
        tokens.insert(n, me.token);
    }
    let client = |n: &str| {
        let (addr, token) = (addr.clone(), tokens[n].clone());
        async move { connect(&addr, &token).await }
    };
    for (a, b) in [("ann", "ben"), ("cat", "dan")] {
        let r = client(a).await.call(FriendRequest { user: b.into(), note: None }).await.unwrap();
        client(b).await.call(FriendRespond { request_id: r.request_id, accept: true }).await.unwrap();
    }
    let owner = client("ann").await;
    let g = owner.call(GroupCreate { name: "all".into(), description: None }).await.unwrap().group_id;
    for n in ["ben", "cat", "dan"] {
        let r = client(n).await.call(GroupJoin { group_id: g, note: None }).await.unwrap();
        owner.call(GroupRespond { request_id: r.request_id, accept: true }).await.unwrap();
    }

    // Eight senders (each user to its friend and to the group), four requests in
    // flight each, until the server dies.
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let acked = Arc::new(tokio::sync::Semaphore::new(0));
    let mut senders = Vec::new();
    for (me, friend) in [("ann", "ben"), ("ben", "ann"), ("cat", "dan"), ("dan", "cat")] {
        for to in [Target::User(friend.into()), Target::Group(g)] {
            for lane in 0..4 {
                let c = client(me).await;
                let (ledger, acked, to) = (ledger.clone(), acked.clone(), to.clone());
                senders.push(tokio::spawn(async move {
                    for i in 0.. {
                        let body = format!("{me}>{to:?}#{lane}.{i}");
                        let send = Send {
                            to: to.clone(),
                            body: body.clone(),
                            client_msg_id: Some(body.clone()),
                            file_id: None,
                        };
                        match c.call(send).await {
                            Ok(r) => {
                                ledger.lock().unwrap().acked.push((to.clone(), body, r.seq, r.msg_id));
                                acked.add_permits(1);
                            }
                            Err(_) => {
                                ledger.lock().unwrap().in_flight.push((to.clone(), body));
                                return;
                            }
                        }
                    }
                }));
            }
        }
    }
    let _ = acked.acquire_many(BEFORE_KILL as u32).await.unwrap();
    let mut daemon = daemon;
    daemon.0.kill().unwrap(); // SIGKILL
    daemon.0.wait().unwrap();
    for s in senders {
        tokio::time::timeout(Duration::from_secs(30), s).await.unwrap().unwrap();
    }
    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    assert!(ledger.acked.len() >= BEFORE_KILL);

    // Started again on the same database.
    let (_daemon, addr) = start(database);
    let reader = |n: &str| {
        let (addr, token) = (addr.clone(), tokens[n].clone());
        async move { connect(&addr, &token).await }
    };
    // The senders retry what they had in flight, with the same client_msg_id:
    // whatever was stored before the kill is not stored twice.
    for (to, body) in &ledger.in_flight {
        let me = &body[..3];
        let send =
            Send { to: to.clone(), body: body.clone(), client_msg_id: Some(body.clone()), file_id: None };
        reader(me).await.call(send).await.unwrap();
    }

    let conversations: Vec<(&str, Target)> = vec![
        ("ann", Target::User("ben".into())),
        ("ben", Target::User("ann".into())),
        ("cat", Target::User("dan".into())),
        ("dan", Target::User("cat".into())),
        ("ann", Target::Group(g)),
        ("ben", Target::Group(g)),
        ("cat", Target::Group(g)),
        ("dan", Target::Group(g)),
    ];
    let mut seen: HashMap<String, Vec<Message>> = HashMap::new();
    for (who, with) in conversations {
        let c = reader(who).await;
        let mut all: Vec<Message> = Vec::new();
        loop {
            let after = all.last().map_or(0, |m| m.seq);
            let page = c.call(Sync { with: with.clone(), after, limit: Some(200) }).await.unwrap();
            all.extend(page.messages);
            if !page.more {
                assert_eq!(all.last().map_or(0, |m| m.seq), page.last_seq);
                break;
            }
        }
        let seqs: Vec<u64> = all.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=all.len() as u64).collect::<Vec<_>>(), "{who} with {with:?}: gapless");
        let key = match &with {
            Target::User(other) => {
                let mut pair = [who.to_owned(), other.clone()];
                pair.sort();
                pair.join("+")
            }
            Target::Group(_) => "group".to_owned(),
        };
        if let Some(earlier) = seen.get(&key) {
            assert_eq!(earlier, &all, "every participant reads the same entries");
        }
        seen.insert(key, all);
    }
    let mut by_body: BTreeMap<&str, Vec<&Message>> = BTreeMap::new();
    for m in seen.values().flatten() {
        by_body.entry(m.body.as_str()).or_default().push(m);
    }
    for (to, body, seq, msg_id) in &ledger.acked {
        let found = by_body.get(body.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        assert_eq!(found.len(), 1, "acknowledged {body} to {to:?} must be there exactly once");
        assert_eq!((found[0].seq, found[0].msg_id), (*seq, *msg_id));
    }
    for (_, body) in &ledger.in_flight {
        assert_eq!(by_body.get(body.as_str()).map_or(0, Vec::len), 1, "retried {body} exactly once");
    }
    assert!(by_body.values().all(|v| v.len() == 1), "no body twice");
}
