//! The SQL implementation of [`Store`] for SQLite and MySQL/MariaDB.

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use super::{Dialect, NewSession, Store, StoreError, UserRecord};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static MYSQL_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/mysql");

/// A store on a pool of database connections.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
}

impl SqlStore {
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            Dialect::MySql
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        let url = url.replacen("mariadb:", "mysql:", 1);
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = match dialect {
            Dialect::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL lets readers run beside the writer; NORMAL in WAL mode
                            // survives a process crash (a power loss may drop the last
                            // commits). Waiting on a busy database beats failing.
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            conn.execute("PRAGMA busy_timeout = 5000").await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Dialect::MySql => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .connect_with(options)
                    .await?
            }
        };
        match dialect {
            Dialect::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Dialect::MySql => MYSQL_MIGRATIONS.run(&pool).await?,
        }
        Ok(Self { pool, dialect })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }
}

/// A database URL fit for logs and errors: any password is masked.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn id(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative id {v}")))
}

fn db_id(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("id {v} out of range")))
}

fn user_from_row(row: &AnyRow) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: id(row.try_get("id")?)?,
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
    })
}

fn unique_violation(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::Database(e),
    }
}

/// The statement to run for an INSERT whose new id is wanted: SQLite appends
/// `RETURNING id`, because sqlx's Any driver drops SQLite's last-insert rowid;
/// MySQL reports it with the result.
/// Only a constant suffix is added to a caller's literal, so the result stays safe.
fn insert_sql(dialect: Dialect, insert: &'static str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(match dialect {
        Dialect::Sqlite => format!("{insert} RETURNING id"),
        Dialect::MySql => insert.to_owned(),
    })
}

/// Runs an INSERT built on [`insert_sql`] and returns the new row's id.
async fn insert_id<'q, 'e, E>(
    dialect: Dialect,
    query: AnyQuery<'q>,
    executor: E,
) -> Result<u64, sqlx::Error>
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

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

async fn insert_session<'e, E>(
    dialect: Dialect,
    executor: E,
    s: &NewSession<'_>,
) -> Result<u64, StoreError>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    let sql = insert_sql(
        dialect,
        "INSERT INTO sessions (user_id, token_hash, device, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
    );
    let query = sqlx::query(sql)
        .bind(db_id(s.user_id)?)
        .bind(s.token_hash)
        .bind(s.device)
        .bind(s.now)
        .bind(s.expires_at);
    insert_id(dialect, query, executor)
        .await
        .map_err(unique_violation)
}

#[async_trait]
impl Store for SqlStore {
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<u64, StoreError> {
        let sql = insert_sql(
            self.dialect,
            "INSERT INTO users (username, username_key, password_hash, created_at) VALUES (?, ?, ?, ?)",
        );
        let query = sqlx::query(sql)
            .bind(username)
            .bind(chat_proto::validate::username_key(username))
            .bind(password_hash)
            .bind(now);
        insert_id(self.dialect, query, &self.pool)
            .await
            .map_err(unique_violation)
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let row =
            sqlx::query("SELECT id, username, password_hash FROM users WHERE username_key = ?")
                .bind(chat_proto::validate::username_key(username))
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn user_by_id(&self, user_id: u64) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query("SELECT id, username, password_hash FROM users WHERE id = ?")
            .bind(db_id(user_id)?)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn delete_user(&self, user_id: u64) -> Result<bool, StoreError> {
        let uid = db_id(user_id)?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = ?")
            .bind(uid)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM users WHERE id = ?")
            .bind(uid)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted.rows_affected() == 1)
    }

    async fn create_session(&self, session: NewSession<'_>) -> Result<u64, StoreError> {
        insert_session(self.dialect, &self.pool, &session).await
    }

    async fn resume_session(
        &self,
        token_hash: &str,
        now: i64,
        new_expiry: i64,
    ) -> Result<Option<(u64, UserRecord)>, StoreError> {
        let row = sqlx::query(
            "SELECT s.id AS session_id, u.id, u.username, u.password_hash \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = ? AND s.expires_at > ?",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let session_id: i64 = row.try_get("session_id")?;
        sqlx::query("UPDATE sessions SET expires_at = ? WHERE id = ?")
            .bind(new_expiry)
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(Some((id(session_id)?, user_from_row(&row)?)))
    }

    async fn delete_session(&self, session_id: u64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id = ?")
            .bind(db_id(session_id)?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn replace_password(
        &self,
        user_id: u64,
        password_hash: &str,
        session: NewSession<'_>,
    ) -> Result<u64, StoreError> {
        let uid = db_id(user_id)?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(uid)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = ?")
            .bind(uid)
            .execute(&mut *tx)
            .await?;
        let session_id = insert_session(self.dialect, &mut *tx, &session).await?;
        tx.commit().await?;
        Ok(session_id)
    }

    async fn prune_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact_url("mysql://root:s3cret@db:3306/chat"),
            "mysql://root:***@db:3306/chat"
        );
        assert_eq!(
            redact_url("mysql://root@127.0.0.1/test"),
            "mysql://root@127.0.0.1/test"
        );
        assert_eq!(
            redact_url("sqlite:/var/lib/chat.db"),
            "sqlite:/var/lib/chat.db"
        );
    }
}
