//! The Bus: how an event reaches the connections of the users it is for. A single
//! node delivers through its own Hub ([`LocalBus`]); a cluster adds a bus that also
//! forwards to the nodes where those users are connected, without the services
//! changing.

use bytes::Bytes;

use crate::hub::Hub;

pub trait Bus: Send + Sync + std::fmt::Debug {
    /// Queues `frame` on every connection of each of `users`, except connection
    /// `except` (the one whose own request caused the event: it gets a reply).
    fn publish(&self, users: &[u64], frame: &Bytes, except: Option<u64>);
}

/// Delivery within this process.
#[derive(Debug, Clone)]
pub struct LocalBus {
    hub: Hub,
}

impl LocalBus {
    pub fn new(hub: Hub) -> Self {
        Self { hub }
    }
}

impl Bus for LocalBus {
    fn publish(&self, users: &[u64], frame: &Bytes, except: Option<u64>) {
        self.hub.send_to_users(users, frame, except);
    }
}
