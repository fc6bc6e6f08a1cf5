//! The daemon's settings: command-line flags, each also read from a `CHAT_*`
//! environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;
use clap::builder::TypedValueParser as _;

/// What an acknowledged write survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// A crash of the server process (SQLite: WAL with synchronous=NORMAL).
    Process,
    /// Also a power loss or an OS crash (SQLite: WAL with synchronous=FULL).
    Power,
}

/// A database URL; Debug and errors never show its password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The default: a SQLite file in the platform data directory.
    pub fn default_sqlite() -> Result<(Self, PathBuf), std::io::Error> {
        let dirs = directories::ProjectDirs::from("", "", "chat-server").ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "no home directory to keep the database in")
        })?;
        // The store creates the directory, owner-only, when it opens the file.
        let path = dirs.data_dir().join("chat.db");
        Ok((Self::sqlite_file(&path), path))
    }

    /// A URL for the SQLite file at `path`, created if missing.
    pub fn sqlite_file(path: &std::path::Path) -> Self {
        Self(format!("sqlite://{}?mode=rwc", path.display()))
    }
}

impl FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", crate::store::redact_url(&self.0))
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// A session lifetime in days: more than 0, at most 3650.
fn parse_ttl_days(s: &str) -> Result<f64, String> {
    let days: f64 = s.parse().map_err(|_| format!("`{s}` is not a number of days"))?;
    if days > 0.0 && days <= 3650.0 {
        Ok(days)
    } else {
        Err("must be more than 0 and at most 3650 days".into())
    }
}

/// chat-server: a self-hosted instant-messaging server.
///
/// Every flag can also be set with the environment variable shown beside it.
#[derive(Debug, Clone, Parser)]
#[command(name = "chat-server", version, about, long_about = None)]
pub struct Config {
    /// Address and port to accept clients on.
    #[arg(long, env = "CHAT_LISTEN", default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,

    /// Database URL: `sqlite:PATH` (created if missing, with its directory, both
    /// private to this user; `?mode=rw` opens only an existing file) or
    /// `mysql://USER:PASSWORD@HOST:PORT/DB` for MySQL/MariaDB. Default: a SQLite file
    /// `chat.db` in the platform data directory (on Linux
    /// ~/.local/share/chat-server).
    #[arg(long, env = "CHAT_DATABASE", hide_env_values = true)]
    pub database: Option<DatabaseUrl>,

    /// Largest frame payload accepted or sent, in bytes. A client announcing a larger
    /// frame gets `frame_too_large` and is disconnected.
    #[arg(long, env = "CHAT_MAX_FRAME", default_value_t = chat_proto::DEFAULT_MAX_FRAME,
          value_parser = clap::value_parser!(u32).range(4096..=67_108_864).map(|v| v as usize))]
    pub max_frame: usize,

    /// Seconds a connection may stay silent before it is closed. Clients are told to
    /// ping every third of it (`heartbeat_secs` in `hello`).
    #[arg(long, env = "CHAT_IDLE_TIMEOUT", default_value_t = 90,
          value_parser = clap::value_parser!(u64).range(3..=86_400))]
    pub idle_timeout: u64,

    /// Most simultaneous client connections; more are refused with `unavailable`.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    pub max_connections: usize,

    /// Bytes of replies and events queued for one connection. While its replies
    /// hold more, the server stops reading its requests until it reads; events
    /// beyond twice this close it as too slow (it catches up with `sync` when it
    /// reconnects). At least --max-frame.
    #[arg(long, env = "CHAT_OUTBOX_BYTES", default_value_t = 4 << 20,
          value_parser = clap::value_parser!(u32).range(4096..).map(|v| v as usize))]
    pub outbox_bytes: usize,

    /// Log filter, in tracing's EnvFilter syntax (e.g. `info`, `chat_server=debug`).
    #[arg(long = "log", env = "CHAT_LOG", default_value = "info")]
    pub log: String,

    /// Days a session token stays valid after its last login or resume (fractions
    /// allowed). A connection still open when its session ends is closed.
    #[arg(long, env = "CHAT_SESSION_TTL_DAYS", default_value_t = 30.0, value_parser = parse_ttl_days)]
    pub session_ttl_days: f64,

    /// Failed password checks of one username from one address (IPv6: its /64) before
    /// that pair is refused with `rate_limited` for the throttle window.
    #[arg(long, env = "CHAT_LOGIN_MAX_FAILURES", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub login_max_failures: u32,

    /// Failed logins from one address within the throttle window before further
    /// attempts from it are refused.
    #[arg(long, env = "CHAT_LOGIN_MAX_FAILURES_PER_ADDR", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub login_max_failures_per_addr: u32,

    /// Seconds after its last failure that a failed-login count is forgotten (and
    /// that a locked pair or address stays refused).
    #[arg(long, env = "CHAT_LOGIN_WINDOW", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub login_window: u64,

    /// Largest message body, in bytes.
    #[arg(long, env = "CHAT_MAX_BODY", default_value_t = 65_536)]
    pub max_body: u64,

    /// Largest file, in bytes.
    #[arg(long, env = "CHAT_MAX_FILE_SIZE", default_value_t = 100 * 1024 * 1024)]
    pub max_file_size: u64,

    /// Largest `file_chunk` / `file_download` piece, in raw bytes.
    #[arg(long, env = "CHAT_MAX_CHUNK", default_value_t = 256 * 1024)]
    pub max_chunk: u64,

    /// Most members of one group.
    #[arg(long, env = "CHAT_MAX_GROUP_MEMBERS", default_value_t = 2_000)]
    pub max_group_members: u64,

    /// Seconds after sending during which a message may be recalled.
    #[arg(long, env = "CHAT_RECALL_WINDOW", default_value_t = 120)]
    pub recall_window: u64,

    /// Largest `sync` / `history` / `conversations` page.
    #[arg(long, env = "CHAT_PAGE_LIMIT", default_value_t = 200,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub page_limit: u64,

    /// Sends per second allowed to one user (all devices together); more are refused
    /// with `rate_limited`.
    #[arg(long, env = "CHAT_SEND_RATE", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub send_rate: u32,

    /// Sends one user may make in a burst above the rate.
    #[arg(long, env = "CHAT_SEND_BURST", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub send_burst: u32,

    /// What an acknowledged message survives: `process` (a crash of the server; the
    /// default) or `power` (also a power loss or OS crash, at the cost of a disk
    /// flush per commit). Applies to SQLite; for MySQL/MariaDB it is the server's
    /// `innodb_flush_log_at_trx_commit`.
    #[arg(long, env = "CHAT_DURABILITY", value_enum, default_value_t = Durability::Process)]
    pub durability: Durability,

    /// Most entries committed in one transaction by the writer.
    #[arg(long, env = "CHAT_WRITE_BATCH", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..=10_000).map(|v| v as usize))]
    pub write_batch: usize,

    /// Seconds to wait for connections to close on shutdown before giving up on them.
    #[arg(long, env = "CHAT_SHUTDOWN_GRACE", default_value_t = 10)]
    pub shutdown_grace: u64,

    // --- TLS ---
    /// PEM file with the server's certificate chain: clients must then connect
    /// with TLS (`chat-tui --tls`). Needs --tls-key.
    #[arg(long, env = "CHAT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM file with the private key of --tls-cert.
    #[arg(long, env = "CHAT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    // --- behind a load balancer ---
    /// Read a PROXY protocol header (v1 or v2, nginx's `proxy_protocol on`) at the
    /// start of each connection from a --trusted-proxy address: logs, throttles and
    /// per-address limits then see the client's address, not the balancer's.
    #[arg(long, env = "CHAT_PROXY_PROTOCOL")]
    pub proxy_protocol: bool,

    /// Addresses whose PROXY headers are believed (comma-separated); a connection
    /// from anywhere else is a client of its own.
    #[arg(long, env = "CHAT_TRUSTED_PROXY", value_delimiter = ',', default_value = "127.0.0.1,::1")]
    pub trusted_proxy: Vec<std::net::IpAddr>,

    // --- a cluster ---
    /// Join a cluster through this Redis (`redis://HOST:PORT`): events reach users
    /// connected to the other nodes, and presence is cluster-wide. Needs a shared
    /// `mysql://` database. Redis only wakes nodes up; the database stays the truth.
    #[arg(long, env = "CHAT_REDIS", value_name = "URL")]
    pub redis: Option<String>,

    /// This node's name, reported by `hello` and used in the cluster (default: the
    /// host name and a random suffix, so that no two nodes share one). Each start is
    /// a new incarnation of it.
    #[arg(long, env = "CHAT_NODE_ID")]
    pub node_id: Option<String>,

    /// Seconds after its last heartbeat a node counts as dead: its users go offline
    /// cluster-wide.
    #[arg(long, env = "CHAT_NODE_TIMEOUT", default_value_t = 15, value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub node_timeout: u64,

    // --- connections that have not logged in ---
    /// Largest frame payload accepted before login, in bytes (login and register
    /// need far less); never more than --max-frame.
    #[arg(long, env = "CHAT_MAX_FRAME_UNAUTHENTICATED", default_value_t = 16_384,
          value_parser = clap::value_parser!(u32).range(1024..=67_108_864).map(|v| v as usize))]
    pub max_frame_unauthenticated: usize,

    /// Seconds a connection may stay without logging in (from connecting, or from
    /// `logout`) before it is closed; `ping` does not extend it.
    #[arg(long, env = "CHAT_AUTH_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub auth_timeout: u64,

    /// Most connections open from one address (an IPv6 address counts by its /64).
    #[arg(long, env = "CHAT_MAX_CONNECTIONS_PER_ADDR", default_value_t = 128,
          value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    pub max_connections_per_addr: usize,

    /// Most connections not yet logged in, from all addresses together.
    #[arg(long, env = "CHAT_MAX_UNAUTHENTICATED", default_value_t = 1_000,
          value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    pub max_unauthenticated: usize,

    // --- lists that strangers can grow ---
    /// Most pending friend requests to one user; a new one beyond is refused with
    /// `conflict` until the user answers some.
    #[arg(long, env = "CHAT_MAX_PENDING_FRIEND_REQUESTS", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_pending_friend_requests: u64,

    /// Most pending join requests to one group; a new one beyond is refused with
    /// `conflict` until the owner or an admin answers some.
    #[arg(long, env = "CHAT_MAX_PENDING_JOIN_REQUESTS", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_pending_join_requests: u64,

    // --- Limits: login throttle, per-user op budgets, register, hashing queue,
    // per-connection budget (issue 9, items 1, 4, 7). ---
    /// Failed password checks of one username (from all addresses) before each further
    /// attempt waits a delay: 1 s, doubling per failure up to --login-max-delay.
    #[arg(long, env = "CHAT_LOGIN_FREE_FAILURES", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub login_free_failures: u32,

    /// Longest delay, in seconds, between password checks of a username under attack.
    #[arg(long, env = "CHAT_LOGIN_MAX_DELAY", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub login_max_delay: u64,

    /// Password checks of one username in progress at once; more get `rate_limited`.
    #[arg(long, env = "CHAT_LOGIN_IN_FLIGHT_PER_USER", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub login_in_flight_per_user: u32,

    /// Password checks from one address in progress at once; more get `rate_limited`.
    #[arg(long, env = "CHAT_LOGIN_IN_FLIGHT_PER_ADDR", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub login_in_flight_per_addr: u32,

    /// Password hashes (register, login, ...) of one address waiting at once; more get
    /// `rate_limited`. Addresses are served in turn.
    #[arg(long, env = "CHAT_HASH_QUEUE_PER_ADDR", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1024).map(|v| v as usize))]
    pub hash_queue_per_addr: usize,

    /// Accounts one address may register per minute, after a burst of --register-burst.
    #[arg(long, env = "CHAT_REGISTER_PER_MIN", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub register_per_min: u32,

    /// `register`s one address may make at once (the burst above the rate).
    #[arg(long, env = "CHAT_REGISTER_BURST", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub register_burst: u32,

    /// `recall`s per minute per user, after a burst of --recall-burst.
    #[arg(long, env = "CHAT_RECALL_PER_MIN", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub recall_per_min: u32,

    /// `recall`s one user may make at once (the burst above the rate).
    #[arg(long, env = "CHAT_RECALL_BURST", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub recall_burst: u32,

    /// `read`s per minute per user, after a burst of --read-burst.
    #[arg(long, env = "CHAT_READ_PER_MIN", default_value_t = 1200, value_parser = clap::value_parser!(u32).range(1..))]
    pub read_per_min: u32,

    /// `read`s one user may make at once (the burst above the rate).
    #[arg(long, env = "CHAT_READ_BURST", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub read_burst: u32,

    /// `friend_request`s per minute per user, after a burst of --friend-request-burst.
    #[arg(long, env = "CHAT_FRIEND_REQUEST_PER_MIN", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub friend_request_per_min: u32,

    /// `friend_request`s one user may make at once (the burst above the rate).
    #[arg(long, env = "CHAT_FRIEND_REQUEST_BURST", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub friend_request_burst: u32,

    /// `group_create`s per minute per user, after a burst of --group-create-burst.
    #[arg(long, env = "CHAT_GROUP_CREATE_PER_MIN", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub group_create_per_min: u32,

    /// `group_create`s one user may make at once (the burst above the rate).
    #[arg(long, env = "CHAT_GROUP_CREATE_BURST", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub group_create_burst: u32,

    /// `group_join`s per minute per user, after a burst of --group-join-burst.
    #[arg(long, env = "CHAT_GROUP_JOIN_PER_MIN", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub group_join_per_min: u32,

    /// `group_join`s one user may make at once (the burst above the rate).
    #[arg(long, env = "CHAT_GROUP_JOIN_BURST", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub group_join_burst: u32,

    /// Requests per second one connection may make, after a burst of --conn-burst;
    /// beyond it the server reads that connection's next request later (no error).
    #[arg(long, env = "CHAT_CONN_RATE", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub conn_rate: u32,

    /// Requests one connection may make at once (the burst above the rate).
    #[arg(long, env = "CHAT_CONN_BURST", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub conn_burst: u32,
}

impl Config {
    /// The interval clients are told to ping at: a third of the idle timeout.
    pub fn heartbeat_secs(&self) -> u64 {
        (self.idle_timeout / 3).max(1)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout)
    }

    /// Refuses settings that contradict each other.
    pub fn check(&self) -> Result<(), String> {
        // A body may grow sixfold as JSON (\u00XX escapes); its frame must still fit.
        let worst = self.max_body.saturating_mul(6).saturating_add(1024);
        if worst > self.max_frame as u64 {
            return Err(format!(
                "--max-body {} needs --max-frame of at least {worst} (6 x body + 1024)",
                self.max_body
            ));
        }
        let shared = self
            .database
            .as_ref()
            .is_some_and(|d| d.as_str().starts_with("mysql:") || d.as_str().starts_with("mariadb:"));
        if self.redis.is_some() && !shared {
            return Err(
                "--redis (a cluster) needs --database mysql://...: every node must share one database, and SQLite is one node's file"
                    .into(),
            );
        }
        if self.outbox_bytes < self.max_frame {
            return Err(format!(
                "--outbox-bytes {} must hold at least one frame of --max-frame {}",
                self.outbox_bytes, self.max_frame
            ));
        }
        Ok(())
    }

    /// The frame limit before login: never above the one after.
    pub fn max_frame_before_login(&self) -> usize {
        self.max_frame_unauthenticated.min(self.max_frame)
    }

    pub fn auth_timeout(&self) -> Duration {
        Duration::from_secs(self.auth_timeout)
    }

    pub fn session_ttl_ms(&self) -> i64 {
        // Bounded by the parser to at most 3650 days: far inside i64.
        (self.session_ttl_days * 86_400_000.0) as i64
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Config;

    #[test]
    fn a_cluster_needs_a_shared_database() {
        let parse = |args: &[&str]| Config::try_parse_from([&["chat-server"], args].concat()).unwrap();
        let sqlite = parse(&["--redis", "redis://127.0.0.1:6379", "--database", "sqlite:///tmp/x.db"]);
        let why = sqlite.check().unwrap_err();
        assert!(why.contains("--redis") && why.contains("mysql://"), "{why}");
        assert!(parse(&["--redis", "redis://127.0.0.1:6379"]).check().is_err(), "the default is SQLite");
        let shared = parse(&["--redis", "redis://127.0.0.1:6379", "--database", "mysql://root@db/chat"]);
        assert_eq!(shared.check(), Ok(()));
        assert_eq!(parse(&[]).check(), Ok(()), "one node needs no Redis");
    }
}
