//! One client connection: a reader task that decodes and dispatches, and a writer
//! task that drains the bounded outbox into the socket.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chat_proto::event::CloseReason;
use chat_proto::{ErrorBody, ErrorCode, FrameCodec, FrameError};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::frames;
use crate::hub::{ConnHandle, closing_frame};
use crate::service::{OpError, presence};
use crate::state::AppState;

/// A write that makes no progress for this long means the peer stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Most frames the writer gathers into one socket write.
const WRITE_BATCH: usize = 64;
/// Read buffer to start with; it grows to the largest frame seen.
const READ_BUFFER: usize = 256;

/// The logged-in side of a connection.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: u64,
    pub username: String,
    pub session_id: u64,
}

/// Per-connection state, owned by the reader task.
#[derive(Debug)]
pub struct Connection {
    pub id: u64,
    pub peer: SocketAddr,
    pub state: Arc<AppState>,
    pub handle: ConnHandle,
    pub session: Option<Session>,
    /// Set by an op that ends the connection once its reply is out.
    pub close_after_reply: Option<CloseReason>,
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    PeerClosed,
    ReadError,
    FrameTooLarge,
    IdleTimeout,
    Shutdown,
    /// Closed from outside (revoked, deleted, too slow); the closer told the peer.
    ClosedByServer,
    /// This connection's own op closed it (delete_account).
    Closed(CloseReason),
    WriterGone,
}

/// Runs a connection to its end.
pub async fn serve(stream: TcpStream, peer: SocketAddr, state: Arc<AppState>, shutdown: CancellationToken) {
    let conn_id = state.next_conn_id();
    info!(conn = conn_id, %peer, "connection opened");
    // Replies are small and latency matters more than packet count.
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::channel(state.config.outbox);
    let close = shutdown.child_token();
    let handle = ConnHandle::new(conn_id, tx, close.clone());
    let writer = tokio::spawn(write_loop(wr, rx, close));

    let mut conn = Connection { id: conn_id, peer, state, handle, session: None, close_after_reply: None };
    let end = conn.read_loop(rd, &shutdown).await;
    conn.finish(end).await;
    drop(conn);
    // The writer flushes what is queued (the last reply, a `closing` event), then
    // shuts the socket down.
    let _ = writer.await;
    info!(conn = conn_id, %peer, reason = ?end, "connection closed");
}

impl Connection {
    async fn read_loop(&mut self, rd: OwnedReadHalf, shutdown: &CancellationToken) -> End {
        let codec = FrameCodec::new(self.state.config.max_frame);
        let mut frames = FramedRead::with_capacity(rd, codec, READ_BUFFER);
        let idle = self.state.config.idle_timeout();
        loop {
            let next = tokio::select! {
                biased;
                _ = self.handle.close_token().cancelled() => {
                    return if shutdown.is_cancelled() { End::Shutdown } else { End::ClosedByServer };
                }
                next = tokio::time::timeout(idle, frames.next()) => next,
            };
            let payload = match next {
                Err(_) => return End::IdleTimeout,
                Ok(None) => return End::PeerClosed,
                Ok(Some(Ok(payload))) => payload,
                Ok(Some(Err(FrameError::TooLarge { len, max }))) => {
                    debug!(conn = self.id, len, max, "frame too large");
                    let body = ErrorBody::new(
                        ErrorCode::FrameTooLarge,
                        format!("frame of {len} bytes exceeds max_frame {max}"),
                    );
                    self.handle.send(frames::error(0, &body, max)).await;
                    return End::FrameTooLarge;
                }
                Ok(Some(Err(e))) => {
                    debug!(conn = self.id, error = %e, "read failed");
                    return End::ReadError;
                }
            };
            // Boxed: the op futures are large, and an idle connection should not carry
            // their space.
            let reply = Box::pin(self.handle_payload(&payload)).await;
            drop(payload);
            if !self.handle.send(reply).await {
                return End::WriterGone;
            }
            if let Some(reason) = self.close_after_reply.take() {
                return End::Closed(reason);
            }
        }
    }

    /// Leaves the hub and tells the peer why the server is closing, where the
    /// closer has not already.
    async fn finish(&mut self, end: End) {
        self.leave_hub().await;
        let reason = match end {
            End::Shutdown => Some(CloseReason::Shutdown),
            End::IdleTimeout => Some(CloseReason::IdleTimeout),
            End::Closed(reason) => Some(reason),
            _ => None,
        };
        if let Some(frame) = reason.and_then(|r| closing_frame(r).ok()) {
            self.handle.push(frame);
        }
    }

    /// Joins the hub as `session`, leaving any earlier session of this connection.
    /// The user's first connection tells its friends it is online.
    pub async fn enter_hub(&mut self, session: Session) {
        self.leave_hub().await;
        let first = self.state.hub.attach(session.user_id, self.handle.clone());
        if first {
            presence::announce(&self.state, session.user_id, &session.username, true).await;
        }
        self.session = Some(session);
    }

    /// Leaves the hub, staying connected but logged out. The user's last connection
    /// tells its friends it is offline.
    pub async fn leave_hub(&mut self) {
        if let Some(s) = self.session.take()
            && self.state.hub.detach(s.user_id, self.id)
        {
            presence::announce(&self.state, s.user_id, &s.username, false).await;
        }
    }

    /// The session of this connection, or `unauthenticated`.
    pub fn me(&self) -> Result<Session, OpError> {
        self.session.clone().ok_or_else(|| OpError::new(ErrorCode::Unauthenticated, "log in first"))
    }
}

async fn write_loop(wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Bytes>, close: CancellationToken) {
    let mut wr = wr;
    while let Some(first) = rx.recv().await {
        let result = match rx.try_recv() {
            // The common case: one frame, written as is.
            Err(_) => tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(&first)).await,
            Ok(second) => {
                let mut batch = BytesMut::with_capacity(first.len() + second.len());
                batch.extend_from_slice(&first);
                batch.extend_from_slice(&second);
                for _ in 2..WRITE_BATCH {
                    match rx.try_recv() {
                        Ok(more) => batch.extend_from_slice(&more),
                        Err(_) => break,
                    }
                }
                tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(&batch)).await
            }
        };
        if !matches!(result, Ok(Ok(()))) {
            // The peer is gone or stopped reading; the reader ends too.
            close.cancel();
            return;
        }
    }
    let _ = tokio::time::timeout(WRITE_TIMEOUT, wr.shutdown()).await;
}
