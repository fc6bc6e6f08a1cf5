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
    pub fn new(config: Config, store: Arc<dyn Store>) -> Self {
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
        let hub = Hub::new();
        let bus: Arc<dyn Bus> = Arc::new(LocalBus::new(hub.clone()));
        Self {
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

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
