//! The single writer: every new conversation entry goes through one task that
//! gathers whatever requests are waiting into one transaction (group commit), so
//! throughput is not bounded by one commit per message. A request's answer comes
//! back only after its transaction committed.
//!
//! One entry never fails another: an entry whose ids cannot exist is refused before
//! it joins a batch, and when a batch's transaction fails anyway, its entries are
//! committed again one by one, so that only the guilty one fails.
//!
//! The writer also pushes each new entry's `message` event, right after the commit
//! and in batch order, so every connection sees a conversation's entries live in
//! seq order.

use std::sync::Arc;
use std::time::Duration;

use chat_proto::MAX_ID;
use chat_proto::model::Message;
use chat_proto::{Event, encode_frame};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, warn};

use crate::bus::Bus;
use crate::log_limit::LogLimit;
use crate::service::OpError;
use crate::state::now_ms;
use crate::store::{AppendOutcome, AppendRequest, MessageStore, Refusal, SendTo, StoreError};

/// Requests waiting for the writer before submitters wait for room.
const QUEUE: usize = 8192;

/// A failing database fails every batch; its log says so a few times a second.
static FAILURES: LogLimit = LogLimit::new(5, Duration::from_secs(1));

#[derive(Debug)]
struct Job {
    request: AppendRequest,
    /// The connection that asked: it gets the reply, not the event.
    origin: u64,
    done: oneshot::Sender<Result<AppendOutcome, OpError>>,
}

/// A handle to the writer task; clones share it.
#[derive(Debug, Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer; one transaction holds at most `max_batch` entries; events
    /// go out through `bus`, each within `max_frame`.
    pub fn spawn(
        store: Arc<dyn MessageStore>,
        bus: Arc<dyn Bus>,
        max_frame: usize,
        max_batch: usize,
    ) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        let batcher = Batcher { store, bus, max_frame };
        tokio::spawn(batcher.run(rx, max_batch.max(1)));
        Self { jobs }
    }

    /// Appends one entry for connection `origin`; returns once it is committed (or
    /// refused), its event already on its way to the other connections.
    pub async fn append(&self, request: AppendRequest, origin: u64) -> Result<AppendOutcome, OpError> {
        let (done, answer) = oneshot::channel();
        self.jobs.send(Job { request, origin, done }).await.map_err(|_| OpError::internal())?;
        answer.await.map_err(|_| OpError::internal())?
    }
}

/// Why an entry cannot be appended, known without the database: an id no row can
/// have. The protocol crate already refuses such ids on the wire; this keeps one
/// entry from failing a whole batch whatever path it came by.
fn refuse_alone(request: &AppendRequest) -> Option<Refusal> {
    match request {
        AppendRequest::Recall { msg_id, .. } if !(1..=MAX_ID).contains(msg_id) => {
            Some(Refusal::NoSuchMessage)
        }
        AppendRequest::Text { to: SendTo::Group(g), .. } if !(1..=MAX_ID).contains(g) => {
            Some(Refusal::NoSuchGroup)
        }
        _ => None,
    }
}

struct Batcher {
    store: Arc<dyn MessageStore>,
    bus: Arc<dyn Bus>,
    max_frame: usize,
}

impl Batcher {
    async fn run(self, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
        let mut jobs: Vec<Job> = Vec::with_capacity(max_batch);
        let mut requests: Vec<AppendRequest> = Vec::with_capacity(max_batch);
        let mut replies = Vec::with_capacity(max_batch);
        // Waits for at least one request, then takes every other one already queued.
        while rx.recv_many(&mut jobs, max_batch).await > 0 {
            for job in jobs.drain(..) {
                if let Some(refusal) = refuse_alone(&job.request) {
                    let _ = job.done.send(Ok(AppendOutcome::Refused(refusal)));
                    continue;
                }
                requests.push(job.request);
                replies.push((job.origin, job.done));
            }
            if !requests.is_empty() {
                self.commit(&requests, &mut replies).await;
            }
            requests.clear();
            replies.clear();
        }
    }

    /// Commits `requests` in one transaction and answers each; if it fails, commits
    /// them one at a time instead.
    async fn commit(
        &self,
        requests: &[AppendRequest],
        replies: &mut Vec<(u64, oneshot::Sender<Result<AppendOutcome, OpError>>)>,
    ) {
        match self.store.append(requests, now_ms()).await {
            Ok(outcomes) => {
                for ((origin, done), outcome) in replies.drain(..).zip(outcomes) {
                    self.answer(origin, done, Ok(outcome));
                }
            }
            Err(e) if requests.len() == 1 => {
                let (origin, done) = replies.remove(0);
                self.answer(origin, done, Err(e));
            }
            Err(e) => {
                if let Some(dropped) = FAILURES.admit() {
                    warn!(error = %e, entries = requests.len(), dropped, "batch failed; committing its entries one by one");
                }
                for (request, (origin, done)) in requests.iter().zip(replies.drain(..)) {
                    let result = self.store.append(std::slice::from_ref(request), now_ms()).await;
                    let outcome = result
                        .and_then(|mut o| o.pop().ok_or_else(|| StoreError::Corrupt("no outcome".into())));
                    self.answer(origin, done, outcome);
                }
            }
        }
    }

    fn answer(
        &self,
        origin: u64,
        done: oneshot::Sender<Result<AppendOutcome, OpError>>,
        outcome: Result<AppendOutcome, StoreError>,
    ) {
        if let Ok(AppendOutcome::Stored { message, participants, duplicate: false }) = &outcome {
            publish(self.bus.as_ref(), self.max_frame, participants, message, origin);
        }
        let _ = done.send(outcome.map_err(OpError::from));
    }
}

/// Serializes a new entry's event once and queues the same bytes on every
/// participant's connections but the sender's own.
fn publish(bus: &dyn Bus, max_frame: usize, participants: &[u64], message: &Message, origin: u64) {
    let event = Event::Message(chat_proto::event::Message { message: message.clone() });
    match encode_frame(&event, max_frame) {
        Ok(frame) => bus.publish(participants, &frame, Some(origin)),
        Err(e) => error!(error = %e, "message event could not be encoded"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use chat_proto::model::{MessageKind, Target};
    use chat_proto::reply::Conversation;

    use super::*;
    use crate::bus::LocalBus;
    use crate::hub::Hub;
    use crate::store::{ConvKey, ConvPosition, Page, StoreResult, UserRef};

    /// A store whose transaction fails when any entry's body is "poison", and that
    /// panics on an id no row can have, as a database statement would fail on it.
    #[derive(Debug, Default)]
    struct Picky {
        batches: Mutex<Vec<usize>>,
    }

    #[async_trait]
    impl MessageStore for Picky {
        async fn append(&self, batch: &[AppendRequest], now: i64) -> StoreResult<Vec<AppendOutcome>> {
            self.batches.lock().unwrap().push(batch.len());
            let mut out = Vec::new();
            for (i, req) in batch.iter().enumerate() {
                match req {
                    AppendRequest::Text { body, sender, .. } if body == "poison" => {
                        return Err(StoreError::Corrupt(format!("poison from {}", sender.id)));
                    }
                    AppendRequest::Text { body, sender, .. } => out.push(AppendOutcome::Stored {
                        message: Message {
                            msg_id: i as u64 + 1,
                            seq: i as u64 + 1,
                            from: sender.username.clone(),
                            from_id: sender.id,
                            to: Target::User("bob".into()),
                            body: body.clone(),
                            ts: now,
                            kind: MessageKind::Text,
                            file: None,
                            recalls: None,
                            recalled: false,
                        },
                        participants: vec![sender.id],
                        duplicate: false,
                    }),
                    AppendRequest::Recall { msg_id, .. } => {
                        assert!(*msg_id <= MAX_ID, "an impossible id reached the store");
                        out.push(AppendOutcome::Refused(Refusal::NoSuchMessage));
                    }
                }
            }
            Ok(out)
        }
        async fn sync(&self, _: &ConvKey, _: u64, _: u64) -> StoreResult<Page> {
            unimplemented!()
        }
        async fn history(&self, _: &ConvKey, _: Option<u64>, _: u64) -> StoreResult<Page> {
            unimplemented!()
        }
        async fn conversations(
            &self,
            _: u64,
            _: &ConvPosition,
            _: u64,
        ) -> StoreResult<(Vec<(ConvKey, Conversation)>, bool)> {
            unimplemented!()
        }
        async fn mark_read(&self, _: u64, _: &ConvKey, _: u64) -> StoreResult<Option<u64>> {
            unimplemented!()
        }
    }

    fn text(sender: u64, body: &str) -> AppendRequest {
        AppendRequest::Text {
            sender: UserRef { id: sender, username: format!("u{sender}") },
            to: SendTo::User("bob".into()),
            body: body.into(),
            client_msg_id: None,
        }
    }

    fn writer(store: Arc<Picky>) -> Writer {
        Writer::spawn(store, Arc::new(LocalBus::new(Hub::new())), 1 << 20, 64)
    }

    /// Submits every request at once, so that they share one batch.
    async fn submit(writer: &Writer, requests: Vec<AppendRequest>) -> Vec<Result<AppendOutcome, OpError>> {
        futures::future::join_all(requests.into_iter().map(|r| writer.append(r, 0))).await
    }

    #[tokio::test]
    async fn a_failing_entry_fails_alone() {
        let store = Arc::new(Picky::default());
        let w = writer(store.clone());
        let results = submit(&w, vec![text(1, "hi"), text(2, "poison"), text(3, "there")]).await;
        assert!(matches!(results[0], Ok(AppendOutcome::Stored { .. })), "{:?}", results[0]);
        assert_eq!(results[1].as_ref().unwrap_err().code, chat_proto::ErrorCode::Internal);
        assert!(matches!(results[2], Ok(AppendOutcome::Stored { .. })), "{:?}", results[2]);
        assert_eq!(*store.batches.lock().unwrap(), [3, 1, 1, 1], "one batch, then each entry alone");
    }

    #[tokio::test]
    async fn an_impossible_id_is_refused_before_the_batch() {
        let store = Arc::new(Picky::default());
        let w = writer(store.clone());
        let recall = AppendRequest::Recall {
            sender: UserRef { id: 9, username: "u9".into() },
            msg_id: u64::MAX,
            not_before: 0,
        };
        let to_group = AppendRequest::Text {
            sender: UserRef { id: 9, username: "u9".into() },
            to: SendTo::Group(u64::MAX),
            body: "x".into(),
            client_msg_id: None,
        };
        let results = submit(&w, vec![text(1, "a"), recall, to_group, text(2, "b")]).await;
        assert!(matches!(results[1], Ok(AppendOutcome::Refused(Refusal::NoSuchMessage))));
        assert!(matches!(results[2], Ok(AppendOutcome::Refused(Refusal::NoSuchGroup))));
        assert!(matches!(results[0], Ok(AppendOutcome::Stored { .. })));
        assert!(matches!(results[3], Ok(AppendOutcome::Stored { .. })));
        assert_eq!(*store.batches.lock().unwrap(), [2]);
    }
}
