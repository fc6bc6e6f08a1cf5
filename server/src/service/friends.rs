//! Friends: requests, responses, removal, listing, blocking.

use chat_proto::event::{FriendRemoved, FriendRequest as FriendRequestEvent, FriendResponse};
use chat_proto::reply::{
    Empty, Friend, FriendListReply, FriendRequestReply, FriendRequestsReply, IncomingFriendRequest,
    OutgoingFriendRequest,
};
use chat_proto::request::{Block, FriendRemove, FriendRequest, FriendRequests, FriendRespond, Unblock};
use chat_proto::{ErrorCode, validate};
use serde::Serialize;

use super::paging::{keyset_page, page_limit};
use super::{OpError, find_user, presence};
use crate::conn::Connection;
use crate::state::now_ms;
use crate::store::{FriendRequestOutcome, PendingFriendRequest};

/// The one refusal of `friend_request`, whatever its cause, so that a block is not
/// revealed as such.
pub const REQUEST_REFUSED: &str = "you cannot send a friend request to this user";

pub async fn friend_request(conn: &Connection, r: FriendRequest) -> Result<FriendRequestReply, OpError> {
    let me = conn.me()?;
    let note = r.note.unwrap_or_default();
    validate::note(&note).map_err(OpError::bad_request)?;
    let state = &conn.state;
    let target = find_user(state, &r.user).await?;
    if target.id == me.user_id {
        return Err(OpError::new(ErrorCode::Conflict, "you cannot befriend yourself"));
    }
    let max_pending = state.config.max_pending_friend_requests;
    match state.store.friend_request(me.user_id, target.id, &note, max_pending, now_ms()).await? {
        FriendRequestOutcome::Created { request_id } => {
            let event =
                FriendRequestEvent { request_id, from: me.username.clone(), from_id: me.user_id, note };
            state.notify([target.id], event);
            Ok(FriendRequestReply { request_id, accepted: false })
        }
        FriendRequestOutcome::AlreadyPending { request_id } => {
            Ok(FriendRequestReply { request_id, accepted: false })
        }
        FriendRequestOutcome::Accepted { request_id } => {
            // Their request to me is the one accepted: both hear so.
            let to_them =
                FriendResponse { request_id, user: me.username.clone(), user_id: me.user_id, accepted: true };
            state.notify([target.id], to_them);
            let to_me = FriendResponse {
                request_id,
                user: target.username.clone(),
                user_id: target.id,
                accepted: true,
            };
            state.notify([me.user_id], to_me);
            presence::introduce(state, (me.user_id, &me.username), (target.id, &target.username)).await;
            Ok(FriendRequestReply { request_id, accepted: true })
        }
        FriendRequestOutcome::AlreadyFriends => {
            Err(OpError::new(ErrorCode::Conflict, format!("you and {} are already friends", target.username)))
        }
        FriendRequestOutcome::Blocked => Err(OpError::new(ErrorCode::Forbidden, REQUEST_REFUSED)),
        FriendRequestOutcome::TooManyPending => Err(OpError::new(
            ErrorCode::Conflict,
            format!("{} has too many pending friend requests; try again later", target.username),
        )),
    }
}

pub async fn friend_respond(conn: &Connection, r: FriendRespond) -> Result<Empty, OpError> {
    let me = conn.me()?;
    let state = &conn.state;
    let Some(requester) = state.store.friend_respond(r.request_id, me.user_id, r.accept, now_ms()).await?
    else {
        return Err(OpError::new(
            ErrorCode::NotFound,
            format!("no pending friend request {} to you", r.request_id),
        ));
    };
    let event = FriendResponse {
        request_id: r.request_id,
        user: me.username.clone(),
        user_id: me.user_id,
        accepted: r.accept,
    };
    state.notify([requester.id], event);
    if r.accept {
        presence::introduce(state, (me.user_id, &me.username), (requester.id, &requester.username)).await;
    }
    Ok(Empty {})
}

pub async fn friend_remove(conn: &Connection, r: FriendRemove) -> Result<Empty, OpError> {
    let me = conn.me()?;
    let state = &conn.state;
    let friend = find_user(state, &r.user).await?;
    if !state.store.friend_remove(me.user_id, friend.id).await? {
        return Err(OpError::new(ErrorCode::NotFound, format!("{} is not your friend", friend.username)));
    }
    state.notify([friend.id], FriendRemoved { user: me.username, user_id: me.user_id });
    Ok(Empty {})
}

pub async fn friend_list(conn: &Connection) -> Result<FriendListReply, OpError> {
    let me = conn.me()?;
    let state = &conn.state;
    let rows = state.store.friend_list(me.user_id).await?;
    let ids: Vec<u64> = rows.iter().map(|f| f.user.id).collect();
    let online = state.bus.online_among(&ids).await;
    let friends = rows
        .into_iter()
        .map(|f| Friend {
            online: presence::shown(f.blocked_by_me || f.blocks_me, || online.contains(&f.user.id)),
            user_id: f.user.id,
            username: f.user.username,
            blocked: f.blocked_by_me,
        })
        .collect();
    Ok(FriendListReply { friends })
}

/// A pending request of either direction, as listed.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Listed {
    Incoming(IncomingFriendRequest),
    Outgoing(OutgoingFriendRequest),
}

impl Listed {
    fn request_id(&self) -> u64 {
        match self {
            Listed::Incoming(r) => r.request_id,
            Listed::Outgoing(r) => r.request_id,
        }
    }
}

/// Both directions in one order, by request id, so that one cursor pages both.
fn merge_by_id(incoming: Vec<PendingFriendRequest>, outgoing: Vec<PendingFriendRequest>) -> Vec<Listed> {
    let incoming = incoming.into_iter().map(|p| {
        Listed::Incoming(IncomingFriendRequest {
            request_id: p.request_id,
            from: p.other.username,
            from_id: p.other.id,
            note: p.note,
            ts: p.ts,
        })
    });
    let outgoing = outgoing.into_iter().map(|p| {
        Listed::Outgoing(OutgoingFriendRequest {
            request_id: p.request_id,
            to: p.other.username,
            to_id: p.other.id,
            note: p.note,
            ts: p.ts,
        })
    });
    let mut all: Vec<Listed> = incoming.chain(outgoing).collect();
    all.sort_by_key(Listed::request_id);
    all
}

pub async fn friend_requests(conn: &Connection, r: FriendRequests) -> Result<FriendRequestsReply, OpError> {
    let me = conn.me()?;
    validate::cursor(r.cursor).map_err(OpError::bad_request)?;
    let state = &conn.state;
    let limit = page_limit(state, r.limit);
    // One row past the page in each direction tells whether more follow.
    let (incoming, outgoing) =
        state.store.friend_requests(me.user_id, r.cursor.unwrap_or(0), limit + 1).await?;
    let (page, next) =
        keyset_page(merge_by_id(incoming, outgoing), limit, state.config.max_frame, Listed::request_id);
    let mut reply = FriendRequestsReply { incoming: Vec::new(), outgoing: Vec::new(), next };
    for entry in page {
        match entry {
            Listed::Incoming(i) => reply.incoming.push(i),
            Listed::Outgoing(o) => reply.outgoing.push(o),
        }
    }
    Ok(reply)
}

pub async fn block(conn: &Connection, r: Block) -> Result<Empty, OpError> {
    let me = conn.me()?;
    let state = &conn.state;
    let target = find_user(state, &r.user).await?;
    if target.id == me.user_id {
        return Err(OpError::bad_request("you cannot block yourself"));
    }
    state.store.block(me.user_id, target.id, now_ms()).await?;
    Ok(Empty {})
}

pub async fn unblock(conn: &Connection, r: Unblock) -> Result<Empty, OpError> {
    let me = conn.me()?;
    let state = &conn.state;
    let target = find_user(state, &r.user).await?;
    if !state.store.unblock(me.user_id, target.id).await? {
        return Err(OpError::new(ErrorCode::NotFound, format!("you do not block {}", target.username)));
    }
    Ok(Empty {})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::UserRef;

    fn pending(request_id: u64) -> PendingFriendRequest {
        PendingFriendRequest {
            request_id,
            other: UserRef { id: request_id + 100, username: format!("u{request_id}") },
            note: String::new(),
            ts: 0,
        }
    }

    #[test]
    fn both_directions_page_as_one_list() {
        let merged = merge_by_id(vec![pending(2), pending(5)], vec![pending(1), pending(3), pending(4)]);
        let ids: Vec<u64> = merged.iter().map(Listed::request_id).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        assert!(matches!(merged[1], Listed::Incoming(_)) && matches!(merged[0], Listed::Outgoing(_)));
        let (page, next) = keyset_page(merged, 3, 1 << 20, Listed::request_id);
        assert_eq!((page.len(), next), (3, Some(3)));
    }
}
