//! Groups, memberships and join requests.

use async_trait::async_trait;
use chat_proto::model::Role;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{SqlStore, Tx, count, db_id, get_id, get_role, insert_id, insert_sql, user_ref};
use crate::store::rules::{self, GroupRefusal};
use crate::store::{
    GroupRecord, GroupStore, JoinOutcome, JoinRequestRow, MemberRow, StoreError, StoreResult,
};

/// The columns [`group_from_row`] reads; `g` is chat_groups, `o` the owner.
const GROUP_COLUMNS: &str =
    "g.id, g.name, g.description, g.member_count, o.id AS owner_id, o.username AS owner_name";

fn group_from_row(row: &AnyRow) -> StoreResult<GroupRecord> {
    let member_count: i64 = row.try_get("member_count")?;
    Ok(GroupRecord {
        id: get_id(row, "id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        owner: user_ref(row, "owner_id", "owner_name")?,
        member_count: u64::try_from(member_count)
            .map_err(|_| StoreError::Corrupt("negative member count".into()))?,
    })
}

fn join_request_from_row(row: &AnyRow) -> StoreResult<JoinRequestRow> {
    Ok(JoinRequestRow {
        request_id: get_id(row, "id")?,
        group_id: get_id(row, "group_id")?,
        user: user_ref(row, "user_id", "username")?,
        note: row.try_get("note")?,
        ts: row.try_get("created_at")?,
    })
}

const JOIN_REQUEST_SELECT: &str = "SELECT r.id, r.group_id, r.note, r.created_at, u.id AS user_id, u.username \
     FROM group_join_requests r JOIN users u ON u.id = r.user_id";

/// A LIKE pattern matching `query` as a plain substring: `!` escapes the wildcards.
fn contains_pattern(query: &str) -> String {
    let mut pattern = String::with_capacity(query.len() + 2);
    pattern.push('%');
    for c in query.chars() {
        if matches!(c, '%' | '_' | '!') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The key groups are searched by.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

impl SqlStore {
    /// The `user_id` column of `sql`, run with one bound id.
    async fn user_ids(&self, sql: &'static str, bound: u64) -> StoreResult<Vec<u64>> {
        sqlx::query(sql)
            .bind(db_id(bound)?)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| get_id(row, "user_id"))
            .collect()
    }

    /// A member's role, its row locked (MySQL) until the transaction ends, so that
    /// what the op decides on cannot change under it.
    async fn role_in_tx(&self, tx: &mut Tx, group_id: i64, user: i64) -> StoreResult<Option<Role>> {
        let sql = self.by_dialect(
            "SELECT role FROM group_members WHERE group_id = ? AND user_id = ?",
            "SELECT role FROM group_members WHERE group_id = ? AND user_id = ? FOR UPDATE",
        );
        let row = sqlx::query(sql).bind(group_id).bind(user).fetch_optional(&mut **tx).await?;
        row.as_ref().map(|r| get_role(r, "role")).transpose()
    }

    /// Locks the group, then reads (and locks) the roles of the one acting and the
    /// one acted on; `None` when there is no such group.
    async fn roles_of_pair(
        &self,
        tx: &mut Tx,
        group_id: u64,
        actor: u64,
        target: u64,
    ) -> StoreResult<Option<(Option<Role>, Option<Role>)>> {
        if !self.lock_group(tx, group_id).await? {
            return Ok(None);
        }
        let gid = db_id(group_id)?;
        let actor_role = self.role_in_tx(tx, gid, db_id(actor)?).await?;
        let target_role = self.role_in_tx(tx, gid, db_id(target)?).await?;
        Ok(Some((actor_role, target_role)))
    }

    /// Removes a non-owner member and counts it out; false when there was none.
    async fn remove_membership(&self, tx: &mut Tx, group_id: i64, user: i64) -> StoreResult<bool> {
        let removed =
            sqlx::query("DELETE FROM group_members WHERE group_id = ? AND user_id = ? AND role <> 'owner'")
                .bind(group_id)
                .bind(user)
                .execute(&mut **tx)
                .await?;
        if removed.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("UPDATE chat_groups SET member_count = member_count - 1 WHERE id = ?")
            .bind(group_id)
            .execute(&mut **tx)
            .await?;
        Ok(true)
    }
}

#[async_trait]
impl GroupStore for SqlStore {
    async fn group_create(&self, owner: u64, name: &str, description: &str, now: i64) -> StoreResult<u64> {
        let mut tx = self.write_tx().await?;
        let sql = insert_sql(
            self.dialect,
            "INSERT INTO chat_groups (name, name_key, description, owner_id, member_count, created_at) \
             VALUES (?, ?, ?, ?, 1, ?)",
        );
        let query =
            sqlx::query(sql).bind(name).bind(name_key(name)).bind(description).bind(db_id(owner)?).bind(now);
        let group_id = insert_id(self.dialect, query, &mut *tx).await?;
        sqlx::query(
            "INSERT INTO group_members (group_id, user_id, role, joined_at) VALUES (?, ?, 'owner', ?)",
        )
        .bind(db_id(group_id)?)
        .bind(db_id(owner)?)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(group_id)
    }

    async fn group(&self, group_id: u64) -> StoreResult<Option<GroupRecord>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {GROUP_COLUMNS} FROM chat_groups g JOIN users o ON o.id = g.owner_id WHERE g.id = ?"
        ));
        let row = sqlx::query(sql).bind(db_id(group_id)?).fetch_optional(&self.pool).await?;
        row.as_ref().map(group_from_row).transpose()
    }

    async fn group_search(&self, query: &str, limit: u64) -> StoreResult<Vec<GroupRecord>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {GROUP_COLUMNS} FROM chat_groups g JOIN users o ON o.id = g.owner_id \
             WHERE g.name_key LIKE ? ESCAPE '!' ORDER BY g.name_key, g.id LIMIT ?"
        ));
        sqlx::query(sql)
            .bind(contains_pattern(&name_key(query)))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(group_from_row)
            .collect()
    }

    async fn groups_of(&self, user: u64) -> StoreResult<Vec<(GroupRecord, Role)>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {GROUP_COLUMNS}, m.role FROM group_members m JOIN chat_groups g ON g.id = m.group_id \
             JOIN users o ON o.id = g.owner_id WHERE m.user_id = ? ORDER BY g.name_key, g.id"
        ));
        sqlx::query(sql)
            .bind(db_id(user)?)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| Ok((group_from_row(row)?, get_role(row, "role")?)))
            .collect()
    }

    async fn member_role(&self, group_id: u64, user: u64) -> StoreResult<Option<Role>> {
        let row = sqlx::query("SELECT role FROM group_members WHERE group_id = ? AND user_id = ?")
            .bind(db_id(group_id)?)
            .bind(db_id(user)?)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| get_role(r, "role")).transpose()
    }

    async fn group_members(&self, group_id: u64, viewer: u64) -> StoreResult<Vec<MemberRow>> {
        let viewer = db_id(viewer)?;
        sqlx::query(
            "SELECT u.id, u.username, m.role, mine.blocker_id AS blocked_by_viewer, \
             theirs.blocker_id AS blocks_viewer \
             FROM group_members m JOIN users u ON u.id = m.user_id \
             LEFT JOIN blocks mine ON mine.blocker_id = ? AND mine.blocked_id = m.user_id \
             LEFT JOIN blocks theirs ON theirs.blocker_id = m.user_id AND theirs.blocked_id = ? \
             WHERE m.group_id = ? \
             ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, u.username_key",
        )
        .bind(viewer)
        .bind(viewer)
        .bind(db_id(group_id)?)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(MemberRow {
                user: user_ref(row, "id", "username")?,
                role: get_role(row, "role")?,
                blocked: row.try_get::<Option<i64>, _>("blocked_by_viewer")?.is_some()
                    || row.try_get::<Option<i64>, _>("blocks_viewer")?.is_some(),
            })
        })
        .collect()
    }

    async fn group_member_ids(&self, group_id: u64) -> StoreResult<Vec<u64>> {
        self.user_ids("SELECT user_id FROM group_members WHERE group_id = ?", group_id).await
    }

    async fn group_managers(&self, group_id: u64) -> StoreResult<Vec<u64>> {
        self.user_ids("SELECT user_id FROM group_members WHERE group_id = ? AND role <> 'member'", group_id)
            .await
    }

    async fn group_join(
        &self,
        group_id: u64,
        user: u64,
        note: &str,
        max_pending: u64,
        now: i64,
    ) -> StoreResult<JoinOutcome> {
        let (gid, uid) = (db_id(group_id)?, db_id(user)?);
        let mut tx = self.write_tx().await?;
        if !self.lock_group(&mut tx, group_id).await? {
            return Ok(JoinOutcome::NoGroup);
        }
        if self.role_in_tx(&mut tx, gid, uid).await?.is_some() {
            return Ok(JoinOutcome::AlreadyMember);
        }
        let pending = sqlx::query("SELECT id FROM group_join_requests WHERE group_id = ? AND user_id = ?")
            .bind(gid)
            .bind(uid)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = pending {
            return Ok(JoinOutcome::Pending { request_id: get_id(&row, "id")?, new: false });
        }
        let pending =
            count(&mut tx, "SELECT COUNT(*) AS n FROM group_join_requests WHERE group_id = ?", gid).await?;
        if !rules::room_for_pending(pending, max_pending) {
            return Ok(JoinOutcome::TooManyPending);
        }
        let sql = insert_sql(
            self.dialect,
            "INSERT INTO group_join_requests (group_id, user_id, note, created_at) VALUES (?, ?, ?, ?)",
        );
        let request_id =
            insert_id(self.dialect, sqlx::query(sql).bind(gid).bind(uid).bind(note).bind(now), &mut *tx)
                .await?;
        tx.commit().await?;
        Ok(JoinOutcome::Pending { request_id, new: true })
    }

    async fn join_requests(&self, group_id: u64, after: u64, limit: u64) -> StoreResult<Vec<JoinRequestRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "{JOIN_REQUEST_SELECT} WHERE r.group_id = ? AND r.id > ? ORDER BY r.id LIMIT ?"
        ));
        sqlx::query(sql)
            .bind(db_id(group_id)?)
            .bind(db_id(after)?)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(join_request_from_row)
            .collect()
    }

    async fn join_request(&self, request_id: u64) -> StoreResult<Option<JoinRequestRow>> {
        let sql = sqlx::AssertSqlSafe(format!("{JOIN_REQUEST_SELECT} WHERE r.id = ?"));
        let row = sqlx::query(sql).bind(db_id(request_id)?).fetch_optional(&self.pool).await?;
        row.as_ref().map(join_request_from_row).transpose()
    }

    async fn group_respond(
        &self,
        request_id: u64,
        actor: u64,
        accept: bool,
        max_members: u64,
        now: i64,
    ) -> StoreResult<Result<JoinRequestRow, GroupRefusal>> {
        let mut tx = self.write_tx().await?;
        let sql = sqlx::AssertSqlSafe(format!("{JOIN_REQUEST_SELECT} WHERE r.id = ?"));
        let Some(row) = sqlx::query(sql).bind(db_id(request_id)?).fetch_optional(&mut *tx).await? else {
            return Ok(Err(GroupRefusal::NoRequest));
        };
        let request = join_request_from_row(&row)?;
        let gid = db_id(request.group_id)?;
        if !self.lock_group(&mut tx, request.group_id).await? {
            return Ok(Err(GroupRefusal::NoRequest));
        }
        let actor_role = self.role_in_tx(&mut tx, gid, db_id(actor)?).await?;
        if let Err(refusal) = rules::may_answer_requests(actor_role) {
            return Ok(Err(refusal));
        }
        if accept {
            let count: i64 = sqlx::query("SELECT member_count FROM chat_groups WHERE id = ?")
                .bind(gid)
                .fetch_one(&mut *tx)
                .await?
                .try_get("member_count")?;
            if u64::try_from(count).unwrap_or(0) >= max_members {
                return Ok(Err(GroupRefusal::Full));
            }
        }
        // Answered by someone else since it was read: nothing left to do.
        let deleted = sqlx::query("DELETE FROM group_join_requests WHERE id = ?")
            .bind(db_id(request_id)?)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Ok(Err(GroupRefusal::NoRequest));
        }
        if accept {
            sqlx::query(
                "INSERT INTO group_members (group_id, user_id, role, joined_at) VALUES (?, ?, 'member', ?)",
            )
            .bind(gid)
            .bind(db_id(request.user.id)?)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE chat_groups SET member_count = member_count + 1 WHERE id = ?")
                .bind(gid)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Ok(request))
    }

    async fn group_remove_member(&self, group_id: u64, user: u64) -> StoreResult<bool> {
        let (gid, uid) = (db_id(group_id)?, db_id(user)?);
        let mut tx = self.write_tx().await?;
        if !self.lock_group(&mut tx, group_id).await? || !self.remove_membership(&mut tx, gid, uid).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn group_kick(
        &self,
        group_id: u64,
        actor: u64,
        target: u64,
    ) -> StoreResult<Result<(), GroupRefusal>> {
        let (gid, tid) = (db_id(group_id)?, db_id(target)?);
        let mut tx = self.write_tx().await?;
        let Some((actor_role, target_role)) = self.roles_of_pair(&mut tx, group_id, actor, target).await?
        else {
            return Ok(Err(GroupRefusal::NoGroup));
        };
        if let Err(refusal) = rules::may_kick(actor_role, target_role) {
            return Ok(Err(refusal));
        }
        // The rule admits no owner and the target's row is locked: this removes it.
        self.remove_membership(&mut tx, gid, tid).await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    async fn group_set_role(
        &self,
        group_id: u64,
        actor: u64,
        target: u64,
        role: Role,
    ) -> StoreResult<Result<bool, GroupRefusal>> {
        let (gid, tid) = (db_id(group_id)?, db_id(target)?);
        let mut tx = self.write_tx().await?;
        let Some((actor_role, target_role)) = self.roles_of_pair(&mut tx, group_id, actor, target).await?
        else {
            return Ok(Err(GroupRefusal::NoGroup));
        };
        match rules::role_change(actor_role, target_role, role) {
            Ok(true) => {
                sqlx::query("UPDATE group_members SET role = ? WHERE group_id = ? AND user_id = ?")
                    .bind(role.as_str())
                    .bind(gid)
                    .bind(tid)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Ok(true))
            }
            other => Ok(other),
        }
    }

    async fn group_dissolve(&self, group_id: u64) -> StoreResult<Vec<u64>> {
        let gid = db_id(group_id)?;
        let mut tx = self.write_tx().await?;
        if !self.lock_group(&mut tx, group_id).await? {
            return Ok(Vec::new());
        }
        let members = sqlx::query("SELECT user_id FROM group_members WHERE group_id = ?")
            .bind(gid)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| get_id(row, "user_id"))
            .collect::<StoreResult<Vec<_>>>()?;
        for sql in [
            "DELETE FROM group_join_requests WHERE group_id = ?",
            "DELETE FROM group_members WHERE group_id = ?",
            "DELETE FROM chat_groups WHERE id = ?",
        ] {
            sqlx::query(sql).bind(gid).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns_treat_wildcards_as_text() {
        assert_eq!(contains_pattern("rust"), "%rust%");
        assert_eq!(contains_pattern("100%_!"), "%100!%!_!!%");
        assert_eq!(name_key("Rust 中文"), "rust 中文");
    }
}
