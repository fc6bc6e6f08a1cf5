//! Throttling of failed logins, per username and per address.
//!
//! A fixed window per key: after `max_failures` failures inside `window`, attempts are
//! refused with `rate_limited` until the window that began with the first failure
//! ends. A success clears the username's record. The table is bounded: when full,
//! expired entries go first, then the oldest.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Limits of the login throttle.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleConfig {
    pub window: Duration,
    pub max_failures_per_user: u32,
    pub max_failures_per_addr: u32,
    /// Most keys remembered per table.
    pub max_entries: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(300),
            max_failures_per_user: 5,
            max_failures_per_addr: 30,
            max_entries: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

#[derive(Debug)]
struct Table<K> {
    entries: Mutex<HashMap<K, Window>>,
    max_failures: u32,
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn new(max_failures: u32) -> Self {
        Self { entries: Mutex::new(HashMap::new()), max_failures }
    }

    /// How long until `key` may try again, if it is locked now.
    fn locked_for(&self, key: &K, cfg: &ThrottleConfig, now: Instant) -> Option<Duration> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let w = entries.get(key)?;
        let ends = w.started + cfg.window;
        (w.failures >= self.max_failures && ends > now).then(|| ends - now)
    }

    fn fail(&self, key: &K, cfg: &ThrottleConfig, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if !entries.contains_key(key) && entries.len() >= cfg.max_entries {
            entries.retain(|_, w| w.started + cfg.window > now);
            if entries.len() >= cfg.max_entries {
                let oldest = entries.iter().min_by_key(|(_, w)| w.started).map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    entries.remove(&oldest);
                }
            }
        }
        let w = entries.entry(key.clone()).or_insert(Window { started: now, failures: 0 });
        if w.started + cfg.window <= now {
            *w = Window { started: now, failures: 0 };
        }
        w.failures = w.failures.saturating_add(1);
    }

    fn clear(&self, key: &K) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

/// The login throttle shared by every connection.
#[derive(Debug)]
pub struct LoginThrottle {
    cfg: ThrottleConfig,
    users: Table<String>,
    addrs: Table<IpAddr>,
}

impl LoginThrottle {
    pub fn new(cfg: ThrottleConfig) -> Self {
        Self {
            users: Table::new(cfg.max_failures_per_user),
            addrs: Table::new(cfg.max_failures_per_addr),
            cfg,
        }
    }

    /// `Some(wait)` when this username (a lower-cased key) or address must wait.
    pub fn check(&self, user_key: Option<&str>, addr: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let by_user = user_key.and_then(|k| self.users.locked_for(&k.to_owned(), &self.cfg, now));
        let by_addr = self.addrs.locked_for(&addr, &self.cfg, now);
        by_user.max(by_addr)
    }

    pub fn record_failure(&self, user_key: Option<&str>, addr: IpAddr) {
        let now = Instant::now();
        if let Some(k) = user_key {
            self.users.fail(&k.to_owned(), &self.cfg, now);
        }
        self.addrs.fail(&addr, &self.cfg, now);
    }

    pub fn record_success(&self, user_key: &str) {
        self.users.clear(&user_key.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ThrottleConfig {
        ThrottleConfig {
            window: Duration::from_secs(60),
            max_failures_per_user: 3,
            max_failures_per_addr: 5,
            max_entries: 4,
        }
    }

    #[test]
    fn locks_a_user_after_repeated_failures_and_clears_on_success() {
        let t = LoginThrottle::new(cfg());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(t.check(Some("bob"), ip).is_none());
            t.record_failure(Some("bob"), ip);
        }
        let wait = t.check(Some("bob"), ip).expect("locked");
        assert!(wait <= Duration::from_secs(60));
        assert!(t.check(Some("alice"), ip).is_none(), "other users are not locked");
        t.record_success("bob");
        assert!(t.check(Some("bob"), ip).is_none());
    }

    #[test]
    fn locks_an_address_across_usernames() {
        let t = LoginThrottle::new(cfg());
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        for i in 0..5 {
            t.record_failure(Some(&format!("user{i}")), ip);
        }
        assert!(t.check(Some("fresh"), ip).is_some());
        assert!(t.check(Some("fresh"), "10.0.0.3".parse().unwrap()).is_none());
    }

    #[test]
    fn window_expiry_unlocks() {
        let c = cfg();
        let table: Table<String> = Table::new(1);
        let start = Instant::now();
        table.fail(&"k".to_owned(), &c, start);
        assert!(table.locked_for(&"k".to_owned(), &c, start).is_some());
        assert!(table.locked_for(&"k".to_owned(), &c, start + c.window).is_none());
    }

    #[test]
    fn table_is_bounded() {
        let c = cfg();
        let table: Table<u32> = Table::new(1);
        let now = Instant::now();
        for k in 0..100 {
            table.fail(&k, &c, now);
        }
        assert!(table.entries.lock().unwrap().len() <= c.max_entries);
    }
}
