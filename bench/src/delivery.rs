//! Message traffic as the bench writes and checks it: the run's clock and measured
//! window, the body format, the receiving handler, the sender's record of replies,
//! and the watch over a run from start to drained.
//!
//! A body is `<sent nanos>:<stream>:<counter>[:xxx padding]`. The nanos count from
//! the run's origin `Instant`; senders and receivers live in this one process, so
//! they read the same clock. A stream is one sender's sequence of messages, numbered
//! from 0; the request id of a send is [`send_id`] of its counter, so a reply names
//! its message without a lookup table.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::conn::{Ended, HOT_ID_BASE, Handler, Writer};
use crate::frame::{EventName, Incoming};
use crate::procfs::{Probe, Sample};
use crate::report::Report;
use crate::stats::{LatencyBuffer, LatencySink, MAX_COUNTER, Progress, SeqBits, Totals};

/// Id of the `ping` whose reply starts a closed-loop sender.
pub const KICK_ID: u64 = HOT_ID_BASE;
const FIRST_SEND_ID: u64 = HOT_ID_BASE + 1;

pub fn send_id(counter: u64) -> u64 {
    FIRST_SEND_ID + counter
}

pub fn counter_of(re: u64) -> Option<u64> {
    re.checked_sub(FIRST_SEND_ID).filter(|&c| c < MAX_COUNTER)
}

/// The run's clock and, once traffic starts, its phases.
#[derive(Debug)]
pub struct Run {
    origin: Instant,
    window: OnceLock<Window>,
}

/// Traffic starts at `start`; messages sent in `measure_from .. measure_to` are
/// measured (the time before is warm-up); senders stop at `measure_to`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: Instant,
    pub measure_from: Instant,
    pub measure_to: Instant,
    from_nanos: u64,
    to_nanos: u64,
}

impl Window {
    pub fn measured(&self) -> Duration {
        self.measure_to - self.measure_from
    }
}

impl Run {
    pub fn new() -> Arc<Self> {
        Arc::new(Self { origin: Instant::now(), window: OnceLock::new() })
    }

    pub fn nanos(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Fixes the phases, from now.
    pub fn start(&self, warmup: Duration, duration: Duration) -> Window {
        let start = Instant::now();
        let measure_from = start + warmup;
        let measure_to = measure_from + duration;
        let window = Window {
            start,
            measure_from,
            measure_to,
            from_nanos: self.nanos(measure_from),
            to_nanos: self.nanos(measure_to),
        };
        *self.window.get_or_init(|| window)
    }

    pub fn window(&self) -> Option<&Window> {
        self.window.get()
    }

    /// Whether a message sent at `sent_nanos` falls in the measured phase.
    pub fn measured(&self, sent_nanos: u64) -> bool {
        self.window().is_some_and(|w| (w.from_nanos..w.to_nanos).contains(&sent_nanos))
    }
}

/// Writes a body into `body`, reusing its allocation.
pub fn write_body(body: &mut String, sent_nanos: u64, stream: u64, counter: u64, min_len: usize) {
    body.clear();
    let _ = write!(body, "{sent_nanos}:{stream}:{counter}");
    if body.len() < min_len {
        body.push(':');
        let pad = min_len.saturating_sub(body.len());
        body.extend(std::iter::repeat_n('x', pad));
    }
}

/// (sent nanos, stream, counter) of a body the bench wrote.
pub fn parse_body(body: &str) -> Option<(u64, u64, u64)> {
    let mut parts = body.splitn(4, ':');
    let sent = parts.next()?.parse().ok()?;
    let stream = parts.next()?.parse().ok()?;
    let counter = parts.next()?.parse().ok()?;
    Some((sent, stream, counter))
}

/// Receives one stream's messages: checks each arrives once, and times those sent in
/// the measured window.
#[derive(Debug)]
pub struct Receiver {
    run: Arc<Run>,
    stream: u64,
    progress: Arc<Progress>,
    pub seen: SeqBits,
    latency: LatencyBuffer,
    /// Distinct deliveries of messages sent in the measured window.
    pub measured: u64,
    pub duplicated: u64,
    /// `message` events the bench did not send to this receiver.
    pub foreign: u64,
    /// Deliveries whose seq was not above the last one seen: the server pushed this
    /// conversation out of order.
    pub out_of_order: u64,
    last_seq: u64,
}

impl Receiver {
    pub fn new(run: Arc<Run>, stream: u64, progress: Arc<Progress>, latency: LatencyBuffer) -> Self {
        Self {
            run,
            stream,
            progress,
            seen: SeqBits::default(),
            latency,
            measured: 0,
            duplicated: 0,
            foreign: 0,
            out_of_order: 0,
            last_seq: 0,
        }
    }
}

impl Handler for Receiver {
    fn on_frame(&mut self, frame: &Incoming<'_>, now: Instant, _: &Writer) {
        if frame.event != Some(EventName::Message) {
            return;
        }
        let Some(message) = &frame.message else {
            self.foreign += 1;
            return;
        };
        let Some((sent, _, counter)) = parse_body(&message.body).filter(|(_, s, _)| *s == self.stream) else {
            self.foreign += 1;
            return;
        };
        if message.seq <= self.last_seq {
            self.out_of_order += 1;
        }
        self.last_seq = self.last_seq.max(message.seq);
        if !self.seen.insert(counter) {
            self.duplicated += 1;
            Progress::bump(&self.progress.duplicated);
            return;
        }
        Progress::bump(&self.progress.delivered);
        if self.run.measured(sent) {
            self.measured += 1;
            self.latency.record_nanos(self.run.nanos(now).saturating_sub(sent));
        }
    }

    fn on_end(&mut self) {
        self.latency.flush();
    }
}

/// A sender's record of the replies to its sends.
#[derive(Debug, Default)]
pub struct Acks {
    pub acked: SeqBits,
    pub failed: u64,
    pub first_error: Option<String>,
}

impl Acks {
    pub fn on_reply(&mut self, counter: u64, frame: &Incoming<'_>, progress: &Progress) {
        if frame.ok == Some(true) {
            self.acked.insert(counter);
            Progress::bump(&progress.acked);
        } else {
            self.failed += 1;
            Progress::bump(&progress.failed);
            if self.first_error.is_none() {
                self.first_error = Some(frame.error_code().to_owned());
            }
        }
    }
}

/// Records replies on a connection whose sends another task writes (open loop).
#[derive(Debug)]
pub struct AckRecorder {
    progress: Arc<Progress>,
    pub acks: Acks,
}

impl AckRecorder {
    pub fn new(progress: Arc<Progress>) -> Self {
        Self { progress, acks: Acks::default() }
    }
}

impl Handler for AckRecorder {
    fn on_frame(&mut self, frame: &Incoming<'_>, _: Instant, _: &Writer) {
        if let Some(counter) = frame.re.and_then(counter_of) {
            self.acks.on_reply(counter, frame, &self.progress);
        }
    }
}

/// What [`watch`] saw.
#[derive(Debug)]
pub struct Watched {
    pub server: Option<(Sample, Sample)>,
    pub bench: Option<(Sample, Sample)>,
    /// Whether every acknowledged message reached every receiver before the drain
    /// wait ran out.
    pub drained: bool,
    pub drain_time: Duration,
}

/// Follows a started run to its end: samples the processes around the measured
/// window, prints progress every second, then waits up to `drain` for the replies and
/// deliveries still under way. `fanout` is how many receivers each message has.
pub async fn watch(
    window: Window,
    senders: &[Arc<Progress>],
    receivers: &[Arc<Progress>],
    fanout: u64,
    server: Option<&Probe>,
    drain: Duration,
) -> Result<Watched> {
    let bench = Probe::of_self();
    let sample = |p: Option<&Probe>| p.and_then(|p| p.sample().ok());
    let totals = || {
        let s = Totals::of(senders.iter().map(|p| &**p));
        let r = Totals::of(receivers.iter().map(|p| &**p));
        (s, r)
    };
    // (server, bench) samples taken when the measured window opened.
    let mut before: Option<(Option<Sample>, Option<Sample>)> = None;
    let mut last = (Instant::now(), 0u64);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    // Bounded by the window's end, which is fixed.
    loop {
        let now = Instant::now();
        if before.is_none() && now >= window.measure_from {
            before = Some((sample(server), bench.sample().ok()));
        }
        if now >= window.measure_to {
            break;
        }
        let until = if before.is_none() { window.measure_from } else { window.measure_to };
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::time::sleep_until(until.into()) => continue,
        }
        let (s, r) = totals();
        let phase = if Instant::now() < window.measure_from { "warm-up" } else { "measured" };
        let rate = (r.delivered - last.1) as f64 / last.0.elapsed().as_secs_f64();
        last = (Instant::now(), r.delivered);
        println!(
            "  [{:5.1}s {phase}] sent {} acked {} failed {} delivered {} ({rate:.0} deliveries/s)",
            window.start.elapsed().as_secs_f64(),
            s.sent,
            s.acked,
            s.failed,
            r.delivered
        );
        if s.acked == 0 && s.failed > 0 {
            bail!("every send so far failed ({} of them); is `send` served by this server?", s.failed);
        }
    }
    let server_after = sample(server);
    let bench_after = bench.sample().ok();

    let drain_start = Instant::now();
    let mut drained = false;
    // Deliveries seen a moment before the wait ran out, to tell a server that is
    // behind from one that dropped messages.
    let mut recent = (Instant::now(), 0u64);
    // Bounded by `drain`.
    while drain_start.elapsed() < drain {
        let (s, r) = totals();
        if s.in_flight() == 0 && r.delivered >= s.acked * fanout {
            drained = true;
            break;
        }
        if recent.0.elapsed() >= Duration::from_millis(500) {
            recent = (Instant::now(), r.delivered + r.duplicated);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (s, r) = totals();
    let note = if drained {
        ""
    } else if r.delivered + r.duplicated > recent.1 || s.in_flight() > 0 {
        " - the drain wait ran out with deliveries or replies still coming: the server is behind, \
         a longer --drain tells lag from loss"
    } else {
        " - the drain wait ran out"
    };
    println!(
        "  drained in {:.2}s: sent {} acked {} failed {} delivered {} (of {} expected){note}",
        drain_start.elapsed().as_secs_f64(),
        s.sent,
        s.acked,
        s.failed,
        r.delivered,
        s.acked * fanout,
    );
    let (server_before, bench_before) = before.unwrap_or((None, None));
    Ok(Watched {
        server: server_before.zip(server_after),
        bench: bench_before.zip(bench_after),
        drained,
        drain_time: drain_start.elapsed(),
    })
}

/// What the ended connections of a traffic run add up to.
#[derive(Debug, Default)]
pub struct Tally {
    /// Where the receivers' latency samples go.
    pub latency: LatencySink,
    /// Distinct deliveries of messages sent in the measured window.
    pub measured: u64,
    pub lost: u64,
    lost_example: Option<String>,
    pub duplicated: u64,
    pub foreign: u64,
    pub out_of_order: u64,
    pub bad_frames: u64,
    problems: u64,
    problem_example: Option<String>,
}

impl Tally {
    /// Adds a receiver that should have received every message in `acked`.
    pub fn receiver(&mut self, name: &str, acked: &SeqBits, end: &Ended<Receiver>) {
        let r = &end.handler;
        let missing = acked.missing_from(&r.seen);
        if missing > 0 && self.lost_example.is_none() {
            self.lost_example = acked.first_missing_from(&r.seen).map(|c| format!("message {c} to {name}"));
        }
        self.lost += missing;
        self.duplicated += r.duplicated;
        self.foreign += r.foreign;
        self.out_of_order += r.out_of_order;
        self.measured += r.measured;
        self.connection(name, end);
    }

    /// Adds any connection's frame and ending troubles.
    pub fn connection<H>(&mut self, name: &str, end: &Ended<H>) {
        self.bad_frames += end.bad_frames;
        if let Some(p) = &end.problem {
            self.problems += 1;
            self.problem_example.get_or_insert_with(|| format!("{name}: {p}"));
        }
    }

    /// Prints and reports the checks; loss, duplicates and the rest are errors.
    pub fn report(&self, report: &mut Report) {
        let latency = self.latency.snapshot();
        println!("{}", latency.line("delivery latency"));
        println!(
            "lost {} duplicated {} foreign {} out of order {} unreadable frames {} connections ended early {}",
            self.lost, self.duplicated, self.foreign, self.out_of_order, self.bad_frames, self.problems
        );
        report.extend(latency.summary(""));
        report.set("lost", self.lost);
        report.set("duplicated", self.duplicated);
        report.set("foreign", self.foreign);
        report.set("out_of_order", self.out_of_order);
        report.set("bad_frames", self.bad_frames);
        report.set("connection_problems", self.problems);
        if self.lost > 0 {
            report.error(format!(
                "{} acknowledged deliveries missing (e.g. {})",
                self.lost,
                self.lost_example.as_deref().unwrap_or("?")
            ));
        }
        if self.duplicated > 0 {
            report.error(format!("{} messages delivered more than once", self.duplicated));
        }
        if self.foreign > 0 {
            report.error(format!("{} message events the bench did not send to their receiver", self.foreign));
        }
        if self.bad_frames > 0 {
            report.error(format!("{} unreadable frames from the server", self.bad_frames));
        }
        if self.problems > 0 {
            report.error(format!(
                "{} connections ended early (e.g. {})",
                self.problems,
                self.problem_example.as_deref().unwrap_or("?")
            ));
        }
    }
}

/// What to do about the server's per-user send limit.
pub fn rate_hint(code: &str) -> &'static str {
    if code == "rate_limited" { "; start the server with a large --send-rate" } else { "" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_with_and_without_padding() {
        let mut body = String::new();
        write_body(&mut body, 123_456_789, 7, 42, 0);
        assert_eq!(body, "123456789:7:42");
        assert_eq!(parse_body(&body), Some((123_456_789, 7, 42)));
        write_body(&mut body, 1, 2, 3, 40);
        assert_eq!(body.len(), 40);
        assert_eq!(parse_body(&body), Some((1, 2, 3)));
        assert_eq!(parse_body("hello"), None);
        assert_eq!(parse_body("1:2"), None);
    }

    #[test]
    fn send_ids_map_back_to_counters() {
        assert_eq!(counter_of(send_id(0)), Some(0));
        assert_eq!(counter_of(send_id(99)), Some(99));
        assert_eq!(counter_of(KICK_ID), None);
        assert!(send_id(MAX_COUNTER) <= chat_proto::MAX_ID);
    }
}
