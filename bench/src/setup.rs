//! Building a scenario's world before it is measured: the server's limits, accounts
//! (the slow part: two password hashes each), sessions, friendships and a group.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chat_proto::reply::HelloReply;
use chat_proto::request::{
    FriendRequest, FriendRespond, GroupCreate, GroupJoin, GroupRespond, Hello, Login, Register, Resume,
};
use futures::{StreamExt, TryStreamExt};

use crate::conn::{Conn, ConnOpts, Handler, Quiet};

/// Every bench account's password (the accounts are throwaway, named per run).
pub const PASSWORD: &str = "chat-bench-password";
/// How long a closing connection waits for the server to close its side.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// The server under test and how to reach it.
#[derive(Debug)]
pub struct Server {
    pub addr: SocketAddr,
    sources: Vec<Ipv4Addr>,
    next_source: AtomicUsize,
    pub opts: ConnOpts,
    pub hello: HelloReply,
    pub prefix: String,
}

impl Server {
    /// Asks the server's limits with `hello`; the heartbeat and max_frame it gives
    /// apply to every later connection.
    pub async fn probe(addr: SocketAddr, sources: Vec<Ipv4Addr>, prefix: String) -> Result<Self> {
        let mut opts = ConnOpts {
            max_frame: chat_proto::DEFAULT_MAX_FRAME,
            heartbeat: Duration::from_secs(30),
            read_buffer: 8192,
            call_timeout: Duration::from_secs(120),
        };
        let conn = Conn::connect(addr, sources.first().copied(), &opts, Quiet)
            .await
            .map_err(|e| explain_connect(addr, &e))?;
        let hello = conn
            .call(Hello {
                client: Some("chat-bench".into()),
                protocol: Some(u64::from(chat_proto::PROTOCOL_VERSION)),
            })
            .await
            .context("hello")?;
        conn.finish(CLOSE_GRACE).await;
        opts.max_frame = usize::try_from(hello.max_frame).unwrap_or(usize::MAX);
        opts.heartbeat = Duration::from_secs(hello.heartbeat_secs.max(1));
        println!(
            "server {addr}: {} protocol {} heartbeat {}s max_body {} max_group_members {}",
            hello.server, hello.protocol, hello.heartbeat_secs, hello.max_body, hello.max_group_members
        );
        Ok(Self { addr, sources, next_source: AtomicUsize::new(0), opts, hello, prefix })
    }

    /// Opens a connection, from the next source address in turn.
    pub async fn connect<H: Handler>(&self, handler: H) -> Result<Conn<H>> {
        self.connect_raw(handler).await.map_err(|e| explain_connect(self.addr, &e))
    }

    /// As [`Server::connect`], keeping the I/O error for callers that sort failures.
    pub async fn connect_raw<H: Handler>(&self, handler: H) -> std::io::Result<Conn<H>> {
        let source = match self.sources.len() {
            0 => None,
            n => Some(self.sources[self.next_source.fetch_add(1, Ordering::Relaxed) % n]),
        };
        Conn::connect(self.addr, source, &self.opts, handler).await
    }

    /// The username of the `i`th account of `role` in this run.
    pub fn username(&self, role: &str, i: usize) -> String {
        format!("{}-{role}{i}", self.prefix)
    }

    /// Registers every name and logs each in once for its token, over `concurrency`
    /// connections (the server hashes passwords one per core, so a few suffice).
    pub async fn create_accounts(&self, names: Vec<String>, concurrency: usize) -> Result<Vec<Account>> {
        let total = names.len();
        let workers = concurrency.clamp(1, total.max(1));
        let done = AtomicUsize::new(0);
        let names = &names;
        let done_ref = &done;
        let work = futures::future::try_join_all((0..workers).map(|w| async move {
            let conn = self.connect(Quiet).await?;
            let mut made = Vec::new();
            for i in (w..total).step_by(workers) {
                let name = &names[i];
                conn.call(Register { username: name.clone(), password: PASSWORD.into() })
                    .await
                    .with_context(|| format!("register {name} (another run with the same --prefix?)"))?;
                let login = conn
                    .call(Login { username: name.clone(), password: PASSWORD.into(), device: None })
                    .await
                    .with_context(|| format!("login {name}"))?;
                made.push((i, Account { name: name.clone(), token: login.token }));
                done_ref.fetch_add(1, Ordering::Relaxed);
            }
            conn.finish(CLOSE_GRACE).await;
            anyhow::Ok(made)
        }));
        let made = with_progress("accounts registered", total, &done, work).await?;
        let mut accounts: Vec<(usize, Account)> = made.into_iter().flatten().collect();
        accounts.sort_by_key(|(i, _)| *i);
        Ok(accounts.into_iter().map(|(_, a)| a).collect())
    }

    /// One connection per (account, handler), each authenticated with `resume`, in
    /// the order given.
    pub async fn open_sessions<H: Handler>(
        &self,
        what: &str,
        sessions: Vec<(&Account, H)>,
        concurrency: usize,
    ) -> Result<Vec<Conn<H>>> {
        let total = sessions.len();
        let done = AtomicUsize::new(0);
        let done_ref = &done;
        let work = futures::stream::iter(sessions)
            .map(|(account, handler)| async move {
                let conn = self.connect(handler).await?;
                conn.call(Resume { token: account.token.clone(), device: None })
                    .await
                    .with_context(|| format!("resume {}", account.name))?;
                done_ref.fetch_add(1, Ordering::Relaxed);
                anyhow::Ok(conn)
            })
            .buffered(concurrency.max(1))
            .try_collect::<Vec<_>>();
        with_progress(what, total, &done, work).await
    }
}

/// A registered account and the token that resumes it.
#[derive(Clone)]
pub struct Account {
    pub name: String,
    pub token: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account").field("name", &self.name).field("token", &"<redacted>").finish()
    }
}

/// Makes `a` and `b` (named `b_name`) friends.
pub async fn befriend<A: Handler, B: Handler>(a: &Conn<A>, b: &Conn<B>, b_name: &str) -> Result<()> {
    let asked = a.call(FriendRequest { user: b_name.into(), note: None }).await.context("friend_request")?;
    if !asked.accepted {
        b.call(FriendRespond { request_id: asked.request_id, accept: true })
            .await
            .context("friend_respond")?;
    }
    Ok(())
}

/// Creates a group owned by `owner` and has every one of `members` join it.
pub async fn form_group<O: Handler, M: Handler>(
    owner: &Conn<O>,
    members: &[Conn<M>],
    name: &str,
    concurrency: usize,
) -> Result<u64> {
    let group_id = owner
        .call(GroupCreate { name: name.into(), description: None })
        .await
        .context("group_create")?
        .group_id;
    let done = AtomicUsize::new(0);
    let done_ref = &done;
    let work = futures::stream::iter(members)
        .map(|member| async move {
            let joined = member.call(GroupJoin { group_id, note: None }).await.context("group_join")?;
            owner
                .call(GroupRespond { request_id: joined.request_id, accept: true })
                .await
                .context("group_respond (is --members above the server's max_group_members?)")?;
            done_ref.fetch_add(1, Ordering::Relaxed);
            anyhow::Ok(())
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<()>>();
    with_progress("members joined", members.len(), &done, work).await?;
    Ok(group_id)
}

/// Runs `work`, printing how far `done` got out of `total` every few seconds.
pub async fn with_progress<T>(
    what: &str,
    total: usize,
    done: &AtomicUsize,
    work: impl Future<Output = T>,
) -> T {
    let started = Instant::now();
    tokio::pin!(work);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
    // Ends with `work`, which is bounded by the call timeout of each step.
    loop {
        tokio::select! {
            out = &mut work => {
                println!("  {what}: {}/{total} in {:.1}s", done.load(Ordering::Relaxed), started.elapsed().as_secs_f64());
                return out;
            }
            _ = tick.tick() => {
                let n = done.load(Ordering::Relaxed);
                let rate = n as f64 / started.elapsed().as_secs_f64();
                println!("  {what}: {n}/{total} ({rate:.0}/s)");
            }
        }
    }
}

/// Says what to do about the connect failures that come from the bench's machine
/// rather than the server.
pub fn explain_connect(addr: SocketAddr, e: &std::io::Error) -> anyhow::Error {
    match e.raw_os_error() {
        // EMFILE, ENFILE
        Some(24 | 23) => anyhow::anyhow!(
            "cannot connect to {addr}: {e}: the bench is out of file descriptors; raise the limit \
             (`ulimit -n` in the shell that starts it, up to the hard limit `ulimit -Hn`)"
        ),
        // EADDRNOTAVAIL, EADDRINUSE
        Some(99 | 98) => anyhow::anyhow!(
            "cannot connect to {addr}: {e}: out of local ports; spread connections over more \
             source addresses with --source-ips 127.0.0.2,127.0.0.3,..."
        ),
        _ => anyhow::anyhow!("cannot connect to {addr}: {e}"),
    }
}

/// Fails unless every name this run will use is valid.
pub fn check_names(prefix: &str, role: &str, count: usize) -> Result<()> {
    let longest = format!("{prefix}-{role}{}", count.saturating_sub(1));
    if let Err(e) = chat_proto::validate::username(&longest) {
        bail!("usernames like {longest:?} are invalid ({e}); choose a shorter --prefix of A-Z a-z 0-9 _ . -");
    }
    Ok(())
}
