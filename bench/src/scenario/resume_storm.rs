//! `resume-storm`: N clients connect and `resume` all at once, as after a server
//! restart; how long until all are back, and how long each waited.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use chat_proto::ErrorCode;
use chat_proto::request::Resume;

use super::Ctx;
use super::idle::{Failures, check_fd_limit};
use crate::conn::{Conn, Quiet};
use crate::procfs::Probe;
use crate::report::Report;
use crate::setup::{self, CLOSE_GRACE};
use crate::stats::Latency;

#[derive(Debug, Clone, clap::Args)]
pub struct StormArgs {
    /// Clients connecting and resuming at once.
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Accounts the clients resume, round robin.
    #[arg(long, default_value_t = 100)]
    pub users: usize,
}

/// One client's way through the storm.
#[derive(Debug)]
enum Outcome {
    Resumed { conn: Conn<Quiet>, connect: Duration, resume: Duration, done_at: Instant },
    Refused,
    Failed(String),
}

pub async fn run(mut ctx: Ctx, args: &StormArgs, report: &mut Report) -> Result<()> {
    let n = args.clients;
    let k = args.users.clamp(1, n.max(1));
    if n == 0 {
        bail!("--clients must be above 0");
    }
    setup::check_names(&ctx.server.prefix, "t", k)?;
    report.set("clients", n);
    report.set("users", k);
    check_fd_limit(n);
    ctx.server.opts.read_buffer = 1024;
    let server = &ctx.server;

    println!("registering {k} users");
    let accounts = server
        .create_accounts((0..k).map(|i| server.username("t", i)).collect(), ctx.setup_concurrency)
        .await?;
    let sample = |p: Option<&Probe>| p.and_then(|p| p.sample().ok());
    let bench = Probe::of_self();
    let server_before = sample(ctx.probe.as_ref());
    let bench_before = bench.sample().ok();

    println!("storm: {n} clients connect and resume at once");
    let started = Instant::now();
    let done = AtomicUsize::new(0);
    let done_ref = &done;
    let accounts = &accounts;
    // Every client starts in the same poll: no concurrency cap, that is the storm.
    let storm = futures::future::join_all((0..n).map(|i| async move {
        let t0 = Instant::now();
        let outcome = match server.connect_raw(Quiet).await {
            Err(e) => Outcome::Failed(format!("{:#}", setup::explain_connect(server.addr, &e))),
            Ok(conn) => {
                let t1 = Instant::now();
                match conn.call(Resume { token: accounts[i % k].token.clone(), device: None }).await {
                    Ok(_) => {
                        let t2 = Instant::now();
                        Outcome::Resumed { conn, connect: t1 - t0, resume: t2 - t1, done_at: t2 }
                    }
                    Err(e) => {
                        conn.finish(CLOSE_GRACE).await;
                        if e.code() == Some(ErrorCode::Unavailable) {
                            Outcome::Refused
                        } else {
                            Outcome::Failed(format!("resume: {e}"))
                        }
                    }
                }
            }
        };
        done_ref.fetch_add(1, Ordering::Relaxed);
        outcome
    }));
    let outcomes = setup::with_progress("clients through", n, &done, storm).await;
    let server_after = sample(ctx.probe.as_ref());
    let bench_after = bench.sample().ok();

    let (mut connect, mut resume, mut total) = (Latency::new(), Latency::new(), Latency::new());
    let mut last_done = started;
    let mut conns = Vec::new();
    let mut refused = 0u64;
    let mut failures = Failures::default();
    for outcome in outcomes {
        match outcome {
            Outcome::Resumed { conn, connect: c, resume: r, done_at } => {
                connect.record(c);
                resume.record(r);
                total.record(c + r);
                last_done = last_done.max(done_at);
                conns.push(conn);
            }
            Outcome::Refused => refused += 1,
            Outcome::Failed(why) => failures.add(why),
        }
    }
    let resumed = conns.len();
    let all_in = last_done - started;
    println!(
        "{resumed} of {n} clients resumed in {:.1} ms; {refused} refused, {} failed",
        all_in.as_secs_f64() * 1000.0,
        failures.total()
    );
    println!("{}", resume.line("resume latency (request to reply)"));
    println!("{}", connect.line("connect latency"));
    println!("{}", total.line("connect + resume"));
    report.set("resumed", resumed);
    report.set("refused", refused);
    report.set("failed", failures.total());
    report.set("all_resumed_ms", (all_in.as_secs_f64() * 1e6).round() / 1000.0);
    report.set("resumes_per_sec", crate::stats::per_sec(resumed as u64, all_in));
    report.extend(resume.summary(""));
    report.extend(connect.summary("connect_"));
    report.extend(total.summary("total_"));
    report.usage(
        ctx.probe.as_ref().zip(server_before.zip(server_after)).map(|(p, (a, b))| (p, a, b)),
        bench_before.zip(bench_after),
    );

    futures::future::join_all(conns.into_iter().map(|c| c.finish(CLOSE_GRACE))).await;
    if failures.total() > 0 {
        report.error(format!("{} clients failed: {}", failures.total(), failures.summary()));
    }
    if refused > 0 {
        report.error(format!(
            "{refused} clients refused by the server (is --max-connections below --clients?)"
        ));
    }
    Ok(())
}
