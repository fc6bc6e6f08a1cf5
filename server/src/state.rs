//! What every connection shares: settings, store, hub, hasher, throttle.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chat_proto::{Event, encode_frame};

use crate::auth::PasswordHasher;
use crate::config::Config;
use crate::hub::Hub;
use crate::store::Store;
use crate::throttle::{LoginThrottle, ThrottleConfig};

#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub hub: Hub,
    pub hasher: PasswordHasher,
    pub throttle: LoginThrottle,
    next_conn_id: AtomicU64,
}

impl AppState {
    pub fn new(config: Config, store: Arc<dyn Store>) -> Self {
        let throttle = LoginThrottle::new(ThrottleConfig {
            window: Duration::from_secs(config.login_window),
            max_failures_per_user: config.login_max_failures,
            max_failures_per_addr: config.login_max_failures_per_addr,
            ..ThrottleConfig::default()
        });
        Self {
            config,
            store,
            hub: Hub::new(),
            hasher: PasswordHasher::new(),
            throttle,
            next_conn_id: AtomicU64::new(1),
        }
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Pushes `event` to every connection of each of `users` on this node; the event
    /// is serialized once and the same bytes go to every connection.
    pub fn notify(&self, users: impl IntoIterator<Item = u64>, event: impl Into<Event>) {
        let event = event.into();
        match encode_frame(&event, self.config.max_frame) {
            Ok(frame) => {
                for user in users {
                    self.hub.send_to_user(user, &frame, None);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, event = event.name(), "event could not be encoded")
            }
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
