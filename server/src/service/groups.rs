//! Groups: creation, discovery, joining by approval, roles, leaving, kicking,
//! dissolving.

use chat_proto::event::{
    GroupDissolved, GroupJoinRequest, GroupJoinResponse, GroupMemberJoined, GroupMemberLeft, GroupRoleChanged,
};
use chat_proto::model::{LeaveReason, Role};
use chat_proto::reply::{
    Empty, GroupCreateReply, GroupInfoReply, GroupJoinReply, GroupListReply, GroupMembersReply,
    GroupRequestsReply, GroupSearchReply, GroupSummary, JoinRequest, Member, MyGroup,
};
use chat_proto::request::{
    GroupCreate, GroupDissolve, GroupInfo, GroupJoin, GroupKick, GroupLeave, GroupMembers, GroupRequests,
    GroupRespond, GroupSearch, GroupSetRole,
};
use chat_proto::{ErrorCode, validate};

use super::paging::{keyset_page, page_limit};
use super::{OpError, find_user, presence};
use crate::conn::Connection;
use crate::state::{AppState, now_ms};
use crate::store::{GroupRefusal, JoinOutcome, UserRef};

/// Most results of one `group_search`.
const SEARCH_LIMIT: u64 = 50;

fn not_found(group_id: u64) -> OpError {
    OpError::new(ErrorCode::NotFound, format!("no group {group_id}"))
}

fn forbidden(why: &str) -> OpError {
    OpError::new(ErrorCode::Forbidden, why)
}

/// The caller's role in the group: `not_found` when the group does not exist,
/// `not_member` when the caller is not in it.
pub async fn role_of(state: &AppState, group_id: u64, user_id: u64) -> Result<Role, OpError> {
    if let Some(role) = state.store.member_role(group_id, user_id).await? {
        return Ok(role);
    }
    match state.store.group(group_id).await? {
        None => Err(not_found(group_id)),
        Some(_) => {
            Err(OpError::new(ErrorCode::NotMember, format!("you are not a member of group {group_id}")))
        }
    }
}

pub async fn group_create(conn: &Connection, r: GroupCreate) -> Result<GroupCreateReply, OpError> {
    let me = conn.me()?;
    validate::group_name(&r.name).map_err(OpError::bad_request)?;
    let description = r.description.unwrap_or_default();
    validate::description(&description).map_err(OpError::bad_request)?;
    let group_id = conn.state.store.group_create(me.user_id, &r.name, &description, now_ms()).await?;
    Ok(GroupCreateReply { group_id })
}

pub async fn group_info(conn: &Connection, r: GroupInfo) -> Result<GroupInfoReply, OpError> {
    let g = conn.state.store.group(r.group_id).await?.ok_or_else(|| not_found(r.group_id))?;
    Ok(GroupInfoReply {
        group_id: g.id,
        name: g.name,
        description: g.description,
        owner: g.owner.username,
        owner_id: g.owner.id,
        member_count: g.member_count,
    })
}

pub async fn group_search(conn: &Connection, r: GroupSearch) -> Result<GroupSearchReply, OpError> {
    let query = r.query.trim();
    if query.is_empty() || query.chars().count() > *validate::GROUP_NAME_CHARS.end() {
        return Err(OpError::bad_request("query must be 1 to 64 characters"));
    }
    let groups = conn.state.store.group_search(query, SEARCH_LIMIT).await?;
    Ok(GroupSearchReply {
        groups: groups
            .into_iter()
            .map(|g| GroupSummary {
                group_id: g.id,
                name: g.name,
                description: g.description,
                member_count: g.member_count,
            })
            .collect(),
    })
}

pub async fn group_list(conn: &Connection) -> Result<GroupListReply, OpError> {
    let me = conn.me()?;
    let groups = conn.state.store.groups_of(me.user_id).await?;
    Ok(GroupListReply {
        groups: groups
            .into_iter()
            .map(|(g, role)| MyGroup { group_id: g.id, name: g.name, description: g.description, role })
            .collect(),
    })
}

pub async fn group_join(conn: &Connection, r: GroupJoin) -> Result<GroupJoinReply, OpError> {
    let me = conn.me()?;
    let note = r.note.unwrap_or_default();
    validate::note(&note).map_err(OpError::bad_request)?;
    let state = &conn.state;
    let max_pending = state.config.max_pending_join_requests;
    match state.store.group_join(r.group_id, me.user_id, &note, max_pending, now_ms()).await? {
        JoinOutcome::NoGroup => Err(not_found(r.group_id)),
        JoinOutcome::TooManyPending => Err(OpError::new(
            ErrorCode::Conflict,
            format!("group {} has too many pending join requests; try again later", r.group_id),
        )),
        JoinOutcome::AlreadyMember => Err(OpError::new(
            ErrorCode::Conflict,
            format!("you are already a member of group {}", r.group_id),
        )),
        JoinOutcome::Pending { request_id, new } => {
            if new {
                let managers = state.store.group_managers(r.group_id).await?;
                let event = GroupJoinRequest {
                    group_id: r.group_id,
                    request_id,
                    user: me.username,
                    user_id: me.user_id,
                    note,
                };
                state.notify(managers, event);
            }
            Ok(GroupJoinReply { request_id })
        }
    }
}

pub async fn group_requests(conn: &Connection, r: GroupRequests) -> Result<GroupRequestsReply, OpError> {
    let me = conn.me()?;
    validate::cursor(r.cursor).map_err(OpError::bad_request)?;
    let state = &conn.state;
    if role_of(state, r.group_id, me.user_id).await? == Role::Member {
        return Err(forbidden("only the owner and admins see join requests"));
    }
    let limit = page_limit(state, r.limit);
    // One row past the page tells whether more follow.
    let rows = state.store.join_requests(r.group_id, r.cursor.unwrap_or(0), limit + 1).await?;
    let requests = rows
        .into_iter()
        .map(|q| JoinRequest {
            request_id: q.request_id,
            user: q.user.username,
            user_id: q.user.id,
            note: q.note,
            ts: q.ts,
        })
        .collect();
    let (requests, next) = keyset_page(requests, limit, state.config.max_frame, |q| q.request_id);
    Ok(GroupRequestsReply { requests, next })
}

/// The answer to a refusal of the store's group ops.
fn refused(refusal: GroupRefusal, group_id: u64, target: &str) -> OpError {
    match refusal {
        GroupRefusal::NoGroup => not_found(group_id),
        GroupRefusal::NoRequest => OpError::new(ErrorCode::NotFound, "no such pending join request"),
        GroupRefusal::NotMember => {
            OpError::new(ErrorCode::NotMember, format!("you are not a member of group {group_id}"))
        }
        GroupRefusal::TargetNotMember => {
            OpError::new(ErrorCode::NotMember, format!("{target} is not a member of this group"))
        }
        GroupRefusal::Full => OpError::new(ErrorCode::Conflict, "the group is full"),
        GroupRefusal::Forbidden(why) => forbidden(why),
    }
}

pub async fn group_respond(conn: &Connection, r: GroupRespond) -> Result<Empty, OpError> {
    let me = conn.me()?;
    let state = &conn.state;
    let max = state.config.max_group_members;
    let request = match state.store.group_respond(r.request_id, me.user_id, r.accept, max, now_ms()).await? {
        Ok(request) => request,
        Err(GroupRefusal::NoRequest) => {
            return Err(OpError::new(
                ErrorCode::NotFound,
                format!("no pending join request {}", r.request_id),
            ));
        }
        Err(GroupRefusal::Full) => {
            return Err(OpError::new(ErrorCode::Conflict, format!("the group is full ({max} members)")));
        }
        Err(other) => return Err(refused(other, 0, "")),
    };
    let group_id = request.group_id;
    let response = GroupJoinResponse { group_id, request_id: r.request_id, accepted: r.accept };
    state.notify([request.user.id], response);
    if r.accept {
        let members = state.store.group_member_ids(group_id).await?;
        state.notify(
            members,
            GroupMemberJoined { group_id, user: request.user.username, user_id: request.user.id },
        );
    }
    Ok(Empty {})
}

pub async fn group_members(conn: &Connection, r: GroupMembers) -> Result<GroupMembersReply, OpError> {
    let me = conn.me()?;
    let state = &conn.state;
    let rows = state.store.group_members(r.group_id, me.user_id).await?;
    if !rows.iter().any(|m| m.user.id == me.user_id) {
        // Only on refusal does this cost a second query.
        role_of(state, r.group_id, me.user_id).await?;
    }
    let ids: Vec<u64> = rows.iter().map(|m| m.user.id).collect();
    let online = state.bus.online_among(&ids).await;
    let members = rows
        .into_iter()
        .map(|m| Member {
            online: presence::shown(m.blocked, || online.contains(&m.user.id)),
            user_id: m.user.id,
            username: m.user.username,
            role: m.role,
        })
        .collect();
    Ok(GroupMembersReply { members })
}

pub async fn group_leave(conn: &Connection, r: GroupLeave) -> Result<Empty, OpError> {
    let me = conn.me()?;
    let state = &conn.state;
    if role_of(state, r.group_id, me.user_id).await? == Role::Owner {
        return Err(forbidden("the owner cannot leave; dissolve the group instead"));
    }
    remove_member(state, r.group_id, me.user_id, &me.username, LeaveReason::Left).await
}

/// The user a group op acts on. When there is no such user, the caller's own
/// standing in the group is the first refusal, as the store would have judged it.
async fn group_target(
    state: &AppState,
    group_id: u64,
    actor: u64,
    username: &str,
    owner_only: bool,
) -> Result<UserRef, OpError> {
    match find_user(state, username).await {
        Ok(user) => Ok(user),
        Err(e) => {
            // Only on refusal does this cost the lookups.
            let role = role_of(state, group_id, actor).await?;
            if owner_only && role != Role::Owner {
                return Err(forbidden("only the owner sets roles"));
            }
            Err(e)
        }
    }
}

pub async fn group_kick(conn: &Connection, r: GroupKick) -> Result<Empty, OpError> {
    let me = conn.me()?;
    let state = &conn.state;
    let target = group_target(state, r.group_id, me.user_id, &r.user, false).await?;
    if let Err(refusal) = state.store.group_kick(r.group_id, me.user_id, target.id).await? {
        return Err(refused(refusal, r.group_id, &target.username));
    }
    let mut members = state.store.group_member_ids(r.group_id).await?;
    members.push(target.id);
    let event = GroupMemberLeft {
        group_id: r.group_id,
        user: target.username,
        user_id: target.id,
        reason: LeaveReason::Kicked,
    };
    state.notify(members, event);
    Ok(Empty {})
}

/// Removes a member and tells every member, the one removed included.
async fn remove_member(
    state: &AppState,
    group_id: u64,
    user_id: u64,
    username: &str,
    reason: LeaveReason,
) -> Result<Empty, OpError> {
    let members = state.store.group_member_ids(group_id).await?;
    if !state.store.group_remove_member(group_id, user_id).await? {
        return Err(OpError::new(ErrorCode::NotMember, format!("{username} is not a member of this group")));
    }
    state.notify(members, GroupMemberLeft { group_id, user: username.to_owned(), user_id, reason });
    Ok(Empty {})
}

pub async fn group_set_role(conn: &Connection, r: GroupSetRole) -> Result<Empty, OpError> {
    let me = conn.me()?;
    if r.role == Role::Owner {
        return Err(OpError::bad_request("ownership cannot be transferred; role must be admin or member"));
    }
    let state = &conn.state;
    let target = group_target(state, r.group_id, me.user_id, &r.user, true).await?;
    match state.store.group_set_role(r.group_id, me.user_id, target.id, r.role).await? {
        Err(refusal) => Err(refused(refusal, r.group_id, &target.username)),
        Ok(false) => Ok(Empty {}),
        Ok(true) => {
            let members = state.store.group_member_ids(r.group_id).await?;
            let event = GroupRoleChanged {
                group_id: r.group_id,
                user: target.username,
                user_id: target.id,
                role: r.role,
            };
            state.notify(members, event);
            Ok(Empty {})
        }
    }
}

pub async fn group_dissolve(conn: &Connection, r: GroupDissolve) -> Result<Empty, OpError> {
    let me = conn.me()?;
    let state = &conn.state;
    if role_of(state, r.group_id, me.user_id).await? != Role::Owner {
        return Err(forbidden("only the owner dissolves a group"));
    }
    let members = state.store.group_dissolve(r.group_id).await?;
    state.notify(members, GroupDissolved { group_id: r.group_id });
    Ok(Empty {})
}
