//! The connection to a chat server.
//!
//! One reader task is the only reader of the socket. Each request registers a
//! oneshot under its id in the pending map *before* it is written; the reader
//! completes it when the reply with that `re` arrives, and sends events to a
//! channel. A reply therefore always reaches its own caller, whatever else is in
//! flight (the seed client's background reader stole the login reply), and never
//! waits behind events: when the caller does not keep up, the reader drops events
//! and tells it to catch up ([`Incoming::Overflowed`]) rather than wait for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chat_proto::envelope::{OutgoingRequest, ServerFrame, result_as};
use chat_proto::{Call, ErrorBody, FrameCodec, Request, encode_frame};
use futures::StreamExt;
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::incoming::EventSink;
pub use crate::incoming::Incoming;
use crate::tls::Endpoint;

/// How long a request waits for its reply by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest frame the client reads (servers default to 1 MiB).
pub const CLIENT_MAX_FRAME: usize = 64 << 20;
/// Events buffered for the caller; beyond them the reader drops events (and says
/// so) rather than wait for it.
pub const EVENT_QUEUE: usize = 4096;
/// Requests queued for the writer.
const OUTBOX: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    #[error("the server refused `{op}`: {error}")]
    Server { op: &'static str, error: ErrorBody },
    #[error("no reply to `{op}` within {timeout:?}")]
    Timeout { op: &'static str, timeout: Duration },
    #[error("the connection to the server is lost")]
    Disconnected,
    #[error("unexpected reply to `{op}`: {detail}")]
    Protocol { op: &'static str, detail: String },
    #[error("cannot encode request: {0}")]
    Encode(#[from] chat_proto::FrameError),
}

impl ClientError {
    /// The server's error code, when the server refused the request.
    pub fn code(&self) -> Option<chat_proto::ErrorCode> {
        match self {
            ClientError::Server { error, .. } => Some(error.code),
            _ => None,
        }
    }

    /// How long the server asked to wait before retrying (with `rate_limited`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Server { error, .. } => error.retry_after_ms.map(Duration::from_millis),
            _ => None,
        }
    }
}

type ReplySlot = oneshot::Sender<Result<Map<String, Value>, ErrorBody>>;

#[derive(Debug)]
struct Inner {
    outbox: mpsc::Sender<Bytes>,
    pending: Mutex<HashMap<u64, ReplySlot>>,
    next_id: AtomicU64,
    timeout: Duration,
    closed: CancellationToken,
}

impl Inner {
    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, ReplySlot>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A connected client; clones share the connection, which closes when the last
/// clone is dropped.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
    _owner: Arc<Owner>,
}

/// Held only by [`Client`]s (not by the connection's own tasks), so that dropping
/// the last one closes the connection.
#[derive(Debug)]
struct Owner(CancellationToken);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// A new connection: the client and the stream of events the server pushes.
#[derive(Debug)]
pub struct Connected {
    pub client: Client,
    /// Events in order, with a marker where the caller fell behind and some were
    /// dropped.
    pub events: mpsc::Receiver<Incoming>,
}

impl Client {
    /// Connects with the default request timeout.
    pub async fn connect(addr: impl ToSocketAddrs) -> Result<Connected, ClientError> {
        Self::connect_with_timeout(addr, DEFAULT_TIMEOUT).await
    }

    pub async fn connect_with_timeout(
        addr: impl ToSocketAddrs,
        timeout: Duration,
    ) -> Result<Connected, ClientError> {
        let stream = TcpStream::connect(addr).await.map_err(ClientError::Connect)?;
        Ok(Self::from_stream(stream, timeout))
    }

    /// A client over an already connected stream (e.g. one bound to a chosen local
    /// address).
    pub fn from_stream(stream: TcpStream, timeout: Duration) -> Connected {
        let _ = stream.set_nodelay(true);
        let (rd, wr) = stream.into_split();
        Self::start(rd, wr, timeout)
    }

    /// Connects to `endpoint`, over TLS when it says so.
    pub async fn open(endpoint: &Endpoint, timeout: Duration) -> Result<Connected, ClientError> {
        let stream = TcpStream::connect(endpoint.addr()).await.map_err(ClientError::Connect)?;
        let Some((connector, name)) = endpoint.tls() else {
            return Ok(Self::from_stream(stream, timeout));
        };
        let _ = stream.set_nodelay(true);
        // A peer that accepts and then says nothing must not hang the caller.
        let handshake = tokio::time::timeout(timeout, connector.connect(name.clone(), stream)).await;
        let stream = handshake
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no TLS handshake in time"))
            .and_then(|r| r)
            .map_err(ClientError::Tls)?;
        let (rd, wr) = tokio::io::split(stream);
        Ok(Self::start(rd, wr, timeout))
    }

    fn start<R, W>(rd: R, wr: W, timeout: Duration) -> Connected
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (outbox, outbox_rx) = mpsc::channel(OUTBOX);
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
        let inner = Arc::new(Inner {
            outbox,
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            timeout,
            closed: CancellationToken::new(),
        });
        tokio::spawn(write_loop(wr, outbox_rx, inner.closed.clone()));
        tokio::spawn(read_loop(rd, inner.clone(), EventSink::new(events_tx)));
        let owner = Arc::new(Owner(inner.closed.clone()));
        Connected { client: Client { inner, _owner: owner }, events }
    }

    /// Sends one request and waits for its reply.
    pub async fn call<C: Call>(&self, request: C) -> Result<C::Reply, ClientError> {
        let fields = self.call_raw(request.into()).await?;
        result_as(fields).map_err(|e| ClientError::Protocol { op: C::OP, detail: e.to_string() })
    }

    /// Sends one request and returns its reply's result fields.
    pub async fn call_raw(&self, request: Request) -> Result<Map<String, Value>, ClientError> {
        let op = request.op();
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = encode_frame(&OutgoingRequest { id, request: &request }, CLIENT_MAX_FRAME)?;
        let (tx, rx) = oneshot::channel();
        // Registered before it is written, so the reply cannot arrive unclaimed.
        self.inner.pending().insert(id, tx);
        if self.inner.closed.is_cancelled() || self.inner.outbox.send(frame).await.is_err() {
            self.inner.pending().remove(&id);
            return Err(ClientError::Disconnected);
        }
        match tokio::time::timeout(self.inner.timeout, rx).await {
            Ok(Ok(Ok(fields))) => Ok(fields),
            Ok(Ok(Err(error))) => Err(ClientError::Server { op, error }),
            Ok(Err(_)) => Err(ClientError::Disconnected),
            Err(_) => {
                self.inner.pending().remove(&id);
                Err(ClientError::Timeout { op, timeout: self.inner.timeout })
            }
        }
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.is_cancelled()
    }

    /// Resolves once the connection is gone.
    pub async fn closed(&self) {
        self.inner.closed.cancelled().await;
    }

    /// Closes the connection; pending requests fail with `Disconnected`.
    pub fn close(&self) {
        self.inner.closed.cancel();
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut outbox: mpsc::Receiver<Bytes>,
    closed: CancellationToken,
) {
    loop {
        let frame = tokio::select! {
            _ = closed.cancelled() => break,
            frame = outbox.recv() => match frame {
                Some(frame) => frame,
                None => break,
            },
        };
        if wr.write_all(&frame).await.is_err() {
            break;
        }
    }
    closed.cancel();
    let _ = wr.shutdown().await;
}

async fn read_loop<R: AsyncRead + Unpin>(rd: R, inner: Arc<Inner>, mut events: EventSink) {
    let mut frames = FramedRead::new(rd, FrameCodec::new(CLIENT_MAX_FRAME));
    loop {
        let owes_marker = events.owes_marker();
        let payload = tokio::select! {
            _ = inner.closed.cancelled() => break,
            // Told as soon as there is room, even if no other event comes.
            () = events.place_marker(), if owes_marker => continue,
            next = frames.next() => match next {
                Some(Ok(payload)) => payload,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "connection read failed");
                    break;
                }
                None => break,
            },
        };
        match ServerFrame::parse(&payload) {
            // `re` 0 answers no request: the server refuses the connection itself
            // (at its limits, or a plain client on a TLS port). Every waiting
            // request learns why.
            Ok(ServerFrame::Reply { re: 0, result: Err(error) }) => {
                tracing::warn!(code = %error.code, message = %error.message, "the server refused the connection");
                for (_, slot) in inner.pending().drain() {
                    let _ = slot.send(Err(error.clone()));
                }
            }
            Ok(ServerFrame::Reply { re, result }) => {
                let slot = inner.pending().remove(&re);
                match slot {
                    Some(slot) => {
                        let _ = slot.send(result);
                    }
                    None => tracing::debug!(re, "reply to no pending request (timed out?)"),
                }
            }
            Ok(ServerFrame::Event(event)) => events.push(event),
            Ok(ServerFrame::UnknownEvent(map)) => {
                tracing::debug!(event = ?map.get("event"), "ignoring unknown event");
            }
            Err(e) => tracing::warn!(error = %e, "unreadable frame from server"),
        }
    }
    inner.closed.cancel();
    // Every request still waiting fails now, not at its timeout.
    inner.pending().clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_proto::Event;
    use chat_proto::event::Presence;
    use chat_proto::request::Ping;

    fn event(n: u64) -> Event {
        Event::Presence(Presence { user: format!("u{n}"), user_id: n, online: true })
    }

    /// A server that answers the first request only after twice as many events as the
    /// queue holds. The caller reads no events until its reply came: a reader that
    /// waited for room would never deliver that reply.
    #[tokio::test]
    async fn a_reply_behind_more_events_than_the_queue_holds_still_arrives() {
        let (near, far) = tokio::io::duplex(1 << 16);
        let (rd, wr) = tokio::io::split(near);
        let Connected { client, mut events } = Client::start(rd, wr, Duration::from_secs(10));
        let (drained, more) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let (far_rd, mut far_wr) = tokio::io::split(far);
            let mut requests = FramedRead::new(far_rd, FrameCodec::new(CLIENT_MAX_FRAME));
            let request: Map<String, Value> =
                serde_json::from_slice(&requests.next().await.unwrap().unwrap()).unwrap();
            let flood = 2 * EVENT_QUEUE as u64;
            for n in 0..flood {
                far_wr.write_all(&encode_frame(&event(n), CLIENT_MAX_FRAME).unwrap()).await.unwrap();
            }
            let reply = serde_json::json!({"re": request["id"], "ok": true});
            far_wr.write_all(&encode_frame(&reply, CLIENT_MAX_FRAME).unwrap()).await.unwrap();
            more.await.unwrap();
            far_wr.write_all(&encode_frame(&event(flood), CLIENT_MAX_FRAME).unwrap()).await.unwrap();
            (far_wr, requests) // kept open until the test has read everything
        });

        client.call(Ping {}).await.expect("the reply did not wait behind the events");

        for n in 0..EVENT_QUEUE as u64 {
            assert_eq!(events.recv().await, Some(Incoming::Event(event(n))));
        }
        let dropped = EVENT_QUEUE as u64;
        assert_eq!(events.recv().await, Some(Incoming::Overflowed { dropped }), "told, once there is room");
        drained.send(()).unwrap();
        assert_eq!(events.recv().await, Some(Incoming::Event(event(2 * dropped))), "later events flow again");
        drop(server.await.unwrap());
    }
}
