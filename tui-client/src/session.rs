//! A session that stays connected: it connects, authenticates with `resume`,
//! catches up (`conversations`, then `sync` after the highest stored seq of each
//! conversation that moved) into the local history, and only then reports itself
//! online; it pings at the server's heartbeat, stores live messages, catches up
//! again when the connection dropped events it could not buffer, and when the
//! connection is lost it reconnects with exponential backoff and jitter.

use std::sync::Arc;
use std::time::Duration;

use chat_proto::request::{Hello, Ping, Resume, Sync};
use chat_proto::{ErrorCode, Event};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::client::{Client, ClientError, Connected, Incoming};
use crate::history::{HistoryError, LiveOutcome};
use crate::local_history::LocalHistory;
use crate::tls::Endpoint;

/// First wait before a reconnect; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Updates buffered for the caller.
const UPDATES: usize = 4096;
/// Entries asked for per `sync` page (the server caps it at its `page_limit`).
const SYNC_PAGE: u64 = 200;

/// The connection's state as the caller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Connecting {
        attempt: u32,
    },
    /// Connected, authenticated and caught up. Said again after a catch-up that
    /// repaired events the connection dropped, so that the caller reloads what those
    /// events would have told it (lists, presence).
    Online,
    Offline {
        retry_in: Duration,
        reason: String,
    },
    /// The saved token was refused: log in again. The session stops.
    LoggedOut,
}

/// What the session tells its caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Status(Status),
    /// An event from the server (live messages are already in the history).
    Event(Event),
    /// Catch-up stored `new` entries of a conversation, those after seq `after`
    /// (in the local history now).
    CaughtUp {
        with: chat_proto::model::Target,
        after: u64,
        new: usize,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    History(#[from] HistoryError),
}

/// Where a newer token for the same account may be found when the server refuses
/// the session's: the saved session, which a password change made on this machine
/// replaces.
pub type TokenSource = Arc<dyn Fn() -> Option<String> + Send + std::marker::Sync>;

/// How to reach and authenticate.
#[derive(Clone)]
pub struct SessionConfig {
    pub server: Endpoint,
    pub username: String,
    pub token: String,
    pub request_timeout: Duration,
    /// Asked for a newer token before the session gives up as logged out.
    pub renewed_token: Option<TokenSource>,
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("server", &self.server)
            .field("username", &self.username)
            .finish()
    }
}

/// The caller's handle; the session runs until [`SessionHandle::stop`] or until
/// its token is refused.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    online: watch::Receiver<Option<Client>>,
    stop: CancellationToken,
    history: LocalHistory,
}

impl SessionHandle {
    /// The connected client, once online.
    pub async fn client(&self) -> Option<Client> {
        let mut online = self.online.clone();
        let client: Option<Client> = online.wait_for(Option::is_some).await.ok().and_then(|c| c.clone());
        client
    }

    /// The client if online right now.
    pub fn client_now(&self) -> Option<Client> {
        self.online.borrow().clone()
    }

    pub fn history(&self) -> &LocalHistory {
        &self.history
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }
}

/// Starts a session; its updates come on the returned channel.
pub fn spawn(config: SessionConfig, history: LocalHistory) -> (SessionHandle, mpsc::Receiver<Update>) {
    let (updates, rx) = mpsc::channel(UPDATES);
    let (online_tx, online) = watch::channel(None);
    let stop = CancellationToken::new();
    let handle = SessionHandle { online, stop: stop.clone(), history: history.clone() };
    tokio::spawn(run(config, history, updates, online_tx, stop));
    (handle, rx)
}

/// The wait before reconnect attempt `attempt`: exponential, capped, with up to 50 %
/// random jitter so that clients dropped together do not return together.
pub fn backoff(attempt: u32) -> Duration {
    let base = FIRST_BACKOFF.saturating_mul(1 << attempt.min(10)).min(MAX_BACKOFF);
    let mut r = [0u8; 2];
    let jitter =
        if getrandom::fill(&mut r).is_ok() { f64::from(u16::from_le_bytes(r)) / 65535.0 } else { 0.5 };
    base.mul_f64(0.5 + 0.5 * jitter)
}

async fn run(
    mut config: SessionConfig,
    history: LocalHistory,
    updates: mpsc::Sender<Update>,
    online: watch::Sender<Option<Client>>,
    stop: CancellationToken,
) {
    let mut attempt = 0u32;
    loop {
        let _ = updates.send(Update::Status(Status::Connecting { attempt })).await;
        let reason = match connect(&config).await {
            Ok((connected, heartbeat)) => {
                attempt = 0;
                let Connected { client, events } = connected;
                match catch_up(&client, &history, &updates).await {
                    Ok(()) => {
                        let _ = online.send(Some(client.clone()));
                        let _ = updates.send(Update::Status(Status::Online)).await;
                        let reason =
                            serve(&config, &client, events, heartbeat, &history, &updates, &stop).await;
                        let _ = online.send(None);
                        client.close();
                        reason
                    }
                    Err(e) => e.to_string(),
                }
            }
            Err(SessionError::Client(e)) if e.code() == Some(ErrorCode::InvalidCredentials) => {
                // A password changed on this machine left a new token behind: carry on
                // with it rather than ask the user to log in again.
                let renewed = config.renewed_token.as_ref().and_then(|source| source());
                match renewed.filter(|token| *token != config.token) {
                    Some(token) => {
                        config.token = token;
                        continue;
                    }
                    None => {
                        let _ = updates.send(Update::Status(Status::LoggedOut)).await;
                        return;
                    }
                }
            }
            Err(e) => e.to_string(),
        };
        if stop.is_cancelled() {
            return;
        }
        let retry_in = backoff(attempt);
        attempt = attempt.saturating_add(1);
        let _ = updates.send(Update::Status(Status::Offline { retry_in, reason })).await;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(retry_in) => {}
        }
    }
}

async fn connect(config: &SessionConfig) -> Result<(Connected, Duration), SessionError> {
    let connected = Client::open(&config.server, config.request_timeout).await?;
    let hello = connected.client.call(Hello { client: Some("chat-tui".into()), protocol: Some(1) }).await?;
    connected.client.call(Resume { token: config.token.clone(), device: Some("chat-tui".into()) }).await?;
    Ok((connected, Duration::from_secs(hello.heartbeat_secs.max(1))))
}

/// Brings the local history level with the server: every conversation that moved is
/// synced page by page from the highest seq stored.
pub async fn catch_up(
    client: &Client,
    history: &LocalHistory,
    updates: &mpsc::Sender<Update>,
) -> Result<(), SessionError> {
    let listing = crate::pages::conversations(client).await?;
    let (had, moved) = history
        .call(move |h| {
            let had = listing
                .iter()
                .map(|c| Ok((c.with.clone(), h.highest_seq(&c.with)?)))
                .collect::<Result<Vec<_>, HistoryError>>()?;
            h.set_conversations(&listing)?;
            Ok((had, h.moved(&listing)?))
        })
        .await?;
    for (with, after) in moved {
        sync_conversation(client, history, &with, after).await?;
    }
    // Told per conversation that advanced, whichever way its entries came (the
    // listing carries each last entry, stored at once when it follows on).
    for (with, after) in had {
        let target = with.clone();
        let now = history.call(move |h| h.highest_seq(&target)).await?;
        if now > after {
            let new = usize::try_from(now - after).unwrap_or(usize::MAX);
            let _ = updates.send(Update::CaughtUp { with, after, new }).await;
        }
    }
    Ok(())
}

/// Syncs one conversation after `after` until the server has nothing more; returns
/// how many new entries were stored.
pub async fn sync_conversation(
    client: &Client,
    history: &LocalHistory,
    with: &chat_proto::model::Target,
    mut after: u64,
) -> Result<usize, SessionError> {
    let mut new = 0;
    loop {
        let page = client.call(Sync { with: with.clone(), after, limit: Some(SYNC_PAGE) }).await?;
        let Some(last) = page.messages.last().map(|m| m.seq) else { break };
        let (target, messages) = (with.clone(), page.messages);
        new += history.call(move |h| h.store_page(&target, &messages)).await?.stored;
        after = last;
        if !page.more {
            break;
        }
    }
    Ok(new)
}

async fn serve(
    config: &SessionConfig,
    client: &Client,
    mut events: mpsc::Receiver<Incoming>,
    heartbeat: Duration,
    history: &LocalHistory,
    updates: &mpsc::Sender<Update>,
    stop: &CancellationToken,
) -> String {
    let mut ping = tokio::time::interval(heartbeat);
    ping.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return "stopped".into(),
            _ = client.closed() => return "connection lost".into(),
            _ = ping.tick() => {
                if let Err(e) = client.call(Ping {}).await {
                    return e.to_string();
                }
            }
            incoming = events.recv() => {
                let event = match incoming {
                    Some(Incoming::Event(Event::Resync(_))) => None,
                    Some(Incoming::Event(event)) => Some(event),
                    Some(Incoming::Overflowed { dropped }) => {
                        tracing::info!(dropped, "events dropped while busy: catching up");
                        None
                    }
                    None => return "connection lost".into(),
                };
                let Some(event) = event else {
                    // Events were lost on the way: dropped by the reader rather than
                    // hold replies up behind them, or missed by a server that lost
                    // its link to the rest of the cluster (`resync`). The server's
                    // database has everything they carried.
                    if let Err(e) = catch_up(client, history, updates).await {
                        return e.to_string();
                    }
                    let _ = updates.send(Update::Status(Status::Online)).await;
                    continue;
                };
                if let Event::Message(m) = &event {
                    let (message, me) = (m.message.clone(), config.username.clone());
                    let outcome = history.call(move |h| h.apply_live(&message, &me)).await;
                    match outcome {
                        Ok(LiveOutcome::Gap { with, have, .. }) => {
                            // Entries were missed (a dropped event): fetch them first.
                            if let Err(e) = sync_conversation(client, history, &with, have).await {
                                return e.to_string();
                            }
                        }
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "live message not stored"),
                    }
                }
                if let Some(gone) = gone_for_me(&event, &config.username) {
                    // Gone at once, not only at the next listing: a restart before it
                    // must not bring the group back.
                    if let Err(e) = history.call(move |h| h.set_gone(&gone)).await {
                        tracing::error!(error = %e, "left group not marked");
                    }
                }
                let _ = updates.send(Update::Event(event)).await;
            }
        }
    }
}

/// The conversation an event closes to us: a group we left, were removed from, or
/// that was dissolved.
fn gone_for_me(event: &Event, me: &str) -> Option<chat_proto::model::Target> {
    match event {
        Event::GroupMemberLeft(l) if l.user.to_lowercase() == me.to_lowercase() => {
            Some(chat_proto::model::Target::Group(l.group_id))
        }
        Event::GroupDissolved(g) => Some(chat_proto::model::Target::Group(g.group_id)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        for attempt in 0..20 {
            let d = backoff(attempt);
            let base = FIRST_BACKOFF.saturating_mul(1 << attempt.min(10)).min(MAX_BACKOFF);
            assert!(d >= base / 2 && d <= base, "{attempt}: {d:?}");
        }
        assert!(backoff(30) <= MAX_BACKOFF);
    }
}
