//! Per-user send rate: a token bucket per user, refilled continuously.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Allows `rate` sends per second per user, with bursts of up to `burst`.
#[derive(Debug)]
pub struct SendRate {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<u64, Bucket>>,
}

/// Buckets kept before the full (idle) ones are dropped.
const MAX_BUCKETS: usize = 100_000;

impl SendRate {
    pub fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate.max(1)),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `user`; false when the user must slow down.
    pub fn allow(&self, user: u64) -> bool {
        self.allow_at(user, Instant::now())
    }

    fn allow_at(&self, user: u64, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&user) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let b = buckets.entry(user).or_insert(Bucket { tokens: self.burst, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * self.rate).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let r = SendRate::new(10, 3);
        let t = Instant::now();
        assert!(r.allow_at(1, t) && r.allow_at(1, t) && r.allow_at(1, t));
        assert!(!r.allow_at(1, t), "burst spent");
        assert!(r.allow_at(2, t), "other users have their own bucket");
        assert!(!r.allow_at(1, t + Duration::from_millis(50)));
        assert!(r.allow_at(1, t + Duration::from_millis(110)), "one token per 100 ms");
    }
}
