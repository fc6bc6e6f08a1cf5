//! The SQL implementation of the store traits for SQLite and MySQL/MariaDB.

mod accounts;
mod friends;
mod groups;
mod messages;
mod sqlite_file;

use std::str::FromStr;

use async_trait::async_trait;
use chat_proto::model::Role;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Connection as _, Executor, Row, Transaction};

use super::{Dialect, Store, StoreError, StoreResult, UserRecord, UserRef};
use crate::config::Durability;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static MYSQL_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/mysql");

/// Tries at migrating a MySQL database other nodes may be migrating too.
const MIGRATE_ATTEMPTS: u32 = 6;

/// A store on a pool of database connections.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
    /// MySQL: msg_ids taken from the counter but not used yet (see `msg_ids`).
    ids: std::sync::Arc<tokio::sync::Mutex<messages::IdBlock>>,
}

type Tx = Transaction<'static, sqlx::Any>;
type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

impl SqlStore {
    pub async fn open(url: &str, durability: Durability) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            Dialect::MySql
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        let url = match dialect {
            Dialect::Sqlite => sqlite_file::prepare(url)?,
            Dialect::MySql => url.replacen("mariadb:", "mysql:", 1),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = match dialect {
            Dialect::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(move |conn, _| {
                        Box::pin(async move {
                            // WAL lets readers run beside the writer. In WAL mode NORMAL
                            // survives a process crash (a power loss may drop the last
                            // commits); FULL also survives a power loss. Waiting on a
                            // busy database beats failing.
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute(match durability {
                                Durability::Process => "PRAGMA synchronous = NORMAL",
                                Durability::Power => "PRAGMA synchronous = FULL",
                            })
                            .await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            // Statement journals in memory, and a page cache that holds
                            // every conversation's hot index pages.
                            conn.execute("PRAGMA temp_store = MEMORY").await?;
                            conn.execute("PRAGMA cache_size = -16384").await?;
                            conn.execute("PRAGMA busy_timeout = 5000").await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Dialect::MySql => {
                match AnyPoolOptions::new().max_connections(16).connect_with(options.clone()).await {
                    // The pool only says that it gave up waiting; one direct attempt
                    // says why (refused, unknown host...), for the operator.
                    Err(sqlx::Error::PoolTimedOut) => {
                        let why = sqlx::AnyConnection::connect_with(&options).await.err();
                        return Err(why.unwrap_or(sqlx::Error::PoolTimedOut).into());
                    }
                    pool => pool?,
                }
            }
        };
        match dialect {
            Dialect::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Dialect::MySql => {
                let mut attempt = 1;
                loop {
                    match MYSQL_MIGRATIONS.run(&pool).await {
                        Ok(()) => break,
                        // Nodes of a cluster started together migrate the same
                        // database at once: one wins, and the others find its work
                        // done when they look again.
                        Err(e) if attempt < MIGRATE_ATTEMPTS => {
                            tracing::info!(error = %e, attempt, "migrating alongside another node; again");
                            tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt)))
                                .await;
                            attempt += 1;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Ok(Self { pool, dialect, ids: Default::default() })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// A transaction for a read-then-write op. SQLite: `BEGIN IMMEDIATE` takes the
    /// write lock up front, so two such ops never interleave (and never deadlock on
    /// upgrading). MySQL: the op locks the rows it decides on with [`Self::lock_users`]
    /// or [`Self::lock_group`].
    async fn write_tx(&self) -> StoreResult<Tx> {
        Ok(match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::MySql => self.pool.begin().await?,
        })
    }

    /// Locks two users' rows (MySQL; SQLite's write lock already covers them), in id
    /// order so that two transactions on the same pair cannot deadlock.
    async fn lock_users(&self, tx: &mut Tx, a: u64, b: u64) -> StoreResult<()> {
        if self.dialect == Dialect::MySql {
            sqlx::query("SELECT id FROM users WHERE id IN (?, ?) ORDER BY id FOR UPDATE")
                .bind(db_id(a)?)
                .bind(db_id(b)?)
                .fetch_all(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Locks a group's row (MySQL); false when the group does not exist.
    async fn lock_group(&self, tx: &mut Tx, group_id: u64) -> StoreResult<bool> {
        let sql = match self.dialect {
            Dialect::Sqlite => "SELECT id FROM chat_groups WHERE id = ?",
            Dialect::MySql => "SELECT id FROM chat_groups WHERE id = ? FOR UPDATE",
        };
        Ok(sqlx::query(sql).bind(db_id(group_id)?).fetch_optional(&mut **tx).await?.is_some())
    }

    /// The statement for this backend, where the two spell it differently.
    fn by_dialect(&self, sqlite: &'static str, mysql: &'static str) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => sqlite,
            Dialect::MySql => mysql,
        }
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn close(&self) {
        self.pool.close().await;
    }
}

/// A database URL fit for logs and errors: any password is masked.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme_end + 3], &userinfo[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn id(v: i64) -> StoreResult<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative id {v}")))
}

fn db_id(v: u64) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::OutOfRange(format!("id {v}")))
}

/// The count `n` of `sql`, run in the transaction with one bound id.
async fn count(tx: &mut Tx, sql: &'static str, bound: i64) -> StoreResult<u64> {
    let n: i64 = sqlx::query(sql).bind(bound).fetch_one(&mut **tx).await?.try_get("n")?;
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative count {n}")))
}

/// Reads an id column.
fn get_id(row: &AnyRow, column: &str) -> StoreResult<u64> {
    id(row.try_get(column)?)
}

/// Reads a user from an id column and a name column.
fn user_ref(row: &AnyRow, id_column: &str, name_column: &str) -> StoreResult<UserRef> {
    Ok(UserRef { id: get_id(row, id_column)?, username: row.try_get(name_column)? })
}

fn user_from_row(row: &AnyRow) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: get_id(row, "id")?,
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
    })
}

fn role_from_str(s: &str) -> StoreResult<Role> {
    match s {
        "owner" => Ok(Role::Owner),
        "admin" => Ok(Role::Admin),
        "member" => Ok(Role::Member),
        other => Err(StoreError::Corrupt(format!("unknown role `{other}`"))),
    }
}

fn get_role(row: &AnyRow, column: &str) -> StoreResult<Role> {
    role_from_str(&row.try_get::<String, _>(column)?)
}

fn unique_violation(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::Database(e),
    }
}

/// The statement to run for an INSERT whose new id is wanted: SQLite appends
/// `RETURNING id`, because sqlx's Any driver drops SQLite's last-insert rowid;
/// MySQL reports it with the result. Only a constant suffix is added to a caller's
/// literal, so the result stays safe.
fn insert_sql(dialect: Dialect, insert: &'static str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(match dialect {
        Dialect::Sqlite => format!("{insert} RETURNING id"),
        Dialect::MySql => insert.to_owned(),
    })
}

/// Runs an INSERT built on [`insert_sql`] and returns the new row's id.
async fn insert_id<'e, E>(dialect: Dialect, query: AnyQuery<'_>, executor: E) -> Result<u64, sqlx::Error>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    let raw = match dialect {
        Dialect::Sqlite => query.fetch_one(executor).await?.try_get::<i64, _>(0)?,
        Dialect::MySql => query
            .execute(executor)
            .await?
            .last_insert_id()
            .ok_or_else(|| sqlx::Error::Protocol("database returned no insert id".into()))?,
    };
    u64::try_from(raw).map_err(|_| sqlx::Error::Protocol(format!("negative insert id {raw}")))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(redact_url("mysql://root:s3cret@db:3306/chat"), "mysql://root:***@db:3306/chat");
        assert_eq!(redact_url("mysql://root@127.0.0.1/test"), "mysql://root@127.0.0.1/test");
        assert_eq!(redact_url("sqlite:/var/lib/chat.db"), "sqlite:/var/lib/chat.db");
    }
}
