//! Throttling of password checks (login, change_password, delete_account).
//!
//! An attempt is counted as a failure *before* its password is checked and refunded if
//! it succeeds, so concurrent guesses cannot all slip through while the first ones are
//! still hashing. Three counts, each forgotten after `window` without a new failure:
//!
//! - per address: a strict limit; past it the address is refused for the window;
//! - per (username, address): a strict limit, likewise;
//! - per username over all addresses: past a free number of failures every further
//!   attempt waits a delay that doubles up to `max_delay`. It slows a distributed
//!   guesser down but never locks the owner out for longer than `max_delay`.
//!
//! Checks in flight are also capped per username and per address. `resume` never
//! consults this throttle: a valid token is not a guess.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::addr_key::AddrKey;

/// Limits of the throttle.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleConfig {
    /// A count is forgotten this long after its last failure.
    pub window: Duration,
    pub max_failures_per_pair: u32,
    pub max_failures_per_addr: u32,
    /// Failures of one username (all addresses) before attempts are delayed.
    pub free_failures_per_user: u32,
    /// The first delay; each further failure doubles it.
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub max_in_flight_per_user: u32,
    pub max_in_flight_per_addr: u32,
    /// Most keys remembered per table.
    pub max_entries: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(300),
            max_failures_per_pair: 5,
            max_failures_per_addr: 30,
            free_failures_per_user: 10,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_in_flight_per_user: 4,
            max_in_flight_per_addr: 8,
            max_entries: 100_000,
        }
    }
}

/// Failures counted under one key.
#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last: Instant,
    /// Before this instant the key is refused (used by the username table).
    not_before: Instant,
}

/// Counts per key, bounded: when full, expired records go first, then the oldest.
#[derive(Debug)]
struct Table<K> {
    records: HashMap<K, Record>,
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn new() -> Self {
        Self { records: HashMap::new() }
    }

    /// The live record of `key`, if any; an expired one is dropped.
    fn live(&mut self, key: &K, window: Duration, now: Instant) -> Option<Record> {
        let r = *self.records.get(key)?;
        if now.saturating_duration_since(r.last) >= window {
            self.records.remove(key);
            return None;
        }
        Some(r)
    }

    /// How long `key` stays refused, having reached `max` failures.
    fn locked_for(&mut self, key: &K, max: u32, window: Duration, now: Instant) -> Option<Duration> {
        let r = self.live(key, window, now)?;
        (r.failures >= max).then(|| (r.last + window).saturating_duration_since(now))
    }

    /// Counts one failure for `key` and returns its record.
    fn fail(&mut self, key: &K, cfg: &ThrottleConfig, now: Instant) -> &mut Record {
        let r = self.touch(key, cfg.window, cfg.max_entries, now);
        r.failures = r.failures.saturating_add(1);
        r
    }

    /// The record of `key`, made if missing, its time set to `now`. A full table
    /// first drops what expired, then the oldest tenth: a scan per tenth of the
    /// table's size in new keys, never one per key.
    fn touch(&mut self, key: &K, window: Duration, max_entries: usize, now: Instant) -> &mut Record {
        if self.live(key, window, now).is_none() && self.records.len() >= max_entries {
            self.records.retain(|_, r| now.saturating_duration_since(r.last) < window);
            if self.records.len() >= max_entries && !self.records.is_empty() {
                let mut times: Vec<Instant> = self.records.values().map(|r| r.last).collect();
                let tenth = (max_entries / 10).min(times.len() - 1);
                let (_, cut, _) = times.select_nth_unstable(tenth);
                let cut = *cut;
                self.records.retain(|_, r| r.last > cut);
            }
        }
        let r = self.records.entry(key.clone()).or_insert(Record { failures: 0, last: now, not_before: now });
        r.last = now;
        r
    }

    /// Takes back one counted failure.
    fn refund(&mut self, key: &K) {
        if let Some(r) = self.records.get_mut(key) {
            r.failures = r.failures.saturating_sub(1);
            if r.failures == 0 {
                self.records.remove(key);
            }
        }
    }
}

/// Checks in flight per key; a key leaves the map when its count drops to zero.
#[derive(Debug)]
struct InFlight<K>(HashMap<K, u32>);

impl<K: Hash + Eq + Clone> InFlight<K> {
    fn count(&self, key: &K) -> u32 {
        self.0.get(key).copied().unwrap_or(0)
    }

    fn enter(&mut self, key: &K) {
        *self.0.entry(key.clone()).or_insert(0) += 1;
    }

    fn leave(&mut self, key: &K) {
        if let Some(n) = self.0.get_mut(key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.0.remove(key);
            }
        }
    }
}

/// The whole decision state; every method takes the current time, so the rules are
/// tested with an injected clock.
#[derive(Debug)]
struct Rules {
    cfg: ThrottleConfig,
    addrs: Table<AddrKey>,
    pairs: Table<(String, AddrKey)>,
    users: Table<String>,
    users_in_flight: InFlight<String>,
    addrs_in_flight: InFlight<AddrKey>,
    /// Username and address pairs that logged in lately: the owner's own devices,
    /// which the per-username delay does not hold up, so that strangers keeping
    /// that delay armed cannot keep the owner out.
    trusted: Table<(String, AddrKey)>,
}

impl Rules {
    fn new(cfg: ThrottleConfig) -> Self {
        Self {
            cfg,
            addrs: Table::new(),
            pairs: Table::new(),
            users: Table::new(),
            users_in_flight: InFlight(HashMap::new()),
            addrs_in_flight: InFlight(HashMap::new()),
            trusted: Table::new(),
        }
    }

    /// Admits an attempt, counting it as a failure already, or says how long to wait.
    fn begin(&mut self, user: &str, addr: AddrKey, now: Instant) -> Result<(), Duration> {
        let cfg = self.cfg;
        let user = user.to_owned();
        let pair = (user.clone(), addr);
        // A check in flight ends within a hash time; a second is an honest hint.
        let busy = Duration::from_secs(1);
        if self.users_in_flight.count(&user) >= cfg.max_in_flight_per_user
            || self.addrs_in_flight.count(&addr) >= cfg.max_in_flight_per_addr
        {
            return Err(busy);
        }
        let trusted = self.trusted.live(&pair, TRUST, now).is_some();
        let locked = [
            self.addrs.locked_for(&addr, cfg.max_failures_per_addr, cfg.window, now),
            self.pairs.locked_for(&pair, cfg.max_failures_per_pair, cfg.window, now),
            self.users
                .live(&user, cfg.window, now)
                .filter(|_| !trusted)
                .map(|r| r.not_before.saturating_duration_since(now)),
        ];
        if let Some(wait) = locked.into_iter().flatten().filter(|w| !w.is_zero()).max() {
            return Err(wait);
        }
        self.addrs.fail(&addr, &cfg, now);
        self.pairs.fail(&pair, &cfg, now);
        let r = self.users.fail(&user, &cfg, now);
        if let Some(beyond) = r.failures.checked_sub(cfg.free_failures_per_user).filter(|n| *n > 0) {
            r.not_before = now + delay(&cfg, beyond);
        }
        self.users_in_flight.enter(&user);
        self.addrs_in_flight.enter(&addr);
        Ok(())
    }

    /// Ends an admitted attempt: a success, or a check that never happened, takes
    /// its counted failure back; a success also trusts the pair.
    fn end(&mut self, user: &str, addr: AddrKey, outcome: Outcome, now: Instant) {
        let user = user.to_owned();
        self.users_in_flight.leave(&user);
        self.addrs_in_flight.leave(&addr);
        if outcome == Outcome::Failed {
            return;
        }
        self.addrs.refund(&addr);
        self.users.refund(&user);
        let pair = (user, addr);
        self.pairs.refund(&pair);
        if outcome == Outcome::Succeeded {
            self.trusted.touch(&pair, TRUST, self.cfg.max_entries, now);
        }
    }
}

/// How long a login keeps its username and address trusted.
const TRUST: Duration = Duration::from_secs(30 * 86_400);

/// How an admitted attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Failed,
    Succeeded,
    /// The password was never checked (the store or the hashing queue failed).
    NotChecked,
}

/// The delay before the attempt after the `beyond`-th failure past the free ones.
fn delay(cfg: &ThrottleConfig, beyond: u32) -> Duration {
    let factor = 1u32.checked_shl(beyond.saturating_sub(1)).unwrap_or(u32::MAX);
    cfg.base_delay.saturating_mul(factor).min(cfg.max_delay)
}

/// The throttle shared by every connection.
#[derive(Debug)]
pub struct LoginThrottle {
    rules: Mutex<Rules>,
}

/// An admitted password check. Dropped without [`Attempt::succeeded`], it stays
/// counted as a failure (also when its task is cancelled mid-check).
#[derive(Debug)]
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    user: String,
    addr: AddrKey,
    outcome: Outcome,
}

impl Attempt<'_> {
    pub fn succeeded(mut self) {
        self.outcome = Outcome::Succeeded;
    }

    /// The password could not be checked: the attempt does not count.
    pub fn not_checked(mut self) {
        self.outcome = Outcome::NotChecked;
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.throttle.rules().end(&self.user, self.addr, self.outcome, Instant::now());
    }
}

impl LoginThrottle {
    pub fn new(cfg: ThrottleConfig) -> Self {
        Self { rules: Mutex::new(Rules::new(cfg)) }
    }

    fn rules(&self) -> std::sync::MutexGuard<'_, Rules> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a password check of `user_key` (a lower-cased username) from `addr`, or
    /// says how long to wait.
    pub fn begin(&self, user_key: &str, addr: AddrKey) -> Result<Attempt<'_>, Duration> {
        self.rules().begin(user_key, addr, Instant::now())?;
        Ok(Attempt { throttle: self, user: user_key.to_owned(), addr, outcome: Outcome::Failed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ThrottleConfig {
        ThrottleConfig {
            window: Duration::from_secs(60),
            max_failures_per_pair: 3,
            max_failures_per_addr: 5,
            free_failures_per_user: 4,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(8),
            max_in_flight_per_user: 2,
            max_in_flight_per_addr: 3,
            max_entries: 4,
        }
    }

    fn addr(s: &str) -> AddrKey {
        AddrKey::of(s.parse().unwrap())
    }

    /// One complete failed attempt.
    fn fail(r: &mut Rules, user: &str, a: AddrKey, now: Instant) -> Result<(), Duration> {
        r.begin(user, a, now)?;
        r.end(user, a, Outcome::Failed, now);
        Ok(())
    }

    #[test]
    fn attempts_count_before_they_finish() {
        let mut r =
            Rules::new(ThrottleConfig { max_in_flight_per_user: 100, max_in_flight_per_addr: 100, ..cfg() });
        let (a, t) = (addr("10.0.0.1"), Instant::now());
        for _ in 0..3 {
            r.begin("bob", a, t).unwrap();
        }
        // Three checks still running, none finished: the fourth is refused already.
        let wait = r.begin("bob", a, t).unwrap_err();
        assert_eq!(wait, Duration::from_secs(60));
    }

    #[test]
    fn checks_in_flight_are_capped_per_user_and_per_address() {
        let mut r = Rules::new(cfg());
        let (a, b, t) = (addr("10.0.0.1"), addr("10.0.0.2"), Instant::now());
        r.begin("bob", a, t).unwrap();
        r.begin("bob", b, t).unwrap();
        assert!(r.begin("bob", addr("10.0.0.3"), t).is_err(), "two for bob in flight");
        r.begin("carol", a, t).unwrap();
        r.begin("dave", a, t).unwrap();
        assert!(r.begin("erin", a, t).is_err(), "three from a in flight");
        r.end("bob", a, Outcome::Succeeded, t);
        r.begin("erin", a, t).unwrap();
    }

    #[test]
    fn a_success_refunds_its_attempt() {
        let mut r = Rules::new(cfg());
        let (a, t) = (addr("10.0.0.1"), Instant::now());
        for _ in 0..10 {
            r.begin("bob", a, t).unwrap();
            r.end("bob", a, Outcome::Succeeded, t);
        }
        fail(&mut r, "bob", a, t).unwrap();
        fail(&mut r, "bob", a, t).unwrap();
        fail(&mut r, "bob", a, t).unwrap();
        assert!(r.begin("bob", a, t).is_err(), "the pair is at its limit");
    }

    #[test]
    fn the_pair_and_the_address_lock_for_the_window() {
        let mut r = Rules::new(cfg());
        let (a, t) = (addr("10.0.0.1"), Instant::now());
        for _ in 0..3 {
            fail(&mut r, "bob", a, t).unwrap();
        }
        assert!(r.begin("bob", a, t).is_err());
        r.begin("bob", addr("10.0.0.2"), t).unwrap();
        r.end("bob", addr("10.0.0.2"), Outcome::Succeeded, t);
        fail(&mut r, "carol", a, t).unwrap();
        fail(&mut r, "dave", a, t).unwrap();
        assert_eq!(r.begin("erin", a, t), Err(Duration::from_secs(60)), "address at 5");
        let later = t + Duration::from_secs(60);
        r.begin("erin", a, later).unwrap();
    }

    #[test]
    fn strangers_slow_the_username_down_but_never_lock_its_owner_out_for_long() {
        let mut r = Rules::new(cfg());
        let mut t = Instant::now();
        // Four free failures, from four addresses.
        for i in 1..=4 {
            fail(&mut r, "bob", addr(&format!("10.0.0.{i}")), t).unwrap();
        }
        // Then each failure doubles the wait, up to the cap.
        let mut waits = Vec::new();
        for i in 5..=12 {
            let a = addr(&format!("10.0.1.{i}"));
            let wait = r.begin("bob", a, t).err().unwrap_or_default();
            if !wait.is_zero() {
                t += wait;
                r.begin("bob", a, t).unwrap();
            }
            r.end("bob", a, Outcome::Failed, t);
            waits.push(wait.as_secs());
        }
        assert_eq!(waits, [0, 1, 2, 4, 8, 8, 8, 8]);
        // The owner, elsewhere, waits at most the cap.
        let owner = addr("192.168.7.7");
        let wait = r.begin("bob", owner, t).unwrap_err();
        assert!(wait <= Duration::from_secs(8));
        r.begin("bob", owner, t + wait).unwrap();
        r.end("bob", owner, Outcome::Succeeded, t);
    }

    #[test]
    fn a_device_that_logged_in_lately_is_not_held_up_by_strangers() {
        let mut r = Rules::new(cfg());
        let (owner, t) = (addr("192.168.7.7"), Instant::now());
        r.begin("bob", owner, t).unwrap();
        r.end("bob", owner, Outcome::Succeeded, t);
        // Strangers keep the username's delay armed...
        let mut later = t;
        for i in 1..=8 {
            let a = addr(&format!("10.0.2.{i}"));
            if let Err(wait) = r.begin("bob", a, later) {
                later += wait;
                r.begin("bob", a, later).unwrap();
            }
            r.end("bob", a, Outcome::Failed, later);
        }
        assert!(r.begin("bob", addr("10.0.3.1"), later).is_err(), "a stranger waits");
        // ...but the owner's own address is not held up by it.
        r.begin("bob", owner, later).unwrap();
        r.end("bob", owner, Outcome::Succeeded, later);
    }

    #[test]
    fn a_check_that_never_happened_does_not_count() {
        let mut r = Rules::new(cfg());
        let (a, t) = (addr("10.0.0.1"), Instant::now());
        for _ in 0..20 {
            r.begin("bob", a, t).unwrap();
            r.end("bob", a, Outcome::NotChecked, t);
        }
        assert!(r.trusted.records.is_empty(), "not a login either");
        r.begin("bob", a, t).unwrap();
    }

    #[test]
    fn counts_are_forgotten_a_window_after_the_last_failure() {
        let mut r = Rules::new(cfg());
        let (a, t) = (addr("10.0.0.1"), Instant::now());
        for _ in 0..3 {
            fail(&mut r, "bob", a, t).unwrap();
        }
        assert!(r.begin("bob", a, t + Duration::from_secs(59)).is_err());
        r.begin("bob", a, t + Duration::from_secs(60)).unwrap();
    }

    #[test]
    fn tables_are_bounded() {
        let mut r = Rules::new(ThrottleConfig { max_failures_per_addr: 1000, ..cfg() });
        let t = Instant::now();
        for i in 0..100 {
            let _ = fail(&mut r, &format!("u{i}"), addr(&format!("10.0.{}.{}", i / 200, i % 200)), t);
        }
        assert!(r.users.records.len() <= 4 && r.pairs.records.len() <= 4 && r.addrs.records.len() <= 4);
        assert!(r.users_in_flight.0.is_empty() && r.addrs_in_flight.0.is_empty());
    }
}
