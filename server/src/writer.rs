//! The single writer: every new conversation entry goes through one task that
//! gathers whatever requests are waiting into one transaction (group commit), so
//! throughput is not bounded by one commit per message. A request's answer comes
//! back only after its transaction committed.
//!
//! The writer also pushes each new entry's `message` event, right after the commit
//! and in batch order, so every connection sees a conversation's entries live in
//! seq order.

use std::sync::Arc;

use chat_proto::model::Message;
use chat_proto::{Event, encode_frame};
use tokio::sync::{mpsc, oneshot};
use tracing::error;

use crate::bus::Bus;
use crate::service::OpError;
use crate::state::now_ms;
use crate::store::{AppendOutcome, AppendRequest, Store};

/// Requests waiting for the writer before submitters wait for room.
const QUEUE: usize = 8192;

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
    pub fn spawn(store: Arc<dyn Store>, bus: Arc<dyn Bus>, max_frame: usize, max_batch: usize) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, bus, max_frame, rx, max_batch.max(1)));
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

async fn run(
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    max_frame: usize,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(max_batch);
    let mut requests: Vec<AppendRequest> = Vec::with_capacity(max_batch);
    // Waits for at least one request, then takes every other one already queued.
    while rx.recv_many(&mut jobs, max_batch).await > 0 {
        let mut replies = Vec::with_capacity(jobs.len());
        for job in jobs.drain(..) {
            requests.push(job.request);
            replies.push((job.origin, job.done));
        }
        match store.append(&requests, now_ms()).await {
            Ok(outcomes) => {
                for ((origin, done), outcome) in replies.into_iter().zip(outcomes) {
                    if let AppendOutcome::Stored { message, participants, duplicate: false } = &outcome {
                        publish(bus.as_ref(), max_frame, participants, message, origin);
                    }
                    let _ = done.send(Ok(outcome));
                }
            }
            Err(e) => {
                // Nothing of the batch was stored; each sender may retry (with its
                // client_msg_id, safely).
                error!(error = %e, entries = requests.len(), "append failed");
                for (_, done) in replies {
                    let _ = done.send(Err(OpError::internal()));
                }
            }
        }
        requests.clear();
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
