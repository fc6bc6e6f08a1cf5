//! The events channel between the connection's reader and its caller, and the rule
//! that keeps the reader from ever waiting for that caller.
//!
//! The reader is the only reader of the socket, so if it waited for room in a full
//! channel, replies would wait behind events: a caller that awaits a reply before it
//! reads events (a session catching up while a busy group talks) would never get
//! it. So the reader drops what does not fit and owes the caller an
//! [`Incoming::Overflowed`] marker, placed as soon as there is room. The channel stays
//! bounded and nothing is lost for good: the server's database is the truth, and a
//! catch-up (`conversations`, then `sync` after the highest stored seq) repairs
//! every gap, as after a reconnect.

use chat_proto::Event;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// What the connection hands its caller, in the order the server sent it.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Event(Event),
    /// The caller fell a whole channel behind and `dropped` events that came before
    /// this marker (and after the events queued ahead of it) were thrown away:
    /// catch up from the server to repair what they carried.
    Overflowed {
        dropped: u64,
    },
}

/// The reader's end of the events channel; it never waits for the caller.
#[derive(Debug)]
pub(crate) struct EventSink {
    tx: mpsc::Sender<Incoming>,
    /// Events dropped since the last marker was placed; a marker is owed while > 0.
    dropped: u64,
}

impl EventSink {
    pub(crate) fn new(tx: mpsc::Sender<Incoming>) -> Self {
        Self { tx, dropped: 0 }
    }

    /// Queues `event` if there is room for it behind any owed marker; drops it (and
    /// owes a marker) otherwise. Never waits.
    pub(crate) fn push(&mut self, event: Event) {
        if self.owes_marker() && !self.try_place_marker() {
            // No room yet: the marker must come before any later event, so this one
            // goes too.
            self.dropped += 1;
            return;
        }
        match self.tx.try_send(Incoming::Event(event)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.dropped = 1,
            // A caller that dropped the receiver does not want events.
            Err(TrySendError::Closed(_)) => {}
        }
    }

    /// Whether events were dropped and the caller has not been told yet.
    pub(crate) fn owes_marker(&self) -> bool {
        self.dropped > 0
    }

    /// Waits for room and places the owed marker, so the caller learns of the loss
    /// even if no further event comes. Cancel-safe: cancelled, it only loses its
    /// place in the queue for room. Never completes when no marker is owed.
    pub(crate) async fn place_marker(&mut self) {
        if !self.owes_marker() {
            return std::future::pending().await;
        }
        // An error means the caller is gone: nobody to tell.
        if let Ok(permit) = self.tx.reserve().await {
            permit.send(Incoming::Overflowed { dropped: self.dropped });
        }
        self.dropped = 0;
    }

    /// Places the owed marker if there is room now; false when there is not.
    fn try_place_marker(&mut self) -> bool {
        match self.tx.try_reserve() {
            Ok(permit) => permit.send(Incoming::Overflowed { dropped: self.dropped }),
            Err(TrySendError::Full(())) => return false,
            Err(TrySendError::Closed(())) => {}
        }
        self.dropped = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_proto::event::Presence;

    fn event(n: u64) -> Event {
        Event::Presence(Presence { user: format!("u{n}"), user_id: n, online: true })
    }

    fn drain(rx: &mut mpsc::Receiver<Incoming>) -> Vec<Incoming> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    #[test]
    fn events_that_fit_pass_in_order() {
        let (tx, mut rx) = mpsc::channel(4);
        let mut sink = EventSink::new(tx);
        (1..=3).for_each(|n| sink.push(event(n)));
        assert!(!sink.owes_marker());
        assert_eq!(drain(&mut rx), (1..=3).map(|n| Incoming::Event(event(n))).collect::<Vec<_>>());
    }

    #[test]
    fn a_full_channel_drops_and_the_marker_comes_before_anything_later() {
        let (tx, mut rx) = mpsc::channel(2);
        let mut sink = EventSink::new(tx);
        (1..=5).for_each(|n| sink.push(event(n))); // 3, 4, 5 do not fit
        assert!(sink.owes_marker());
        assert_eq!(rx.try_recv().ok(), Some(Incoming::Event(event(1))));
        // One slot is free: the marker takes it, so 6 is dropped in turn.
        sink.push(event(6));
        assert_eq!(rx.try_recv().ok(), Some(Incoming::Event(event(2))));
        assert_eq!(rx.try_recv().ok(), Some(Incoming::Overflowed { dropped: 3 }));
        sink.push(event(7)); // marker for 6, then 7
        assert_eq!(drain(&mut rx), vec![Incoming::Overflowed { dropped: 1 }, Incoming::Event(event(7))]);
        assert!(!sink.owes_marker());
    }

    #[tokio::test]
    async fn the_marker_arrives_without_a_later_event() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut sink = EventSink::new(tx);
        sink.push(event(1));
        sink.push(event(2));
        let place = tokio::spawn(async move {
            sink.place_marker().await;
            sink
        });
        assert_eq!(rx.recv().await, Some(Incoming::Event(event(1))));
        assert_eq!(rx.recv().await, Some(Incoming::Overflowed { dropped: 1 }));
        assert!(!place.await.unwrap().owes_marker());
    }

    #[tokio::test]
    async fn nothing_is_owed_to_a_caller_that_left() {
        let (tx, rx) = mpsc::channel(1);
        let mut sink = EventSink::new(tx);
        sink.push(event(1));
        sink.push(event(2));
        drop(rx);
        sink.place_marker().await;
        assert!(!sink.owes_marker());
        sink.push(event(3));
        assert!(!sink.owes_marker());
    }
}
