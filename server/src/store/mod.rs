//! Durable state behind store traits, one per concern ([`AccountStore`],
//! [`FriendStore`], [`GroupStore`]), gathered in [`Store`]; one backend per database
//! family, chosen by the URL's scheme.
//!
//! Both backends share one implementation ([`SqlStore`]) over sqlx's `Any` driver:
//! the statements are written once, with `?` placeholders, and the few that differ
//! between SQLite and MySQL/MariaDB are picked by [`Dialect`]. Each backend has its own
//! migrations (`migrations/sqlite`, `migrations/mysql`), applied at open.
//!
//! Every op that reads and then writes runs in one transaction that serializes it
//! against any other write to the same rows, so concurrent requests cannot both pass
//! a check that only one of them may pass.

pub mod messages;
pub mod rules;
mod sql;

use async_trait::async_trait;
use chat_proto::model::Role;

pub use messages::{
    AppendOutcome, AppendRequest, ConvKey, ConvPosition, MessageStore, Page, Refusal, SendTo,
};
pub use rules::GroupRefusal;
pub use sql::{SqlStore, redact_url};

/// Which database family a store speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    MySql,
}

/// A failure of the store. `Conflict` is a uniqueness violation the caller can answer
/// with its own error code; everything else is the caller's `internal`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a row with the same unique key exists")]
    Conflict,
    #[error("unsupported database URL `{0}` (use sqlite:PATH or mysql://...)")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored value out of range: {0}")]
    Corrupt(String),
    /// A value the request gave cannot be a key of any row (too large for the
    /// column): the asker's mistake, not the database's.
    #[error("value out of range: {0}")]
    OutOfRange(String),
    #[error("cannot create {}: {source}", path.display())]
    File { path: std::path::PathBuf, source: std::io::Error },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A user account.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: u64,
    pub username: String,
    pub password_hash: String,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A user as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserRef {
    pub id: u64,
    pub username: String,
}

/// A session to create: the token itself is never stored, only its hash.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub user_id: u64,
    pub token_hash: &'a str,
    pub device: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

/// Whom a deleted account leaves behind, to be told.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletedAccount {
    /// Its former friends.
    pub friends: Vec<u64>,
    /// Groups it owned, now dissolved, with their former members.
    pub dissolved: Vec<(u64, Vec<u64>)>,
    /// Groups it was a member of, with their remaining members.
    pub left: Vec<(u64, Vec<u64>)>,
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates an account; `Conflict` when the name is taken (case-insensitively).
    async fn create_user(&self, username: &str, password_hash: &str, now: i64) -> StoreResult<u64>;
    /// Looks an account up by name, case-insensitively.
    async fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    async fn user_by_id(&self, user_id: u64) -> StoreResult<Option<UserRecord>>;
    /// Deletes an account with its sessions, friendships, blocks, requests and
    /// memberships, dissolving the groups it owns. `None` if it did not exist.
    async fn delete_user(&self, user_id: u64) -> StoreResult<Option<DeletedAccount>>;

    async fn create_session(&self, session: NewSession<'_>) -> StoreResult<u64>;
    /// The live session (not expired at `now`) with this token hash, its user and
    /// the expiry in force; the expiry is pushed to `new_expiry` when it lags by
    /// more than a day.
    async fn resume_session(
        &self,
        token_hash: &str,
        now: i64,
        new_expiry: i64,
    ) -> StoreResult<Option<(u64, UserRecord, i64)>>;
    async fn delete_session(&self, session_id: u64) -> StoreResult<()>;
    /// In one transaction: sets the password hash, revokes every session of the user,
    /// and creates `session`. Returns the new session's id.
    async fn replace_password(
        &self,
        user_id: u64,
        password_hash: &str,
        session: NewSession<'_>,
    ) -> StoreResult<u64>;
    /// Deletes sessions expired at `now`; returns how many.
    async fn prune_sessions(&self, now: i64) -> StoreResult<u64>;
}

/// What a friend request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FriendRequestOutcome {
    /// A new pending request.
    Created {
        request_id: u64,
    },
    /// The same request was already pending.
    AlreadyPending {
        request_id: u64,
    },
    /// The target had a pending request to the sender: now they are friends.
    Accepted {
        request_id: u64,
    },
    AlreadyFriends,
    /// A block stands between the two, in either direction.
    Blocked,
    /// The target already has the most pending requests allowed; nothing changed.
    TooManyPending,
}

/// One of a user's friends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendRow {
    pub user: UserRef,
    /// The listing user blocks this friend.
    pub blocked_by_me: bool,
    /// This friend blocks the listing user.
    pub blocks_me: bool,
}

/// A pending friend request, seen from one side: `other` is the other party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingFriendRequest {
    pub request_id: u64,
    pub other: UserRef,
    pub note: String,
    pub ts: i64,
}

#[async_trait]
pub trait FriendStore: Send + Sync {
    /// Asks `to` for friendship; a new request only while `to` has fewer than
    /// `max_pending` pending requests.
    async fn friend_request(
        &self,
        from: u64,
        to: u64,
        note: &str,
        max_pending: u64,
        now: i64,
    ) -> StoreResult<FriendRequestOutcome>;
    /// Answers request `request_id` if it is pending and addressed to `to`; returns
    /// the requester, or `None` when there is no such request.
    async fn friend_respond(
        &self,
        request_id: u64,
        to: u64,
        accept: bool,
        now: i64,
    ) -> StoreResult<Option<UserRef>>;
    /// Ends a friendship; false when there was none.
    async fn friend_remove(&self, user: u64, friend: u64) -> StoreResult<bool>;
    /// Every friend in one query, by name.
    async fn friend_list(&self, user: u64) -> StoreResult<Vec<FriendRow>>;
    /// Pending requests to and from the user with ids above `after`, oldest first:
    /// at most `limit` of each.
    async fn friend_requests(
        &self,
        user: u64,
        after: u64,
        limit: u64,
    ) -> StoreResult<(Vec<PendingFriendRequest>, Vec<PendingFriendRequest>)>;
    /// Blocks `blocked` (idempotent) and drops pending requests between the two.
    async fn block(&self, blocker: u64, blocked: u64, now: i64) -> StoreResult<()>;
    /// Lifts a block; false when there was none.
    async fn unblock(&self, blocker: u64, blocked: u64) -> StoreResult<bool>;
    /// Friends with no block between them and the user: who sees the user's presence.
    async fn presence_audience(&self, user: u64) -> StoreResult<Vec<u64>>;
    async fn are_friends(&self, a: u64, b: u64) -> StoreResult<bool>;
}

/// A group as anyone may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    pub id: u64,
    pub name: String,
    pub description: String,
    pub owner: UserRef,
    pub member_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub user: UserRef,
    pub role: Role,
    /// A block stands between this member and the one listing, in either direction.
    pub blocked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequestRow {
    pub request_id: u64,
    pub group_id: u64,
    pub user: UserRef,
    pub note: String,
    pub ts: i64,
}

/// What a join request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    NoGroup,
    AlreadyMember,
    /// The group already has the most pending requests allowed; nothing changed.
    TooManyPending,
    /// A pending request; `new` is false when the same one was already pending.
    Pending {
        request_id: u64,
        new: bool,
    },
}

#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Creates a group with `owner` as its only member.
    async fn group_create(&self, owner: u64, name: &str, description: &str, now: i64) -> StoreResult<u64>;
    async fn group(&self, group_id: u64) -> StoreResult<Option<GroupRecord>>;
    /// Groups whose name contains `query`, case-insensitively, by name.
    async fn group_search(&self, query: &str, limit: u64) -> StoreResult<Vec<GroupRecord>>;
    /// The user's groups with the user's role in each.
    async fn groups_of(&self, user: u64) -> StoreResult<Vec<(GroupRecord, Role)>>;
    async fn member_role(&self, group_id: u64, user: u64) -> StoreResult<Option<Role>>;
    /// Every member in one query: owner first, then admins, then members, by name;
    /// `blocked` as seen by `viewer`.
    async fn group_members(&self, group_id: u64, viewer: u64) -> StoreResult<Vec<MemberRow>>;
    async fn group_member_ids(&self, group_id: u64) -> StoreResult<Vec<u64>>;
    /// The owner and admins: who answers join requests.
    async fn group_managers(&self, group_id: u64) -> StoreResult<Vec<u64>>;
    /// Asks to join; a new request only while the group has fewer than
    /// `max_pending` pending requests.
    async fn group_join(
        &self,
        group_id: u64,
        user: u64,
        note: &str,
        max_pending: u64,
        now: i64,
    ) -> StoreResult<JoinOutcome>;
    /// Pending requests to the group with ids above `after`, oldest first: at most
    /// `limit`.
    async fn join_requests(&self, group_id: u64, after: u64, limit: u64) -> StoreResult<Vec<JoinRequestRow>>;
    async fn join_request(&self, request_id: u64) -> StoreResult<Option<JoinRequestRow>>;
    /// `actor` accepts (within `max_members`) or rejects a pending join request, if
    /// its role allows it at that moment.
    async fn group_respond(
        &self,
        request_id: u64,
        actor: u64,
        accept: bool,
        max_members: u64,
        now: i64,
    ) -> StoreResult<Result<JoinRequestRow, GroupRefusal>>;
    /// Removes a non-owner member; false when not a member (or the owner).
    async fn group_remove_member(&self, group_id: u64, user: u64) -> StoreResult<bool>;
    /// `actor` removes `target`, if their roles allow it at that moment.
    async fn group_kick(
        &self,
        group_id: u64,
        actor: u64,
        target: u64,
    ) -> StoreResult<Result<(), GroupRefusal>>;
    /// `actor` sets `target`'s role, if their roles allow it at that moment; `Ok(false)`
    /// when the role was already that.
    async fn group_set_role(
        &self,
        group_id: u64,
        actor: u64,
        target: u64,
        role: Role,
    ) -> StoreResult<Result<bool, GroupRefusal>>;
    /// Deletes the group with its memberships and requests; returns its former members.
    async fn group_dissolve(&self, group_id: u64) -> StoreResult<Vec<u64>>;
}

/// The durable state of the server. Every statement is parameterized.
#[async_trait]
pub trait Store: AccountStore + FriendStore + GroupStore + MessageStore + std::fmt::Debug + 'static {
    /// Waits for pending writes and closes the connections.
    async fn close(&self);
}

/// Opens the store at `url` (`sqlite:PATH`, `mysql://...`) and applies its migrations.
pub async fn open(url: &str) -> StoreResult<SqlStore> {
    SqlStore::open(url, crate::config::Durability::Process).await
}
