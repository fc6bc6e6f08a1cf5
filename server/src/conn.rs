//! One client connection: a reader task that decodes and dispatches, and a writer
//! task that drains the bounded outbox into the socket.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chat_proto::event::CloseReason;
use chat_proto::{ErrorBody, ErrorCode, FrameCodec, FrameError};
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::admission::{Refused, Ticket};
use crate::hub::{ConnHandle, closing_frame};
use crate::log_limit::LogLimit;
use crate::outbox::{OutboxReceiver, outbox};
use crate::service::{OpError, presence};
use crate::state::{AppState, now_ms};
use crate::{frames, tls};

/// A write that makes no progress for this long means the peer stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes of small frames the writer gathers into one socket write; a larger frame
/// is written as it is, never copied.
const WRITE_BATCH: usize = 64 * 1024;
/// Most frames written before they are counted out of the outbox.
const GATHER: usize = 256;
/// Closed connections are logged a few dozen times a second at most, however fast
/// clients come and go.
static CLOSES: LogLimit = LogLimit::new(50, Duration::from_secs(1));
/// How long a plain client on the TLS port is given to take its answer.
const PLAIN_DRAIN: Duration = Duration::from_secs(1);
/// Read buffer to start with; it grows to the largest frame seen.
const READ_BUFFER: usize = 256;

/// The logged-in side of a connection.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: u64,
    pub username: String,
    pub session_id: u64,
    /// When the session ends (ms since the epoch): the connection is closed then.
    pub expires_at: i64,
}

impl Session {
    /// How long until the session ends, from `now_ms`.
    fn remaining(&self, now_ms: i64) -> Duration {
        Duration::from_millis(u64::try_from(self.expires_at.saturating_sub(now_ms)).unwrap_or(0))
    }
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
    /// Its place under the per-address and not-logged-in caps.
    pub ticket: Ticket,
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    PeerClosed,
    ReadError,
    FrameTooLarge,
    IdleTimeout,
    /// Not logged in by the deadline.
    AuthTimeout,
    /// Logged out when the connections waiting to log in were at their cap.
    Crowded,
    Shutdown,
    /// Closed from outside (revoked, deleted, too slow); the closer told the peer.
    ClosedByServer,
    /// This connection's own op closed it (delete_account).
    Closed(CloseReason),
    WriterGone,
}

/// Runs a connection to its end: over TLS when `tls` is given.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<AppState>,
    shutdown: CancellationToken,
    ticket: Ticket,
    tls: Option<TlsAcceptor>,
) {
    // Replies are small and latency matters more than packet count.
    let _ = stream.set_nodelay(true);
    // Until it logs in, a connection lives only so long, whatever it sends; a TLS
    // handshake counts against that time.
    let login_by = Instant::now() + state.config.auth_timeout();
    let conn = Accepted { peer, state, shutdown, ticket, login_by };
    match tls {
        None => {
            let (rd, wr) = stream.into_split();
            run(rd, wr, conn).await;
        }
        // Boxed: a handshake in progress is large, and a plain connection's task
        // should not carry its space.
        Some(acceptor) => Box::pin(serve_tls(stream, acceptor, conn)).await,
    }
}

/// What a connection starts from once accepted.
struct Accepted {
    peer: SocketAddr,
    state: Arc<AppState>,
    shutdown: CancellationToken,
    ticket: Ticket,
    login_by: Instant,
}

async fn serve_tls(stream: TcpStream, acceptor: TlsAcceptor, conn: Accepted) {
    let peer = conn.peer;
    match tokio::time::timeout_at(conn.login_by, accept_tls(stream, &acceptor, peer)).await {
        Ok(Some(stream)) => {
            let (rd, wr) = tokio::io::split(stream);
            run(rd, wr, conn).await;
        }
        Ok(None) => {}
        Err(_) => debug!(%peer, "TLS handshake timed out"),
    }
}

/// The TLS stream, or `None`: a client speaking plain frames is told so, in plain.
async fn accept_tls(
    mut stream: TcpStream,
    acceptor: &TlsAcceptor,
    peer: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    if !tls::starts_with_handshake(&stream).await {
        debug!(%peer, "plain client on the TLS port");
        let body = ErrorBody::new(
            ErrorCode::BadRequest,
            "this server speaks TLS: connect with TLS (chat-tui --tls)",
        );
        let _ = stream.write_all(&frames::error(0, &body, chat_proto::DEFAULT_MAX_FRAME)).await;
        let _ = stream.shutdown().await;
        // Takes what the client sent, so that closing does not reset the connection
        // before it read the answer.
        let mut sink = [0u8; 4096];
        let _ = tokio::time::timeout(PLAIN_DRAIN, async {
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
        return None;
    }
    match acceptor.accept(stream).await {
        Ok(stream) => Some(stream),
        Err(e) => {
            debug!(%peer, error = %e, "TLS handshake failed");
            None
        }
    }
}

async fn run<R, W>(rd: R, wr: W, accepted: Accepted)
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let Accepted { peer, state, shutdown, ticket, login_by } = accepted;
    let conn_id = state.next_conn_id();
    debug!(conn = conn_id, %peer, "connection opened");
    let (tx, rx) = outbox(state.config.outbox_bytes);
    let close = shutdown.child_token();
    let handle = ConnHandle::new(conn_id, tx, close.clone());
    let writer = tokio::spawn(write_loop(wr, rx, close));

    let mut conn =
        Connection { id: conn_id, peer, state, handle, session: None, close_after_reply: None, ticket };
    let end = conn.read_loop(rd, &shutdown, login_by).await;
    conn.finish(end).await;
    drop(conn);
    // The writer flushes what is queued (the last reply, a `closing` event), then
    // shuts the socket down.
    let _ = writer.await;
    if let Some(dropped) = CLOSES.admit() {
        info!(conn = conn_id, %peer, reason = ?end, dropped, "connection closed");
    }
}

impl Connection {
    async fn read_loop<R: AsyncRead + Unpin>(
        &mut self,
        rd: R,
        shutdown: &CancellationToken,
        login_by: Instant,
    ) -> End {
        let config = &self.state.config;
        let codec = FrameCodec::new(config.max_frame_before_login());
        let mut frames = FramedRead::with_capacity(rd, codec, READ_BUFFER);
        let idle = config.idle_timeout();
        let mut login_by = Some(login_by);
        loop {
            // Checked before every request, not only when the socket falls silent: a
            // client sending without pause must not outlive its deadline.
            if let Some(end) = self.deadline_passed(login_by) {
                return end;
            }
            let wait = match (&self.session, login_by) {
                (Some(s), _) => idle.min(s.remaining(now_ms())),
                (None, Some(deadline)) => idle.min(deadline.saturating_duration_since(Instant::now())),
                (None, None) => idle,
            };
            let next = tokio::select! {
                biased;
                _ = self.handle.close_token().cancelled() => {
                    return if shutdown.is_cancelled() { End::Shutdown } else { End::ClosedByServer };
                }
                next = tokio::time::timeout(wait, frames.next()) => next,
            };
            let payload = match next {
                Err(_) => return self.deadline_passed(login_by).unwrap_or(End::IdleTimeout),
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
            let was_logged_in = self.session.is_some();
            let mut crowded = false;
            // Boxed: the op futures are large, and an idle connection should not carry
            // their space.
            let reply = Box::pin(self.handle_payload(&payload)).await;
            drop(payload);
            if self.session.is_some() != was_logged_in {
                let config = &self.state.config;
                if self.session.is_some() {
                    self.ticket.authenticated();
                    login_by = None;
                    frames.decoder_mut().set_max_frame(config.max_frame);
                } else {
                    // A stranger again: it counts as one, or goes when there is no room.
                    crowded = !self.ticket.waiting_again();
                    login_by = Some(Instant::now() + config.auth_timeout());
                    frames.decoder_mut().set_max_frame(config.max_frame_before_login());
                }
            }
            // Waits while this connection's queue is over its bound: a client that
            // does not read its replies is not read either.
            if !self.handle.send(reply).await {
                return End::WriterGone;
            }
            if let Some(reason) = self.close_after_reply.take() {
                return End::Closed(reason);
            }
            if crowded {
                return End::Crowded;
            }
        }
    }

    /// How the connection ends if a deadline passed: the one to log in by, or its
    /// session's.
    fn deadline_passed(&self, login_by: Option<Instant>) -> Option<End> {
        if login_by.is_some_and(|d| d <= Instant::now()) {
            return Some(End::AuthTimeout);
        }
        let expired = self.session.as_ref().is_some_and(|s| s.remaining(now_ms()).is_zero());
        expired.then_some(End::Closed(CloseReason::SessionExpired))
    }

    /// Leaves the hub and tells the peer why the server is closing, where the
    /// closer has not already.
    async fn finish(&mut self, end: End) {
        self.leave_hub().await;
        let reason = match end {
            End::Shutdown => Some(CloseReason::Shutdown),
            End::IdleTimeout => Some(CloseReason::IdleTimeout),
            End::AuthTimeout => Some(CloseReason::AuthTimeout),
            End::Closed(reason) => Some(reason),
            _ => None,
        };
        if let Some(frame) = reason.and_then(|r| closing_frame(r).ok()) {
            self.handle.push_last(frame);
        }
        if end == End::Crowded {
            let body = ErrorBody::new(ErrorCode::Unavailable, Refused::Unauthenticated.message());
            self.handle.push_last(frames::error(0, &body, self.state.config.max_frame));
        }
    }

    /// Joins the hub as `session`, leaving any earlier session of this connection.
    /// The user's first connection tells its friends it is online.
    pub async fn enter_hub(&mut self, session: Session) {
        self.leave_hub().await;
        let first_here = self.state.hub.attach(session.user_id, session.session_id, self.handle.clone());
        if self.state.bus.attached(session.user_id, first_here).await {
            presence::announce(&self.state, session.user_id, &session.username, true).await;
        }
        self.session = Some(session);
    }

    /// Leaves the hub, staying connected but logged out. The user's last connection
    /// tells its friends it is offline.
    pub async fn leave_hub(&mut self) {
        if let Some(s) = self.session.take() {
            let last_here = self.state.hub.detach(s.user_id, self.id);
            if self.state.bus.detached(s.user_id, last_here).await {
                presence::announce(&self.state, s.user_id, &s.username, false).await;
            }
        }
    }

    /// The session of this connection, or `unauthenticated`.
    pub fn me(&self) -> Result<Session, OpError> {
        self.session.clone().ok_or_else(|| OpError::new(ErrorCode::Unauthenticated, "log in first"))
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(mut wr: W, mut rx: OutboxReceiver, close: CancellationToken) {
    while let Some(first) = rx.recv().await {
        let written = match rx.try_recv() {
            // The common case: one frame, written as is.
            None => write(&mut wr, &first).await.then(|| vec![first]),
            Some(second) => write_gathered(&mut wr, &mut rx, [first, second]).await,
        };
        let Some(written) = written else {
            // The peer is gone or stopped reading; the reader ends too.
            rx.close();
            close.cancel();
            return;
        };
        rx.written(&written);
    }
    let _ = tokio::time::timeout(WRITE_TIMEOUT, wr.shutdown()).await;
}

/// Writes `first` and whatever else is queued (up to [`GATHER`] frames), small
/// frames gathered into writes of about [`WRITE_BATCH`] bytes, large ones as they
/// are. Returns the frames written, or `None` when the peer did not take them.
async fn write_gathered<W: AsyncWrite + Unpin>(
    wr: &mut W,
    rx: &mut OutboxReceiver,
    first: [Bytes; 2],
) -> Option<Vec<Bytes>> {
    let mut frames = Vec::from(first);
    let mut next = 0;
    // Made for this burst and freed after it: an idle connection keeps no buffer.
    let mut batch = BytesMut::new();
    loop {
        if next == frames.len() {
            let more = if frames.len() < GATHER { rx.try_recv() } else { None };
            match more {
                Some(frame) => frames.push(frame),
                None => break,
            }
        }
        let frame = &frames[next];
        next += 1;
        if frame.len() >= WRITE_BATCH {
            if !batch.is_empty() && !write(wr, &batch).await {
                return None;
            }
            batch.clear();
            if !write(wr, frame).await {
                return None;
            }
        } else {
            batch.extend_from_slice(frame);
            if batch.len() >= WRITE_BATCH {
                if !write(wr, &batch).await {
                    return None;
                }
                batch.clear();
            }
        }
    }
    if !batch.is_empty() && !write(wr, &batch).await {
        return None;
    }
    Some(frames)
}

async fn write<W: AsyncWrite + Unpin>(wr: &mut W, bytes: &[u8]) -> bool {
    matches!(tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(bytes)).await, Ok(Ok(())))
}
