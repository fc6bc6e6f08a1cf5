//! Accounts and sessions.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::{Executor, Row};

use super::{SqlStore, Tx, db_id, get_id, insert_id, insert_sql, unique_violation, user_from_row};
use crate::store::{AccountStore, DeletedAccount, Dialect, NewSession, StoreResult, UserRecord};

/// How far behind its due value a session's expiry may lag before it is written.
const EXPIRY_SLACK_MS: i64 = 86_400_000;

async fn insert_session<'e, E>(dialect: Dialect, executor: E, s: &NewSession<'_>) -> StoreResult<u64>
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
    insert_id(dialect, query, executor).await.map_err(unique_violation)
}

/// Runs `sql` (one `?`, the user) returning pairs of ids, grouped by the first.
async fn id_pairs(
    tx: &mut Tx,
    sql: &'static str,
    user: i64,
    binds: usize,
) -> StoreResult<Vec<(u64, Vec<u64>)>> {
    let mut query = sqlx::query(sql);
    for _ in 0..binds {
        query = query.bind(user);
    }
    let mut grouped: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for row in query.fetch_all(&mut **tx).await? {
        grouped.entry(get_id(&row, "group_id")?).or_default().push(get_id(&row, "user_id")?);
    }
    Ok(grouped.into_iter().collect())
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn create_user(&self, username: &str, password_hash: &str, now: i64) -> StoreResult<u64> {
        let sql = insert_sql(
            self.dialect,
            "INSERT INTO users (username, username_key, password_hash, created_at) VALUES (?, ?, ?, ?)",
        );
        let query = sqlx::query(sql)
            .bind(username)
            .bind(chat_proto::validate::username_key(username))
            .bind(password_hash)
            .bind(now);
        insert_id(self.dialect, query, &self.pool).await.map_err(unique_violation)
    }

    async fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query("SELECT id, username, password_hash FROM users WHERE username_key = ?")
            .bind(chat_proto::validate::username_key(username))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn user_by_id(&self, user_id: u64) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query("SELECT id, username, password_hash FROM users WHERE id = ?")
            .bind(db_id(user_id)?)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn delete_user(&self, user_id: u64) -> StoreResult<Option<DeletedAccount>> {
        let uid = db_id(user_id)?;
        let mut tx = self.write_tx().await?;
        let lock = self
            .by_dialect("SELECT id FROM users WHERE id = ?", "SELECT id FROM users WHERE id = ? FOR UPDATE");
        if sqlx::query(lock).bind(uid).fetch_optional(&mut *tx).await?.is_none() {
            return Ok(None);
        }
        let friends = sqlx::query("SELECT friend_id FROM friendships WHERE user_id = ?")
            .bind(uid)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| get_id(r, "friend_id"))
            .collect::<StoreResult<Vec<_>>>()?;
        let dissolved = id_pairs(
            &mut tx,
            "SELECT gm.group_id, gm.user_id FROM group_members gm \
             JOIN chat_groups g ON g.id = gm.group_id WHERE g.owner_id = ?",
            uid,
            1,
        )
        .await?;
        let left = id_pairs(
            &mut tx,
            "SELECT mine.group_id, other.user_id FROM group_members mine \
             JOIN group_members other ON other.group_id = mine.group_id \
             WHERE mine.user_id = ? AND mine.role <> 'owner' AND other.user_id <> ?",
            uid,
            2,
        )
        .await?;
        sqlx::query(
            "UPDATE chat_groups SET member_count = member_count - 1 WHERE id IN \
             (SELECT group_id FROM group_members WHERE user_id = ? AND role <> 'owner')",
        )
        .bind(uid)
        .execute(&mut *tx)
        .await?;
        for sql in [
            "DELETE FROM chat_groups WHERE owner_id = ?",
            "DELETE FROM group_members WHERE user_id = ?",
            "DELETE FROM group_join_requests WHERE user_id = ?",
            "DELETE FROM sessions WHERE user_id = ?",
        ] {
            sqlx::query(sql).bind(uid).execute(&mut *tx).await?;
        }
        for sql in [
            "DELETE FROM friendships WHERE user_id = ? OR friend_id = ?",
            "DELETE FROM friend_requests WHERE from_id = ? OR to_id = ?",
            "DELETE FROM blocks WHERE blocker_id = ? OR blocked_id = ?",
        ] {
            sqlx::query(sql).bind(uid).bind(uid).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM users WHERE id = ?").bind(uid).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(DeletedAccount { friends, dissolved, left }))
    }

    async fn create_session(&self, session: NewSession<'_>) -> StoreResult<u64> {
        insert_session(self.dialect, &self.pool, &session).await
    }

    async fn resume_session(
        &self,
        token_hash: &str,
        now: i64,
        new_expiry: i64,
    ) -> StoreResult<Option<(u64, UserRecord, i64)>> {
        let row = sqlx::query(
            "SELECT s.id AS session_id, s.expires_at, u.id, u.username, u.password_hash \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = ? AND s.expires_at > ?",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let session_id: i64 = row.try_get("session_id")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        // A write per resume would make a reconnect storm a write storm; moving the
        // expiry once a day is as good (a tenth of the lifetime, for short ones).
        let slack = EXPIRY_SLACK_MS.min(new_expiry.saturating_sub(now) / 10);
        let mut in_force = expires_at;
        if new_expiry.saturating_sub(expires_at) > slack {
            sqlx::query("UPDATE sessions SET expires_at = ? WHERE id = ?")
                .bind(new_expiry)
                .bind(session_id)
                .execute(&self.pool)
                .await?;
            in_force = new_expiry;
        }
        Ok(Some((get_id(&row, "session_id")?, user_from_row(&row)?, in_force)))
    }

    async fn delete_session(&self, session_id: u64) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE id = ?").bind(db_id(session_id)?).execute(&self.pool).await?;
        Ok(())
    }

    async fn replace_password(
        &self,
        user_id: u64,
        password_hash: &str,
        session: NewSession<'_>,
    ) -> StoreResult<u64> {
        let uid = db_id(user_id)?;
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(uid)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = ?").bind(uid).execute(&mut *tx).await?;
        let session_id = insert_session(self.dialect, &mut *tx, &session).await?;
        tx.commit().await?;
        Ok(session_id)
    }

    async fn prune_sessions(&self, now: i64) -> StoreResult<u64> {
        let result =
            sqlx::query("DELETE FROM sessions WHERE expires_at <= ?").bind(now).execute(&self.pool).await?;
        Ok(result.rows_affected())
    }
}
