//! Conversations: the batched append (group commit), pages, the listing, read
//! markers.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chat_proto::model::{Message, MessageKind, Target};
use chat_proto::reply::Conversation;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{SqlStore, Tx, db_id, get_id};
use crate::store::messages::{
    AppendOutcome, AppendRequest, ConvKey, ConvPosition, MessageStore, Page, Refusal, SendTo,
};
use crate::store::{Dialect, StoreError, StoreResult, UserRef};

const MESSAGE_COLUMNS: &str = "msg_id, conv_key, seq, sender_id, sender_name, peer_id, peer_name, group_id, kind, body, ts, recalls, recalled";

/// Most rows in one multi-row INSERT (13 parameters each); a power of two.
const INSERT_CHUNK: usize = 128;

fn kind_str(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Text => "text",
        MessageKind::File => "file",
        MessageKind::Recall => "recall",
    }
}

fn opt_id(v: Option<i64>) -> StoreResult<Option<u64>> {
    v.map(|v| u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative id {v}")))).transpose()
}

/// A stored entry with the raw columns the append needs besides the message.
#[derive(Debug, Clone)]
struct StoredRow {
    message: Message,
    conv: ConvKey,
    peer_id: Option<u64>,
    group_id: Option<u64>,
}

fn stored_from_row(row: &AnyRow) -> StoreResult<StoredRow> {
    let kind = match row.try_get::<String, _>("kind")?.as_str() {
        "text" => MessageKind::Text,
        "file" => MessageKind::File,
        "recall" => MessageKind::Recall,
        other => return Err(StoreError::Corrupt(format!("unknown message kind `{other}`"))),
    };
    let group_id = opt_id(row.try_get("group_id")?)?;
    let peer_name: Option<String> = row.try_get("peer_name")?;
    let to = match (group_id, peer_name) {
        (Some(g), _) => Target::Group(g),
        (None, Some(name)) => Target::User(name),
        (None, None) => return Err(StoreError::Corrupt("message with neither group nor peer".into())),
    };
    let message = Message {
        msg_id: get_id(row, "msg_id")?,
        seq: get_id(row, "seq")?,
        from: row.try_get("sender_name")?,
        from_id: get_id(row, "sender_id")?,
        to,
        body: row.try_get("body")?,
        ts: row.try_get("ts")?,
        kind,
        file: None,
        recalls: opt_id(row.try_get("recalls")?)?,
        recalled: row.try_get::<i64, _>("recalled")? != 0,
    };
    Ok(StoredRow {
        message,
        conv: ConvKey(row.try_get("conv_key")?),
        peer_id: opt_id(row.try_get("peer_id")?)?,
        group_id,
    })
}

/// `(?, ?), (?, ?)`: placeholders only, so statements built from it stay safe.
fn placeholders(rows: usize, cols: usize) -> String {
    let row = format!("({})", in_list(cols));
    vec![row; rows].join(", ")
}

/// Pads a list of values to the next power of two by repeating its last one, so that
/// statements built on its length come in few shapes and stay in the prepared
/// statement cache instead of being parsed for every batch. A repeated value in an
/// IN list or an OR of pairs changes no result.
fn pad<T: Clone>(values: &mut Vec<T>) {
    if let Some(last) = values.last().cloned() {
        let target = values.len().next_power_of_two();
        values.resize(target, last);
    }
}

/// Splits `n` rows into chunks whose sizes are powers of two of at most `max` (a
/// power of two), for the same reason as [`pad`].
fn chunk_sizes(mut n: usize, max: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    while n > 0 {
        let size = if n >= max { max } else { 1 << (usize::BITS - 1 - n.leading_zeros()) };
        sizes.push(size);
        n -= size;
    }
    sizes
}

/// `?, ?, ?`: the placeholders of an IN list.
fn in_list(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// `a = ? AND b = ?` pairs joined by OR.
fn or_pairs(a: &str, b: &str, n: usize) -> String {
    vec![format!("({a} = ? AND {b} = ?)"); n].join(" OR ")
}

/// An entry that passed its checks and awaits its seq and id.
#[derive(Debug)]
struct Accepted {
    index: usize,
    conv: ConvKey,
    sender: UserRef,
    peer: Option<UserRef>,
    group_id: Option<u64>,
    kind: MessageKind,
    body: String,
    client_msg_id: Option<String>,
    recalls: Option<u64>,
    participants: Vec<u64>,
}

impl SqlStore {
    async fn fetch_ids_pairs(
        &self,
        tx: &mut Tx,
        sql: String,
        binds: &[(u64, u64)],
    ) -> StoreResult<HashSet<(u64, u64)>> {
        let mut found = HashSet::new();
        if binds.is_empty() {
            return Ok(found);
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (a, b) in binds {
            query = query.bind(db_id(*a)?).bind(db_id(*b)?);
        }
        for row in query.fetch_all(&mut **tx).await? {
            found.insert((id_at(&row, 0)?, id_at(&row, 1)?));
        }
        Ok(found)
    }
}

fn id_at(row: &AnyRow, index: usize) -> StoreResult<u64> {
    let v: i64 = row.try_get(index)?;
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative id {v}")))
}

impl SqlStore {
    /// One attempt at a batch, in one transaction.
    async fn append_once(&self, batch: &[AppendRequest], now: i64) -> StoreResult<Vec<AppendOutcome>> {
        let mut out: Vec<Option<AppendOutcome>> = vec![None; batch.len()];
        let mut tx = self.write_tx().await?;

        // 1. A client_msg_id seen before returns the first result, whatever else
        //    the request says; a repeat inside this batch follows its first.
        let mut first_of: HashMap<(u64, &str), usize> = HashMap::new();
        let mut repeats: Vec<(usize, usize)> = Vec::new();
        let mut keyed: Vec<(u64, &str)> = Vec::new();
        for (i, req) in batch.iter().enumerate() {
            if let AppendRequest::Text { sender, client_msg_id: Some(cmid), .. } = req {
                match first_of.get(&(sender.id, cmid.as_str())) {
                    Some(&first) => repeats.push((i, first)),
                    None => {
                        first_of.insert((sender.id, cmid.as_str()), i);
                        keyed.push((sender.id, cmid.as_str()));
                    }
                }
            }
        }
        if !keyed.is_empty() {
            pad(&mut keyed);
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS}, client_msg_id FROM messages WHERE {}",
                or_pairs("sender_id", "client_msg_id", keyed.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (sender, cmid) in &keyed {
                query = query.bind(db_id(*sender)?).bind(*cmid);
            }
            for row in query.fetch_all(&mut *tx).await? {
                let cmid: String = row.try_get("client_msg_id")?;
                let stored = stored_from_row(&row)?;
                if let Some(&i) = first_of.get(&(stored.message.from_id, cmid.as_str())) {
                    out[i] = Some(AppendOutcome::Stored {
                        message: stored.message,
                        participants: Vec::new(),
                        duplicate: true,
                    });
                }
            }
        }
        let repeat_set: HashSet<usize> = repeats.iter().map(|(i, _)| *i).collect();
        let todo: Vec<bool> =
            (0..batch.len()).map(|i| out[i].is_none() && !repeat_set.contains(&i)).collect();

        // 2. Everything the checks need, one statement per kind of fact.
        let mut names: Vec<String> = Vec::new();
        let mut recall_ids: Vec<u64> = Vec::new();
        let mut groups: HashSet<u64> = HashSet::new();
        for (i, req) in batch.iter().enumerate() {
            if !todo[i] {
                continue;
            }
            match req {
                AppendRequest::Text { to: SendTo::User(name), .. } => {
                    names.push(chat_proto::validate::username_key(name));
                }
                AppendRequest::Text { to: SendTo::Group(g), .. } => {
                    groups.insert(*g);
                }
                AppendRequest::Recall { msg_id, .. } => recall_ids.push(*msg_id),
            }
        }
        names.sort();
        names.dedup();
        pad(&mut names);
        let mut users_by_key: HashMap<String, UserRef> = HashMap::new();
        if !names.is_empty() {
            let sql = format!(
                "SELECT id, username, username_key FROM users WHERE username_key IN ({})",
                in_list(names.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for n in &names {
                query = query.bind(n.as_str());
            }
            for row in query.fetch_all(&mut *tx).await? {
                let user = UserRef { id: get_id(&row, "id")?, username: row.try_get("username")? };
                users_by_key.insert(row.try_get("username_key")?, user);
            }
        }
        let mut originals: HashMap<u64, StoredRow> = HashMap::new();
        pad(&mut recall_ids);
        if !recall_ids.is_empty() {
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE msg_id IN ({})",
                in_list(recall_ids.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in &recall_ids {
                query = query.bind(db_id(*id)?);
            }
            for row in query.fetch_all(&mut *tx).await? {
                let stored = stored_from_row(&row)?;
                if let Some(g) = stored.group_id {
                    groups.insert(g);
                }
                originals.insert(stored.message.msg_id, stored);
            }
        }
        let mut pairs: Vec<(u64, u64)> = Vec::new();
        for (i, req) in batch.iter().enumerate() {
            if let AppendRequest::Text { sender, to: SendTo::User(name), .. } = req
                && todo[i]
                && let Some(peer) = users_by_key.get(&chat_proto::validate::username_key(name))
            {
                pairs.push((sender.id, peer.id));
            }
        }
        pairs.sort();
        pairs.dedup();
        pad(&mut pairs);
        let friends = self
            .fetch_ids_pairs(
                &mut tx,
                format!(
                    "SELECT user_id, friend_id FROM friendships WHERE {}",
                    or_pairs("user_id", "friend_id", pairs.len())
                ),
                &pairs,
            )
            .await?;
        let both_ways: Vec<(u64, u64)> = pairs.iter().flat_map(|&(a, b)| [(a, b), (b, a)]).collect();
        let blocks = self
            .fetch_ids_pairs(
                &mut tx,
                format!(
                    "SELECT blocker_id, blocked_id FROM blocks WHERE {}",
                    or_pairs("blocker_id", "blocked_id", both_ways.len())
                ),
                &both_ways,
            )
            .await?;
        let mut members: HashMap<u64, Vec<u64>> = HashMap::new();
        let mut groups: Vec<u64> = groups.into_iter().collect();
        pad(&mut groups);
        if !groups.is_empty() {
            let sql = format!(
                "SELECT group_id, user_id FROM group_members WHERE group_id IN ({})",
                in_list(groups.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for g in &groups {
                query = query.bind(db_id(*g)?);
            }
            for row in query.fetch_all(&mut *tx).await? {
                members.entry(get_id(&row, "group_id")?).or_default().push(get_id(&row, "user_id")?);
            }
        }

        // 3. Each request's verdict.
        let mut accepted: Vec<Accepted> = Vec::new();
        let mut recalled_now: HashSet<u64> = HashSet::new();
        for (i, req) in batch.iter().enumerate() {
            if !todo[i] {
                continue;
            }
            let verdict = match req {
                AppendRequest::Text { sender, to: SendTo::User(name), body, client_msg_id } => {
                    match users_by_key.get(&chat_proto::validate::username_key(name)) {
                        None => Err(Refusal::NoSuchUser),
                        Some(peer) if !friends.contains(&(sender.id, peer.id)) => Err(Refusal::NotFriend),
                        Some(peer)
                            if blocks.contains(&(sender.id, peer.id))
                                || blocks.contains(&(peer.id, sender.id)) =>
                        {
                            Err(Refusal::Blocked)
                        }
                        Some(peer) => Ok(Accepted {
                            index: i,
                            conv: ConvKey::direct(sender.id, peer.id),
                            sender: sender.clone(),
                            peer: Some(peer.clone()),
                            group_id: None,
                            kind: MessageKind::Text,
                            body: body.clone(),
                            client_msg_id: client_msg_id.clone(),
                            recalls: None,
                            participants: vec![sender.id, peer.id],
                        }),
                    }
                }
                AppendRequest::Text { sender, to: SendTo::Group(g), body, client_msg_id } => {
                    match members.get(g) {
                        None => Err(Refusal::NoSuchGroup),
                        Some(m) if !m.contains(&sender.id) => Err(Refusal::NotMember),
                        Some(m) => Ok(Accepted {
                            index: i,
                            conv: ConvKey::group(*g),
                            sender: sender.clone(),
                            peer: None,
                            group_id: Some(*g),
                            kind: MessageKind::Text,
                            body: body.clone(),
                            client_msg_id: client_msg_id.clone(),
                            recalls: None,
                            participants: m.clone(),
                        }),
                    }
                }
                AppendRequest::Recall { sender, msg_id, not_before } => {
                    let original = originals.get(msg_id);
                    let participants = original.and_then(|o| match o.group_id {
                        Some(g) => members.get(&g).cloned(),
                        None => o.peer_id.map(|p| vec![o.message.from_id, p]),
                    });
                    match (original, participants) {
                        (Some(o), Some(p)) if p.contains(&sender.id) => {
                            if o.message.kind == MessageKind::Recall {
                                Err(Refusal::RecallOfRecall)
                            } else if o.message.from_id != sender.id {
                                Err(Refusal::NotSender)
                            } else if o.message.recalled || recalled_now.contains(msg_id) {
                                Err(Refusal::AlreadyRecalled)
                            } else if o.message.ts < *not_before {
                                Err(Refusal::TooLate)
                            } else {
                                recalled_now.insert(*msg_id);
                                let peer = match &o.message.to {
                                    Target::User(name) => {
                                        o.peer_id.map(|id| UserRef { id, username: name.clone() })
                                    }
                                    Target::Group(_) => None,
                                };
                                Ok(Accepted {
                                    index: i,
                                    conv: o.conv.clone(),
                                    sender: sender.clone(),
                                    peer,
                                    group_id: o.group_id,
                                    kind: MessageKind::Recall,
                                    body: String::new(),
                                    client_msg_id: None,
                                    recalls: Some(*msg_id),
                                    participants: p,
                                })
                            }
                        }
                        // Unknown, or not readable by the caller: the same answer.
                        _ => Err(Refusal::NoSuchMessage),
                    }
                }
            };
            match verdict {
                Ok(a) => accepted.push(a),
                Err(refusal) => out[i] = Some(AppendOutcome::Refused(refusal)),
            }
        }

        if !accepted.is_empty() {
            self.store_accepted(&mut tx, &accepted, &recalled_now, now, &mut out).await?;
            tx.commit().await?;
        }
        for (i, first) in repeats {
            out[i] = match &out[first] {
                Some(AppendOutcome::Stored { message, .. }) => Some(AppendOutcome::Stored {
                    message: message.clone(),
                    participants: Vec::new(),
                    duplicate: true,
                }),
                other => other.clone(),
            };
        }
        out.into_iter()
            .map(|o| o.ok_or_else(|| StoreError::Corrupt("append left a request unanswered".into())))
            .collect()
    }
}

/// MySQL: msg_ids reserved at a time.
const ID_BLOCK: u64 = 1024;

/// msg_ids reserved from the counter and not handed out yet: `next..end`.
#[derive(Debug, Default)]
pub(super) struct IdBlock {
    next: u64,
    end: u64,
}

impl SqlStore {
    /// `n` consecutive new msg_ids; returns the first. SQLite: inside the batch's
    /// transaction (it holds the only write lock anyway). MySQL: from a block
    /// reserved by a statement of its own, so that no writer's transaction holds the
    /// counter's row until it commits and every other node's waits on it; ids
    /// reserved by a transaction that then fails are skipped, never used twice.
    async fn msg_ids(&self, tx: &mut Tx, n: u64) -> StoreResult<u64> {
        let counter_top = |row: AnyRow| -> StoreResult<u64> {
            let top: i64 = row.try_get(0)?;
            u64::try_from(top).map_err(|_| StoreError::Corrupt("msg_id counter".into()))
        };
        let wanted = i64::try_from(n).map_err(|_| StoreError::OutOfRange("batch size".into()))?;
        if self.dialect == Dialect::Sqlite {
            sqlx::query("UPDATE counters SET value = value + ? WHERE name = 'msg_id'")
                .bind(wanted)
                .execute(&mut **tx)
                .await?;
            let row =
                sqlx::query("SELECT value FROM counters WHERE name = 'msg_id'").fetch_one(&mut **tx).await?;
            return Ok(counter_top(row)? + 1 - n);
        }
        let mut block = self.ids.lock().await;
        if block.end - block.next < n {
            let size = n.max(ID_BLOCK);
            let mut conn = self.pool.acquire().await?;
            sqlx::query("UPDATE counters SET value = LAST_INSERT_ID(value + ?) WHERE name = 'msg_id'")
                .bind(i64::try_from(size).map_err(|_| StoreError::OutOfRange("id block".into()))?)
                .execute(&mut *conn)
                .await?;
            let row = sqlx::query("SELECT CAST(LAST_INSERT_ID() AS SIGNED)").fetch_one(&mut *conn).await?;
            let top = counter_top(row)?;
            *block = IdBlock { next: top + 1 - size, end: top + 1 };
        }
        let first = block.next;
        block.next += n;
        Ok(first)
    }
}

/// Attempts at a batch that another writer's transaction got in the way of.
const APPEND_ATTEMPTS: u32 = 10;

/// Whether an append failed only because another writer (another node, on MySQL)
/// got there first, so that running it again decides it afresh: a deadlock (1213),
/// a lock wait that timed out (1205), or a unique key another transaction took
/// meanwhile (a new conversation's first seq, a `client_msg_id` sent to two nodes).
fn lost_a_race(e: &StoreError) -> bool {
    let StoreError::Database(sqlx::Error::Database(db)) = e else { return false };
    if db.is_unique_violation() || db.code().as_deref() == Some("40001") {
        return true;
    }
    db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .is_some_and(|m| matches!(m.number(), 1205 | 1213))
}

#[async_trait]
impl MessageStore for SqlStore {
    async fn append(&self, batch: &[AppendRequest], now: i64) -> StoreResult<Vec<AppendOutcome>> {
        let mut attempt = 1;
        loop {
            match self.append_once(batch, now).await {
                Err(e) if attempt < APPEND_ATTEMPTS && lost_a_race(&e) => {
                    tracing::debug!(error = %e, attempt, "append lost a race with another writer; again");
                    // Apart a little, so that two writers that collided do not again.
                    let jitter = u64::from(std::process::id() % 7) + u64::from(attempt) * 5;
                    tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn sync(&self, conv: &ConvKey, after: u64, limit: u64) -> StoreResult<Page> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conv_key = ? AND seq > ? ORDER BY seq LIMIT ?"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(conv.0.as_str())
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .bind(i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        let last_seq = self.last_seq(conv).await?;
        page(rows, limit, last_seq)
    }

    async fn history(&self, conv: &ConvKey, before: Option<u64>, limit: u64) -> StoreResult<Page> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conv_key = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(conv.0.as_str())
            .bind(before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX)))
            .bind(i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        let last_seq = self.last_seq(conv).await?;
        page(rows, limit, last_seq)
    }

    async fn conversations(
        &self,
        user: u64,
        from: &ConvPosition,
        limit: u64,
    ) -> StoreResult<(Vec<(ConvKey, Conversation)>, bool)> {
        let uid = db_id(user)?;
        let rows = sqlx::query(
            "SELECT c.conv_key, c.group_id, c.last_seq, c.last_ts, COALESCE(r.read_seq, 0) AS read_seq, \
                    o.username AS other_name, \
                    (SELECT COUNT(*) FROM messages u WHERE u.conv_key = c.conv_key \
                        AND u.seq > COALESCE(r.read_seq, 0) AND u.sender_id <> ? \
                        AND u.kind <> 'recall' AND u.recalled = 0) AS unread \
             FROM conversations c \
             LEFT JOIN read_markers r ON r.user_id = ? AND r.conv_key = c.conv_key \
             LEFT JOIN users o ON o.id = CASE WHEN c.user_lo = ? THEN c.user_hi ELSE c.user_lo END \
             WHERE (c.last_ts < ? OR (c.last_ts = ? AND c.conv_key > ?)) AND ( \
                (c.user_lo = ? AND EXISTS (SELECT 1 FROM friendships f WHERE f.user_id = ? AND f.friend_id = c.user_hi)) \
                OR (c.user_hi = ? AND EXISTS (SELECT 1 FROM friendships f WHERE f.user_id = ? AND f.friend_id = c.user_lo)) \
                OR c.group_id IN (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = ?)) \
             ORDER BY c.last_ts DESC, c.conv_key \
             LIMIT ?",
        )
        .bind(uid)
        .bind(uid)
        .bind(uid)
        .bind(from.activity)
        .bind(from.activity)
        .bind(from.key.0.as_str())
        .bind(uid)
        .bind(uid)
        .bind(uid)
        .bind(uid)
        .bind(uid)
        .bind(i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let more = rows.len() as u64 > limit;
        let rows = &rows[..rows.len().min(usize::try_from(limit).unwrap_or(usize::MAX))];

        // The last entry of each, in one more statement.
        let mut last: HashMap<(String, u64), Message> = HashMap::new();
        if !rows.is_empty() {
            let mut heads = rows
                .iter()
                .map(|r| Ok((r.try_get::<String, _>("conv_key")?, r.try_get::<i64, _>("last_seq")?)))
                .collect::<StoreResult<Vec<_>>>()?;
            pad(&mut heads);
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE {}",
                or_pairs("conv_key", "seq", heads.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (key, seq) in heads {
                query = query.bind(key).bind(seq);
            }
            for row in query.fetch_all(&self.pool).await? {
                let stored = stored_from_row(&row)?;
                last.insert((stored.conv.0, stored.message.seq), stored.message);
            }
        }
        let mut list = Vec::with_capacity(rows.len());
        for row in rows {
            let key: String = row.try_get("conv_key")?;
            let last_seq = get_id(row, "last_seq")?;
            let with = match opt_id(row.try_get("group_id")?)? {
                Some(g) => Target::Group(g),
                None => Target::User(row.try_get("other_name")?),
            };
            let last_message = last.remove(&(key.clone(), last_seq));
            list.push((
                ConvKey(key),
                Conversation {
                    with,
                    last_seq,
                    read_seq: get_id(row, "read_seq")?,
                    unread: get_id(row, "unread")?,
                    last_message,
                    activity: row.try_get("last_ts")?,
                },
            ));
        }
        Ok((list, more))
    }

    async fn mark_read(&self, user: u64, conv: &ConvKey, seq: u64) -> StoreResult<Option<u64>> {
        let uid = db_id(user)?;
        let mut tx = self.write_tx().await?;
        let last = sqlx::query("SELECT last_seq FROM conversations WHERE conv_key = ?")
            .bind(conv.0.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| get_id(&r, "last_seq"))
            .transpose()?
            .unwrap_or(0);
        let target = seq.min(last);
        let current = sqlx::query("SELECT read_seq FROM read_markers WHERE user_id = ? AND conv_key = ?")
            .bind(uid)
            .bind(conv.0.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| get_id(&r, "read_seq"))
            .transpose()?
            .unwrap_or(0);
        if target <= current {
            return Ok(None);
        }
        let sql = self.by_dialect(
            "INSERT INTO read_markers (user_id, conv_key, read_seq) VALUES (?, ?, ?) \
             ON CONFLICT (user_id, conv_key) DO UPDATE SET read_seq = excluded.read_seq",
            "INSERT INTO read_markers (user_id, conv_key, read_seq) VALUES (?, ?, ?) \
             ON DUPLICATE KEY UPDATE read_seq = VALUES(read_seq)",
        );
        sqlx::query(sql).bind(uid).bind(conv.0.as_str()).bind(db_id(target)?).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(target))
    }
}

fn page(rows: Vec<AnyRow>, limit: u64, last_seq: u64) -> StoreResult<Page> {
    let more = rows.len() as u64 > limit;
    let messages = rows
        .iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|r| stored_from_row(r).map(|s| s.message))
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Page { messages, more, last_seq })
}

impl SqlStore {
    async fn last_seq(&self, conv: &ConvKey) -> StoreResult<u64> {
        sqlx::query("SELECT last_seq FROM conversations WHERE conv_key = ?")
            .bind(conv.0.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map_or(Ok(0), |r| get_id(&r, "last_seq"))
    }

    /// Gives the accepted entries their ids and seqs and writes them, with the
    /// recalls' withdrawals and the conversations' new heads.
    async fn store_accepted(
        &self,
        tx: &mut Tx,
        accepted: &[Accepted],
        recalled: &HashSet<u64>,
        now: i64,
        out: &mut [Option<AppendOutcome>],
    ) -> StoreResult<()> {
        let mut convs: Vec<&ConvKey> = accepted.iter().map(|a| &a.conv).collect();
        convs.sort();
        convs.dedup();
        pad(&mut convs);
        let lock = if self.dialect == Dialect::MySql { " FOR UPDATE" } else { "" };
        let sql = format!(
            "SELECT conv_key, last_seq FROM conversations WHERE conv_key IN ({}){lock}",
            in_list(convs.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for c in &convs {
            query = query.bind(c.0.as_str());
        }
        let mut heads: HashMap<String, u64> = HashMap::new();
        for row in query.fetch_all(&mut **tx).await? {
            heads.insert(row.try_get("conv_key")?, get_id(&row, "last_seq")?);
        }

        let first_id = self.msg_ids(tx, accepted.len() as u64).await?;

        let mut rows: Vec<(u64, u64)> = Vec::with_capacity(accepted.len()); // (msg_id, seq)
        for (k, a) in accepted.iter().enumerate() {
            let head = heads.entry(a.conv.0.clone()).or_insert(0);
            *head += 1;
            rows.push((first_id + k as u64, *head));
        }
        let mut offset = 0;
        for size in chunk_sizes(accepted.len(), INSERT_CHUNK) {
            let chunk = &accepted[offset..offset + size];
            let sql = format!(
                "INSERT INTO messages (msg_id, conv_key, seq, sender_id, sender_name, peer_id, peer_name, group_id, \
                 kind, body, ts, client_msg_id, recalls) VALUES {}",
                placeholders(chunk.len(), 13)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (k, a) in chunk.iter().enumerate() {
                let (msg_id, seq) = rows[offset + k];
                query = query
                    .bind(db_id(msg_id)?)
                    .bind(a.conv.0.as_str())
                    .bind(db_id(seq)?)
                    .bind(db_id(a.sender.id)?)
                    .bind(a.sender.username.as_str())
                    .bind(a.peer.as_ref().map(|p| db_id(p.id)).transpose()?)
                    .bind(a.peer.as_ref().map(|p| p.username.as_str()))
                    .bind(a.group_id.map(db_id).transpose()?)
                    .bind(kind_str(a.kind))
                    .bind(a.body.as_str())
                    .bind(now)
                    .bind(a.client_msg_id.as_deref())
                    .bind(a.recalls.map(db_id).transpose()?);
            }
            query.execute(&mut **tx).await?;
            offset += size;
        }
        if !recalled.is_empty() {
            let mut recalled: Vec<u64> = recalled.iter().copied().collect();
            pad(&mut recalled);
            let sql = format!(
                "UPDATE messages SET recalled = 1, body = '' WHERE msg_id IN ({})",
                in_list(recalled.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in &recalled {
                query = query.bind(db_id(*id)?);
            }
            query.execute(&mut **tx).await?;
        }

        // The conversations' new heads: created on a first entry, moved otherwise.
        let mut touched: Vec<&Accepted> = Vec::new();
        let mut seen = HashSet::new();
        for a in accepted.iter().rev() {
            if seen.insert(&a.conv) {
                touched.push(a);
            }
        }
        // A conversation repeated in the upsert sets the same values twice.
        pad(&mut touched);
        let values = placeholders(touched.len(), 6);
        let sql = match self.dialect {
            Dialect::Sqlite => format!(
                "INSERT INTO conversations (conv_key, user_lo, user_hi, group_id, last_seq, last_ts) VALUES {values} \
                 ON CONFLICT (conv_key) DO UPDATE SET last_seq = excluded.last_seq, last_ts = excluded.last_ts"
            ),
            Dialect::MySql => format!(
                "INSERT INTO conversations (conv_key, user_lo, user_hi, group_id, last_seq, last_ts) VALUES {values} \
                 ON DUPLICATE KEY UPDATE last_seq = VALUES(last_seq), last_ts = VALUES(last_ts)"
            ),
        };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in touched {
            let (lo, hi) = match &a.peer {
                Some(p) if a.group_id.is_none() => (Some(a.sender.id.min(p.id)), Some(a.sender.id.max(p.id))),
                _ => (None, None),
            };
            query = query
                .bind(a.conv.0.as_str())
                .bind(lo.map(db_id).transpose()?)
                .bind(hi.map(db_id).transpose()?)
                .bind(a.group_id.map(db_id).transpose()?)
                .bind(db_id(heads.get(&a.conv.0).copied().unwrap_or(0))?)
                .bind(now);
        }
        query.execute(&mut **tx).await?;

        for (a, (msg_id, seq)) in accepted.iter().zip(rows) {
            let to = match (a.group_id, &a.peer) {
                (Some(g), _) => Target::Group(g),
                (None, Some(p)) => Target::User(p.username.clone()),
                (None, None) => return Err(StoreError::Corrupt("entry with neither group nor peer".into())),
            };
            let message = Message {
                msg_id,
                seq,
                from: a.sender.username.clone(),
                from_id: a.sender.id,
                to,
                body: a.body.clone(),
                ts: now,
                kind: a.kind,
                file: None,
                recalls: a.recalls,
                recalled: false,
            };
            out[a.index] = Some(AppendOutcome::Stored {
                message,
                participants: a.participants.clone(),
                duplicate: false,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_fragments() {
        assert_eq!(placeholders(2, 3), "(?, ?, ?), (?, ?, ?)");
        let mut v = vec![1, 2, 3];
        pad(&mut v);
        assert_eq!(v, [1, 2, 3, 3]);
        let mut empty: Vec<u8> = Vec::new();
        pad(&mut empty);
        assert!(empty.is_empty());
        assert_eq!(chunk_sizes(100, 128), [64, 32, 4]);
        assert_eq!(chunk_sizes(300, 128), [128, 128, 32, 8, 4]);
        assert_eq!(chunk_sizes(0, 128), Vec::<usize>::new());
        assert_eq!(or_pairs("a", "b", 2), "(a = ? AND b = ?) OR (a = ? AND b = ?)");
        assert_eq!(ConvKey::direct(9, 3), ConvKey::direct(3, 9));
        assert_eq!(ConvKey::direct(9, 3).0, "d:3:9");
        assert_eq!(ConvKey::group(12).0, "g:12");
    }
}
