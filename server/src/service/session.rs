//! Session ops: hello, register, login, resume, logout, change_password,
//! delete_account.

use chat_proto::event::{CloseReason, FriendRemoved, GroupDissolved, GroupMemberLeft};
use chat_proto::model::LeaveReason;
use chat_proto::reply::{ChangePasswordReply, Empty, HelloReply, LoginReply, RegisterReply};
use chat_proto::request::{ChangePassword, DeleteAccount, Hello, Login, Register, Resume};
use chat_proto::{ErrorCode, PROTOCOL_VERSION, validate};
use tracing::{debug, info};

use super::OpError;
use crate::addr_key::AddrKey;
use crate::auth;
use crate::conn::{Connection, Session};
use crate::state::now_ms;
use crate::store::{NewSession, StoreError, UserRecord};

/// The one message for every failed credential check, so that it tells nothing about
/// which part was wrong.
const BAD_CREDENTIALS: &str = "wrong username or password";

pub fn hello(conn: &Connection, r: Hello) -> Result<HelloReply, OpError> {
    if let Some(client) = &r.client {
        validate::label("client", client).map_err(OpError::bad_request)?;
    }
    if let Some(p) = r.protocol
        && p != u64::from(PROTOCOL_VERSION)
    {
        return Err(OpError::bad_request(format!(
            "protocol {p} is not supported; this server speaks {PROTOCOL_VERSION}"
        )));
    }
    let c = &conn.state.config;
    Ok(HelloReply {
        server: concat!("chat-server/", env!("CARGO_PKG_VERSION")).to_owned(),
        protocol: PROTOCOL_VERSION,
        node: conn.state.node.clone(),
        heartbeat_secs: c.heartbeat_secs(),
        max_frame: c.max_frame as u64,
        max_body: c.max_body,
        max_file_size: c.max_file_size,
        max_chunk: c.max_chunk,
        max_group_members: c.max_group_members,
        recall_window_secs: c.recall_window,
        page_limit: c.page_limit,
    })
}

pub async fn register(conn: &mut Connection, r: Register) -> Result<RegisterReply, OpError> {
    validate::username(&r.username).map_err(OpError::bad_request)?;
    validate::password_size(&r.password).map_err(OpError::bad_request)?;
    validate::password_strength(&r.password).map_err(|m| OpError::new(ErrorCode::WeakPassword, m))?;
    let state = &conn.state;
    let addr = addr_of(conn);
    state.limits.register.check(&addr).map_err(|wait| {
        OpError::rate_limited("too many accounts registered from your address; wait", wait)
    })?;
    let taken = || OpError::new(ErrorCode::UsernameTaken, format!("username `{}` is taken", r.username));
    // Refuse a taken name before paying for a hash; the unique key settles races.
    if state.store.user_by_name(&r.username).await?.is_some() {
        return Err(taken());
    }
    let hash = state.hasher.hash(addr, &r.password).await?;
    let user_id = match state.store.create_user(&r.username, &hash, now_ms()).await {
        Ok(id) => id,
        Err(StoreError::Conflict) => return Err(taken()),
        Err(e) => return Err(e.into()),
    };
    info!(conn = conn.id, user_id, username = %r.username, "account registered");
    Ok(RegisterReply { user_id })
}

pub async fn login(conn: &mut Connection, r: Login) -> Result<LoginReply, OpError> {
    validate::username(&r.username).map_err(OpError::bad_request)?;
    validate::password_size(&r.password).map_err(OpError::bad_request)?;
    let device = device_label(r.device.as_deref())?;
    let user = check_password(conn, &r.username, &r.password).await?;
    start_session(conn, user, device).await
}

pub async fn resume(conn: &mut Connection, r: Resume) -> Result<LoginReply, OpError> {
    device_label(r.device.as_deref())?;
    // Not throttled: a token has 256 random bits, so guessing one is hopeless, and an
    // owner holding a valid one must get in whatever strangers do to the password.
    let state = conn.state.clone();
    let now = now_ms();
    let found = if auth::token_well_formed(&r.token) {
        let expiry = now.saturating_add(state.config.session_ttl_ms());
        state.store.resume_session(&auth::token_hash(&r.token), now, expiry).await?
    } else {
        None
    };
    let Some((session_id, user, expires_at)) = found else {
        return Err(OpError::new(ErrorCode::InvalidCredentials, "session token is invalid or expired"));
    };
    // Debug: every reconnect resumes, and reconnects can come by the thousand.
    debug!(conn = conn.id, user_id = user.id, "session resumed");
    Ok(become_user(conn, user, session_id, expires_at, r.token).await)
}

pub async fn logout(conn: &mut Connection) -> Result<Empty, OpError> {
    if let Some(s) = &conn.session {
        conn.state.store.delete_session(s.session_id).await?;
        // The token is dead: so is every other connection that used it.
        conn.state.bus.close_session(s.user_id, s.session_id, Some(conn.id), CloseReason::LoggedOut);
        info!(conn = conn.id, user_id = s.user_id, "logged out");
    }
    conn.leave_hub().await;
    Ok(Empty {})
}

pub async fn change_password(
    conn: &mut Connection,
    r: ChangePassword,
) -> Result<ChangePasswordReply, OpError> {
    validate::password_size(&r.old_password).map_err(OpError::bad_request)?;
    validate::password_size(&r.new_password).map_err(OpError::bad_request)?;
    let session = conn.me()?;
    let user = check_password(conn, &session.username, &r.old_password).await?;
    validate::password_strength(&r.new_password).map_err(|m| OpError::new(ErrorCode::WeakPassword, m))?;
    let state = conn.state.clone();
    let hash = state.hasher.hash(addr_of(conn), &r.new_password).await?;
    let (token, token_hash) = auth::new_token()?;
    let new_session = session_row(conn, user.id, &token_hash, "");
    let expires_at = new_session.expires_at;
    let session_id = state.store.replace_password(user.id, &hash, new_session).await?;
    state.bus.close_user(user.id, Some(conn.id), CloseReason::SessionRevoked);
    if let Some(s) = conn.session.as_mut() {
        s.session_id = session_id;
        s.expires_at = expires_at;
    }
    state.hub.moved_session(user.id, conn.id, session_id);
    info!(conn = conn.id, user_id = user.id, "password changed; other sessions revoked");
    Ok(ChangePasswordReply { token })
}

pub async fn delete_account(conn: &mut Connection, r: DeleteAccount) -> Result<Empty, OpError> {
    validate::password_size(&r.password).map_err(OpError::bad_request)?;
    let session = conn.me()?;
    let user = check_password(conn, &session.username, &r.password).await?;
    let state = conn.state.clone();
    let Some(gone) = state.store.delete_user(user.id).await? else {
        return Err(OpError::new(ErrorCode::InvalidCredentials, BAD_CREDENTIALS));
    };
    state.bus.close_user(user.id, Some(conn.id), CloseReason::AccountDeleted);
    let me = || (user.username.clone(), user.id);
    state.notify(gone.friends, FriendRemoved { user: me().0, user_id: me().1 });
    for (group_id, members) in gone.dissolved {
        state.notify(members, GroupDissolved { group_id });
    }
    for (group_id, members) in gone.left {
        let (user, user_id) = me();
        state.notify(members, GroupMemberLeft { group_id, user, user_id, reason: LeaveReason::Left });
    }
    conn.leave_hub().await;
    conn.close_after_reply = Some(CloseReason::AccountDeleted);
    info!(conn = conn.id, user_id = user.id, "account deleted");
    Ok(Empty {})
}

fn device_label(device: Option<&str>) -> Result<String, OpError> {
    let device = device.unwrap_or("");
    validate::label("device", device).map_err(OpError::bad_request)?;
    Ok(device.to_owned())
}

/// The key this connection's address counts under in per-address limits.
fn addr_of(conn: &Connection) -> AddrKey {
    AddrKey::of(conn.peer.ip())
}

/// Verifies a password under the throttle (see [`crate::throttle`]): the attempt is
/// counted before the check and taken back if the password is right. Costs the same
/// time whether or not the user exists.
async fn check_password(conn: &Connection, username: &str, password: &str) -> Result<UserRecord, OpError> {
    let state = &conn.state;
    let addr = addr_of(conn);
    let attempt = state.throttle.begin(&validate::username_key(username), addr).map_err(|wait| {
        let message = format!("too many password attempts; try again in {} s", wait.as_secs().max(1));
        OpError::rate_limited(message, wait)
    })?;
    let checked = async {
        let user = state.store.user_by_name(username).await?;
        let ok = match &user {
            Some(u) => state.hasher.verify(addr, password, &u.password_hash).await?,
            None => {
                state.hasher.verify_decoy(addr, password).await?;
                false
            }
        };
        Ok::<_, OpError>((user, ok))
    };
    let (user, ok) = match checked.await {
        Ok(checked) => checked,
        Err(e) => {
            // The store or the hashing queue failed, the password was not checked:
            // it is no guess, and must not count against the owner.
            attempt.not_checked();
            return Err(e);
        }
    };
    match user {
        Some(u) if ok => {
            attempt.succeeded();
            Ok(u)
        }
        _ => {
            info!(conn = conn.id, peer = %conn.peer, "failed password check");
            Err(OpError::new(ErrorCode::InvalidCredentials, BAD_CREDENTIALS))
        }
    }
}

async fn start_session(
    conn: &mut Connection,
    user: UserRecord,
    device: String,
) -> Result<LoginReply, OpError> {
    let state = conn.state.clone();
    let (token, token_hash) = auth::new_token()?;
    let row = session_row(conn, user.id, &token_hash, &device);
    let expires_at = row.expires_at;
    let session_id = state.store.create_session(row).await?;
    info!(conn = conn.id, user_id = user.id, "logged in");
    Ok(become_user(conn, user, session_id, expires_at, token).await)
}

/// Logs the connection in as `user` under `session_id`.
async fn become_user(
    conn: &mut Connection,
    user: UserRecord,
    session_id: u64,
    expires_at: i64,
    token: String,
) -> LoginReply {
    let session = Session { user_id: user.id, username: user.username.clone(), session_id, expires_at };
    conn.enter_hub(session).await;
    LoginReply { user_id: user.id, username: user.username, token }
}

/// A session row for `user_id` expiring after the configured lifetime.
fn session_row<'a>(conn: &Connection, user_id: u64, token_hash: &'a str, device: &'a str) -> NewSession<'a> {
    let now = now_ms();
    NewSession {
        user_id,
        token_hash,
        device,
        now,
        expires_at: now.saturating_add(conn.state.config.session_ttl_ms()),
    }
}
