//! Harness of the end-to-end tests: in-process servers on port 0 over a fresh
//! database of either backend, raw frame connections, and logged-in clients.
//!
//! MariaDB/MySQL tests read the server URL from `CHAT_TEST_MYSQL_URL` (set by
//! `.ci/run`); each test gets a database of its own, dropped when it ends.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use chat_proto::request::{Login, Register};
use chat_proto::{ErrorCode, Event};
use chat_server::config::DatabaseUrl;
use chat_server::store::{self, Store};
use chat_server::{Config, Server};
use chat_tui::{Client, ClientError, Connected, Incoming};
use clap::Parser;
use serde_json::Value;
use sqlx::{ConnectOptions, Connection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a test waits for anything before it fails.
pub const WAIT: Duration = Duration::from_secs(20);
/// The environment variable that points the MariaDB tests at a server.
pub const MYSQL_URL_VAR: &str = "CHAT_TEST_MYSQL_URL";
/// A password that passes the strength check.
pub const PASSWORD: &str = "correct horse battery";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
}

/// Defines one `#[tokio::test]` per backend running `$body(Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::Backend::Sqlite).await;
            })*
        }
        mod mysql {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::Backend::MySql).await;
            })*
        }
    };
}

/// A database made for one test.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    mysql: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

static DB_COUNTER: AtomicU64 = AtomicU64::new(0);

impl TestDb {
    /// A fresh, empty database; `None` (with a note naming the test) when the backend
    /// is MariaDB and `CHAT_TEST_MYSQL_URL` is unset.
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = DatabaseUrl::sqlite_file(&dir.path().join("chat.db")).as_str().to_owned();
                Some(Self { url, mysql: None, _dir: Some(dir) })
            }
            Backend::MySql => {
                let Ok(base) = std::env::var(MYSQL_URL_VAR) else {
                    let test = std::thread::current().name().unwrap_or("?").to_owned();
                    eprintln!("SKIPPED {test}: {MYSQL_URL_VAR} is not set");
                    return None;
                };
                let name = format!(
                    "chat_t_{}_{}_{}",
                    std::process::id(),
                    DB_COUNTER.fetch_add(1, Ordering::Relaxed),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .subsec_nanos()
                );
                let mut admin = admin_connection(&base).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                admin.close().await.unwrap();
                let url = with_database(&base, &name);
                Some(Self { url, mysql: Some((base, name)), _dir: None })
            }
        }
    }

    /// Drops a MariaDB test database.
    pub async fn cleanup(self) {
        if let Some((base, name)) = &self.mysql
            && let Ok(mut admin) = admin_connection(base).await
        {
            let drop = sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`"));
            let _ = sqlx::query(drop).execute(&mut admin).await;
            let _ = admin.close().await;
        }
    }

    pub async fn open_store(&self) -> Arc<dyn Store> {
        Arc::new(store::open(&self.url).await.unwrap())
    }
}

async fn admin_connection(base: &str) -> Result<sqlx::mysql::MySqlConnection, sqlx::Error> {
    base.parse::<sqlx::mysql::MySqlConnectOptions>()?.connect().await
}

/// `base` with its database path replaced by `name`.
fn with_database(base: &str, name: &str) -> String {
    let (without_query, query) = match base.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (base, None),
    };
    let scheme_end = without_query.find("://").map_or(0, |i| i + 3);
    let host_end = without_query[scheme_end..].find('/').map_or(without_query.len(), |i| scheme_end + i);
    let mut url = format!("{}/{}", &without_query[..host_end], name);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// A server running in this process.
#[derive(Debug)]
pub struct TestServer {
    pub addr: SocketAddr,
    pub db: Option<TestDb>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl TestServer {
    /// A server with default settings on a fresh database.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, &[]).await
    }

    /// A server with extra command-line flags on a fresh database.
    pub async fn start_with(backend: Backend, args: &[&str]) -> Option<Self> {
        let db = TestDb::new(backend).await?;
        let server = Self::start_on(&db.url, args).await;
        Some(Self { db: Some(db), ..server })
    }

    /// A server on an existing database (to restart one over the same data).
    pub async fn start_on(url: &str, args: &[&str]) -> Self {
        let log = std::env::var("CHAT_TEST_LOG").unwrap_or_else(|_| "warn".into());
        let mut argv = vec!["chat-server", "--listen", "127.0.0.1:0", "--database", url, "--log", &log];
        argv.extend_from_slice(args);
        let config = Config::try_parse_from(argv).unwrap();
        let server = Server::bind(config).await.unwrap();
        let addr = server.local_addr();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(server.serve(shutdown.clone()));
        Self { addr, db: None, shutdown, task }
    }

    /// A new connection through the client library.
    pub async fn connect(&self) -> Connected {
        Client::connect(self.addr).await.unwrap()
    }

    /// A new raw connection.
    pub async fn raw(&self) -> Raw {
        Raw::connect(self.addr).await
    }

    /// A new connection from the loopback address `ip` (Linux routes all of
    /// 127.0.0.0/8 to lo), to act as another client address.
    pub async fn connect_from(&self, ip: &str) -> Connected {
        Client::from_stream(stream_from(ip, self.addr).await, chat_tui::client::DEFAULT_TIMEOUT)
    }

    /// A new raw connection from the loopback address `ip`.
    pub async fn raw_from(&self, ip: &str) -> Raw {
        let stream = stream_from(ip, self.addr).await;
        stream.set_nodelay(true).unwrap();
        Raw { stream, buf: BytesMut::new() }
    }

    /// Registers `name` (password [`PASSWORD`]) and returns a logged-in connection.
    pub async fn user(&self, name: &str) -> User {
        let conn = self.connect().await;
        conn.client.call(Register { username: name.into(), password: PASSWORD.into() }).await.unwrap();
        self.login(name).await
    }

    /// A new connection logged in as `name`.
    pub async fn login(&self, name: &str) -> User {
        let Connected { client, events } = self.connect().await;
        let reply = client
            .call(Login { username: name.into(), password: PASSWORD.into(), device: None })
            .await
            .unwrap();
        User { client, events, user_id: reply.user_id, username: reply.username, token: reply.token }
    }

    /// Graceful shutdown, as on SIGTERM; returns once the server has finished.
    pub async fn stop(self) -> Option<TestDb> {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task).await.expect("server did not stop").unwrap();
        self.db
    }

    /// Stops the server and drops its database.
    pub async fn finish(self) {
        if let Some(db) = self.stop().await {
            db.cleanup().await;
        }
    }
}

/// A TCP connection to `addr` from the local address `ip`.
async fn stream_from(ip: &str, addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

/// A logged-in connection.
#[derive(Debug)]
pub struct User {
    pub client: Client,
    pub events: mpsc::Receiver<Incoming>,
    pub user_id: u64,
    pub username: String,
    pub token: String,
}

impl User {
    /// Every event that reached this connection so far, in order. A ping round trip
    /// comes first: the server queues an op's events before its reply, so whatever an
    /// op already answered has caused is in by then.
    pub async fn events_so_far(&mut self) -> Vec<Event> {
        self.client.call(chat_proto::request::Ping {}).await.unwrap();
        let mut seen = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            seen.push(expect_event(e));
        }
        seen
    }

    /// The next event, failing the test if none comes in time.
    pub async fn next_event(&mut self) -> Event {
        let incoming = tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("no event in time")
            .expect("connection closed");
        expect_event(incoming)
    }
}

/// The event itself: a test reads its events, so the connection never drops any.
pub fn expect_event(incoming: Incoming) -> Event {
    match incoming {
        Incoming::Event(e) => e,
        Incoming::Overflowed { dropped } => panic!("the test fell behind its events: {dropped} dropped"),
    }
}

/// The error code of a failed call, failing the test when it succeeded.
pub fn code<T: std::fmt::Debug>(result: Result<T, ClientError>) -> ErrorCode {
    match result {
        Err(e) => e.code().unwrap_or_else(|| panic!("not a server error: {e}")),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

/// A connection speaking raw frames, for the framing rules.
#[derive(Debug)]
pub struct Raw {
    pub stream: TcpStream,
    buf: BytesMut,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Self { stream, buf: BytesMut::new() }
    }

    /// Writes bytes as they are.
    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Writes one frame around `payload`.
    pub async fn send(&mut self, payload: &[u8]) {
        self.write(&frame(payload)).await;
    }

    pub async fn send_json(&mut self, value: &Value) {
        self.send(&serde_json::to_vec(value).unwrap()).await;
    }

    /// Sends a request and returns its reply, skipping any events before it.
    pub async fn call(&mut self, value: &Value) -> Value {
        self.send_json(value).await;
        loop {
            let frame = self.recv().await.expect("connection closed before the reply");
            if frame.get("re").is_some() {
                return frame;
            }
        }
    }

    /// The next frame, or `None` once the server closed the connection.
    pub async fn recv(&mut self) -> Option<Value> {
        tokio::time::timeout(WAIT, self.recv_inner()).await.expect("no frame in time")
    }

    async fn recv_inner(&mut self) -> Option<Value> {
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
                if self.buf.len() >= 4 + len {
                    self.buf.advance(4);
                    let payload = self.buf.split_to(len);
                    return Some(serde_json::from_slice(&payload).unwrap());
                }
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Waits until the server closes the connection, returning the frames it sent
    /// before closing.
    pub async fn until_closed(&mut self) -> Vec<Value> {
        let mut frames = Vec::new();
        while let Some(f) = self.recv().await {
            frames.push(f);
        }
        frames
    }
}

/// A raw connection the server admits (it answers a ping), connecting again while
/// the place a closed connection held is not free yet.
pub async fn admitted<F, Fut>(connect: F) -> Raw
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Raw>,
{
    loop {
        let mut c = connect().await;
        c.send_json(&serde_json::json!({"id": 1, "op": "ping"})).await;
        match c.recv().await {
            Some(reply) if reply["ok"] == true => return c,
            _ => tokio::task::yield_now().await, // the old connection is still closing
        }
    }
}

/// `payload` with its length header.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

/// The error code of a raw reply.
pub fn raw_code(reply: &Value) -> &str {
    assert_eq!(reply["ok"], false, "expected an error: {reply}");
    reply["error"]["code"].as_str().unwrap()
}

/// A `redis-server` of the test's own, on a free port, keeping nothing on disk:
/// tests that need Redis, or kill it, never touch anyone else's.
#[derive(Debug)]
pub struct RedisServer {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl RedisServer {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut redis = Self { port, child: None };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs one command with `redis-cli`; returns what it printed.
    pub fn command(&self, args: &[String]) -> String {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli is needed for the cluster tests");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Kills it (as SIGKILL would): everything it held is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again, empty) on its port, and waits until it answers.
    pub async fn restart(&mut self) {
        self.kill();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is needed for the cluster tests (.ci/run installs it)");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
