//! Durable state behind a [`Store`] trait, with one backend per database family
//! chosen by the URL's scheme.
//!
//! Both backends share one implementation ([`sql::SqlStore`]) over sqlx's `Any`
//! driver: the statements are written once, with `?` placeholders, and the few that
//! differ between SQLite and MySQL/MariaDB are picked by [`Dialect`]. Each backend has
//! its own migrations (`migrations/sqlite`, `migrations/mysql`), applied at open.

mod sql;

use async_trait::async_trait;

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
}

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

/// A session to create: the token itself is never stored, only its hash.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub user_id: u64,
    pub token_hash: &'a str,
    pub device: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

/// The durable state of the server. Every statement is parameterized.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Creates an account; `Conflict` when the name is taken (case-insensitively).
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<u64, StoreError>;
    /// Looks an account up by name, case-insensitively.
    async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn user_by_id(&self, user_id: u64) -> Result<Option<UserRecord>, StoreError>;
    /// Deletes an account and everything that belongs to it alone (its sessions).
    /// Returns whether it existed.
    async fn delete_user(&self, user_id: u64) -> Result<bool, StoreError>;

    async fn create_session(&self, session: NewSession<'_>) -> Result<u64, StoreError>;
    /// The live session (not expired at `now`) with this token hash, and its user;
    /// its expiry is pushed to `new_expiry`.
    async fn resume_session(
        &self,
        token_hash: &str,
        now: i64,
        new_expiry: i64,
    ) -> Result<Option<(u64, UserRecord)>, StoreError>;
    async fn delete_session(&self, session_id: u64) -> Result<(), StoreError>;
    /// In one transaction: sets the password hash, revokes every session of the user,
    /// and creates `session`. Returns the new session's id.
    async fn replace_password(
        &self,
        user_id: u64,
        password_hash: &str,
        session: NewSession<'_>,
    ) -> Result<u64, StoreError>;
    /// Deletes sessions expired at `now`; returns how many.
    async fn prune_sessions(&self, now: i64) -> Result<u64, StoreError>;

    /// Waits for pending writes and closes the connections.
    async fn close(&self);
}

/// Opens the store at `url` (`sqlite:PATH`, `sqlite::memory:`, `mysql://...`) and
/// applies its migrations.
pub async fn open(url: &str) -> Result<SqlStore, StoreError> {
    SqlStore::open(url).await
}
