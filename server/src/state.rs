//! What every connection shares: settings, store, hub, hasher, throttle, limits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chat_proto::{Event, encode_frame};

use crate::auth::PasswordHasher;
use crate::bus::{Bus, LocalBus};
use crate::config::Config;
use crate::hub::Hub;
use crate::limits::Limits;
use crate::store::Store;
use crate::throttle::{LoginThrottle, ThrottleConfig};
use crate::writer::Writer;

#[derive(Debug)]
pub struct AppState {
    /// This node's name (`--node-id`, else the host name and a random suffix).
    pub node: String,
    /// The cluster's bus, when in one (`--redis`); its background work is started by
    /// the server.
    pub cluster: Option<crate::redis_bus::RedisBus>,
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub hub: Hub,
    pub bus: Arc<dyn Bus>,
    pub writer: Writer,
    pub limits: Limits,
    pub hasher: PasswordHasher,
    pub throttle: LoginThrottle,
    next_conn_id: AtomicU64,
}

impl AppState {
    /// A single node's state: events are delivered by its own hub.
    pub fn new(config: Config, store: Arc<dyn Store>) -> Self {
        let hub = Hub::new();
        let bus: Arc<dyn Bus> = Arc::new(LocalBus::new(hub.clone()));
        Self::with_bus(config, store, hub, bus, None)
    }

    /// A state whose events go through `bus` (over `hub`).
    pub fn with_bus(
        config: Config,
        store: Arc<dyn Store>,
        hub: Hub,
        bus: Arc<dyn Bus>,
        cluster: Option<crate::redis_bus::RedisBus>,
    ) -> Self {
        let throttle = LoginThrottle::new(ThrottleConfig {
            window: Duration::from_secs(config.login_window),
            max_failures_per_pair: config.login_max_failures,
            max_failures_per_addr: config.login_max_failures_per_addr,
            free_failures_per_user: config.login_free_failures,
            max_delay: Duration::from_secs(config.login_max_delay),
            max_in_flight_per_user: config.login_in_flight_per_user,
            max_in_flight_per_addr: config.login_in_flight_per_addr,
            ..ThrottleConfig::default()
        });
        Self {
            node: node_name(&config),
            cluster,
            writer: Writer::spawn(store.clone(), bus.clone(), config.max_frame, config.write_batch),
            bus,
            limits: Limits::new(&config),
            hasher: PasswordHasher::new(config.hash_queue_per_addr),
            config,
            store,
            hub,
            throttle,
            next_conn_id: AtomicU64::new(1),
        }
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Pushes `event` to every connection of each of `users` (but connection
    /// `except`); the event is serialized once and the same bytes go to every
    /// connection.
    pub fn notify_except(&self, users: &[u64], event: impl Into<Event>, except: Option<u64>) {
        let event = event.into();
        match encode_frame(&event, self.config.max_frame) {
            Ok(frame) => self.bus.publish(users, &frame, except),
            Err(e) => tracing::error!(error = %e, event = event.name(), "event could not be encoded"),
        }
    }

    /// Pushes `event` to every connection of each of `users`.
    pub fn notify(&self, users: impl IntoIterator<Item = u64>, event: impl Into<Event>) {
        let users: Vec<u64> = users.into_iter().collect();
        self.notify_except(&users, event, None);
    }
}

/// `--node-id`, else the host name and a random suffix: two nodes started without
/// one never share a name.
pub fn node_name(config: &Config) -> String {
    if let Some(name) = &config.node_id {
        return name.clone();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into());
    format!("{host}-{}", random_hex(3))
}

/// `bytes` random bytes as hex (a fixed, distinct-enough fallback without randomness).
pub fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    if getrandom::fill(&mut raw).is_err() {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        raw = (nanos ^ u128::from(std::process::id())).to_le_bytes()[..bytes.min(16)].to_vec();
    }
    hex::encode(raw)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
