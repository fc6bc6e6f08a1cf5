//! The Hub: which connections each logged-in user has on this node, and the handle
//! through which anyone may push a frame to, or close, one of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chat_proto::event::{CloseReason, Closing, Event};
use tokio_util::sync::CancellationToken;

use crate::outbox::{OutboxSender, PushError};

/// One connection's outbox and its close switch.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    pub conn_id: u64,
    outbox: OutboxSender,
    close: CancellationToken,
}

impl ConnHandle {
    pub fn new(conn_id: u64, outbox: OutboxSender, close: CancellationToken) -> Self {
        Self { conn_id, outbox, close }
    }

    /// Queues a frame without waiting. A connection whose outbox is full cannot keep
    /// up: it is closed (it catches up with `sync` on reconnect) so that it never
    /// holds anyone else back. Returns whether the frame was queued.
    pub fn push(&self, frame: Bytes) -> bool {
        match self.outbox.try_push(frame) {
            Ok(()) => true,
            Err(PushError::Full) => {
                tracing::warn!(conn = self.conn_id, "outbox full; closing slow connection");
                self.close.cancel();
                false
            }
            Err(PushError::Closed) => false,
        }
    }

    /// Queues a frame, waiting for room: for replies, whose sender is this
    /// connection's own reader. Returns false once the writer is gone.
    pub async fn send(&self, frame: Bytes) -> bool {
        self.outbox.send(frame).await
    }

    /// Tells the peer why, then closes the connection.
    pub fn close_with(&self, reason: CloseReason) {
        if let Ok(frame) = closing_frame(reason) {
            self.outbox.push_last(frame);
        }
        self.close.cancel();
    }

    /// Queues the last frame the peer gets, whatever the outbox holds.
    pub fn push_last(&self, frame: Bytes) {
        self.outbox.push_last(frame);
    }

    pub fn close_token(&self) -> &CancellationToken {
        &self.close
    }
}

/// The `closing` event as a frame.
pub fn closing_frame(reason: CloseReason) -> Result<Bytes, chat_proto::FrameError> {
    // Tiny and fixed-size: far below any max_frame the server accepts.
    chat_proto::encode_frame(&Event::from(Closing { reason }), usize::MAX)
}

/// A logged-in connection and the session it uses.
#[derive(Debug)]
struct Attached {
    session_id: u64,
    handle: ConnHandle,
}

/// Live connections by user id. Cloning shares the same map.
#[derive(Debug, Clone, Default)]
pub struct Hub {
    users: Arc<Mutex<HashMap<u64, Vec<Attached>>>>,
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Vec<Attached>>> {
        // A panic while holding this lock cannot leave the map half-updated (every
        // critical section is a single insert/remove), so poisoning is ignored.
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a connection logged in under `session_id`; true when it is the
    /// user's first.
    pub fn attach(&self, user_id: u64, session_id: u64, handle: ConnHandle) -> bool {
        let mut users = self.lock();
        let conns = users.entry(user_id).or_default();
        conns.push(Attached { session_id, handle });
        conns.len() == 1
    }

    /// Removes a connection; true when it was the user's last.
    pub fn detach(&self, user_id: u64, conn_id: u64) -> bool {
        let mut users = self.lock();
        let Some(conns) = users.get_mut(&user_id) else {
            return false;
        };
        let before = conns.len();
        conns.retain(|c| c.handle.conn_id != conn_id);
        let removed = conns.len() < before;
        if conns.is_empty() {
            users.remove(&user_id);
        }
        removed && !users.contains_key(&user_id)
    }

    /// Records that connection `conn_id` now uses `session_id` (after a password
    /// change replaced its session).
    pub fn moved_session(&self, user_id: u64, conn_id: u64, session_id: u64) {
        if let Some(conns) = self.lock().get_mut(&user_id) {
            for c in conns.iter_mut().filter(|c| c.handle.conn_id == conn_id) {
                c.session_id = session_id;
            }
        }
    }

    pub fn is_online(&self, user_id: u64) -> bool {
        self.lock().contains_key(&user_id)
    }

    /// How many users have at least one connection here.
    pub fn online_users(&self) -> usize {
        self.lock().len()
    }

    /// Pushes one frame (the same bytes) to every connection of each user but the
    /// connection `except`. Pushing never waits, so the map is locked only once.
    pub fn send_to_users(&self, users: &[u64], frame: &Bytes, except: Option<u64>) {
        let map = self.lock();
        for user in users {
            for c in map.get(user).into_iter().flatten() {
                if Some(c.handle.conn_id) != except {
                    c.handle.push(frame.clone());
                }
            }
        }
    }

    /// The users with a connection here.
    pub fn users(&self) -> Vec<u64> {
        self.lock().keys().copied().collect()
    }

    /// Tells every connection here that it may have missed events (`resync`).
    pub fn tell_all_to_resync(&self) {
        let Ok(frame) = chat_proto::encode_frame(&Event::from(chat_proto::event::Resync {}), usize::MAX)
        else {
            return;
        };
        for c in self.lock().values().flatten() {
            c.handle.push(frame.clone());
        }
    }

    /// Closes every connection of the user but `except`, telling each why.
    pub fn close_user(&self, user_id: u64, except: Option<u64>, reason: CloseReason) {
        self.close_where(user_id, except, reason, |_| true);
    }

    /// Closes every connection using session `session_id` but `except`.
    pub fn close_session(&self, user_id: u64, session_id: u64, except: Option<u64>, reason: CloseReason) {
        self.close_where(user_id, except, reason, |c| c.session_id == session_id);
    }

    fn close_where(
        &self,
        user_id: u64,
        except: Option<u64>,
        reason: CloseReason,
        which: impl Fn(&Attached) -> bool,
    ) {
        let map = self.lock();
        for c in map.get(&user_id).into_iter().flatten() {
            if Some(c.handle.conn_id) != except && which(c) {
                c.handle.close_with(reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::{OutboxReceiver, outbox};

    /// A handle whose outbox holds `cap` of the tests' 6-byte frames (70 bytes
    /// counted each) before it counts as full: events may fill twice the limit.
    fn handle(id: u64, cap: usize) -> (ConnHandle, OutboxReceiver) {
        let (tx, rx) = outbox(cap * 70 / 2);
        (ConnHandle::new(id, tx, CancellationToken::new()), rx)
    }

    #[test]
    fn first_and_last_connection_are_reported() {
        let hub = Hub::new();
        let (a, _ra) = handle(1, 4);
        let (b, _rb) = handle(2, 4);
        assert!(hub.attach(7, 1, a));
        assert!(!hub.attach(7, 1, b));
        assert!(!hub.detach(7, 1));
        assert!(hub.is_online(7));
        assert!(!hub.detach(7, 99), "unknown connection changes nothing");
        assert!(hub.detach(7, 2));
        assert!(!hub.is_online(7));
    }

    #[test]
    fn full_outbox_closes_only_that_connection() {
        let hub = Hub::new();
        let (slow, _keep_full) = handle(1, 1);
        let (fast, mut rfast) = handle(2, 8);
        let slow_token = slow.close_token().clone();
        hub.attach(5, 1, slow);
        hub.attach(5, 1, fast.clone());
        let frame = Bytes::from_static(b"\0\0\0\x02{}");
        hub.send_to_users(&[5], &frame, None);
        hub.send_to_users(&[5], &frame, None);
        assert!(slow_token.is_cancelled());
        assert!(!fast.close_token().is_cancelled());
        assert_eq!(rfast.try_recv().unwrap(), frame);
        assert_eq!(rfast.try_recv().unwrap(), frame);
    }

    #[test]
    fn close_user_spares_the_excepted_connection() {
        let hub = Hub::new();
        let (a, mut ra) = handle(1, 4);
        let (b, _rb) = handle(2, 4);
        hub.attach(3, 1, a.clone());
        hub.attach(3, 2, b.clone());
        hub.close_user(3, Some(2), CloseReason::SessionRevoked);
        assert!(a.close_token().is_cancelled());
        assert!(!b.close_token().is_cancelled());
        let frame = ra.try_recv().unwrap();
        assert_eq!(&frame[4..], br#"{"event":"closing","reason":"session_revoked"}"#);
    }
}

#[cfg(test)]
mod session_tests {
    use super::*;
    use crate::outbox::outbox;

    #[test]
    fn close_session_closes_only_that_sessions_connections() {
        let hub = Hub::new();
        let (handles, _receivers): (Vec<_>, Vec<_>) = (1..=3)
            .map(|id| {
                let (tx, rx) = outbox(1 << 16);
                (ConnHandle::new(id, tx, CancellationToken::new()), rx)
            })
            .unzip();
        hub.attach(9, 100, handles[0].clone());
        hub.attach(9, 100, handles[1].clone());
        hub.attach(9, 200, handles[2].clone());
        hub.close_session(9, 100, Some(1), CloseReason::LoggedOut);
        let closed: Vec<bool> = handles.iter().map(|h| h.close_token().is_cancelled()).collect();
        assert_eq!(closed, [false, true, false]);
        hub.moved_session(9, 3, 100);
        hub.close_session(9, 100, Some(1), CloseReason::LoggedOut);
        assert!(handles[2].close_token().is_cancelled());
    }
}
