//! Rate-limited logging, for failures a client can provoke: however fast they come,
//! the log gets a few lines a second and a count of what it left out, so that no
//! client can fill the disk or drown a real problem.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines let through per window, then silence until the window ends.
#[derive(Debug)]
pub struct LogLimit {
    per_window: u32,
    window: Duration,
    state: Mutex<Option<(Instant, u32, u64)>>,
}

impl LogLimit {
    pub const fn new(per_window: u32, window: Duration) -> Self {
        Self { per_window, window, state: Mutex::new(None) }
    }

    /// `Some(n)` when this line may be logged, `n` being how many were left out
    /// since the last one that was.
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (start, count, dropped) = state.get_or_insert((now, 0, 0));
        if now.duration_since(*start) >= self.window {
            *start = now;
            *count = 0;
        }
        if *count < self.per_window {
            *count += 1;
            Some(std::mem::take(dropped))
        } else {
            *dropped += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_a_few_per_window_and_counts_the_rest() {
        let limit = LogLimit::new(2, Duration::from_secs(1));
        let t = Instant::now();
        assert_eq!(limit.admit_at(t), Some(0));
        assert_eq!(limit.admit_at(t), Some(0));
        for _ in 0..1000 {
            assert_eq!(limit.admit_at(t), None);
        }
        assert_eq!(limit.admit_at(t + Duration::from_secs(1)), Some(1000));
        assert_eq!(limit.admit_at(t + Duration::from_secs(1)), Some(0));
    }
}
