//! The message store's vocabulary: what the writer appends, what comes back, and
//! how a conversation is named.

use async_trait::async_trait;
use chat_proto::model::{Message, MessageKind};
use chat_proto::reply::Conversation;

use super::{StoreResult, UserRef};

/// A conversation's primary key: `d:<low id>:<high id>` or `g:<group id>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConvKey(pub String);

impl ConvKey {
    pub fn direct(a: u64, b: u64) -> Self {
        Self(format!("d:{}:{}", a.min(b), a.max(b)))
    }

    pub fn group(group_id: u64) -> Self {
        Self(format!("g:{group_id}"))
    }
}

/// The target of a new message as the writer resolves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendTo {
    /// A username, resolved inside the writer's transaction.
    User(String),
    Group(u64),
}

/// One entry to append, as submitted to the writer.
#[derive(Debug, Clone)]
pub enum AppendRequest {
    Text {
        sender: UserRef,
        to: SendTo,
        body: String,
        client_msg_id: Option<String>,
    },
    /// Withdraws `msg_id` if `sender` sent it no earlier than `not_before` (ms).
    Recall {
        sender: UserRef,
        msg_id: u64,
        not_before: i64,
    },
}

/// Why an entry was not appended. Decided inside the same transaction as the append,
/// so no check can be overtaken by a concurrent change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NoSuchUser,
    NoSuchGroup,
    NoSuchMessage,
    NotFriend,
    /// A block stands between the two, in either direction.
    Blocked,
    NotMember,
    NotSender,
    RecallOfRecall,
    AlreadyRecalled,
    TooLate,
}

/// The result of one append.
#[derive(Debug, Clone, PartialEq, Eq)]
// Outcomes live briefly, one per request in flight: boxing the message would cost an
// allocation per send for nothing.
#[allow(clippy::large_enum_variant)]
pub enum AppendOutcome {
    /// Stored now (`duplicate: false`) or earlier under the same client_msg_id.
    Stored {
        message: Message,
        participants: Vec<u64>,
        duplicate: bool,
    },
    Refused(Refusal),
}

/// A place in the listing of conversations, ordered by activity (newest first),
/// then by key: the listing goes on after it. Activity alone is no place: group
/// commit gives a whole batch one timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvPosition {
    pub activity: i64,
    /// The last key listed at `activity`; empty: none yet.
    pub key: ConvKey,
}

impl ConvPosition {
    /// The start of the listing.
    pub fn start() -> Self {
        Self { activity: i64::MAX, key: ConvKey(String::new()) }
    }

    /// Right after every conversation with `activity` or more: what `before`
    /// (exclusive) asks for.
    pub fn before(activity: i64) -> Self {
        Self { activity: activity.saturating_sub(1), key: ConvKey(String::new()) }
    }
}

/// A page of entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub messages: Vec<Message>,
    pub more: bool,
    /// The conversation's current last seq (0 when it has no entry yet).
    pub last_seq: u64,
}

/// Whether an entry kind counts as unread.
pub fn counts_as_unread(kind: MessageKind) -> bool {
    matches!(kind, MessageKind::Text | MessageKind::File)
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Appends a batch in one transaction: checks each entry's rights, deduplicates
    /// by client_msg_id, gives each conversation's entries the next seqs, and
    /// commits. Returns one outcome per request, in order. An `Err` means nothing of
    /// the batch was stored.
    async fn append(&self, batch: &[AppendRequest], now: i64) -> StoreResult<Vec<AppendOutcome>>;
    /// Entries after `after`, oldest first.
    async fn sync(&self, conv: &ConvKey, after: u64, limit: u64) -> StoreResult<Page>;
    /// Entries before `before` (exclusive; `None`: from the newest), newest first.
    async fn history(&self, conv: &ConvKey, before: Option<u64>, limit: u64) -> StoreResult<Page>;
    /// The conversations `user` can read after `from`, newest activity first, with
    /// their keys; `more` when the page was cut at `limit`.
    async fn conversations(
        &self,
        user: u64,
        from: &ConvPosition,
        limit: u64,
    ) -> StoreResult<(Vec<(ConvKey, Conversation)>, bool)>;
    /// Raises the user's read marker to `seq` (never lowers it, never past the last
    /// entry); returns the marker when it rose.
    async fn mark_read(&self, user: u64, conv: &ConvKey, seq: u64) -> StoreResult<Option<u64>>;
}
