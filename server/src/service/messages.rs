//! Messages: send, sync, history, conversations, read, recall.

use chat_proto::event;
use chat_proto::model::Target;
use chat_proto::reply::{ConversationsReply, Empty, HistoryReply, RecallReply, SendReply, SyncReply};
use chat_proto::request::{Conversations, History, Read, Recall, Send, Sync};
use chat_proto::{ErrorCode, validate};

use super::paging::{self, page_limit, trim_to_frame};
use super::{OpError, find_user, groups::role_of};
use crate::conn::{Connection, Session};
use crate::limits::Op;
use crate::state::{AppState, now_ms};
use crate::store::{AppendOutcome, AppendRequest, ConvKey, ConvPosition, Refusal, SendTo, UserRef};

/// The one refusal of `send` to a friend across a block, in either direction, so
/// that the block is not revealed as such.
pub const SEND_REFUSED: &str = "you cannot send messages to this user";
/// Most characters of a client_msg_id.
const CLIENT_MSG_ID_MAX: usize = 64;

fn refusal(r: Refusal) -> OpError {
    let (code, message) = match r {
        Refusal::NoSuchUser => (ErrorCode::NotFound, "no such user"),
        Refusal::NoSuchGroup => (ErrorCode::NotFound, "no such group"),
        Refusal::NoSuchMessage => (ErrorCode::NotFound, "no such message"),
        Refusal::NotFriend => (ErrorCode::NotFriend, "direct messages need friendship"),
        Refusal::Blocked => (ErrorCode::Forbidden, SEND_REFUSED),
        Refusal::NotMember => (ErrorCode::NotMember, "you are not a member of this group"),
        Refusal::NotSender => (ErrorCode::Forbidden, "only the sender may recall a message"),
        Refusal::RecallOfRecall => (ErrorCode::Forbidden, "a recall cannot be recalled"),
        Refusal::TooLate => (ErrorCode::Forbidden, "too late to recall this message"),
        Refusal::AlreadyRecalled => (ErrorCode::Conflict, "this message was already recalled"),
    };
    OpError::new(code, message)
}

fn sender(me: &Session) -> UserRef {
    UserRef { id: me.user_id, username: me.username.clone() }
}

pub async fn send(conn: &Connection, r: Send) -> Result<SendReply, OpError> {
    let me = conn.me()?;
    let state = &conn.state;
    if r.file_id.is_some() {
        return Err(OpError::new(
            ErrorCode::Unavailable,
            "file transfer is not available on this server yet",
        ));
    }
    if r.body.len() as u64 > state.config.max_body {
        return Err(OpError::new(ErrorCode::TooLarge, format!("body above {} bytes", state.config.max_body)));
    }
    if r.body.is_empty() {
        return Err(OpError::bad_request("body must not be empty"));
    }
    validate::body(&r.body).map_err(OpError::bad_request)?;
    if let Some(id) = &r.client_msg_id
        && (id.is_empty() || id.chars().count() > CLIENT_MSG_ID_MAX)
    {
        return Err(OpError::bad_request("client_msg_id must be 1 to 64 characters"));
    }
    let to = match r.to {
        Target::User(name) => {
            validate::username(&name).map_err(OpError::bad_request)?;
            SendTo::User(name)
        }
        Target::Group(g) => SendTo::Group(g),
    };
    state.limits.check_op(Op::Send, me.user_id).map_err(|(wait, why)| OpError::rate_limited(why, wait))?;
    let request =
        AppendRequest::Text { sender: sender(&me), to, body: r.body, client_msg_id: r.client_msg_id };
    match state.writer.append(request, conn.id).await? {
        AppendOutcome::Stored { message, .. } => {
            Ok(SendReply { msg_id: message.msg_id, seq: message.seq, ts: message.ts })
        }
        AppendOutcome::Refused(r) => Err(refusal(r)),
    }
}

pub async fn recall(conn: &Connection, r: Recall) -> Result<RecallReply, OpError> {
    let me = conn.me()?;
    let state = &conn.state;
    let window_ms = i64::try_from(state.config.recall_window.saturating_mul(1000)).unwrap_or(i64::MAX);
    let request = AppendRequest::Recall {
        sender: sender(&me),
        msg_id: r.msg_id,
        not_before: now_ms().saturating_sub(window_ms),
    };
    match state.writer.append(request, conn.id).await? {
        AppendOutcome::Stored { message, .. } => Ok(RecallReply { seq: message.seq }),
        AppendOutcome::Refused(r) => Err(refusal(r)),
    }
}

/// The conversation `with` names, if the caller may read it: a friend's (a block
/// does not hide old messages) or a group's the caller is in.
async fn readable(
    state: &AppState,
    me: &Session,
    with: &Target,
) -> Result<(ConvKey, Option<UserRef>), OpError> {
    match with {
        Target::User(name) => {
            let other = find_user(state, name).await?;
            if !state.store.are_friends(me.user_id, other.id).await? {
                return Err(OpError::new(
                    ErrorCode::NotFriend,
                    format!("{} is not your friend", other.username),
                ));
            }
            Ok((ConvKey::direct(me.user_id, other.id), Some(other)))
        }
        Target::Group(g) => {
            role_of(state, *g, me.user_id).await?;
            Ok((ConvKey::group(*g), None))
        }
    }
}

pub async fn sync(conn: &Connection, r: Sync) -> Result<SyncReply, OpError> {
    let me = conn.me()?;
    let state = &conn.state;
    let (conv, _) = readable(state, &me, &r.with).await?;
    let mut page = state.store.sync(&conv, r.after, page_limit(state, r.limit)).await?;
    let cut = trim_to_frame(&mut page.messages, state.config.max_frame);
    Ok(SyncReply { messages: page.messages, last_seq: page.last_seq, more: page.more || cut })
}

pub async fn history(conn: &Connection, r: History) -> Result<HistoryReply, OpError> {
    let me = conn.me()?;
    let state = &conn.state;
    let (conv, _) = readable(state, &me, &r.with).await?;
    let mut page = state.store.history(&conv, r.before, page_limit(state, r.limit)).await?;
    let cut = trim_to_frame(&mut page.messages, state.config.max_frame);
    Ok(HistoryReply { messages: page.messages, more: page.more || cut })
}

pub async fn conversations(conn: &Connection, r: Conversations) -> Result<ConversationsReply, OpError> {
    let me = conn.me()?;
    let state = &conn.state;
    let from = match (&r.cursor, r.before) {
        (Some(cursor), _) => paging::conversations_from(cursor)
            .ok_or_else(|| OpError::bad_request("`cursor` is not a `next` this server gave"))?,
        (None, Some(before)) => ConvPosition::before(before),
        (None, None) => ConvPosition::start(),
    };
    let (rows, more) = state.store.conversations(me.user_id, &from, page_limit(state, r.limit)).await?;
    let (keys, mut conversations): (Vec<_>, Vec<_>) = rows.into_iter().unzip();
    let more = trim_to_frame(&mut conversations, state.config.max_frame) || more;
    // The next page starts right after the last conversation kept.
    let last = conversations.len().checked_sub(1).filter(|_| more);
    let next = last.map(|i| paging::conversations_cursor(conversations[i].activity, &keys[i]));
    Ok(ConversationsReply { conversations, more, next })
}

pub async fn read(conn: &Connection, r: Read) -> Result<Empty, OpError> {
    let me = conn.me()?;
    let state = &conn.state;
    // `read` knows one refusal: whatever the caller cannot read is not found to it.
    let (conv, peer) = readable(state, &me, &r.with).await.map_err(|e| {
        if e.code == ErrorCode::Internal { e } else { OpError::new(ErrorCode::NotFound, e.message) }
    })?;
    if let Some(seq) = state.store.mark_read(me.user_id, &conv, r.seq).await? {
        let mine = event::Read { with: r.with.clone(), user: me.username.clone(), user_id: me.user_id, seq };
        state.notify_except(&[me.user_id], mine, Some(conn.id));
        if let Some(peer) = peer {
            let theirs = event::Read {
                with: Target::User(me.username.clone()),
                user: me.username,
                user_id: me.user_id,
                seq,
            };
            state.notify([peer.id], theirs);
        }
    }
    Ok(Empty {})
}
