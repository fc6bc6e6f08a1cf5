//! The cluster's bus: nodes joined by Redis. Redis only wakes nodes up; the
//! database stays the truth, so a lost Redis message costs latency, never a
//! message (clients repair gaps with `sync`, and a node that lost Redis tells its
//! clients to catch up with a `resync` event).
//!
//! In Redis, for incarnation `I` (a node's name plus a random suffix, new at every
//! start):
//! - `chat:node:I`: the heartbeat, expiring after `--node-timeout`;
//! - `chat:incarnations`: every incarnation that may hold users;
//! - `chat:user:U`: the incarnations holding user U's connections;
//! - `chat:inc:I:users`: the users with connections on I (to take them offline when
//!   I dies);
//! - channel `chat:bus:I`: frames and session rules for I's connections.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chat_proto::event::CloseReason;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, PushInfo, PushKind, Value};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::hub::Hub;

/// Outgoing cluster messages waiting for the publisher; past it they are dropped
/// (the receivers' clients repair the gap with `sync`).
const OUTGOING: usize = 16_384;
/// Pushes from Redis waiting for the subscriber.
const INCOMING: usize = 16_384;
/// Longest wait for one Redis command: a node without Redis still serves its own
/// users, never hangs on Redis.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Warnings about a full outgoing queue: a few a second, not one per event.
static QUEUE_FULL: crate::log_limit::LogLimit = crate::log_limit::LogLimit::new(5, Duration::from_secs(1));

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// What one node tells another through its channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Control {
    /// The frame after the header goes to these users' connections.
    Deliver {
        users: Vec<u64>,
    },
    CloseUser {
        user: u64,
        reason: CloseReason,
    },
    CloseSession {
        user: u64,
        session: u64,
        reason: CloseReason,
    },
    /// A node died: what it had not published yet never will be, so every
    /// connection catches up.
    Resync,
}

#[derive(Debug)]
enum Outgoing {
    Deliver { users: Vec<u64>, frame: Bytes },
    Close(Control),
}

/// A control message as bytes: the JSON header, a newline, then the frame if any.
fn encode(control: &Control, frame: &[u8]) -> Vec<u8> {
    let mut out = serde_json::to_vec(control).unwrap_or_default();
    out.push(b'\n');
    out.extend_from_slice(frame);
    out
}

fn decode(payload: &[u8]) -> Option<(Control, Bytes)> {
    let at = payload.iter().position(|b| *b == b'\n')?;
    let control = serde_json::from_slice(&payload[..at]).ok()?;
    Some((control, Bytes::copy_from_slice(&payload[at + 1..])))
}

fn user_key(user: u64) -> String {
    format!("chat:user:{user}")
}

fn users_key(incarnation: &str) -> String {
    format!("chat:inc:{incarnation}:users")
}

fn node_key(incarnation: &str) -> String {
    format!("chat:node:{incarnation}")
}

fn channel(incarnation: &str) -> String {
    format!("chat:bus:{incarnation}")
}

const INCARNATIONS: &str = "chat:incarnations";

/// The URL with RESP3 asked for: pushes and automatic resubscription need it.
fn resp3(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

#[derive(Debug, Clone)]
pub struct RedisBus {
    hub: Hub,
    incarnation: Arc<str>,
    redis: ConnectionManager,
    outgoing: mpsc::Sender<Outgoing>,
    node_timeout: Duration,
}

/// What the bus's background tasks need; [`RedisBus::run`] takes it.
#[derive(Debug)]
pub struct Tasks {
    outgoing: mpsc::Receiver<Outgoing>,
    pushes: mpsc::Receiver<PushInfo>,
    /// Pushes were dropped (the subscriber fell behind).
    overflowed: Arc<AtomicBool>,
}

impl RedisBus {
    /// Connects, subscribes to this incarnation's channel and registers it.
    pub async fn connect(
        url: &str,
        incarnation: String,
        hub: Hub,
        node_timeout: Duration,
    ) -> Result<(Self, Tasks), ClusterError> {
        let client = redis::Client::open(resp3(url))?;
        let (push_tx, pushes) = mpsc::channel(INCOMING);
        let overflowed = Arc::new(AtomicBool::new(false));
        let overflow = overflowed.clone();
        let sender = move |info: PushInfo| -> Result<(), ()> {
            if push_tx.try_send(info).is_err() {
                // Dropped: the connections here may have missed events.
                overflow.store(true, Ordering::Relaxed);
            }
            Ok(())
        };
        let config = ConnectionManagerConfig::new()
            .set_push_sender(sender)
            .set_automatic_resubscription()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_max_delay(Duration::from_secs(2));
        let mut redis = client.get_connection_manager_with_config(config).await?;
        redis.subscribe(channel(&incarnation)).await?;
        let (outgoing, outgoing_rx) = mpsc::channel(OUTGOING);
        let bus = Self { hub, incarnation: incarnation.into(), redis, outgoing, node_timeout };
        bus.heartbeat().await?;
        Ok((bus, Tasks { outgoing: outgoing_rx, pushes, overflowed }))
    }

    pub fn incarnation(&self) -> &str {
        &self.incarnation
    }

    /// Says this incarnation is alive, for `--node-timeout`.
    /// Returns whether the cluster had lost this incarnation (Redis restarted empty,
    /// or another node reaped this one while it was too busy to beat).
    async fn heartbeat(&self) -> Result<bool, ClusterError> {
        let mut redis = self.redis.clone();
        let secs = self.node_timeout.as_secs().max(1);
        let (added,): (u64,) = redis::pipe()
            .set_ex(node_key(&self.incarnation), 1, secs)
            .ignore()
            .sadd(INCARNATIONS, &*self.incarnation)
            .query_async(&mut redis)
            .await?;
        Ok(added == 1)
    }

    /// Registers every user connected here again: after Redis came back empty.
    async fn register_all(&self) -> Result<(), ClusterError> {
        let users = self.hub.users();
        if users.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for user in &users {
            pipe.sadd(user_key(*user), &*self.incarnation).ignore();
        }
        pipe.sadd(users_key(&self.incarnation), users).ignore();
        let mut redis = self.redis.clone();
        pipe.query_async::<()>(&mut redis).await?;
        Ok(())
    }

    /// Runs the bus's background work until `stop`: publishing, receiving, the
    /// heartbeat, and taking dead nodes' users offline (`offline` is called with each
    /// user no node holds any more).
    pub async fn run(
        self,
        tasks: Tasks,
        stop: CancellationToken,
        offline: impl Fn(u64) + Send + Sync + 'static,
    ) {
        let Tasks { outgoing, pushes, overflowed } = tasks;
        // Redis was unreachable: whatever was published meanwhile never came.
        let lost = Arc::new(AtomicBool::new(false));
        let publisher = tokio::spawn(self.clone().publish_loop(outgoing));
        let subscriber = tokio::spawn(self.clone().receive_loop(pushes, overflowed, lost.clone()));
        let mut beat = tokio::time::interval(self.node_timeout / 3);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = beat.tick() => {
                    let forgotten = match self.heartbeat().await {
                        Ok(forgotten) => forgotten,
                        Err(e) => {
                            if !lost.swap(true, Ordering::Relaxed) {
                                tracing::warn!(error = %e, "lost Redis: this node's users get events from here only");
                            }
                            continue;
                        }
                    };
                    if lost.swap(false, Ordering::Relaxed) || forgotten {
                        // Back, and Redis may have restarted empty: register again,
                        // and every client here catches up what it missed.
                        tracing::info!("back on Redis: registering again, clients catch up");
                        if let Err(e) = self.register_all().await {
                            tracing::warn!(error = %e, "users not registered again");
                            lost.store(true, Ordering::Relaxed);
                        }
                        self.hub.tell_all_to_resync();
                    }
                    match self.reap().await {
                        Ok(users) => users.into_iter().for_each(&offline),
                        Err(e) => tracing::warn!(error = %e, "dead nodes not reaped"),
                    }
                }
            }
        }
        // What is queued still goes out (a stopping node's last presence events).
        let deadline = tokio::time::Instant::now() + REDIS_TIMEOUT;
        while self.outgoing.capacity() < self.outgoing.max_capacity()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        publisher.abort();
        subscriber.abort();
        // Leave cleanly: the users here go offline with this node's own goodbye.
        let mut redis = self.redis.clone();
        let _: Result<(), _> =
            redis::pipe().del(node_key(&self.incarnation)).ignore().query_async(&mut redis).await;
    }

    /// Takes the users of every incarnation whose heartbeat stopped off the
    /// registry; returns those no node holds now.
    async fn reap(&self) -> Result<Vec<u64>, ClusterError> {
        let mut redis = self.redis.clone();
        let incarnations: Vec<String> = redis.smembers(INCARNATIONS).await?;
        let mut offline = Vec::new();
        for dead in incarnations {
            if dead == *self.incarnation || redis.exists::<_, bool>(node_key(&dead)).await? {
                continue;
            }
            // One node reaps each dead one.
            let claimed: bool = redis::cmd("SET")
                .arg(format!("chat:reap:{dead}"))
                .arg(&*self.incarnation)
                .arg("NX")
                .arg("EX")
                .arg(60)
                .query_async::<Option<String>>(&mut redis)
                .await?
                .is_some();
            if !claimed {
                continue;
            }
            let users: Vec<u64> = redis.smembers(users_key(&dead)).await?;
            tracing::info!(node = %dead, users = users.len(), "a node stopped beating: its users go offline");
            for user in users {
                let _: () = redis.srem(user_key(user), &dead).await?;
                let left: u64 = redis.scard(user_key(user)).await?;
                if left == 0 {
                    offline.push(user);
                }
            }
            let _: () = redis.del(users_key(&dead)).await?;
            let _: () = redis.srem(INCARNATIONS, &dead).await?;
            // Events it had committed but not yet published are lost to their
            // receivers on every node: they all catch up from the database.
            if let Err(e) = self.broadcast(Control::Resync).await {
                tracing::warn!(error = %e, "the other nodes were not told to catch their clients up");
            }
            self.hub.tell_all_to_resync();
        }
        Ok(offline)
    }

    /// Sends `control` to every other incarnation.
    async fn broadcast(&self, control: Control) -> Result<(), ClusterError> {
        let mut redis = self.redis.clone();
        let living: Vec<String> = redis.smembers(INCARNATIONS).await?;
        let others: Vec<&String> = living.iter().filter(|n| **n != *self.incarnation).collect();
        if others.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for node in others {
            pipe.publish(channel(node), encode(&control, &[])).ignore();
        }
        pipe.query_async::<()>(&mut redis).await?;
        Ok(())
    }

    async fn publish_loop(self, mut outgoing: mpsc::Receiver<Outgoing>) {
        while let Some(item) = outgoing.recv().await {
            if let Err(e) = self.forward(item).await {
                tracing::warn!(error = %e, "an event did not reach the other nodes; their clients catch up");
            }
        }
    }

    /// Sends one item to the other incarnations holding its users.
    async fn forward(&self, item: Outgoing) -> Result<(), ClusterError> {
        let mut redis = self.redis.clone();
        let users = match &item {
            Outgoing::Deliver { users, .. } => users.clone(),
            Outgoing::Close(Control::CloseUser { user, .. } | Control::CloseSession { user, .. }) => {
                vec![*user]
            }
            Outgoing::Close(Control::Deliver { .. } | Control::Resync) => return Ok(()),
        };
        let mut pipe = redis::pipe();
        for user in &users {
            pipe.smembers(user_key(*user));
        }
        let places: Vec<Vec<String>> = pipe.query_async(&mut redis).await?;
        let mut by_node: HashMap<String, Vec<u64>> = HashMap::new();
        for (user, nodes) in users.iter().zip(places) {
            for node in nodes.into_iter().filter(|n| *n != *self.incarnation) {
                by_node.entry(node).or_default().push(*user);
            }
        }
        if by_node.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (node, users) in by_node {
            let payload = match &item {
                Outgoing::Deliver { frame, .. } => encode(&Control::Deliver { users }, frame),
                Outgoing::Close(control) => encode(control, &[]),
            };
            pipe.publish(channel(&node), payload).ignore();
        }
        pipe.query_async::<()>(&mut redis).await?;
        Ok(())
    }

    async fn receive_loop(
        self,
        mut pushes: mpsc::Receiver<PushInfo>,
        overflowed: Arc<AtomicBool>,
        lost: Arc<AtomicBool>,
    ) {
        while let Some(push) = pushes.recv().await {
            match push.kind {
                PushKind::Message => {
                    if let Some(Value::BulkString(payload)) = push.data.get(1)
                        && let Some((control, frame)) = decode(payload)
                    {
                        self.apply(control, frame);
                    }
                }
                PushKind::Disconnection => lost.store(true, Ordering::Relaxed),
                _ => {}
            }
            if overflowed.swap(false, Ordering::Relaxed) {
                // Pushes were dropped while this loop was behind: catch everyone up.
                self.hub.tell_all_to_resync();
            }
        }
    }

    fn apply(&self, control: Control, frame: Bytes) {
        match control {
            Control::Deliver { users } => self.hub.send_to_users(&users, &frame, None),
            Control::CloseUser { user, reason } => self.hub.close_user(user, None, reason),
            Control::CloseSession { user, session, reason } => {
                self.hub.close_session(user, session, None, reason);
            }
            Control::Resync => self.hub.tell_all_to_resync(),
        }
    }

    /// Adds this incarnation to the user's places (`here`) or takes it off; returns
    /// how many nodes hold the user now, `None` when Redis cannot say (then this
    /// node's view decides).
    async fn register(&self, user_id: u64, here: bool) -> Option<u64> {
        let mut pipe = redis::pipe();
        if here {
            pipe.sadd(user_key(user_id), &*self.incarnation).ignore();
            pipe.sadd(users_key(&self.incarnation), user_id).ignore();
        } else {
            pipe.srem(user_key(user_id), &*self.incarnation).ignore();
            pipe.srem(users_key(&self.incarnation), user_id).ignore();
        }
        let mut redis = self.redis.clone();
        match pipe.scard(user_key(user_id)).query_async::<(u64,)>(&mut redis).await {
            Ok((nodes,)) => Some(nodes),
            Err(e) => {
                tracing::warn!(error = %e, "presence registry unreachable; this node's view decides");
                None
            }
        }
    }

    fn queue(&self, item: Outgoing) {
        if self.outgoing.try_send(item).is_err()
            && let Some(dropped) = QUEUE_FULL.admit()
        {
            tracing::warn!(dropped, "the cluster's outgoing queue is full: events stay on this node");
        }
    }
}

#[async_trait]
impl Bus for RedisBus {
    fn publish(&self, users: &[u64], frame: &Bytes, except: Option<u64>) {
        self.hub.send_to_users(users, frame, except);
        self.queue(Outgoing::Deliver { users: users.to_vec(), frame: frame.clone() });
    }

    fn close_user(&self, user_id: u64, except: Option<u64>, reason: CloseReason) {
        self.hub.close_user(user_id, except, reason);
        self.queue(Outgoing::Close(Control::CloseUser { user: user_id, reason }));
    }

    fn close_session(&self, user_id: u64, session_id: u64, except: Option<u64>, reason: CloseReason) {
        self.hub.close_session(user_id, session_id, except, reason);
        self.queue(Outgoing::Close(Control::CloseSession { user: user_id, session: session_id, reason }));
    }

    async fn attached(&self, user_id: u64, first_here: bool) -> bool {
        first_here && self.register(user_id, true).await.is_none_or(|nodes| nodes == 1)
    }

    async fn detached(&self, user_id: u64, last_here: bool) -> bool {
        last_here && self.register(user_id, false).await.is_none_or(|nodes| nodes == 0)
    }

    async fn online_among(&self, users: &[u64]) -> HashSet<u64> {
        if users.is_empty() {
            return HashSet::new();
        }
        let mut pipe = redis::pipe();
        for user in users {
            pipe.exists(user_key(*user));
        }
        let mut redis = self.redis.clone();
        match pipe.query_async::<Vec<bool>>(&mut redis).await {
            Ok(found) => users.iter().zip(found).filter(|(_, on)| *on).map(|(u, _)| *u).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "presence registry unreachable; this node's view");
                users.iter().copied().filter(|u| self.hub.is_online(*u)).collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_round_trip() {
        let control = Control::Deliver { users: vec![1, 2] };
        let (back, frame) = decode(&encode(&control, b"\x00\x00\x00\x02{}")).unwrap();
        assert_eq!((back, &frame[..]), (control, &b"\x00\x00\x00\x02{}"[..]));
        let close = Control::CloseSession { user: 3, session: 9, reason: CloseReason::LoggedOut };
        assert_eq!(decode(&encode(&close, &[])).unwrap().0, close);
        assert!(decode(b"no header").is_none());
        assert_eq!(resp3("redis://h:1"), "redis://h:1?protocol=resp3");
        assert_eq!(resp3("redis://h:1/?db=2"), "redis://h:1/?db=2&protocol=resp3");
    }
}
