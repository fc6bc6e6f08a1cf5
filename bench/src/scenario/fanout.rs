//! `fanout`: one group of M members, all connected; its owner sends R messages a
//! second, open loop, and every other member must receive each one exactly once.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use chat_proto::model::Target;
use chat_proto::request::{Request, Send};
use tokio::time::MissedTickBehavior;

use super::{Ctx, SESSION_CONCURRENCY, Timing};
use crate::conn::Writer;
use crate::delivery::{self, AckRecorder, Receiver, Run, Tally, Window, send_id, write_body};
use crate::report::Report;
use crate::setup::{self, CLOSE_GRACE};
use crate::stats::{Progress, per_sec};

#[derive(Debug, Clone, clap::Args)]
pub struct FanoutArgs {
    /// Members of the group, the sending owner included.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(2..))]
    pub members: u32,
    /// Messages per second the owner sends.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Most sends waiting for their reply; the sender pauses at this many (the
    /// latency of the messages it then sends late shows the pause).
    #[arg(long, default_value_t = 10_000)]
    pub max_in_flight: u64,
    #[command(flatten)]
    pub timing: Timing,
}

/// The pacer's account of what it sent.
#[derive(Debug, Default)]
struct Paced {
    /// Messages whose scheduled time fell in the measured window.
    measured: u64,
    /// Ticks on which the in-flight cap held sends back.
    held: u64,
    write_error: Option<String>,
}

struct Pacer {
    writer: Writer,
    run: Arc<Run>,
    window: Window,
    rate: f64,
    group_id: u64,
    body_size: usize,
    progress: Arc<Progress>,
    max_in_flight: u64,
}

impl Pacer {
    /// Sends on schedule until the window ends: message n is due at start + n/R, and
    /// carries that time, not the time it was written, so a pacer running late shows
    /// as latency instead of hiding it.
    async fn run(self) -> Paced {
        let mut paced = Paced::default();
        let mut request: Request = Send {
            to: Target::Group(self.group_id),
            body: String::with_capacity(self.body_size.max(40)),
            client_msg_id: None,
            file_id: None,
        }
        .into();
        // Timers tick at most every millisecond; each tick sends whatever is due.
        let period = Duration::from_secs_f64(1.0 / self.rate).max(Duration::from_millis(1));
        let mut tick = tokio::time::interval_at(self.window.start.into(), period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut counter = 0u64;
        // Bounded by the window's end.
        loop {
            tick.tick().await;
            let now = Instant::now();
            if now >= self.window.measure_to {
                break;
            }
            let due = ((now - self.window.start).as_secs_f64() * self.rate) as u64 + 1;
            let answered =
                self.progress.acked.load(Ordering::Relaxed) + self.progress.failed.load(Ordering::Relaxed);
            let allowed = (answered + self.max_in_flight).min(due);
            if allowed < due {
                paced.held += 1;
            }
            while counter < allowed {
                let scheduled = self.window.start + Duration::from_secs_f64(counter as f64 / self.rate);
                if scheduled >= self.window.measure_to {
                    return paced;
                }
                let sent_nanos = self.run.nanos(scheduled);
                if let Request::Send(send) = &mut request {
                    write_body(&mut send.body, sent_nanos, 0, counter, self.body_size);
                }
                if let Err(e) = self.writer.request(send_id(counter), &request) {
                    paced.write_error = Some(e.to_string());
                    return paced;
                }
                counter += 1;
                Progress::bump(&self.progress.sent);
                if self.run.measured(sent_nanos) {
                    paced.measured += 1;
                }
            }
        }
        paced
    }
}

pub async fn run(ctx: Ctx, args: &FanoutArgs, report: &mut Report) -> Result<()> {
    let m = args.members as usize;
    args.timing.check(&ctx)?;
    if !(args.rate > 0.0 && args.rate <= 1_000_000.0) {
        bail!("--rate must be above 0 and at most 1000000");
    }
    if m as u64 > ctx.server.hello.max_group_members {
        bail!("--members {m} is above the server's max_group_members {}", ctx.server.hello.max_group_members);
    }
    setup::check_names(&ctx.server.prefix, "m", m)?;
    report.set("members", m);
    report.set("rate", args.rate);
    report.set("max_in_flight", args.max_in_flight);
    args.timing.describe(report);
    let server = &ctx.server;

    println!("setting up a group of {m}: {m} accounts (two password hashes each)");
    let names = (0..m).map(|i| server.username("m", i)).collect();
    let accounts = server.create_accounts(names, ctx.setup_concurrency).await?;
    let run = Run::new();
    let mut tally = Tally::default();
    let sender_progress = Arc::new(Progress::default());
    let receiver_progress: Vec<Arc<Progress>> = (1..m).map(|_| Arc::default()).collect();
    let mut owner = server
        .open_sessions("owner session", vec![(&accounts[0], AckRecorder::new(sender_progress.clone()))], 1)
        .await?;
    let receivers = server
        .open_sessions(
            "member sessions",
            accounts[1..]
                .iter()
                .zip(&receiver_progress)
                .map(|(a, p)| (a, Receiver::new(run.clone(), 0, p.clone(), tally.latency.buffer())))
                .collect(),
            SESSION_CONCURRENCY,
        )
        .await?;
    let owner = owner.pop().ok_or_else(|| anyhow::anyhow!("owner session missing"))?;
    let group_name = format!("{}-fanout", server.prefix);
    let group_id = setup::form_group(&owner, &receivers, &group_name, SESSION_CONCURRENCY).await?;
    println!("group {group_id} has {m} members");
    // The joins just now sent every member a burst of `group_member_joined`
    // events; let them drain before the clock starts.
    tokio::time::sleep(Duration::from_millis(500)).await;

    println!(
        "running: {:.1} msgs/s to {} receivers, {:.1}s warm-up, {:.1}s measured",
        args.rate,
        m - 1,
        args.timing.warmup.as_secs_f64(),
        args.timing.duration.as_secs_f64()
    );
    let window = run.start(args.timing.warmup, args.timing.duration);
    let pacer = Pacer {
        writer: owner.writer(),
        run: run.clone(),
        window,
        rate: args.rate,
        group_id,
        body_size: args.timing.body_size,
        progress: sender_progress.clone(),
        max_in_flight: args.max_in_flight.max(1),
    };
    let pacing = tokio::spawn(pacer.run());
    let fanout = (m - 1) as u64;
    let watched = delivery::watch(
        window,
        std::slice::from_ref(&sender_progress),
        &receiver_progress,
        fanout,
        ctx.probe.as_ref(),
        args.timing.drain,
    )
    .await?;
    let paced = pacing.await?;

    let (owner_end, receiver_ends) = futures::future::join(
        owner.finish(CLOSE_GRACE),
        futures::future::join_all(receivers.into_iter().map(|c| c.finish(CLOSE_GRACE))),
    )
    .await;

    let acks = &owner_end.handler.acks;
    tally.connection("owner", &owner_end);
    for (i, r) in receiver_ends.iter().enumerate() {
        tally.receiver(&format!("member {}", i + 1), &acks.acked, r);
    }
    let sent = sender_progress.sent.load(Ordering::Relaxed);
    let acked = acks.acked.len();
    let deliveries = tally.measured;

    let secs = window.measured();
    println!(
        "fanout {m} members at {:.1} msgs/s: {} messages in the measured {:.1}s ({:.1} msgs/s), {deliveries} deliveries ({:.0}/s)",
        args.rate,
        paced.measured,
        secs.as_secs_f64(),
        per_sec(paced.measured, secs),
        per_sec(deliveries, secs)
    );
    println!("sent {sent} acked {acked} failed {}", acks.failed);
    if paced.held > 0 {
        println!("the sender paused {} times at --max-in-flight {}", paced.held, args.max_in_flight);
    }
    report.set("group_id", group_id);
    report.set("delivered", deliveries);
    report.set("msgs_in", paced.measured);
    report.set("msgs_per_sec", per_sec(paced.measured, secs));
    report.set("deliveries_per_sec", per_sec(deliveries, secs));
    report.set("sent", sent);
    report.set("acked", acked);
    report.set("send_failed", acks.failed);
    report.set("sender_paused", paced.held);
    report.set("drained", watched.drained);
    report.set("drain_ms", watched.drain_time.as_millis() as u64);
    tally.report(report);
    report.usage(ctx.probe.as_ref().zip(watched.server).map(|(p, (a, b))| (p, a, b)), watched.bench);
    if acks.failed > 0 {
        let first = acks.first_error.clone().unwrap_or_default();
        report.error(format!("{} sends failed (first: {first}){}", acks.failed, delivery::rate_hint(&first)));
    }
    if let Some(e) = paced.write_error {
        report.error(format!("the sender could not write: {e}"));
    }
    Ok(())
}
