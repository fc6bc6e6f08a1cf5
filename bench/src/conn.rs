//! A lean client connection: one reader task that parses every frame once and hands
//! it to the connection's [`Handler`], and one writer task that drains a byte buffer
//! into the socket, so every frame produced while it was writing leaves in the next
//! single write.
//!
//! Request ids split in two ranges. Below [`HOT_ID_BASE`] they belong to [`Conn::call`]
//! (setup: one waiter per request); from it up they belong to the handler, which
//! matches them itself without any map or lock. Nothing here is shared between
//! connections.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use chat_proto::envelope::{OutgoingRequest, ServerFrame, result_as};
use chat_proto::request::{Call, Ping, Request};
use chat_proto::{ErrorBody, FrameCodec};
use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tokio_util::codec::Decoder;

use crate::frame::{EncodeError, EventName, Incoming, encode_into};

/// First request id the handler owns; lower ids are [`Conn::call`]'s.
pub const HOT_ID_BASE: u64 = 1 << 52;
/// Keepalive pings share one id: they are a heartbeat apart, so never two in flight.
/// It is in the call range but never registered, so its reply is dropped.
const PING_ID: u64 = HOT_ID_BASE - 1;

/// What a connection does with the frames that are not replies to [`Conn::call`]:
/// events, and replies to requests it wrote itself with ids from [`HOT_ID_BASE`].
pub trait Handler: Send + 'static {
    /// `now` is when the read that brought this frame completed.
    fn on_frame(&mut self, frame: &Incoming<'_>, now: Instant, out: &Writer);

    /// The connection ended; nothing more will come.
    fn on_end(&mut self) {}
}

/// Ignores everything: for connections that only make calls or hold still.
#[derive(Debug, Default)]
pub struct Quiet;

impl Handler for Quiet {
    fn on_frame(&mut self, _: &Incoming<'_>, _: Instant, _: &Writer) {}
}

/// Settings every connection of a run shares.
#[derive(Debug, Clone)]
pub struct ConnOpts {
    pub max_frame: usize,
    /// A connection that wrote nothing for this long sends a `ping`.
    pub heartbeat: Duration,
    /// Initial read buffer; small for the idle scenario's many connections.
    pub read_buffer: usize,
    /// Longest wait for a reply to [`Conn::call`].
    pub call_timeout: Duration,
}

/// Why a [`Conn::call`] failed.
#[derive(Debug)]
pub enum CallError {
    /// The server answered with an error.
    Server(ErrorBody),
    /// The connection ended first; with the `re` 0 error the server sent before
    /// closing, if any (`unavailable` when it is at its connection limit).
    Closed(Option<ErrorBody>),
    Timeout(Duration),
    Encode(EncodeError),
    /// The reply did not have the op's result fields.
    Decode(String),
}

impl CallError {
    /// The server's error code behind this failure, if the server sent one.
    pub fn code(&self) -> Option<chat_proto::ErrorCode> {
        match self {
            CallError::Server(e) | CallError::Closed(Some(e)) => Some(e.code),
            _ => None,
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Server(e) => write!(f, "server error {e}"),
            CallError::Closed(Some(e)) => write!(f, "connection closed by the server after {e}"),
            CallError::Closed(None) => write!(f, "connection closed"),
            CallError::Timeout(d) => write!(f, "no reply within {d:?}"),
            CallError::Encode(e) => e.fmt(f),
            CallError::Decode(e) => write!(f, "unexpected reply: {e}"),
        }
    }
}

impl std::error::Error for CallError {}

type CallReply = Result<Map<String, Value>, ErrorBody>;

#[derive(Debug, Default)]
struct Outbox {
    buf: BytesMut,
    /// No more frames are accepted; the writer flushes what is here and shuts down.
    closed: bool,
}

#[derive(Debug)]
struct Shared {
    outbox: Mutex<Outbox>,
    wake_writer: Notify,
    calls: Mutex<HashMap<u64, oneshot::Sender<CallReply>>>,
    next_call: AtomicU64,
    /// The `re` 0 error the server sent (it closes right after).
    refusal: OnceLock<ErrorBody>,
    /// Set once we asked for the end, so that an end the server chose is told apart.
    ending: AtomicBool,
    max_frame: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn close_outbox(&self) {
        lock(&self.outbox).closed = true;
        self.wake_writer.notify_one();
    }
}

/// Appends frames to a connection's outbox; cheap to clone.
#[derive(Debug, Clone)]
pub struct Writer(Arc<Shared>);

impl Writer {
    /// Queues `request` with `id`. Fails once the connection is closing.
    pub fn request(&self, id: u64, request: &Request) -> Result<(), WriteError> {
        let mut outbox = lock(&self.0.outbox);
        if outbox.closed {
            return Err(WriteError::Closed);
        }
        // The writer needs waking only when it may have found the outbox empty; while
        // it is non-empty a wake-up is already pending.
        let was_empty = outbox.buf.is_empty();
        encode_into(&mut outbox.buf, &OutgoingRequest { id, request }, self.0.max_frame)
            .map_err(WriteError::Encode)?;
        drop(outbox);
        if was_empty {
            self.0.wake_writer.notify_one();
        }
        Ok(())
    }
}

/// Why a frame could not be queued.
#[derive(Debug)]
pub enum WriteError {
    Closed,
    Encode(EncodeError),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Closed => f.write_str("connection closed"),
            WriteError::Encode(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for WriteError {}

/// What is left of a connection once its reader stopped.
#[derive(Debug)]
pub struct Ended<H> {
    pub handler: H,
    /// Why it ended other than as asked: an I/O or framing error, the server's
    /// closing reason, or an end the server chose.
    pub problem: Option<String>,
    /// Frames that were not JSON objects the bench could read.
    pub bad_frames: u64,
}

/// A connection with its reader and writer tasks running.
#[derive(Debug)]
pub struct Conn<H> {
    shared: Arc<Shared>,
    reader: JoinHandle<Ended<H>>,
    writer: JoinHandle<()>,
    stop_reader: Option<oneshot::Sender<()>>,
    call_timeout: Duration,
}

impl<H: Handler> Conn<H> {
    /// Connects to `addr`, from `source` when given, and starts the tasks.
    pub async fn connect(
        addr: SocketAddr,
        source: Option<Ipv4Addr>,
        opts: &ConnOpts,
        handler: H,
    ) -> std::io::Result<Self> {
        let socket = TcpSocket::new_v4()?;
        if let Some(ip) = source {
            socket.bind(SocketAddr::new(ip.into(), 0))?;
        }
        let stream = socket.connect(addr).await?;
        // Requests are small and latency is what is measured.
        stream.set_nodelay(true)?;
        let (rd, wr) = stream.into_split();
        let shared = Arc::new(Shared {
            outbox: Mutex::new(Outbox::default()),
            wake_writer: Notify::new(),
            calls: Mutex::new(HashMap::new()),
            next_call: AtomicU64::new(1),
            refusal: OnceLock::new(),
            ending: AtomicBool::new(false),
            max_frame: opts.max_frame,
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let reader = tokio::spawn(read_loop(rd, shared.clone(), handler, stop_rx, opts.read_buffer));
        let writer = tokio::spawn(write_loop(wr, shared.clone(), opts.heartbeat));
        Ok(Self { shared, reader, writer, stop_reader: Some(stop_tx), call_timeout: opts.call_timeout })
    }

    /// A handle to queue frames on this connection.
    pub fn writer(&self) -> Writer {
        Writer(self.shared.clone())
    }

    /// Sends `request` and waits for its reply.
    pub async fn call<C: Call>(&self, request: C) -> Result<C::Reply, CallError> {
        let id = self.shared.next_call.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.calls).insert(id, tx);
        // The reader closes the outbox before failing the waiters, so a waiter
        // registered after that is caught here instead of waiting forever.
        if let Err(e) = self.writer().request(id, &request.into()) {
            lock(&self.shared.calls).remove(&id);
            return Err(match e {
                WriteError::Closed => CallError::Closed(self.shared.refusal.get().cloned()),
                WriteError::Encode(e) => CallError::Encode(e),
            });
        }
        let reply = match tokio::time::timeout(self.call_timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => return Err(CallError::Closed(self.shared.refusal.get().cloned())),
            Err(_) => {
                lock(&self.shared.calls).remove(&id);
                return Err(CallError::Timeout(self.call_timeout));
            }
        };
        match reply {
            Ok(fields) => result_as(fields).map_err(|e| CallError::Decode(e.to_string())),
            Err(e) => Err(CallError::Server(e)),
        }
    }

    /// Whether the reader still runs (the server has not closed the connection).
    pub fn is_open(&self) -> bool {
        !self.reader.is_finished()
    }

    /// Closes the connection: flushes what is queued, sends FIN, and waits up to
    /// `grace` for the server to close its side, then stops reading regardless.
    pub async fn finish(mut self, grace: Duration) -> Ended<H> {
        self.shared.ending.store(true, Ordering::Relaxed);
        self.shared.close_outbox();
        let mut reader = self.reader;
        let ended = match tokio::time::timeout(grace, &mut reader).await {
            Ok(joined) => joined,
            Err(_) => {
                if let Some(stop) = self.stop_reader.take() {
                    let _ = stop.send(());
                }
                reader.await
            }
        };
        // A writer stuck on a peer that stopped reading must not outlive the run.
        self.writer.abort();
        match ended {
            Ok(ended) => ended,
            Err(e) => match e.try_into_panic() {
                // A panic in a reader is a bench bug: show it as is.
                Ok(payload) => std::panic::resume_unwind(payload),
                // Only the runtime's shutdown cancels a reader, and then nothing awaits it.
                Err(e) => panic!("connection reader cancelled: {e}"),
            },
        }
    }
}

async fn read_loop<H: Handler>(
    mut rd: OwnedReadHalf,
    shared: Arc<Shared>,
    mut handler: H,
    mut stop: oneshot::Receiver<()>,
    read_buffer: usize,
) -> Ended<H> {
    let writer = Writer(shared.clone());
    let mut codec = FrameCodec::new(shared.max_frame);
    let mut buf = BytesMut::with_capacity(read_buffer);
    let mut problem = None;
    let mut bad_frames = 0;
    'read: loop {
        if buf.capacity() - buf.len() < read_buffer / 2 {
            buf.reserve(read_buffer);
        }
        let read = tokio::select! {
            biased;
            read = rd.read_buf(&mut buf) => read,
            _ = &mut stop => break 'read,
        };
        match read {
            Ok(0) => {
                if !shared.ending.load(Ordering::Relaxed) && problem.is_none() {
                    problem = Some("closed by the server".to_owned());
                }
                break;
            }
            Ok(_) => {}
            Err(e) => {
                problem = Some(format!("read failed: {e}"));
                break;
            }
        }
        let now = Instant::now();
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    if let Err(why) = dispatch(&shared, &mut handler, &writer, &frame, now) {
                        match why {
                            Unusual::BadFrame => bad_frames += 1,
                            Unusual::Closing(reason) => problem = Some(reason),
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    problem = Some(format!("bad frame from the server: {e}"));
                    break 'read;
                }
            }
        }
    }
    // Order matters for `Conn::call`: close the outbox first, then fail the waiters.
    shared.close_outbox();
    lock(&shared.calls).clear();
    handler.on_end();
    Ended { handler, problem, bad_frames }
}

enum Unusual {
    BadFrame,
    Closing(String),
}

fn dispatch<H: Handler>(
    shared: &Shared,
    handler: &mut H,
    writer: &Writer,
    frame: &[u8],
    now: Instant,
) -> Result<(), Unusual> {
    let incoming: Incoming = serde_json::from_slice(frame).map_err(|_| Unusual::BadFrame)?;
    if let Some(re) = incoming.re {
        if re == 0
            && let Ok(ServerFrame::Reply { result: Err(e), .. }) = ServerFrame::parse(frame)
        {
            let _ = shared.refusal.set(e);
        }
        if re < HOT_ID_BASE {
            let waiter = lock(&shared.calls).remove(&re);
            if let Some(waiter) = waiter {
                let reply = match ServerFrame::parse(frame) {
                    Ok(ServerFrame::Reply { result, .. }) => result,
                    _ => return Err(Unusual::BadFrame),
                };
                let _ = waiter.send(reply);
            }
            return Ok(());
        }
    }
    handler.on_frame(&incoming, now, writer);
    if incoming.event == Some(EventName::Closing) {
        let reason = match ServerFrame::parse(frame) {
            Ok(ServerFrame::Event(chat_proto::Event::Closing(c))) => format!("{:?}", c.reason),
            _ => "unknown".to_owned(),
        };
        return Err(Unusual::Closing(format!("server sent closing ({reason})")));
    }
    Ok(())
}

async fn write_loop(mut wr: OwnedWriteHalf, shared: Arc<Shared>, heartbeat: Duration) {
    let mut batch = BytesMut::new();
    let keepalive = tokio::time::sleep(heartbeat);
    tokio::pin!(keepalive);
    // Whether anything was written since the last keepalive tick: the timer is not
    // re-armed per write, only checked when it fires.
    let mut active = false;
    let ping: Request = Ping {}.into();
    loop {
        let closed = {
            let mut outbox = lock(&shared.outbox);
            std::mem::swap(&mut outbox.buf, &mut batch);
            outbox.closed
        };
        if !batch.is_empty() {
            if wr.write_all(&batch).await.is_err() {
                // The reader sees the same end and reports it.
                shared.close_outbox();
                return;
            }
            batch.clear();
            active = true;
            continue;
        }
        if closed {
            break;
        }
        tokio::select! {
            _ = shared.wake_writer.notified() => {}
            _ = &mut keepalive => {
                if !active {
                    let _ = encode_into(&mut batch, &OutgoingRequest { id: PING_ID, request: &ping }, shared.max_frame);
                    if wr.write_all(&batch).await.is_err() {
                        shared.close_outbox();
                        return;
                    }
                    batch.clear();
                }
                active = false;
                keepalive.as_mut().reset(tokio::time::Instant::now() + heartbeat);
            }
        }
    }
    let _ = wr.shutdown().await;
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use futures::StreamExt;
    use tokio::net::TcpListener;
    use tokio_util::codec::FramedRead;

    use super::*;

    fn opts(heartbeat: Duration) -> ConnOpts {
        ConnOpts { max_frame: 1 << 20, heartbeat, read_buffer: 64, call_timeout: Duration::from_secs(5) }
    }

    /// A server that answers every request `{"re": id, "ok": true}` and counts pings.
    async fn echo_server(pings: Arc<AtomicUsize>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (rd, mut wr) = stream.into_split();
            let mut frames = FramedRead::new(rd, FrameCodec::new(1 << 20));
            while let Some(Ok(frame)) = frames.next().await {
                let req: Value = serde_json::from_slice(&frame).unwrap();
                if req["op"] == "ping" {
                    pings.fetch_add(1, Ordering::Relaxed);
                }
                let reply = serde_json::json!({"re": req["id"], "ok": true});
                wr.write_all(&chat_proto::encode_frame(&reply, 1 << 20).unwrap()).await.unwrap();
            }
        });
        addr
    }

    /// Counts the replies to hot ids it sees.
    #[derive(Debug, Default)]
    struct Hot(Vec<u64>);

    impl Handler for Hot {
        fn on_frame(&mut self, frame: &Incoming<'_>, _: Instant, _: &Writer) {
            self.0.extend(frame.re);
        }
    }

    #[tokio::test]
    async fn calls_and_hot_requests_reach_their_owners() {
        let addr = echo_server(Arc::default()).await;
        let conn = Conn::connect(addr, None, &opts(Duration::from_secs(60)), Hot::default()).await.unwrap();
        let ping: Request = Ping {}.into();
        conn.writer().request(HOT_ID_BASE + 7, &ping).unwrap();
        conn.call(Ping {}).await.unwrap();
        conn.writer().request(HOT_ID_BASE + 8, &ping).unwrap();
        conn.call(Ping {}).await.unwrap();
        let ended = conn.finish(Duration::from_millis(200)).await;
        assert_eq!(ended.handler.0, vec![HOT_ID_BASE + 7, HOT_ID_BASE + 8]);
        assert_eq!(ended.bad_frames, 0);
    }

    #[tokio::test]
    async fn a_silent_connection_pings() {
        let pings = Arc::new(AtomicUsize::new(0));
        let addr = echo_server(pings.clone()).await;
        let conn = Conn::connect(addr, None, &opts(Duration::from_millis(40)), Quiet).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(pings.load(Ordering::Relaxed) >= 2);
        assert!(conn.is_open());
        conn.finish(Duration::from_millis(200)).await;
    }

    #[tokio::test]
    async fn a_refusal_is_reported_with_its_code() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let refusal = serde_json::json!({"re": 0, "ok": false, "error": {"code": "unavailable", "message": "full"}});
            stream.write_all(&chat_proto::encode_frame(&refusal, 1 << 20).unwrap()).await.unwrap();
        });
        let conn = Conn::connect(addr, None, &opts(Duration::from_secs(60)), Quiet).await.unwrap();
        let err = conn.call(Ping {}).await.unwrap_err();
        assert_eq!(err.code(), Some(chat_proto::ErrorCode::Unavailable), "{err}");
        let ended = conn.finish(Duration::from_millis(200)).await;
        assert!(ended.problem.is_some());
    }
}
