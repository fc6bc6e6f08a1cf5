//! The accept loop: connection cap, file-descriptor exhaustion, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chat_proto::{ErrorBody, ErrorCode};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::admission::Admission;
use crate::config::{Config, DatabaseUrl};
use crate::log_limit::LogLimit;
use crate::state::{AppState, now_ms};
use crate::store::{self, Store, StoreError};
use crate::{conn, frames, tls};

/// Pending connections the kernel may queue before the server accepts them.
const ACCEPT_BACKLOG: u32 = 8192;
/// How long the accept loop waits for the client it takes in only to refuse, and
/// backs off when no descriptor came free.
const REFUSE_WAIT: Duration = Duration::from_millis(50);
/// Refused connections are logged a few times a second at most: a flood of them is
/// one line with a count, not a full disk.
static REFUSALS: LogLimit = LogLimit::new(5, Duration::from_secs(1));
/// How often expired sessions are swept from the database.
const SESSION_SWEEP: Duration = Duration::from_secs(3600);

/// Why the server could not start. Each message is one line for the operator: what
/// failed, where, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot find a place for the default database ({0}); give one with --database sqlite:PATH")]
    DataDir(std::io::Error),
    #[error("cannot open the database {url}: {source}{}", open_hint(url, source))]
    Store { url: DatabaseUrl, source: StoreError },
    #[error("invalid settings: {0} (see chat-server --help)")]
    Config(String),
    #[error("cannot listen on {addr}: {source}; {}", bind_hint(source))]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot set up TLS: {0}; check the files given to --tls-cert and --tls-key")]
    Tls(#[from] tls::TlsError),
    #[error("cannot join the cluster: {0}; check that Redis runs at the URL given to --redis")]
    Cluster(crate::redis_bus::ClusterError),
}

/// What to do about a database that cannot be opened (the error says what it is).
fn open_hint(url: &DatabaseUrl, e: &StoreError) -> &'static str {
    match e {
        StoreError::UnsupportedUrl(_) => "",
        StoreError::File { .. } => "; choose a writable place with --database sqlite:PATH",
        StoreError::Migrate(_) => "; is it another program's database, or from a newer chat-server?",
        _ if url.as_str().starts_with("sqlite:") => {
            "; check that the file is a database this user may read and write (without ?mode= it is created)"
        }
        _ => "; check that the database server runs, and the URL's host, port, user, password and database",
    }
}

/// What to do about an address that cannot be listened on.
fn bind_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "another program uses that port: stop it, or pick another with --listen"
        }
        std::io::ErrorKind::PermissionDenied => {
            "ports below 1024 need privileges: pick another with --listen"
        }
        _ => "pick an address of this machine with --listen",
    }
}

/// A bound, ready server.
pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
    tls: Option<TlsAcceptor>,
    /// The cluster bus's background work, started by `serve`.
    cluster: Option<crate::redis_bus::Tasks>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("listener", &self.listener).field("tls", &self.tls.is_some()).finish()
    }
}

impl Server {
    /// Binds the listening socket and opens the database (applying migrations). Each
    /// step that fails does so before anything is logged, so the operator reads one
    /// line: the [`ServerError`].
    pub async fn bind(config: Config) -> Result<Self, ServerError> {
        config.check().map_err(ServerError::Config)?;
        let url = match &config.database {
            Some(url) => url.clone(),
            None => DatabaseUrl::default_sqlite().map_err(ServerError::DataDir)?.0,
        };
        let tls = tls_acceptor(&config)?;
        let listener = bound(config.listen)?;
        let store = store::SqlStore::open(url.as_str(), config.durability)
            .await
            .map_err(|source| ServerError::Store { url: url.clone(), source })?;
        info!(database = %url, "database ready");
        let store: Arc<dyn Store> = Arc::new(store);
        let Some(redis) = config.redis.clone() else {
            return Ok(Self { listener, state: Arc::new(AppState::new(config, store)), tls, cluster: None });
        };
        // Named once: `hello` reports the name the incarnation is made from.
        let mut config = config;
        let name = crate::state::node_name(&config);
        config.node_id = Some(name.clone());
        let hub = crate::hub::Hub::new();
        let incarnation = format!("{name}.{}", crate::state::random_hex(4));
        let timeout = std::time::Duration::from_secs(config.node_timeout);
        let (bus, tasks) = crate::redis_bus::RedisBus::connect(&redis, incarnation, hub.clone(), timeout)
            .await
            .map_err(ServerError::Cluster)?;
        info!(incarnation = bus.incarnation(), "joined the cluster");
        let state = AppState::with_bus(config, store, hub, Arc::new(bus.clone()), Some(bus));
        Ok(Self { listener, state: Arc::new(state), tls, cluster: Some(tasks) })
    }

    /// Binds with an already opened store.
    pub async fn bind_with_store(config: Config, store: Arc<dyn Store>) -> Result<Self, ServerError> {
        let tls = tls_acceptor(&config)?;
        let listener = bound(config.listen)?;
        Ok(Self { listener, state: Arc::new(AppState::new(config, store)), tls, cluster: None })
    }

    pub fn local_addr(&self) -> SocketAddr {
        // A bound listener always has a local address.
        self.listener.local_addr().unwrap_or(self.state.config.listen)
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, tells every client,
    /// lets their queued frames drain, and closes the database.
    pub async fn serve(self, shutdown: CancellationToken) {
        let Server { listener, state, tls, cluster } = self;
        let addr = listener.local_addr().map_or_else(|_| "?".into(), |a| a.to_string());
        // The address last: scripts (and tests) read it from the end of this line.
        info!(tls = tls.is_some(), %addr, "listening");
        let tracker = TaskTracker::new();
        let permits = Arc::new(Semaphore::new(state.config.max_connections));
        let admission =
            Admission::new(state.config.max_connections_per_addr, state.config.max_unauthenticated);
        // One descriptor held back, so that when the process runs out of them the
        // server can still accept a pending client to tell it so, instead of leaving
        // it hanging in the backlog.
        let mut reserve = std::fs::File::open("/dev/null").ok();
        tracker.spawn(sweep_sessions(state.clone(), shutdown.clone()));
        // The cluster's bus outlives the connections: their goodbyes (presence) go
        // out through it before it leaves the cluster.
        let bus_stop = CancellationToken::new();
        let bus = match (state.cluster.clone(), cluster) {
            (Some(bus), Some(tasks)) => {
                Some(tokio::spawn(bus.run(tasks, bus_stop.clone(), offline_elsewhere(state.clone()))))
            }
            _ => None,
        };

        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => match permits.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let (state, shutdown, tls, admission) =
                            (state.clone(), shutdown.clone(), tls.clone(), admission.clone());
                        tracker.spawn(async move {
                            admit_and_serve(stream, peer, state, shutdown, tls, &admission).await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        if let Some(dropped) = REFUSALS.admit() {
                            warn!(%peer, limit = state.config.max_connections, dropped, "connection limit reached; refusing");
                        }
                        tracker
                            .spawn(refuse(stream, "the server is at its connection limit; try again later"));
                    }
                },
                Err(e) if is_out_of_descriptors(&e) => {
                    warn!(error = %e, "out of file descriptors; refusing new connections");
                    // The reserve descriptor lets one waiting client in to be told,
                    // then it is closed at once and the reserve taken back.
                    drop(reserve.take());
                    if let Ok(Ok((stream, _))) = tokio::time::timeout(REFUSE_WAIT, listener.accept()).await {
                        refuse_now(stream, "the server is out of resources; try again later");
                    }
                    reserve = std::fs::File::open("/dev/null").ok();
                    if reserve.is_none() {
                        // Someone else took the freed descriptor: let connections close.
                        tokio::time::sleep(REFUSE_WAIT).await;
                    }
                }
                Err(e) => warn!(error = %e, "accept failed"),
            }
        }

        drop(listener);
        info!(connections = tracker.len(), "shutting down");
        tracker.close();
        let grace = Duration::from_secs(state.config.shutdown_grace);
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            warn!("some connections did not close within the grace period");
        }
        bus_stop.cancel();
        if let Some(bus) = bus {
            let _ = bus.await;
        }
        state.store.close().await;
        info!("shut down");
    }
}

/// The TLS acceptor, when a certificate and key are configured.
fn tls_acceptor(config: &Config) -> Result<Option<TlsAcceptor>, ServerError> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Ok(Some(tls::acceptor(cert, key)?)),
        _ => Ok(None),
    }
}

/// The listening socket, or the error that names the address.
fn bound(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    listen(addr).map_err(|source| ServerError::Bind { addr, source })
}

/// Binds with a deep accept backlog (the kernel caps it at `net.core.somaxconn`), so
/// that thousands of clients reconnecting at once after a restart are queued rather
/// than dropped into SYN retries, and with SO_REUSEADDR, so that a restarted server
/// can bind again while old connections linger in TIME_WAIT.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

fn is_out_of_descriptors(e: &std::io::Error) -> bool {
    // EMFILE (process limit) and ENFILE (system limit).
    matches!(e.raw_os_error(), Some(24) | Some(23))
}

/// Tells a client it is refused and closes it, without waiting: the frame is small
/// and the socket new, so it fits in the send buffer.
fn refuse_now(stream: TcpStream, why: &str) {
    let frame = frames::error(0, &ErrorBody::new(ErrorCode::Unavailable, why), chat_proto::DEFAULT_MAX_FRAME);
    let _ = stream.try_write(&frame);
}

async fn refuse(mut stream: TcpStream, why: &str) {
    let frame = frames::error(0, &ErrorBody::new(ErrorCode::Unavailable, why), chat_proto::DEFAULT_MAX_FRAME);
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(&frame).await?;
        stream.shutdown().await
    })
    .await;
}

async fn sweep_sessions(state: Arc<AppState>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(SESSION_SWEEP);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match state.store.prune_sessions(now_ms()).await {
            Ok(0) => {}
            Ok(n) => info!(sessions = n, "expired sessions removed"),
            Err(e) => error!(error = %e, "could not remove expired sessions"),
        }
    }
}

/// Serves one accepted connection once admitted under the per-address caps: by the
/// client's own address, which a trusted proxy's PROXY header gives.
async fn admit_and_serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    state: Arc<AppState>,
    shutdown: CancellationToken,
    tls: Option<TlsAcceptor>,
    admission: &Arc<Admission>,
) {
    let config = &state.config;
    let client = if config.proxy_protocol && crate::proxy::trusted(peer.ip(), &config.trusted_proxy) {
        match crate::proxy::read_header(&mut stream).await {
            Ok(client) => client.unwrap_or(peer),
            Err(e) => {
                if let Some(dropped) = REFUSALS.admit() {
                    warn!(%peer, error = %e, dropped, "closed a proxied connection without a valid PROXY header");
                }
                return;
            }
        }
    } else {
        peer
    };
    match admission.admit(client.ip()) {
        Ok(ticket) => conn::serve(stream, client, state, shutdown, ticket, tls).await,
        Err(refused) => {
            if let Some(dropped) = REFUSALS.admit() {
                warn!(peer = %client, ?refused, dropped, "connection refused");
            }
            refuse(stream, refused.message()).await;
        }
    }
}

/// What the cluster bus calls for each user a dead node took offline: their friends
/// are told.
fn offline_elsewhere(state: Arc<AppState>) -> impl Fn(u64) + Send + Sync + 'static {
    move |user_id| {
        let state = state.clone();
        tokio::spawn(async move {
            match state.store.user_by_id(user_id).await {
                Ok(Some(user)) => {
                    crate::service::presence::announce(&state, user_id, &user.username, false).await
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, user_id, "offline user not announced"),
            }
        });
    }
}
