//! A connection's outbox: the frames queued for its writer, bounded in bytes.
//!
//! Replies come from the connection's own reader, which waits while the queue holds
//! more than the limit: a client that does not read its replies stops being read
//! (backpressure) instead of growing the server's memory. Events come from everyone
//! else and never wait: they are refused once the queue holds twice the limit, and
//! the refusing side closes the connection as too slow (it catches up with `sync`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

/// What a queued frame is counted as besides its bytes: the queue's own
/// bookkeeping, so that many tiny frames are bounded too.
const FRAME_OVERHEAD: usize = 64;

/// The bytes a frame holds while queued.
fn cost(frame: &Bytes) -> usize {
    frame.len() + FRAME_OVERHEAD
}

#[derive(Debug)]
struct Level {
    bytes: AtomicUsize,
    limit: usize,
    drained: Notify,
}

/// The sending side; clones share the queue.
#[derive(Debug, Clone)]
pub struct OutboxSender {
    tx: mpsc::UnboundedSender<Bytes>,
    level: Arc<Level>,
}

/// The writer's side.
#[derive(Debug)]
pub struct OutboxReceiver {
    rx: mpsc::UnboundedReceiver<Bytes>,
    level: Arc<Level>,
}

/// Why an event was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// Twice the limit is queued: the reader is too slow.
    Full,
    /// The writer is gone.
    Closed,
}

/// An outbox holding about `limit` bytes of replies, and twice that with events.
pub fn outbox(limit: usize) -> (OutboxSender, OutboxReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let level = Arc::new(Level { bytes: AtomicUsize::new(0), limit, drained: Notify::new() });
    (OutboxSender { tx, level: level.clone() }, OutboxReceiver { rx, level })
}

impl OutboxSender {
    /// Queues an event without waiting.
    pub fn try_push(&self, frame: Bytes) -> Result<(), PushError> {
        let cost = cost(&frame);
        let before = self.level.bytes.fetch_add(cost, Ordering::AcqRel);
        if before + cost > 2 * self.level.limit {
            self.level.bytes.fetch_sub(cost, Ordering::AcqRel);
            return Err(PushError::Full);
        }
        self.queue(frame, cost).map_err(|()| PushError::Closed)
    }

    /// Queues a reply once the queue is at or below the limit. False once the
    /// writer is gone.
    pub async fn send(&self, frame: Bytes) -> bool {
        loop {
            let drained = self.level.drained.notified();
            if self.level.bytes.load(Ordering::Acquire) <= self.level.limit {
                break;
            }
            if self.tx.is_closed() {
                return false;
            }
            drained.await;
        }
        let cost = cost(&frame);
        self.level.bytes.fetch_add(cost, Ordering::AcqRel);
        self.queue(frame, cost).is_ok()
    }

    /// Queues a last small frame (`closing`) whatever the level.
    pub fn push_last(&self, frame: Bytes) {
        let cost = cost(&frame);
        self.level.bytes.fetch_add(cost, Ordering::AcqRel);
        let _ = self.queue(frame, cost);
    }

    fn queue(&self, frame: Bytes, cost: usize) -> Result<(), ()> {
        self.tx.send(frame).map_err(|_| {
            self.level.bytes.fetch_sub(cost, Ordering::AcqRel);
        })
    }
}

impl OutboxReceiver {
    /// The next frame, waiting for one; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<Bytes> {
        self.rx.recv().await
    }

    /// The next frame if one is queued.
    pub fn try_recv(&mut self) -> Option<Bytes> {
        self.rx.try_recv().ok()
    }

    /// Counts `frames` as written, waking a reply waiting for room.
    pub fn written<'a>(&self, frames: impl IntoIterator<Item = &'a Bytes>) {
        let total: usize = frames.into_iter().map(cost).sum();
        self.level.bytes.fetch_sub(total, Ordering::AcqRel);
        self.level.drained.notify_waiters();
    }

    /// Stops accepting frames: waiting replies give up.
    pub fn close(&mut self) {
        self.rx.close();
        self.level.drained.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn frame(len: usize) -> Bytes {
        Bytes::from(vec![b'x'; len])
    }

    #[tokio::test]
    async fn events_are_refused_past_twice_the_limit() {
        let (tx, _rx) = outbox(1000);
        let mut queued = 0;
        while tx.try_push(frame(100)).is_ok() {
            queued += 1;
        }
        assert_eq!(queued, 2000 / (100 + FRAME_OVERHEAD));
        assert_eq!(tx.try_push(frame(100)), Err(PushError::Full));
    }

    #[tokio::test]
    async fn a_reply_waits_until_the_writer_drains() {
        let (tx, mut rx) = outbox(1000);
        for _ in 0..8 {
            tx.try_push(frame(100)).unwrap();
        }
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(frame(10)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "over the limit: the reply waits");
        let mut written = Vec::new();
        for _ in 0..3 {
            written.push(rx.try_recv().unwrap());
        }
        rx.written(&written);
        assert!(waiting.await.unwrap(), "queued once the level fell to the limit");
    }

    #[tokio::test]
    async fn a_waiting_reply_gives_up_when_the_writer_closes() {
        let (tx, mut rx) = outbox(200);
        tx.try_push(frame(150)).unwrap();
        let waiting = tokio::spawn(async move { tx.send(frame(1)).await });
        tokio::task::yield_now().await;
        rx.close();
        assert!(!waiting.await.unwrap());
    }
}
