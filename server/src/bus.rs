//! The Bus: how an event reaches the connections of the users it is for, and who is
//! online. A single node delivers through its own Hub ([`LocalBus`]); a cluster
//! ([`crate::redis_bus::RedisBus`]) also forwards to the nodes where those users are
//! connected and keeps presence cluster-wide, without the services changing.

use std::collections::HashSet;

use async_trait::async_trait;
use bytes::Bytes;
use chat_proto::event::CloseReason;

use crate::hub::Hub;

#[async_trait]
pub trait Bus: Send + Sync + std::fmt::Debug {
    /// Queues `frame` on every connection of each of `users`, except connection
    /// `except` (the one whose own request caused the event: it gets a reply).
    fn publish(&self, users: &[u64], frame: &Bytes, except: Option<u64>);

    /// Closes every connection of the user, on every node, but `except` (here).
    fn close_user(&self, user_id: u64, except: Option<u64>, reason: CloseReason);

    /// Closes every connection of one session, on every node, but `except` (here).
    fn close_session(&self, user_id: u64, session_id: u64, except: Option<u64>, reason: CloseReason);

    /// The user's first connection on this node arrived (`first_here`); true when
    /// it is the user's first anywhere (their friends are told).
    async fn attached(&self, user_id: u64, first_here: bool) -> bool;

    /// The user's last connection on this node left (`last_here`); true when none
    /// is left anywhere (their friends are told).
    async fn detached(&self, user_id: u64, last_here: bool) -> bool;

    /// Which of `users` are connected, to any node.
    async fn online_among(&self, users: &[u64]) -> HashSet<u64>;
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

#[async_trait]
impl Bus for LocalBus {
    fn publish(&self, users: &[u64], frame: &Bytes, except: Option<u64>) {
        self.hub.send_to_users(users, frame, except);
    }

    fn close_user(&self, user_id: u64, except: Option<u64>, reason: CloseReason) {
        self.hub.close_user(user_id, except, reason);
    }

    fn close_session(&self, user_id: u64, session_id: u64, except: Option<u64>, reason: CloseReason) {
        self.hub.close_session(user_id, session_id, except, reason);
    }

    async fn attached(&self, _user_id: u64, first_here: bool) -> bool {
        first_here
    }

    async fn detached(&self, _user_id: u64, last_here: bool) -> bool {
        last_here
    }

    async fn online_among(&self, users: &[u64]) -> HashSet<u64> {
        users.iter().copied().filter(|u| self.hub.is_online(*u)).collect()
    }
}
