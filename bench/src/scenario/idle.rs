//! `idle`: N authenticated connections held open (pinging), to measure what an idle
//! connection costs the server in memory.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use chat_proto::ErrorCode;
use chat_proto::request::Resume;
use futures::StreamExt;

use super::{Ctx, parse_secs};
use crate::conn::{Conn, Quiet};
use crate::procfs::{self, Probe};
use crate::report::Report;
use crate::setup::{self, Account, CLOSE_GRACE, Server};

#[derive(Debug, Clone, clap::Args)]
pub struct IdleArgs {
    /// Connections to open and hold.
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Accounts the connections resume, round robin.
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Seconds to hold the connections open once all are opened.
    #[arg(long, default_value = "10", value_parser = parse_secs)]
    pub hold: Duration,
    /// Connections being opened at once.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
}

/// Read buffer of an idle connection: it only ever reads a few small replies.
const IDLE_READ_BUFFER: usize = 512;
/// Lets the server's allocator settle before and after sampling its RSS.
const SETTLE: Duration = Duration::from_secs(1);

/// How one connection attempt ended.
pub enum Opened<H> {
    Ok(Conn<H>),
    /// The server answered `unavailable` (at its connection limit) and closed.
    Refused,
    Failed(String),
}

/// Connects and resumes `account`, sorting the outcome.
pub async fn open_one(server: &Server, account: &Account) -> Opened<Quiet> {
    let conn = match server.connect_raw(Quiet).await {
        Ok(conn) => conn,
        Err(e) => return Opened::Failed(format!("{:#}", setup::explain_connect(server.addr, &e))),
    };
    match conn.call(Resume { token: account.token.clone(), device: None }).await {
        Ok(_) => Opened::Ok(conn),
        Err(e) => {
            let refused = e.code() == Some(ErrorCode::Unavailable);
            conn.finish(CLOSE_GRACE).await;
            if refused { Opened::Refused } else { Opened::Failed(format!("resume: {e}")) }
        }
    }
}

/// Tallies failures by message, so a thousand identical ones print as one line.
#[derive(Debug, Default)]
pub struct Failures(BTreeMap<String, u64>);

impl Failures {
    pub fn add(&mut self, why: String) {
        *self.0.entry(why).or_default() += 1;
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    pub fn summary(&self) -> String {
        self.0.iter().map(|(why, n)| format!("{n} x {why}")).collect::<Vec<_>>().join("; ")
    }
}

/// Warns when the open-files limit cannot hold `connections`.
pub fn check_fd_limit(connections: usize) {
    if let Ok((Some(soft), _)) = procfs::nofile_limit()
        && (soft as usize) < connections + 64
    {
        println!(
            "warning: the open-files limit is {soft}, too low for {connections} connections; \
             raise it with `ulimit -n` before starting the bench"
        );
    }
}

pub async fn run(mut ctx: Ctx, args: &IdleArgs, report: &mut Report) -> Result<()> {
    let n = args.connections;
    let k = args.users.clamp(1, n.max(1));
    if n == 0 {
        bail!("--connections must be above 0");
    }
    setup::check_names(&ctx.server.prefix, "i", k)?;
    report.set("connections", n);
    report.set("users", k);
    report.set("hold_s", args.hold.as_secs_f64());
    check_fd_limit(n);
    ctx.server.opts.read_buffer = IDLE_READ_BUFFER;
    let server = &ctx.server;

    println!("registering {k} users");
    let accounts = server
        .create_accounts((0..k).map(|i| server.username("i", i)).collect(), ctx.setup_concurrency)
        .await?;
    tokio::time::sleep(SETTLE).await;
    let sample = |p: Option<&Probe>| p.and_then(|p| p.sample().ok());
    let bench = Probe::of_self();
    let server_before = sample(ctx.probe.as_ref());
    let bench_before = bench.sample().ok();

    println!("opening {n} connections ({} at a time)", args.connect_concurrency);
    let started = Instant::now();
    let done = AtomicUsize::new(0);
    let done_ref = &done;
    let accounts = &accounts;
    let opening = futures::stream::iter(0..n)
        .map(|i| async move {
            let opened = open_one(server, &accounts[i % k]).await;
            done_ref.fetch_add(1, Ordering::Relaxed);
            opened
        })
        .buffer_unordered(args.connect_concurrency.max(1))
        .collect::<Vec<_>>();
    let outcomes = setup::with_progress("connections opened", n, &done, opening).await;
    let open_time = started.elapsed();
    let mut conns = Vec::with_capacity(n);
    let mut refused = 0u64;
    let mut failures = Failures::default();
    for outcome in outcomes {
        match outcome {
            Opened::Ok(c) => conns.push(c),
            Opened::Refused => refused += 1,
            Opened::Failed(why) => failures.add(why),
        }
    }
    let opened = conns.len();
    println!(
        "{opened} connections resumed in {:.2}s, {refused} refused by the server, {} failed",
        open_time.as_secs_f64(),
        failures.total()
    );
    if failures.total() > 0 {
        println!("failures: {}", failures.summary());
    }

    tokio::time::sleep(SETTLE).await;
    let server_opened = sample(ctx.probe.as_ref());
    println!("holding them for {:.1}s", args.hold.as_secs_f64());
    let hold_end = Instant::now() + args.hold;
    // Bounded by --hold.
    while Instant::now() < hold_end {
        let step = hold_end.saturating_duration_since(Instant::now()).min(Duration::from_secs(2));
        tokio::time::sleep(step).await;
        let open = conns.iter().filter(|c| c.is_open()).count();
        println!(
            "  {:.0}s left: {open}/{opened} open",
            hold_end.saturating_duration_since(Instant::now()).as_secs_f64()
        );
    }
    let server_after = sample(ctx.probe.as_ref());
    let bench_after = bench.sample().ok();
    let dropped = conns.iter().filter(|c| !c.is_open()).count();

    report.set("opened", opened);
    report.set("refused", refused);
    report.set("failed", failures.total());
    report.set("dropped", dropped);
    report.set("open_time_ms", open_time.as_millis() as u64);
    if let (Some(probe), Some(before), Some(after)) = (ctx.probe.as_ref(), server_before, server_after) {
        let per_conn = if opened == 0 {
            0
        } else {
            (after.rss_kib.saturating_sub(before.rss_kib) * 1024) / opened as u64
        };
        println!("server RSS per connection: {per_conn} bytes");
        report.set("rss_per_conn_bytes", per_conn);
        report.set("server_rss_opened_kib", server_opened.map(|s| s.rss_kib));
        if let Some(opened_sample) = server_opened {
            report.set("server_cpu_hold_pct", probe.cpu_pct(&opened_sample, &after));
        }
        report.usage(Some((probe, before, after)), bench_before.zip(bench_after));
    } else {
        report.set("rss_per_conn_bytes", serde_json::Value::Null);
        report.usage(None, bench_before.zip(bench_after));
    }

    let ends = futures::future::join_all(conns.into_iter().map(|c| c.finish(CLOSE_GRACE))).await;
    let problem = ends.iter().find_map(|e| e.problem.clone());
    if failures.total() > 0 {
        report.error(format!("{} connections failed: {}", failures.total(), failures.summary()));
    }
    if dropped > 0 {
        report.error(format!(
            "{dropped} connections closed by the server while held (e.g. {})",
            problem.unwrap_or_default()
        ));
    }
    Ok(())
}
