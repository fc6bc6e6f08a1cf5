//! Rate limits (GCRA token buckets from `governor`, one per key): per user for the
//! ops that write or cost, per address for `register`, and per connection for every
//! request.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::addr_key::AddrKey;
use crate::config::Config;

/// Checks between two sweeps of the idle (full again) buckets out of a table.
const SWEEP_EVERY: u64 = 4096;

/// One bucket per key.
#[derive(Debug)]
pub struct Budget<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    limiter: RateLimiter<K, DashMapStateStore<K>, C, NoOpMiddleware<C::Instant>>,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone> Budget<K> {
    /// `rate` per `per`, in bursts of up to `burst`.
    pub fn new(rate: u32, per: Duration, burst: u32) -> Self {
        Self::with_clock(rate, per, burst, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock> Budget<K, C> {
    fn with_clock(rate: u32, per: Duration, burst: u32, clock: C) -> Self {
        Self {
            limiter: RateLimiter::dashmap_with_clock(quota(rate, per, burst), clock),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one token for `key`, or says how long until one is there.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        // A key whose bucket refilled is indistinguishable from a new one, so dropping
        // it now and then keeps the table to the keys active recently.
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(key).map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }

    /// Waits for a token for `key` (backpressure rather than refusal).
    pub async fn wait(&self, key: &K) {
        while let Err(wait) = self.check(key) {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The quota of `rate` per `per` with bursts of `burst` (all at least 1).
fn quota(rate: u32, per: Duration, burst: u32) -> Quota {
    let one = |n: u32| NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN);
    let interval = (per / rate.max(1)).max(Duration::from_nanos(1));
    Quota::with_period(interval).unwrap_or_else(|| Quota::per_second(one(rate))).allow_burst(one(burst))
}

/// The ops limited per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Send,
    Recall,
    Read,
    FriendRequest,
    GroupCreate,
    GroupJoin,
}

impl Op {
    fn wire_name(self) -> &'static str {
        match self {
            Op::Send => "send",
            Op::Recall => "recall",
            Op::Read => "read",
            Op::FriendRequest => "friend_request",
            Op::GroupCreate => "group_create",
            Op::GroupJoin => "group_join",
        }
    }
}

/// Every rate limit of the server.
#[derive(Debug)]
pub struct Limits {
    send: Budget<u64>,
    recall: Budget<u64>,
    read: Budget<u64>,
    friend_request: Budget<u64>,
    group_create: Budget<u64>,
    group_join: Budget<u64>,
    /// `register` per address.
    pub register: Budget<AddrKey>,
    /// Every request, per connection id.
    pub conn: Budget<u64>,
}

impl Limits {
    pub fn new(c: &Config) -> Self {
        let (sec, min) = (Duration::from_secs(1), Duration::from_secs(60));
        Self {
            send: Budget::new(c.send_rate, sec, c.send_burst),
            recall: Budget::new(c.recall_per_min, min, c.recall_burst),
            read: Budget::new(c.read_per_min, min, c.read_burst),
            friend_request: Budget::new(c.friend_request_per_min, min, c.friend_request_burst),
            group_create: Budget::new(c.group_create_per_min, min, c.group_create_burst),
            group_join: Budget::new(c.group_join_per_min, min, c.group_join_burst),
            register: Budget::new(c.register_per_min, min, c.register_burst),
            conn: Budget::new(c.conn_rate, sec, c.conn_burst),
        }
    }

    /// Takes one `op` from `user`'s budget, or says how long to wait and why.
    pub fn check_op(&self, op: Op, user: u64) -> Result<(), (Duration, String)> {
        let budget = match op {
            Op::Send => &self.send,
            Op::Recall => &self.recall,
            Op::Read => &self.read,
            Op::FriendRequest => &self.friend_request,
            Op::GroupCreate => &self.group_create,
            Op::GroupJoin => &self.group_join,
        };
        budget
            .check(&user)
            .map_err(|wait| (wait, format!("too many `{}` requests; slow down", op.wire_name())))
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn bursts_then_refills_at_the_rate_per_key() {
        let clock = FakeRelativeClock::default();
        let b: Budget<u64, FakeRelativeClock> =
            Budget::with_clock(10, Duration::from_secs(1), 3, clock.clone());
        for _ in 0..3 {
            b.check(&1).unwrap();
        }
        let wait = b.check(&1).unwrap_err();
        assert_eq!(wait, Duration::from_millis(100), "one token per 100 ms");
        b.check(&2).unwrap();
        clock.advance(Duration::from_millis(50));
        assert_eq!(b.check(&1), Err(Duration::from_millis(50)));
        clock.advance(Duration::from_millis(50));
        b.check(&1).unwrap();
    }

    #[test]
    fn per_minute_budgets_hint_the_time_to_the_next_token() {
        let clock = FakeRelativeClock::default();
        let b: Budget<u64, FakeRelativeClock> =
            Budget::with_clock(6, Duration::from_secs(60), 1, clock.clone());
        b.check(&7).unwrap();
        assert_eq!(b.check(&7), Err(Duration::from_secs(10)));
    }

    #[test]
    fn idle_keys_are_swept() {
        let clock = FakeRelativeClock::default();
        let b: Budget<u64, FakeRelativeClock> =
            Budget::with_clock(1000, Duration::from_secs(1), 1, clock.clone());
        for k in 0..SWEEP_EVERY - 1 {
            b.check(&k).unwrap();
        }
        clock.advance(Duration::from_secs(1));
        b.check(&u64::MAX).unwrap();
        assert!(b.limiter.len() <= 1, "{} keys left", b.limiter.len());
    }
}
