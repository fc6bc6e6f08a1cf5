//! Runs the effects the state asks for, in one place: the local history through
//! its owner thread, the server through the session's client, the terminal's bell.
//! Nothing here blocks: each effect that waits runs as a task, and its outcome comes
//! back to the event loop on a bounded channel.

use std::io::Write;

use chat_proto::model::Role;
use chat_proto::model::{Message, MessageKind};
use chat_proto::request as op;
use tokio::sync::mpsc;

use super::calls::{self, CallCtx};
use super::effect::{Call, Done, Effect};
use super::queue::SendJob;
use super::sidebar::ConversationEntry;
use crate::client::ClientError;
use crate::session::SessionHandle;

/// Messages read when a conversation is opened.
const LOAD_MESSAGES: usize = 500;
/// Older messages read at a time.
const OLDER_PAGE: usize = 100;
/// Search results shown.
const SEARCH_LIMIT: usize = 100;
/// Outcomes waiting for the event loop.
pub const DONE_QUEUE: usize = 1024;

pub struct Executor {
    pub handle: SessionHandle,
    pub ctx: CallCtx,
    pub done: mpsc::Sender<Done>,
}

impl Executor {
    pub fn run(&self, effect: Effect) {
        let history = self.ctx.history.clone();
        match effect {
            Effect::Bell => {
                let mut out = std::io::stdout();
                let _ = out.write_all(b"\x07").and_then(|()| out.flush());
            }
            Effect::LoadConversations => self.spawn(async move {
                // A conversation the server no longer lists stays out of the sidebar,
                // also after a restart; its messages stay in the local history.
                match history.call(|h| h.conversations()).await {
                    Ok(list) => Done::Conversations(
                        list.iter().filter(|c| !c.gone).map(ConversationEntry::from).collect(),
                    ),
                    Err(e) => Done::HistoryFailed(format!("history unreadable: {e}")),
                }
            }),
            Effect::LoadMessages { with, from } => self.spawn(async move {
                let target = with.clone();
                let loaded = history
                    .call(move |h| match from {
                        Some(first) => {
                            h.messages_after(&target, first.saturating_sub(1), usize::from(u16::MAX))
                        }
                        None => h.messages_before(&target, None, LOAD_MESSAGES).map(|mut m| {
                            m.reverse();
                            m
                        }),
                    })
                    .await;
                match loaded {
                    Ok(messages) => Done::Messages { with, messages },
                    Err(e) => Done::HistoryFailed(format!("history unreadable: {e}")),
                }
            }),
            Effect::LoadOlder { with, before } => {
                let client = self.handle.client_now();
                self.spawn(async move {
                    let target = with.clone();
                    match history.call(move |h| h.messages_before(&target, Some(before), OLDER_PAGE)).await {
                        Ok(mut older) if !older.is_empty() => {
                            older.reverse();
                            Done::Older { with, messages: older }
                        }
                        Ok(_) => {
                            let Some(client) = client else {
                                return Done::OlderFailed("offline: older messages load once online".into());
                            };
                            let request =
                                op::History { with: with.clone(), before: Some(before), limit: Some(100) };
                            match client.call(request).await {
                                Ok(reply) => {
                                    let mut page = reply.messages;
                                    page.reverse();
                                    let (target, stored) = (with.clone(), page.clone());
                                    if let Err(e) =
                                        history.call(move |h| h.store_page(&target, &stored)).await
                                    {
                                        tracing::warn!(error = %e, "older messages not stored");
                                    }
                                    Done::Older { with, messages: page }
                                }
                                Err(e) => Done::OlderFailed(format!("older messages not loaded: {e}")),
                            }
                        }
                        Err(e) => Done::OlderFailed(format!("history unreadable: {e}")),
                    }
                });
            }
            Effect::MarkRead { with, seq } => {
                // Read state changes only together with the server's: offline, the
                // messages stay unread here too, and are marked once connected.
                let Some(client) = self.handle.client_now() else {
                    return self.spawn(async { Done::ReadFailed("offline: not marked read".into()) });
                };
                let ctx = self.ctx.clone();
                self.spawn(async move {
                    calls::perform(client, ctx, Call::Read { with, seq }).await.unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "read marker not sent");
                        Done::ReadFailed(format!("not marked read: {e}"))
                    })
                });
            }
            Effect::Search(query) => self.spawn(async move {
                let text = query.clone();
                match history.call(move |h| h.search(&text, SEARCH_LIMIT)).await {
                    Ok(results) => Done::SearchResults { query, results },
                    Err(e) => Done::Failed(format!("search failed: {e}")),
                }
            }),
            Effect::Send(jobs) => {
                for job in jobs {
                    self.send(job);
                }
            }
            Effect::RefreshSocial => self.refresh_social(),
            Effect::Call(call) => {
                let Some(client) = self.handle.client_now() else {
                    return self.spawn(async { Done::Offline });
                };
                let ctx = self.ctx.clone();
                self.spawn(async move {
                    calls::perform(client, ctx, call).await.unwrap_or_else(|e| Done::Failed(e.to_string()))
                });
            }
        }
    }

    /// Runs `work` as a task; its outcome goes back to the event loop.
    fn spawn(&self, work: impl Future<Output = Done> + Send + 'static) {
        let done = self.done.clone();
        tokio::spawn(async move {
            let _ = done.send(work.await).await;
        });
    }

    /// Sends one queued message; a send cut by the connection stays queued.
    fn send(&self, job: SendJob) {
        let (from, from_id) = (self.ctx.saved.username.clone(), self.ctx.saved.user_id);
        let client = self.handle.client_now();
        let history = self.ctx.history.clone();
        self.spawn(async move {
            let SendJob { client_msg_id, to, body } = job;
            let Some(client) = client else {
                return Done::SendInterrupted { client_msg_id, error: "offline".into() };
            };
            let request = op::Send {
                to: to.clone(),
                body: body.clone(),
                client_msg_id: Some(client_msg_id.clone()),
                file_id: None,
            };
            match client.call(request).await {
                Ok(reply) => {
                    let message = Message {
                        msg_id: reply.msg_id,
                        seq: reply.seq,
                        from: from.clone(),
                        from_id,
                        to,
                        body,
                        ts: reply.ts,
                        kind: MessageKind::Text,
                        file: None,
                        recalls: None,
                        recalled: false,
                    };
                    let stored = message.clone();
                    if let Err(e) = history.call(move |h| h.apply_live(&stored, &from)).await {
                        tracing::error!(error = %e, "sent message not stored");
                    }
                    Done::Sent { client_msg_id, message }
                }
                Err(e) if connection_error(&e) => {
                    Done::SendInterrupted { client_msg_id, error: e.to_string() }
                }
                Err(e) => Done::SendRefused { client_msg_id, error: e.to_string() },
            }
        });
    }

    /// Fetches friends (presence), groups (names), and the requests waiting for us.
    fn refresh_social(&self) {
        let Some(client) = self.handle.client_now() else { return };
        let done = self.done.clone();
        tokio::spawn(async move {
            let result: Result<(), ClientError> = async {
                let _ = done.send(Done::Friends(client.call(op::FriendList {}).await?.friends)).await;
                let incoming = crate::pages::friend_requests(&client).await?.incoming;
                let _ = done.send(Done::FriendRequests(incoming)).await;
                let groups = client.call(op::GroupList {}).await?.groups;
                let managed: Vec<u64> = groups
                    .iter()
                    .filter(|g| matches!(g.role, Role::Owner | Role::Admin))
                    .map(|g| g.group_id)
                    .collect();
                let _ = done.send(Done::Groups(groups)).await;
                for group_id in managed {
                    let requests = crate::pages::group_requests(&client, group_id).await?;
                    let _ = done.send(Done::GroupRequests { group_id, requests, show: false }).await;
                }
                Ok(())
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "friends and groups not fetched");
            }
        });
    }
}

/// A failure of the connection, not a refusal: the send may be repeated (with the
/// same `client_msg_id`, so the server keeps one copy).
fn connection_error(e: &ClientError) -> bool {
    matches!(e, ClientError::Disconnected | ClientError::Timeout { .. } | ClientError::Connect(_))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn only_connection_failures_are_retried() {
        assert!(connection_error(&ClientError::Disconnected));
        assert!(connection_error(&ClientError::Timeout { op: "send", timeout: Duration::from_secs(1) }));
        assert!(connection_error(&ClientError::Connect(std::io::Error::other("refused"))));
        let refused = ClientError::Server {
            op: "send",
            error: serde_json::from_value(serde_json::json!({"code": "not_friend", "message": "no"}))
                .expect("error body"),
        };
        assert!(!connection_error(&refused));
    }
}
