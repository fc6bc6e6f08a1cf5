//! Local message history: one SQLite file per account, so conversations show without a
//! round trip and catch-up (`conversations`, then `sync` after [`History::highest_seq`])
//! only asks for what is missing.
//!
//! Everything here is synchronous; async code reaches it through its one owner,
//! [`crate::local_history::LocalHistory`].

use std::path::Path;
use std::time::Duration;

use chat_proto::model::{FileInfo, Message, MessageKind, Target};
use chat_proto::reply::Conversation;
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

/// Index `i` migrates a database at `user_version` i to i + 1. Append, never edit: files
/// written by released clients are upgraded through every step in order.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE conversations (
         conv_key    TEXT PRIMARY KEY,
         with_target TEXT NOT NULL,
         last_seq    INTEGER NOT NULL DEFAULT 0,
         stored_seq  INTEGER NOT NULL DEFAULT 0,
         read_seq    INTEGER NOT NULL DEFAULT 0,
         unread      INTEGER NOT NULL DEFAULT 0,
         activity    INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE messages (
         conv_key  TEXT NOT NULL,
         seq       INTEGER NOT NULL,
         msg_id    INTEGER NOT NULL,
         sender    TEXT NOT NULL,
         sender_id INTEGER NOT NULL,
         recipient TEXT NOT NULL,
         body      TEXT NOT NULL,
         ts        INTEGER NOT NULL,
         kind      TEXT NOT NULL,
         file      TEXT,
         recalls   INTEGER,
         recalled  INTEGER NOT NULL DEFAULT 0,
         PRIMARY KEY (conv_key, seq)
     ) WITHOUT ROWID;
     CREATE INDEX messages_by_msg_id ON messages (conv_key, msg_id);
     CREATE INDEX messages_by_recalls ON messages (conv_key, recalls) WHERE recalls IS NOT NULL;",
    // 2: conversations the server no longer lists (a group left, kicked from or
    // dissolved; a friendship ended) stay readable here, marked gone.
    "ALTER TABLE conversations ADD COLUMN gone INTEGER NOT NULL DEFAULT 0;",
];

/// Columns of a message, in the order [`message_at`] reads them; queries alias `messages` as `m`.
const MSG_COLS: &str = concat!(
    "m.seq, m.msg_id, m.sender, m.sender_id, m.recipient, m.body, m.ts, ",
    "m.kind, m.file, m.recalls, m.recalled"
);

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("history database: cannot encode a value: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "history database has schema version {found} but this release knows only up to {known}: \
         it was written by a newer chat-tui; upgrade, or move the file aside"
    )]
    TooNew { found: i64, known: i64 },
    #[error("history database: number {0} is out of range")]
    OutOfRange(u64),
    #[error("the local history stopped")]
    Stopped,
    #[error("cannot start the local history's thread: {0}")]
    Thread(std::io::Error),
    #[error("cannot create the history database {}: {source}", path.display())]
    Create { path: std::path::PathBuf, source: std::io::Error },
}

pub type Result<T, E = HistoryError> = std::result::Result<T, E>;

/// What [`History::store_page`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOutcome {
    /// Entries that were not stored before.
    pub stored: usize,
    /// The contiguous prefix after storing (see [`History::highest_seq`]).
    pub highest: u64,
    /// Some stored entry lies beyond the contiguous prefix: `sync` after `highest`.
    pub gap: bool,
}

/// What [`History::apply_live`] did with a live `message` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveOutcome {
    Appended,
    Duplicate,
    /// Not stored: entries between `have` and `got` are missing. Sync after `have` first.
    Gap {
        with: Target,
        have: u64,
        got: u64,
    },
}

/// A conversation as the history knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConversation {
    pub with: Target,
    /// The last seq the server told of (listing or live event).
    pub last_seq: u64,
    /// The contiguous prefix stored locally.
    pub highest_seq: u64,
    pub read_seq: u64,
    pub unread: u64,
    pub activity: i64,
    /// The stored entry with the highest seq.
    pub last_message: Option<Message>,
    /// The server no longer lists it: its history is kept, but it is closed to you.
    pub gone: bool,
}

/// The history database of one account.
#[derive(Debug)]
pub struct History {
    conn: Connection,
}

/// Key of a conversation; usernames are case-insensitive, so `Alice` and `alice` share one.
pub fn conv_key(with: &Target) -> String {
    match with {
        Target::User(name) => format!("u:{}", name.to_lowercase()),
        Target::Group(id) => format!("g:{id}"),
    }
}

/// The conversation a message belongs to, seen by the account owner `me`: a direct
/// message's `to` names the recipient, which is the owner unless the owner sent it.
pub fn conversation_of(message: &Message, me: &str) -> Target {
    match &message.to {
        Target::Group(id) => Target::Group(*id),
        Target::User(to) if same_user(&message.from, me) => Target::User(to.clone()),
        Target::User(_) => Target::User(message.from.clone()),
    }
}

impl History {
    /// Opens (creating it, owner-only, if missing) the history database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<History> {
        let path = path.as_ref();
        crate::private::create_sqlite_files(path)
            .map_err(|source| HistoryError::Create { path: path.to_owned(), source })?;
        Self::setup(Connection::open(path)?)
    }

    pub fn open_in_memory() -> Result<History> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<History> {
        // The TUI and a scriptable subcommand of the same account may share the file;
        // waiting briefly beats failing on the other's write.
        conn.busy_timeout(Duration::from_secs(5))?;
        // WAL lets readers proceed during a write; NORMAL only risks the last commits on
        // power loss, and those are refetched from the server by the next sync.
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        migrate(&mut conn)?;
        Ok(History { conn })
    }

    /// The highest seq such that every seq from 1 to it is stored; 0 if none.
    pub fn highest_seq(&self, with: &Target) -> Result<u64> {
        stored_seq(&self.conn, &conv_key(with))
    }

    /// Stores a page from `sync` or `history` (any order) in one transaction.
    pub fn store_page(&mut self, with: &Target, messages: &[Message]) -> Result<StoreOutcome> {
        let key = conv_key(with);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        ensure_conv(&tx, &key, with)?;
        let mut stored = 0;
        for m in messages {
            if store_entry(&tx, &key, m)? {
                stored += 1;
            }
            raise_last(&tx, &key, m)?;
        }
        let highest = advance_prefix(&tx, &key)?;
        let gap = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE conv_key = ?1 AND seq > ?2)",
            params![key, int(highest)?],
            |row| row.get(0),
        )?;
        tx.commit()?;
        Ok(StoreOutcome { stored, highest, gap })
    }

    /// Applies a live `message` event. Only an entry that extends the contiguous prefix is
    /// stored, so the history stays gapless and in seq order.
    pub fn apply_live(&mut self, message: &Message, me: &str) -> Result<LiveOutcome> {
        let with = conversation_of(message, me);
        let key = conv_key(&with);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        ensure_conv(&tx, &key, &with)?;
        raise_last(&tx, &key, message)?;
        let have = stored_seq(&tx, &key)?;
        let outcome = if message.seq <= have || exists(&tx, &key, message.seq)? {
            LiveOutcome::Duplicate
        } else if message.seq == have + 1 {
            let read_seq = conv_u64(&tx, &key, "read_seq")?;
            let mut delta = i64::from(counts_as_unread(message, me, read_seq));
            if let Some(target) = message.recalls.filter(|_| message.kind == MessageKind::Recall) {
                let sql =
                    format!("SELECT {MSG_COLS} FROM messages m WHERE m.conv_key = ?1 AND m.msg_id = ?2");
                let withdrawn =
                    tx.query_row(&sql, params![key, int(target)?], |r| message_at(r, 0)).optional()?;
                if withdrawn.is_some_and(|w| !w.recalled && counts_as_unread(&w, me, read_seq)) {
                    delta -= 1;
                }
            }
            store_entry(&tx, &key, message)?;
            advance_prefix(&tx, &key)?;
            tx.execute(
                "UPDATE conversations SET unread = MAX(0, unread + ?2) WHERE conv_key = ?1",
                params![key, delta],
            )?;
            LiveOutcome::Appended
        } else {
            LiveOutcome::Gap { with, have, got: message.seq }
        };
        tx.commit()?;
        Ok(outcome)
    }

    /// Stored entries below `before` (all if `None`), newest first: scrollback.
    pub fn messages_before(&self, with: &Target, before: Option<u64>, limit: usize) -> Result<Vec<Message>> {
        let before = before.map(int).transpose()?.unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {MSG_COLS} FROM messages m WHERE m.conv_key = ?1 AND m.seq < ?2
             ORDER BY m.seq DESC LIMIT ?3"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![conv_key(with), before, sql_limit(limit)], |r| message_at(r, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stored entries above `after`, oldest first.
    pub fn messages_after(&self, with: &Target, after: u64, limit: usize) -> Result<Vec<Message>> {
        let sql = format!(
            "SELECT {MSG_COLS} FROM messages m WHERE m.conv_key = ?1 AND m.seq > ?2
             ORDER BY m.seq ASC LIMIT ?3"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows =
            stmt.query_map(params![conv_key(with), int(after)?, sql_limit(limit)], |r| message_at(r, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records the server's whole listing. Its `unread` is the truth unless a live event
    /// already took this conversation past the listing. A last message that extends the
    /// contiguous prefix is stored too, which often spares a `sync`. A conversation the
    /// listing leaves out is marked gone (its messages stay), one in it is not.
    pub fn set_conversations(&mut self, list: &[Conversation]) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // The listing is whole: what it leaves out is no longer readable.
        tx.execute("UPDATE conversations SET gone = 1", [])?;
        for c in list {
            let key = conv_key(&c.with);
            tx.execute(
                "INSERT INTO conversations (conv_key, with_target, last_seq, read_seq, unread, activity)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (conv_key) DO UPDATE SET
                     with_target = excluded.with_target,
                     unread = CASE WHEN excluded.last_seq >= last_seq THEN excluded.unread ELSE unread END,
                     last_seq = MAX(last_seq, excluded.last_seq),
                     read_seq = MAX(read_seq, excluded.read_seq),
                     activity = MAX(activity, excluded.activity),
                     gone = 0",
                params![
                    key,
                    serde_json::to_string(&c.with)?,
                    int(c.last_seq)?,
                    int(c.read_seq)?,
                    int(c.unread)?,
                    c.activity
                ],
            )?;
            if let Some(m) = &c.last_message
                && m.seq <= stored_seq(&tx, &key)? + 1
            {
                store_entry(&tx, &key, m)?;
                advance_prefix(&tx, &key)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every known conversation, newest activity first.
    pub fn conversations(&self) -> Result<Vec<StoredConversation>> {
        let mut stmt = self.conn.prepare(
            "SELECT with_target, last_seq, stored_seq, read_seq, unread, activity, gone FROM conversations
             ORDER BY activity DESC, conv_key ASC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(StoredConversation {
                with: json_at(r, 0)?,
                last_seq: u64_at(r, 1)?,
                highest_seq: u64_at(r, 2)?,
                read_seq: u64_at(r, 3)?,
                unread: u64_at(r, 4)?,
                activity: r.get(5)?,
                last_message: None,
                gone: r.get::<_, i64>(6)? != 0,
            })
        })?;
        let mut list = rows.collect::<Result<Vec<_>, _>>()?;
        for c in &mut list {
            c.last_message = self.messages_before(&c.with, None, 1)?.pop();
        }
        Ok(list)
    }

    /// The conversations of a server listing that need a `sync`, with the seq to sync after.
    pub fn moved(&self, list: &[Conversation]) -> Result<Vec<(Target, u64)>> {
        let mut moved = Vec::new();
        for c in list {
            let have = self.highest_seq(&c.with)?;
            if c.last_seq > have {
                moved.push((c.with.clone(), have));
            }
        }
        Ok(moved)
    }

    /// Raises the read marker to `seq`; returns whether it rose (whether to tell the server).
    pub fn mark_read(&mut self, with: &Target, seq: u64) -> Result<bool> {
        let key = conv_key(with);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        ensure_conv(&tx, &key, with)?;
        // The exact count needs the server's view of who sent what; until the next listing,
        // no more entries can be unread than lie above the marker.
        let rose = tx.execute(
            "UPDATE conversations SET
                 read_seq = ?2,
                 unread = CASE WHEN ?2 >= last_seq THEN 0 ELSE MIN(unread, last_seq - ?2) END
             WHERE conv_key = ?1 AND read_seq < ?2",
            params![key, int(seq)?],
        )?;
        tx.commit()?;
        Ok(rose > 0)
    }

    /// Marks a conversation gone: a group we left, were removed from, or that was
    /// dissolved. Its messages stay readable; the next listing would say the same.
    pub fn set_gone(&mut self, with: &Target) -> Result<()> {
        self.conn
            .execute("UPDATE conversations SET gone = 1 WHERE conv_key = ?1", params![conv_key(with)])?;
        Ok(())
    }

    /// Entries whose body contains `text` (ASCII case-insensitively, as SQLite's LIKE),
    /// newest first.
    pub fn search(&self, text: &str, limit: usize) -> Result<Vec<(Target, Message)>> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT c.with_target, {MSG_COLS} FROM messages m JOIN conversations c USING (conv_key)
             WHERE m.body LIKE ?1 ESCAPE '\\' ORDER BY m.ts DESC, m.msg_id DESC LIMIT ?2"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let pattern = format!("%{}%", escape_like(text));
        let rows =
            stmt.query_map(params![pattern, sql_limit(limit)], |r| Ok((json_at(r, 0)?, message_at(r, 1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let known = MIGRATIONS.len() as i64;
    loop {
        // The version is read under the write lock: another process of the same account
        // may be migrating this file right now.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if !(0..=known).contains(&found) {
            return Err(HistoryError::TooNew { found, known });
        }
        let Some(sql) = MIGRATIONS.get(found as usize) else { return Ok(()) };
        // One transaction per step: a crash leaves the file at a version it really has.
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", found + 1)?;
        tx.commit()?;
    }
}

/// Inserts `m` unless an entry with its seq is stored; returns whether it was new. A
/// stored entry only takes the server's withdrawal, since nothing else of it changes.
fn store_entry(conn: &Connection, key: &str, m: &Message) -> Result<bool> {
    // The recall entry may have arrived first (pages come in any order).
    let recalled = m.recalled
        || (m.kind != MessageKind::Recall
            && conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM messages WHERE conv_key = ?1 AND recalls = ?2)",
                params![key, int(m.msg_id)?],
                |row| row.get::<_, bool>(0),
            )?);
    let file = m.file.as_ref().map(serde_json::to_string).transpose()?;
    let inserted = conn.execute(
        "INSERT INTO messages
             (conv_key, seq, msg_id, sender, sender_id, recipient, body, ts, kind, file, recalls, recalled)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (conv_key, seq) DO NOTHING",
        params![
            key,
            int(m.seq)?,
            int(m.msg_id)?,
            m.from,
            int(m.from_id)?,
            serde_json::to_string(&m.to)?,
            if recalled { "" } else { m.body.as_str() },
            m.ts,
            kind_str(m.kind),
            file,
            m.recalls.map(int).transpose()?,
            recalled
        ],
    )? == 1;
    if !inserted && m.recalled {
        withdraw(conn, key, "seq", m.seq)?;
    }
    if inserted
        && m.kind == MessageKind::Recall
        && let Some(target) = m.recalls
    {
        withdraw(conn, key, "msg_id", target)?;
    }
    Ok(inserted)
}

/// Erases a message's text as the server does. Scoped to the conversation so that a
/// recall entry can never touch another conversation's message.
fn withdraw(conn: &Connection, key: &str, column: &str, value: u64) -> Result<()> {
    let sql = format!(
        "UPDATE messages SET recalled = 1, body = ''
         WHERE conv_key = ?1 AND {column} = ?2 AND kind != 'recall'"
    );
    conn.execute(&sql, params![key, int(value)?])?;
    Ok(())
}

fn ensure_conv(conn: &Connection, key: &str, with: &Target) -> Result<()> {
    conn.execute(
        "INSERT INTO conversations (conv_key, with_target) VALUES (?1, ?2)
         ON CONFLICT (conv_key) DO NOTHING",
        params![key, serde_json::to_string(with)?],
    )?;
    Ok(())
}

/// Any entry proves the conversation reached its seq and was active at its ts.
fn raise_last(conn: &Connection, key: &str, m: &Message) -> Result<()> {
    conn.execute(
        "UPDATE conversations SET last_seq = MAX(last_seq, ?2), activity = MAX(activity, ?3)
         WHERE conv_key = ?1",
        params![key, int(m.seq)?, m.ts],
    )?;
    Ok(())
}

/// Recomputes the cached contiguous prefix after inserts. Only entries above the old
/// prefix can extend it, so the scan is short unless a gap was just filled.
fn advance_prefix(conn: &Connection, key: &str) -> Result<u64> {
    let old = stored_seq(conn, key)?;
    if !exists(conn, key, old + 1)? {
        return Ok(old);
    }
    let new = conn.query_row(
        "SELECT MIN(m.seq) FROM messages m WHERE m.conv_key = ?1 AND m.seq > ?2
         AND NOT EXISTS (SELECT 1 FROM messages n WHERE n.conv_key = m.conv_key AND n.seq = m.seq + 1)",
        params![key, int(old)?],
        |row| u64_at(row, 0),
    )?;
    conn.execute("UPDATE conversations SET stored_seq = ?2 WHERE conv_key = ?1", params![key, int(new)?])?;
    Ok(new)
}

fn stored_seq(conn: &Connection, key: &str) -> Result<u64> {
    conv_u64(conn, key, "stored_seq")
}

fn conv_u64(conn: &Connection, key: &str, column: &str) -> Result<u64> {
    let sql = format!("SELECT {column} FROM conversations WHERE conv_key = ?1");
    Ok(conn.query_row(&sql, [key], |r| u64_at(r, 0)).optional()?.unwrap_or(0))
}

fn exists(conn: &Connection, key: &str, seq: u64) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM messages WHERE conv_key = ?1 AND seq = ?2)",
        params![key, int(seq)?],
        |row| row.get(0),
    )?)
}

/// The protocol's rule: entries from others of kind text or file, above the marker.
fn counts_as_unread(m: &Message, me: &str, read_seq: u64) -> bool {
    !same_user(&m.from, me) && matches!(m.kind, MessageKind::Text | MessageKind::File) && m.seq > read_seq
}

fn same_user(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// rusqlite stores only i64; protocol numbers stay below 2^53, so a larger one is refused.
fn int(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| HistoryError::OutOfRange(n))
}

fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn kind_str(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Text => "text",
        MessageKind::File => "file",
        MessageKind::Recall => "recall",
    }
}

fn u64_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let v: i64 = row.get(idx)?;
    u64::try_from(v).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(idx, v))
}

fn json_at<T: serde::de::DeserializeOwned>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, e.into()))
}

/// Reads the [`MSG_COLS`] starting at column `at`.
fn message_at(row: &Row<'_>, at: usize) -> rusqlite::Result<Message> {
    let kind: String = row.get(at + 7)?;
    let kind = match kind.as_str() {
        "text" => MessageKind::Text,
        "file" => MessageKind::File,
        "recall" => MessageKind::Recall,
        other => {
            let e = format!("unknown message kind {other:?}");
            return Err(rusqlite::Error::FromSqlConversionFailure(at + 7, Type::Text, e.into()));
        }
    };
    let file: Option<String> = row.get(at + 8)?;
    let file = file
        .map(|f| serde_json::from_str::<FileInfo>(&f))
        .transpose()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(at + 8, Type::Text, e.into()))?;
    let recalls: Option<i64> = row.get(at + 9)?;
    let recalls = recalls
        .map(|v| u64::try_from(v).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(at + 9, v)))
        .transpose()?;
    Ok(Message {
        seq: u64_at(row, at)?,
        msg_id: u64_at(row, at + 1)?,
        from: row.get(at + 2)?,
        from_id: u64_at(row, at + 3)?,
        to: json_at(row, at + 4)?,
        body: row.get(at + 5)?,
        ts: row.get(at + 6)?,
        kind,
        file,
        recalls,
        recalled: row.get(at + 10)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bob() -> Target {
        Target::User("Bob".into())
    }

    /// An entry of alice's direct conversation with bob, sent by bob.
    fn msg(seq: u64, body: &str) -> Message {
        Message {
            msg_id: 1000 + seq,
            seq,
            from: "bob".into(),
            from_id: 2,
            to: Target::User("alice".into()),
            body: body.into(),
            ts: 1_000 + i64::try_from(seq).unwrap(),
            kind: MessageKind::Text,
            file: None,
            recalls: None,
            recalled: false,
        }
    }

    fn recall(seq: u64, of: u64) -> Message {
        Message { kind: MessageKind::Recall, recalls: Some(1000 + of), ..msg(seq, "") }
    }

    fn pages(h: &History, with: &Target) -> Vec<u64> {
        h.messages_after(with, 0, 100).unwrap().iter().map(|m| m.seq).collect()
    }

    fn listing(with: Target, last_seq: u64, activity: i64, last_message: Option<Message>) -> Conversation {
        Conversation { with, last_seq, read_seq: 0, unread: last_seq, last_message, activity }
    }

    #[test]
    fn conv_keys_ignore_username_case() {
        assert_eq!(conv_key(&Target::User("Alice".into())), "u:alice");
        assert_eq!(conv_key(&Target::Group(12)), "g:12");
    }

    #[test]
    fn out_of_order_pages_keep_a_gapless_prefix() {
        let mut h = History::open_in_memory().unwrap();
        let later: Vec<_> = (4..=6).map(|s| msg(s, "later")).collect();
        let out = h.store_page(&bob(), &later).unwrap();
        assert_eq!(out, StoreOutcome { stored: 3, highest: 0, gap: true });
        let out = h.store_page(&bob(), &[msg(2, "b"), msg(1, "a")]).unwrap();
        assert_eq!(out, StoreOutcome { stored: 2, highest: 2, gap: true });
        let out = h.store_page(&Target::User("BOB".into()), &[msg(3, "c")]).unwrap();
        assert_eq!(out, StoreOutcome { stored: 1, highest: 6, gap: false });
        assert_eq!(h.highest_seq(&bob()).unwrap(), 6);
        assert_eq!(pages(&h, &bob()), [1, 2, 3, 4, 5, 6]);
        let back: Vec<_> = h.messages_before(&bob(), None, 2).unwrap().iter().map(|m| m.seq).collect();
        assert_eq!(back, [6, 5]);
        let back: Vec<_> = h.messages_before(&bob(), Some(5), 10).unwrap().iter().map(|m| m.seq).collect();
        assert_eq!(back, [4, 3, 2, 1]);
        assert_eq!(h.messages_after(&bob(), 4, 10).unwrap(), [msg(5, "later"), msg(6, "later")]);
    }

    #[test]
    fn storing_again_is_idempotent_but_takes_withdrawals() {
        let mut h = History::open_in_memory().unwrap();
        h.store_page(&bob(), &[msg(1, "a"), msg(2, "b")]).unwrap();
        let out = h.store_page(&bob(), &[msg(1, "changed"), msg(2, "b")]).unwrap();
        assert_eq!(out, StoreOutcome { stored: 0, highest: 2, gap: false });
        let withdrawn = Message { recalled: true, ..msg(2, "") };
        h.store_page(&bob(), std::slice::from_ref(&withdrawn)).unwrap();
        assert_eq!(h.messages_after(&bob(), 0, 10).unwrap(), [msg(1, "a"), withdrawn]);
    }

    #[test]
    fn recall_entries_withdraw_in_any_order() {
        let mut h = History::open_in_memory().unwrap();
        h.store_page(&bob(), &[msg(1, "secret"), msg(2, "kept"), recall(3, 1)]).unwrap();
        // The recall entry first, the message it withdraws in a later page.
        h.store_page(&bob(), &[recall(5, 4)]).unwrap();
        h.store_page(&bob(), &[msg(4, "oops")]).unwrap();
        // A recall in another conversation must not reach bob's messages.
        let group = Target::Group(7);
        h.store_page(&group, &[Message { to: group.clone(), ..recall(1, 2) }]).unwrap();

        let got = h.messages_after(&bob(), 0, 10).unwrap();
        let shown: Vec<_> = got.iter().map(|m| (m.seq, m.body.as_str(), m.recalled)).collect();
        assert_eq!(shown, [(1, "", true), (2, "kept", false), (3, "", false), (4, "", true), (5, "", false)]);
        assert_eq!(got[2].recalls, Some(1001));
    }

    #[test]
    fn live_events_extend_the_prefix_or_report_the_gap() {
        let mut h = History::open_in_memory().unwrap();
        assert_eq!(h.apply_live(&msg(1, "hi"), "alice").unwrap(), LiveOutcome::Appended);
        assert_eq!(h.apply_live(&msg(1, "hi"), "alice").unwrap(), LiveOutcome::Duplicate);
        let gap = h.apply_live(&msg(3, "c"), "alice").unwrap();
        assert_eq!(gap, LiveOutcome::Gap { with: Target::User("bob".into()), have: 1, got: 3 });
        assert_eq!(pages(&h, &bob()), [1]);

        h.store_page(&bob(), &[msg(2, "b"), msg(3, "c")]).unwrap();
        // Sent by the owner from another device: the conversation is the recipient's.
        let mine = Message { from: "Alice".into(), to: Target::User("BOB".into()), ..msg(4, "mine") };
        assert_eq!(h.apply_live(&mine, "alice").unwrap(), LiveOutcome::Appended);
        assert_eq!(h.apply_live(&msg(5, "e"), "alice").unwrap(), LiveOutcome::Appended);
        assert_eq!(pages(&h, &bob()), [1, 2, 3, 4, 5]);

        // Counted live: seq 1 and 5 (2 and 3 came by sync, 4 is the owner's).
        let conv = &h.conversations().unwrap()[0];
        assert_eq!((conv.last_seq, conv.highest_seq, conv.unread), (5, 5, 2));
        assert_eq!(conv.last_message.as_ref().map(|m| m.seq), Some(5));
        assert_eq!(h.apply_live(&recall(6, 5), "alice").unwrap(), LiveOutcome::Appended);
        assert_eq!(h.conversations().unwrap()[0].unread, 1);
    }

    #[test]
    fn reopening_a_version_1_file_keeps_the_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.db");
        let mut h = History::open(&path).unwrap();
        h.store_page(&bob(), &[msg(1, "a"), msg(2, "b")]).unwrap();
        drop(h);

        let h = History::open(&path).unwrap();
        assert_eq!(h.highest_seq(&bob()).unwrap(), 2);
        assert_eq!(pages(&h, &bob()), [1, 2]);
        let version: i64 = h.conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let mode: String = h.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_file_from_the_first_release_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(MIGRATIONS[0]).unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        old.execute(
            "INSERT INTO conversations (conv_key, with_target, last_seq, activity) VALUES ('u:bob', ?1, 4, 9)",
            [serde_json::to_string(&bob()).unwrap()],
        )
        .unwrap();
        drop(old);
        let h = History::open(&path).unwrap();
        let convs = h.conversations().unwrap();
        assert_eq!((convs.len(), convs[0].last_seq, convs[0].gone), (1, 4, false));
    }

    #[test]
    fn simultaneous_first_opens_migrate_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.db");
        let opens: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || History::open(path).map(drop))
            })
            .collect();
        for open in opens {
            open.join().unwrap().unwrap();
        }
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.db");
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let err = History::open(&path).unwrap_err();
        assert!(matches!(err, HistoryError::TooNew { found: 99, known: 2 }), "{err:?}");
        assert!(err.to_string().contains("newer"), "{err}");
    }

    #[test]
    fn search_treats_wildcards_literally() {
        let mut h = History::open_in_memory().unwrap();
        let bodies = ["100% sure", "100 percent", "snake_case", "snakeXcase", "Hello World", "back\\slash"];
        let page: Vec<_> = (1..).zip(bodies).map(|(seq, body)| msg(seq, body)).collect();
        h.store_page(&bob(), &page).unwrap();
        h.store_page(&Target::Group(3), &[Message { to: Target::Group(3), ..msg(1, "hello group") }])
            .unwrap();

        let find = |text: &str, limit| -> Vec<String> {
            h.search(text, limit).unwrap().into_iter().map(|(_, m)| m.body).collect()
        };
        assert_eq!(find("0%", 10), ["100% sure"]);
        assert_eq!(find("e_c", 10), ["snake_case"]);
        assert_eq!(find("\\", 10), ["back\\slash"]);
        assert_eq!(find("HELLO", 10), ["Hello World", "hello group"]);
        assert_eq!(find("HELLO", 1), ["Hello World"]);
        assert!(find("", 10).is_empty());
        assert_eq!(h.search("world", 10).unwrap()[0].0, bob());
    }

    #[test]
    fn a_conversation_the_server_stops_listing_is_gone_but_readable() {
        let mut h = History::open_in_memory().unwrap();
        let group = Target::Group(7);
        let group_msg = Message { to: group.clone(), ..msg(1, "before the kick") };
        let both = [listing(bob(), 1, 10, Some(msg(1, "a"))), listing(group.clone(), 1, 20, Some(group_msg))];
        h.set_conversations(&both).unwrap();
        assert!(h.conversations().unwrap().iter().all(|c| !c.gone));
        // Kicked (or left, or dissolved): the next listing has no group 7.
        h.set_conversations(&both[..1]).unwrap();
        let gone: Vec<_> =
            h.conversations().unwrap().into_iter().filter(|c| c.gone).map(|c| c.with).collect();
        assert_eq!(gone, std::slice::from_ref(&group), "and it stays gone for every later start");
        assert_eq!(h.messages_after(&group, 0, 10).unwrap()[0].body, "before the kick", "still readable");
        // Back in the group: listed, so no longer gone.
        h.set_conversations(&both).unwrap();
        assert!(h.conversations().unwrap().iter().all(|c| !c.gone));
    }

    #[test]
    fn listing_orders_by_activity_and_tells_what_moved() {
        let mut h = History::open_in_memory().unwrap();
        let group = Target::Group(7);
        h.store_page(&bob(), &[msg(1, "a")]).unwrap();
        let group_last = Message { to: group.clone(), ts: 5_000, ..msg(1, "g") };
        let list = [
            listing(bob(), 3, 1_003, Some(msg(3, "c"))),
            listing(group.clone(), 1, 5_000, Some(group_last.clone())),
            listing(Target::Group(8), 2, 10, Some(msg(2, "x"))),
        ];
        h.set_conversations(&list).unwrap();

        let convs = h.conversations().unwrap();
        let order: Vec<_> = convs.iter().map(|c| c.with.clone()).collect();
        assert_eq!(order, [group.clone(), bob(), Target::Group(8)]);
        // The group's last message was contiguous and is stored; bob's seq 3 is not.
        assert_eq!(convs[0].last_message, Some(group_last));
        assert_eq!((convs[1].last_seq, convs[1].highest_seq), (3, 1));
        assert_eq!(convs[1].last_message.as_ref().map(|m| m.seq), Some(1));
        assert_eq!(h.moved(&list).unwrap(), [(bob(), 1), (Target::Group(8), 0)]);

        assert!(h.mark_read(&bob(), 2).unwrap());
        assert!(!h.mark_read(&bob(), 1).unwrap());
        let bob_conv = h.conversations().unwrap().remove(1);
        assert_eq!((bob_conv.read_seq, bob_conv.unread), (2, 1));
    }
}
