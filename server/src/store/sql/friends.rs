//! Friendships, friend requests and blocks.

use async_trait::async_trait;
use sqlx::Row;

use super::{SqlStore, Tx, count, db_id, get_id, insert_id, insert_sql, user_ref};
use crate::store::rules;
use crate::store::{
    FriendRequestOutcome, FriendRow, FriendStore, PendingFriendRequest, StoreResult, UserRef,
};

impl SqlStore {
    async fn blocked_either_way(&self, tx: &mut Tx, a: i64, b: i64) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT 1 AS hit FROM blocks WHERE (blocker_id = ? AND blocked_id = ?) OR (blocker_id = ? AND blocked_id = ?)",
        )
        .bind(a)
        .bind(b)
        .bind(b)
        .bind(a)
        .fetch_optional(&mut **tx)
        .await?;
        Ok(row.is_some())
    }

    /// Records a friendship in both directions (no-op where it exists).
    async fn befriend(&self, tx: &mut Tx, a: i64, b: i64, now: i64) -> StoreResult<()> {
        let sql = self.by_dialect(
            "INSERT OR IGNORE INTO friendships (user_id, friend_id, since) VALUES (?, ?, ?), (?, ?, ?)",
            "INSERT IGNORE INTO friendships (user_id, friend_id, since) VALUES (?, ?, ?), (?, ?, ?)",
        );
        sqlx::query(sql).bind(a).bind(b).bind(now).bind(b).bind(a).bind(now).execute(&mut **tx).await?;
        Ok(())
    }

    async fn pending_requests(
        &self,
        user: u64,
        incoming: bool,
        after: u64,
        limit: u64,
    ) -> StoreResult<Vec<PendingFriendRequest>> {
        let sql = if incoming {
            "SELECT r.id, r.note, r.created_at, u.id AS other_id, u.username AS other_name \
             FROM friend_requests r JOIN users u ON u.id = r.from_id \
             WHERE r.to_id = ? AND r.id > ? ORDER BY r.id LIMIT ?"
        } else {
            "SELECT r.id, r.note, r.created_at, u.id AS other_id, u.username AS other_name \
             FROM friend_requests r JOIN users u ON u.id = r.to_id \
             WHERE r.from_id = ? AND r.id > ? ORDER BY r.id LIMIT ?"
        };
        sqlx::query(sql)
            .bind(db_id(user)?)
            .bind(db_id(after)?)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(PendingFriendRequest {
                    request_id: get_id(row, "id")?,
                    other: user_ref(row, "other_id", "other_name")?,
                    note: row.try_get("note")?,
                    ts: row.try_get("created_at")?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl FriendStore for SqlStore {
    async fn friend_request(
        &self,
        from: u64,
        to: u64,
        note: &str,
        max_pending: u64,
        now: i64,
    ) -> StoreResult<FriendRequestOutcome> {
        let (a, b) = (db_id(from)?, db_id(to)?);
        let mut tx = self.write_tx().await?;
        self.lock_users(&mut tx, from, to).await?;
        if self.blocked_either_way(&mut tx, a, b).await? {
            return Ok(FriendRequestOutcome::Blocked);
        }
        let friends = sqlx::query("SELECT 1 AS hit FROM friendships WHERE user_id = ? AND friend_id = ?")
            .bind(a)
            .bind(b)
            .fetch_optional(&mut *tx)
            .await?;
        if friends.is_some() {
            return Ok(FriendRequestOutcome::AlreadyFriends);
        }
        let pending = "SELECT id FROM friend_requests WHERE from_id = ? AND to_id = ?";
        if let Some(row) = sqlx::query(pending).bind(b).bind(a).fetch_optional(&mut *tx).await? {
            // A crossing request: both want it, so it is accepted at once.
            let request_id = get_id(&row, "id")?;
            sqlx::query("DELETE FROM friend_requests WHERE id = ?")
                .bind(db_id(request_id)?)
                .execute(&mut *tx)
                .await?;
            self.befriend(&mut tx, a, b, now).await?;
            tx.commit().await?;
            return Ok(FriendRequestOutcome::Accepted { request_id });
        }
        if let Some(row) = sqlx::query(pending).bind(a).bind(b).fetch_optional(&mut *tx).await? {
            return Ok(FriendRequestOutcome::AlreadyPending { request_id: get_id(&row, "id")? });
        }
        let pending = count(&mut tx, "SELECT COUNT(*) AS n FROM friend_requests WHERE to_id = ?", b).await?;
        if !rules::room_for_pending(pending, max_pending) {
            return Ok(FriendRequestOutcome::TooManyPending);
        }
        let sql = insert_sql(
            self.dialect,
            "INSERT INTO friend_requests (from_id, to_id, note, created_at) VALUES (?, ?, ?, ?)",
        );
        let request_id =
            insert_id(self.dialect, sqlx::query(sql).bind(a).bind(b).bind(note).bind(now), &mut *tx).await?;
        tx.commit().await?;
        Ok(FriendRequestOutcome::Created { request_id })
    }

    async fn friend_respond(
        &self,
        request_id: u64,
        to: u64,
        accept: bool,
        now: i64,
    ) -> StoreResult<Option<UserRef>> {
        let mut tx = self.write_tx().await?;
        let sql = self.by_dialect(
            "SELECT u.id, u.username FROM friend_requests r JOIN users u ON u.id = r.from_id WHERE r.id = ? AND r.to_id = ?",
            "SELECT u.id, u.username FROM friend_requests r JOIN users u ON u.id = r.from_id WHERE r.id = ? AND r.to_id = ? FOR UPDATE",
        );
        let Some(row) =
            sqlx::query(sql).bind(db_id(request_id)?).bind(db_id(to)?).fetch_optional(&mut *tx).await?
        else {
            return Ok(None);
        };
        let requester = user_ref(&row, "id", "username")?;
        sqlx::query("DELETE FROM friend_requests WHERE id = ?")
            .bind(db_id(request_id)?)
            .execute(&mut *tx)
            .await?;
        if accept {
            self.befriend(&mut tx, db_id(requester.id)?, db_id(to)?, now).await?;
        }
        tx.commit().await?;
        Ok(Some(requester))
    }

    async fn friend_remove(&self, user: u64, friend: u64) -> StoreResult<bool> {
        let (a, b) = (db_id(user)?, db_id(friend)?);
        let done = sqlx::query("DELETE FROM friendships WHERE (user_id = ? AND friend_id = ?) OR (user_id = ? AND friend_id = ?)")
            .bind(a)
            .bind(b)
            .bind(b)
            .bind(a)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn friend_list(&self, user: u64) -> StoreResult<Vec<FriendRow>> {
        let uid = db_id(user)?;
        sqlx::query(
            "SELECT u.id, u.username, mine.blocker_id AS blocked_by_me, theirs.blocker_id AS blocks_me \
             FROM friendships f JOIN users u ON u.id = f.friend_id \
             LEFT JOIN blocks mine ON mine.blocker_id = f.user_id AND mine.blocked_id = f.friend_id \
             LEFT JOIN blocks theirs ON theirs.blocker_id = f.friend_id AND theirs.blocked_id = f.user_id \
             WHERE f.user_id = ? ORDER BY u.username_key",
        )
        .bind(uid)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(FriendRow {
                user: user_ref(row, "id", "username")?,
                blocked_by_me: row.try_get::<Option<i64>, _>("blocked_by_me")?.is_some(),
                blocks_me: row.try_get::<Option<i64>, _>("blocks_me")?.is_some(),
            })
        })
        .collect()
    }

    async fn friend_requests(
        &self,
        user: u64,
        after: u64,
        limit: u64,
    ) -> StoreResult<(Vec<PendingFriendRequest>, Vec<PendingFriendRequest>)> {
        Ok((
            self.pending_requests(user, true, after, limit).await?,
            self.pending_requests(user, false, after, limit).await?,
        ))
    }

    async fn block(&self, blocker: u64, blocked: u64, now: i64) -> StoreResult<()> {
        let (a, b) = (db_id(blocker)?, db_id(blocked)?);
        let mut tx = self.write_tx().await?;
        self.lock_users(&mut tx, blocker, blocked).await?;
        let sql = self.by_dialect(
            "INSERT OR IGNORE INTO blocks (blocker_id, blocked_id, created_at) VALUES (?, ?, ?)",
            "INSERT IGNORE INTO blocks (blocker_id, blocked_id, created_at) VALUES (?, ?, ?)",
        );
        sqlx::query(sql).bind(a).bind(b).bind(now).execute(&mut *tx).await?;
        sqlx::query(
            "DELETE FROM friend_requests WHERE (from_id = ? AND to_id = ?) OR (from_id = ? AND to_id = ?)",
        )
        .bind(a)
        .bind(b)
        .bind(b)
        .bind(a)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn unblock(&self, blocker: u64, blocked: u64) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM blocks WHERE blocker_id = ? AND blocked_id = ?")
            .bind(db_id(blocker)?)
            .bind(db_id(blocked)?)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn are_friends(&self, a: u64, b: u64) -> StoreResult<bool> {
        let row = sqlx::query("SELECT 1 AS hit FROM friendships WHERE user_id = ? AND friend_id = ?")
            .bind(db_id(a)?)
            .bind(db_id(b)?)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    async fn presence_audience(&self, user: u64) -> StoreResult<Vec<u64>> {
        sqlx::query(
            "SELECT f.friend_id FROM friendships f \
             LEFT JOIN blocks mine ON mine.blocker_id = f.user_id AND mine.blocked_id = f.friend_id \
             LEFT JOIN blocks theirs ON theirs.blocker_id = f.friend_id AND theirs.blocked_id = f.user_id \
             WHERE f.user_id = ? AND mine.blocker_id IS NULL AND theirs.blocker_id IS NULL",
        )
        .bind(db_id(user)?)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| get_id(row, "friend_id"))
        .collect()
    }
}
