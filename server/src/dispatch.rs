//! Routing of a decoded request to the op that serves it, with the authentication
//! gate in front.

use bytes::Bytes;
use chat_proto::reply::Empty;
use chat_proto::{ErrorCode, Request, parse_request};
use serde::Serialize;
use tracing::debug;

use crate::conn::Connection;
use crate::frames;
use crate::limits::Op;
use crate::service::{OpError, friends, groups, messages, session};

impl Connection {
    /// Answers one received payload with exactly one reply frame.
    pub async fn handle_payload(&mut self, payload: &[u8]) -> Bytes {
        // Over its budget, a connection is simply read later: honest bursts slow down,
        // nothing honest is refused, and no connection spins the server.
        self.state.limits.conn.wait(&self.id).await;
        let max_frame = self.state.config.max_frame;
        match parse_request(payload) {
            Err(e) => {
                debug!(conn = self.id, code = %e.error.code, "rejected frame");
                frames::error(e.re, &e.error, max_frame)
            }
            Ok((id, request)) => {
                debug!(conn = self.id, id, op = request.op(), "request");
                self.dispatch(id, request).await
            }
        }
    }

    async fn dispatch(&mut self, id: u64, request: Request) -> Bytes {
        use Request as R;
        let max_frame = self.state.config.max_frame;
        let open = matches!(request, R::Hello(_) | R::Ping(_) | R::Register(_) | R::Login(_) | R::Resume(_));
        if !open && self.session.is_none() {
            return reply::<Empty>(
                max_frame,
                id,
                Err(OpError::new(ErrorCode::Unauthenticated, "log in first")),
            );
        }
        if let (Some(op), Some(s)) = (budgeted_op(&request), &self.session)
            && let Err((wait, why)) = self.state.limits.check_op(op, s.user_id)
        {
            return reply::<Empty>(max_frame, id, Err(OpError::rate_limited(why, wait)));
        }
        match request {
            R::Hello(r) => reply(max_frame, id, session::hello(self, r)),
            R::Ping(_) => reply(max_frame, id, Ok(Empty {})),
            R::Register(r) => reply(max_frame, id, session::register(self, r).await),
            R::Login(r) => reply(max_frame, id, session::login(self, r).await),
            R::Resume(r) => reply(max_frame, id, session::resume(self, r).await),
            R::Logout(_) => reply(max_frame, id, session::logout(self).await),
            R::ChangePassword(r) => reply(max_frame, id, session::change_password(self, r).await),
            R::DeleteAccount(r) => reply(max_frame, id, session::delete_account(self, r).await),
            R::FriendRequest(r) => reply(max_frame, id, friends::friend_request(self, r).await),
            R::FriendRespond(r) => reply(max_frame, id, friends::friend_respond(self, r).await),
            R::FriendRemove(r) => reply(max_frame, id, friends::friend_remove(self, r).await),
            R::FriendList(_) => reply(max_frame, id, friends::friend_list(self).await),
            R::FriendRequests(r) => reply(max_frame, id, friends::friend_requests(self, r).await),
            R::Block(r) => reply(max_frame, id, friends::block(self, r).await),
            R::Unblock(r) => reply(max_frame, id, friends::unblock(self, r).await),
            R::GroupCreate(r) => reply(max_frame, id, groups::group_create(self, r).await),
            R::GroupInfo(r) => reply(max_frame, id, groups::group_info(self, r).await),
            R::GroupSearch(r) => reply(max_frame, id, groups::group_search(self, r).await),
            R::GroupList(_) => reply(max_frame, id, groups::group_list(self).await),
            R::GroupJoin(r) => reply(max_frame, id, groups::group_join(self, r).await),
            R::GroupRequests(r) => reply(max_frame, id, groups::group_requests(self, r).await),
            R::GroupRespond(r) => reply(max_frame, id, groups::group_respond(self, r).await),
            R::GroupMembers(r) => reply(max_frame, id, groups::group_members(self, r).await),
            R::GroupLeave(r) => reply(max_frame, id, groups::group_leave(self, r).await),
            R::GroupKick(r) => reply(max_frame, id, groups::group_kick(self, r).await),
            R::GroupSetRole(r) => reply(max_frame, id, groups::group_set_role(self, r).await),
            R::GroupDissolve(r) => reply(max_frame, id, groups::group_dissolve(self, r).await),
            R::Send(r) => reply(max_frame, id, messages::send(self, r).await),
            R::Sync(r) => reply(max_frame, id, messages::sync(self, r).await),
            R::History(r) => reply(max_frame, id, messages::history(self, r).await),
            R::Conversations(r) => reply(max_frame, id, messages::conversations(self, r).await),
            R::Read(r) => reply(max_frame, id, messages::read(self, r).await),
            R::Recall(r) => reply(max_frame, id, messages::recall(self, r).await),
            other => {
                let message = format!("`{}` is not available on this server yet", other.op());
                reply::<Empty>(max_frame, id, Err(OpError::new(ErrorCode::Unavailable, message)))
            }
        }
    }
}

/// The per-user budget an op spends, if any (`send` checks its own after validation).
fn budgeted_op(request: &Request) -> Option<Op> {
    match request {
        Request::Recall(_) => Some(Op::Recall),
        Request::Read(_) => Some(Op::Read),
        Request::FriendRequest(_) => Some(Op::FriendRequest),
        Request::GroupCreate(_) => Some(Op::GroupCreate),
        Request::GroupJoin(_) => Some(Op::GroupJoin),
        _ => None,
    }
}

fn reply<T: Serialize>(max_frame: usize, re: u64, result: Result<T, OpError>) -> Bytes {
    match result {
        Ok(value) => frames::ok(re, &value, max_frame),
        Err(e) => frames::error(re, &e.into_body(), max_frame),
    }
}
