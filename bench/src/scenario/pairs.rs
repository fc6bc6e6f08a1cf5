//! `pairs`: P pairs of friends; in each, one user sends direct messages to the other in
//! a closed loop with W sends in flight, and the other times their delivery.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use chat_proto::model::Target;
use chat_proto::request::{Ping, Request, Send};
use futures::{StreamExt, TryStreamExt};

use super::{Ctx, SESSION_CONCURRENCY, Timing};
use crate::conn::{Handler, Writer};
use crate::delivery::{
    self, Acks, KICK_ID, Receiver, Run, Tally, counter_of, rate_hint, send_id, write_body,
};
use crate::frame::Incoming;
use crate::report::Report;
use crate::setup::{self, CLOSE_GRACE};
use crate::stats::{Progress, per_sec};

#[derive(Debug, Clone, clap::Args)]
pub struct PairsArgs {
    /// Pairs of friends; one of each pair sends, the other receives.
    #[arg(long, default_value_t = 100)]
    pub pairs: usize,
    /// Sends each sender keeps waiting for their reply (a new one as each reply comes).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub window: u32,
    #[command(flatten)]
    pub timing: Timing,
}

/// The sending side of a pair, run by its connection's reader: each reply to a send
/// writes the next one, so the loop costs no task wake-up of its own.
#[derive(Debug)]
struct PairSender {
    run: Arc<Run>,
    stream: u64,
    window: u32,
    body_size: usize,
    /// The `send` request, its body rewritten in place for each message.
    request: Request,
    next_counter: u64,
    progress: Arc<Progress>,
    acks: Acks,
    write_error: Option<String>,
}

impl PairSender {
    fn new(
        run: Arc<Run>,
        stream: u64,
        window: u32,
        to: String,
        body_size: usize,
        progress: Arc<Progress>,
    ) -> Self {
        let request = Send {
            to: Target::User(to),
            body: String::with_capacity(body_size.max(40)),
            client_msg_id: None,
            file_id: None,
        }
        .into();
        Self {
            run,
            stream,
            window,
            body_size,
            request,
            next_counter: 0,
            progress,
            acks: Acks::default(),
            write_error: None,
        }
    }

    fn send(&mut self, now: Instant, out: &Writer) {
        let counter = self.next_counter;
        if let Request::Send(send) = &mut self.request {
            write_body(&mut send.body, self.run.nanos(now), self.stream, counter, self.body_size);
        }
        match out.request(send_id(counter), &self.request) {
            Ok(()) => {
                self.next_counter += 1;
                Progress::bump(&self.progress.sent);
            }
            Err(e) => {
                self.write_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

impl Handler for PairSender {
    fn on_frame(&mut self, frame: &Incoming<'_>, now: Instant, out: &Writer) {
        let Some(re) = frame.re else { return };
        // The sender's state lives in its connection's reader task; the reply to a
        // ping sent with this id is how the scenario starts it there.
        if re == KICK_ID {
            for _ in 0..self.window {
                self.send(now, out);
            }
            return;
        }
        let Some(counter) = counter_of(re) else { return };
        self.acks.on_reply(counter, frame, &self.progress);
        if self.run.window().is_some_and(|w| now < w.measure_to) {
            self.send(now, out);
        }
    }
}

pub async fn run(ctx: Ctx, args: &PairsArgs, report: &mut Report) -> Result<()> {
    let p = args.pairs.max(1);
    args.timing.check(&ctx)?;
    setup::check_names(&ctx.server.prefix, "s", p)?;
    report.set("pairs", p);
    report.set("window", args.window);
    args.timing.describe(report);
    let server = &ctx.server;

    println!("setting up {p} pairs: {} accounts", 2 * p);
    let names =
        (0..p).map(|i| server.username("s", i)).chain((0..p).map(|i| server.username("r", i))).collect();
    let accounts = server.create_accounts(names, ctx.setup_concurrency).await?;
    let (send_accounts, recv_accounts) = accounts.split_at(p);

    let run = Run::new();
    let mut tally = Tally::default();
    let progress: Vec<Arc<Progress>> = (0..p).map(|_| Arc::default()).collect();
    let receivers = server
        .open_sessions(
            "receiver sessions",
            recv_accounts
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    (a, Receiver::new(run.clone(), i as u64, progress[i].clone(), tally.latency.buffer()))
                })
                .collect(),
            SESSION_CONCURRENCY,
        )
        .await?;
    let senders = server
        .open_sessions(
            "sender sessions",
            send_accounts
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let to = recv_accounts[i].name.clone();
                    let sender = PairSender::new(
                        run.clone(),
                        i as u64,
                        args.window,
                        to,
                        args.timing.body_size,
                        progress[i].clone(),
                    );
                    (a, sender)
                })
                .collect(),
            SESSION_CONCURRENCY,
        )
        .await?;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let befriending = futures::stream::iter(senders.iter().zip(&receivers).zip(recv_accounts))
        .map(|((s, r), account)| {
            let done = &done;
            async move {
                setup::befriend(s, r, &account.name).await?;
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                anyhow::Ok(())
            }
        })
        .buffer_unordered(SESSION_CONCURRENCY)
        .try_collect::<Vec<()>>();
    setup::with_progress("pairs befriended", p, &done, befriending).await?;

    println!(
        "running: {:.1}s warm-up, {:.1}s measured, window {}",
        args.timing.warmup.as_secs_f64(),
        args.timing.duration.as_secs_f64(),
        args.window
    );
    let window = run.start(args.timing.warmup, args.timing.duration);
    let kick: Request = Ping {}.into();
    for s in &senders {
        s.writer().request(KICK_ID, &kick)?;
    }
    let watched =
        delivery::watch(window, &progress, &progress, 1, ctx.probe.as_ref(), args.timing.drain).await?;

    let (sender_ends, receiver_ends) = futures::future::join(
        futures::future::join_all(senders.into_iter().map(|c| c.finish(CLOSE_GRACE))),
        futures::future::join_all(receivers.into_iter().map(|c| c.finish(CLOSE_GRACE))),
    )
    .await;

    let (mut sent, mut acked, mut failed) = (0u64, 0u64, 0u64);
    let mut first_error = None;
    for (i, (s, r)) in sender_ends.iter().zip(&receiver_ends).enumerate() {
        let acks = &s.handler.acks;
        tally.receiver(&format!("receiver {i}"), &acks.acked, r);
        tally.connection(&format!("sender {i}"), s);
        sent += s.handler.next_counter;
        acked += acks.acked.len();
        failed += acks.failed;
        first_error =
            first_error.or_else(|| acks.first_error.clone()).or_else(|| s.handler.write_error.clone());
    }

    let secs = window.measured();
    let measured = tally.measured;
    println!(
        "pairs {p} window {}: {measured} messages delivered in the measured {:.1}s: {:.0} msgs/s",
        args.window,
        secs.as_secs_f64(),
        per_sec(measured, secs)
    );
    println!("sent {sent} acked {acked} failed {failed}");
    report.set("delivered", measured);
    report.set("msgs_per_sec", per_sec(measured, secs));
    report.set("deliveries_per_sec", per_sec(measured, secs));
    report.set("sent", sent);
    report.set("acked", acked);
    report.set("send_failed", failed);
    report.set("drained", watched.drained);
    report.set("drain_ms", watched.drain_time.as_millis() as u64);
    tally.report(report);
    report.usage(ctx.probe.as_ref().zip(watched.server).map(|(p, (a, b))| (p, a, b)), watched.bench);
    if failed > 0 || first_error.is_some() {
        let first = first_error.unwrap_or_default();
        report.error(format!("{failed} sends failed (first: {first}){}", rate_hint(&first)));
    }
    Ok(())
}
