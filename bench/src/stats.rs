//! Measurements: latency histograms, per-stream sets of message counters, and the
//! few atomic counters a run's monitor reads while traffic flows.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

/// Latencies in microseconds, 3 significant digits, up to an hour.
#[derive(Debug, Clone)]
pub struct Latency(Histogram<u64>);

const LATENCY_MAX_US: u64 = 3_600_000_000;

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    pub fn new() -> Self {
        // Bounds and precision are constants that hdrhistogram accepts.
        let h = Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).expect("valid histogram bounds");
        Self(h)
    }

    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        self.0.saturating_record(us);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    fn quantile_ms(&self, q: f64) -> f64 {
        ms(self.0.value_at_quantile(q))
    }

    /// `p50`, `p90`, `p99` and `max`, in milliseconds, keyed `{prefix}p50_ms` etc.
    pub fn summary(&self, prefix: &str) -> Map<String, Value> {
        let mut m = Map::new();
        let empty = self.count() == 0;
        for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
            let v = if empty { Value::Null } else { json!(self.quantile_ms(q)) };
            m.insert(format!("{prefix}{name}_ms"), v);
        }
        let max = if empty { Value::Null } else { json!(ms(self.0.max())) };
        m.insert(format!("{prefix}max_ms"), max);
        m
    }

    /// One human-readable line of the same figures.
    pub fn line(&self, what: &str) -> String {
        if self.count() == 0 {
            return format!("{what}: no samples");
        }
        format!(
            "{what} (ms, {} samples): p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
            self.count(),
            self.quantile_ms(0.5),
            self.quantile_ms(0.9),
            self.quantile_ms(0.99),
            ms(self.0.max())
        )
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// One histogram for the samples of many receivers.
///
/// A histogram of this range and precision takes ~190 KB, too much to give each of a
/// thousand receivers its own; instead each keeps a small [`LatencyBuffer`] and
/// takes the lock once per [`LATENCY_BATCH`] samples.
#[derive(Debug, Clone, Default)]
pub struct LatencySink(Arc<Mutex<Latency>>);

/// Samples a receiver gathers before adding them to the sink.
pub const LATENCY_BATCH: usize = 256;

impl LatencySink {
    pub fn buffer(&self) -> LatencyBuffer {
        LatencyBuffer { samples: Vec::new(), sink: self.0.clone() }
    }

    /// What every buffer flushed so far adds up to.
    pub fn snapshot(&self) -> Latency {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// A receiver's unflushed latency samples, in microseconds.
#[derive(Debug)]
pub struct LatencyBuffer {
    samples: Vec<u32>,
    sink: Arc<Mutex<Latency>>,
}

impl LatencyBuffer {
    pub fn record_nanos(&mut self, nanos: u64) {
        if self.samples.capacity() == 0 {
            self.samples.reserve_exact(LATENCY_BATCH);
        }
        self.samples.push(u32::try_from(nanos / 1000).unwrap_or(u32::MAX));
        if self.samples.len() >= LATENCY_BATCH {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        if self.samples.is_empty() {
            return;
        }
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        for &us in &self.samples {
            sink.0.saturating_record(u64::from(us).max(1));
        }
        drop(sink);
        self.samples.clear();
    }
}

impl Drop for LatencyBuffer {
    fn drop(&mut self) {
        self.flush();
    }
}

/// A set of message counters of one stream (0, 1, 2, ... as a sender numbers them),
/// one bit each.
#[derive(Debug, Clone, Default)]
pub struct SeqBits {
    words: Vec<u64>,
}

/// Counters above this are not the bench's (a bitmap this big would be 128 MiB).
pub const MAX_COUNTER: u64 = 1 << 30;

impl SeqBits {
    /// Adds `n`; false if it was already there (or is out of range).
    pub fn insert(&mut self, n: u64) -> bool {
        if n >= MAX_COUNTER {
            return false;
        }
        let (w, bit) = ((n / 64) as usize, 1u64 << (n % 64));
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
        }
        let fresh = self.words[w] & bit == 0;
        self.words[w] |= bit;
        fresh
    }

    pub fn len(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// How many counters of `self` are missing from `other`.
    pub fn missing_from(&self, other: &SeqBits) -> u64 {
        self.words
            .iter()
            .enumerate()
            .map(|(i, w)| u64::from((w & !other.words.get(i).copied().unwrap_or(0)).count_ones()))
            .sum()
    }

    /// The first counter of `self` missing from `other`, to name an example.
    pub fn first_missing_from(&self, other: &SeqBits) -> Option<u64> {
        self.words.iter().enumerate().find_map(|(i, w)| {
            let gap = w & !other.words.get(i).copied().unwrap_or(0);
            (gap != 0).then(|| i as u64 * 64 + u64::from(gap.trailing_zeros()))
        })
    }
}

/// Counters a sender or receiver bumps and the monitor sums while traffic flows.
/// One per stream or receiver, never one for the whole run, so no cache line is
/// shared by every connection.
#[derive(Debug, Default)]
pub struct Progress {
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub failed: AtomicU64,
    /// Distinct messages delivered.
    pub delivered: AtomicU64,
    pub duplicated: AtomicU64,
}

impl Progress {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Sums of [`Progress`] over many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    pub delivered: u64,
    pub duplicated: u64,
}

impl Totals {
    pub fn of<'a>(all: impl IntoIterator<Item = &'a Progress>) -> Self {
        let mut t = Totals::default();
        for p in all {
            t.sent += p.sent.load(Ordering::Relaxed);
            t.acked += p.acked.load(Ordering::Relaxed);
            t.failed += p.failed.load(Ordering::Relaxed);
            t.delivered += p.delivered.load(Ordering::Relaxed);
            t.duplicated += p.duplicated.load(Ordering::Relaxed);
        }
        t
    }

    /// Sends still waiting for their reply.
    pub fn in_flight(&self) -> u64 {
        self.sent.saturating_sub(self.acked + self.failed)
    }
}

/// `n` per second over `d`, rounded to a tenth.
pub fn per_sec(n: u64, d: Duration) -> f64 {
    let secs = d.as_secs_f64();
    if secs <= 0.0 { 0.0 } else { (n as f64 / secs * 10.0).round() / 10.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_bits_find_gaps_and_repeats() {
        let mut acked = SeqBits::default();
        let mut seen = SeqBits::default();
        for n in 0..200 {
            acked.insert(n);
            if n != 70 && n != 130 {
                assert!(seen.insert(n));
            }
        }
        assert!(!seen.insert(5));
        assert_eq!(acked.missing_from(&seen), 2);
        assert_eq!(acked.first_missing_from(&seen), Some(70));
        assert_eq!(seen.missing_from(&acked), 0);
        assert_eq!(seen.len(), 198);
    }

    #[test]
    fn latency_summary_in_ms() {
        let mut l = Latency::new();
        for us in 1..=1000u64 {
            l.record(Duration::from_micros(us));
        }
        let s = l.summary("");
        assert_eq!(s["p50_ms"], json!(0.5));
        assert_eq!(s["max_ms"], json!(1.0));
        assert_eq!(l.count(), 1000);
        assert!(Latency::new().summary("x_")["x_p99_ms"].is_null());
    }

    #[test]
    fn buffers_reach_the_sink() {
        let sink = LatencySink::default();
        let mut a = sink.buffer();
        let mut b = sink.buffer();
        for i in 0..(LATENCY_BATCH as u64 + 10) {
            a.record_nanos(i * 1000);
        }
        b.record_nanos(2_000_000);
        assert_eq!(sink.snapshot().count(), LATENCY_BATCH as u64);
        a.flush();
        drop(b);
        assert_eq!(sink.snapshot().count(), LATENCY_BATCH as u64 + 11);
    }
}
