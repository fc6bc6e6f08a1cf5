//! Several nodes writing to one MariaDB database: each is a store of its own (its own
//! pool and writer), as each node of a cluster is. Every send they acknowledge is
//! stored once, each conversation's seqs stay gapless, and a `client_msg_id` sent
//! through two nodes is one message.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chat_server::store::{AppendOutcome, AppendRequest, ConvKey, SendTo, Store, UserRef};
use chat_tests::{Backend, TestDb};

const NODES: usize = 3;
const GROUPS: u64 = 4;
/// Batches each node's writer commits, of [`BATCH`] sends each.
const BATCHES: usize = 40;
const BATCH: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_node_writes_and_nothing_is_lost_or_doubled() {
    let Some(db) = TestDb::new(Backend::MySql).await else {
        return;
    };
    let mut nodes: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..NODES {
        nodes.push(db.open_store().await);
    }
    let now = 1_763_800_000_000;
    let owner_id = nodes[0].create_user("owner", "$argon2id$h", now).await.unwrap();
    let owner = UserRef { id: owner_id, username: "owner".into() };
    let mut groups = Vec::new();
    for g in 0..GROUPS {
        groups.push(nodes[0].group_create(owner_id, &format!("g{g}"), "", now).await.unwrap());
    }

    // Every node sends the same messages, under the same client_msg_ids, at once:
    // the first of each is stored, the others are told about it. Each batch mixes
    // the groups, which are all new conversations when the race starts.
    let mut tasks = Vec::new();
    for node in &nodes {
        let (node, owner, groups) = (node.clone(), owner.clone(), groups.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for b in 0..BATCHES {
                let batch: Vec<AppendRequest> = (0..BATCH)
                    .map(|k| {
                        let n = b * BATCH + k;
                        AppendRequest::Text {
                            sender: owner.clone(),
                            to: SendTo::Group(groups[n % groups.len()]),
                            body: format!("message {n}"),
                            client_msg_id: Some(format!("cmid-{n}")),
                        }
                    })
                    .collect();
                let outcomes = node.append(&batch, now).await.expect("an append failed");
                for (k, outcome) in outcomes.into_iter().enumerate() {
                    let AppendOutcome::Stored { message, .. } = outcome else {
                        panic!("refused: {outcome:?}")
                    };
                    acked.push((format!("cmid-{}", b * BATCH + k), message.msg_id, message.seq));
                }
            }
            acked
        }));
    }
    let mut by_cmid: HashMap<String, (u64, u64)> = HashMap::new();
    for task in tasks {
        for (cmid, msg_id, seq) in task.await.unwrap() {
            let first = *by_cmid.entry(cmid.clone()).or_insert((msg_id, seq));
            assert_eq!(first, (msg_id, seq), "{cmid} is one message whichever node was asked");
        }
    }
    assert_eq!(by_cmid.len(), BATCHES * BATCH);

    // In the database: each message once, each group's seqs 1..n with no gap.
    let mut stored = BTreeMap::new();
    for g in &groups {
        let page = nodes[1].sync(&ConvKey::group(*g), 0, 10_000).await.unwrap();
        let seqs: Vec<u64> = page.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "group {g} is gapless");
        for m in page.messages {
            assert!(stored.insert(m.msg_id, m.body).is_none(), "msg_id used twice");
        }
    }
    assert_eq!(stored.len(), BATCHES * BATCH, "every message stored once");
    for node in nodes {
        node.close().await;
    }
    db.cleanup().await;
}

/// Nodes started at once migrate one fresh database together: every one opens it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_started_together_share_one_fresh_database() {
    let Some(db) = TestDb::new(Backend::MySql).await else {
        return;
    };
    let opened = futures::future::join_all((0..NODES).map(|_| db.open_store())).await;
    for store in opened {
        assert!(store.user_by_name("nobody").await.unwrap().is_none());
        store.close().await;
    }
    db.cleanup().await;
}
