//! The outgoing queue: every composed message gets a stable `client_msg_id` and
//! waits here until the server has it. A message sent while offline, or whose send
//! was cut by a lost connection, is sent again once online with the same id, so the
//! server never stores it twice. A server refusal (e.g. `not_friend`) marks it failed.

use chat_proto::model::Target;

use super::text::same_target;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutState {
    /// Waiting to be sent (offline, or the connection dropped during a send).
    Pending,
    /// A send is in flight.
    Sending,
    /// The server refused it; kept visible, never retried automatically.
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub client_msg_id: String,
    pub to: Target,
    pub body: String,
    /// When composed, milliseconds since the Unix epoch.
    pub ts: i64,
    pub state: OutState,
}

/// A send to start: what the event loop passes to `send`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendJob {
    pub client_msg_id: String,
    pub to: Target,
    pub body: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outbox {
    items: Vec<Outgoing>,
}

impl Outbox {
    /// Queues a composed message as pending.
    pub fn push(&mut self, client_msg_id: String, to: Target, body: String, ts: i64) {
        self.items.push(Outgoing { client_msg_id, to, body, ts, state: OutState::Pending });
    }

    /// The pending messages, oldest first, now marked as being sent.
    pub fn take_pending(&mut self) -> Vec<SendJob> {
        self.items
            .iter_mut()
            .filter(|o| o.state == OutState::Pending)
            .map(|o| {
                o.state = OutState::Sending;
                SendJob { client_msg_id: o.client_msg_id.clone(), to: o.to.clone(), body: o.body.clone() }
            })
            .collect()
    }

    /// The server stored it: it leaves the queue (it is a real message now).
    pub fn sent(&mut self, client_msg_id: &str) {
        self.items.retain(|o| o.client_msg_id != client_msg_id);
    }

    /// The connection failed during the send: pending again, resent with the same id.
    pub fn interrupted(&mut self, client_msg_id: &str) {
        self.set(client_msg_id, OutState::Pending);
    }

    /// The server refused it.
    pub fn refused(&mut self, client_msg_id: &str, error: impl Into<String>) {
        self.set(client_msg_id, OutState::Failed(error.into()));
    }

    /// The connection went away: anything in flight will be sent again.
    pub fn disconnected(&mut self) {
        for o in &mut self.items {
            if o.state == OutState::Sending {
                o.state = OutState::Pending;
            }
        }
    }

    /// Drops the failed messages of a conversation; returns how many.
    pub fn dismiss_failed(&mut self, with: &Target) -> usize {
        let before = self.items.len();
        self.items.retain(|o| !(matches!(o.state, OutState::Failed(_)) && same_target(&o.to, with)));
        before - self.items.len()
    }

    fn set(&mut self, client_msg_id: &str, state: OutState) {
        if let Some(o) = self.items.iter_mut().find(|o| o.client_msg_id == client_msg_id) {
            o.state = state;
        }
    }

    /// The queued messages of one conversation, oldest first.
    pub fn for_conversation<'a>(&'a self, with: &'a Target) -> impl Iterator<Item = &'a Outgoing> + 'a {
        self.items.iter().filter(move |o| same_target(&o.to, with))
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many the server refused (kept until dismissed).
    pub fn failed(&self) -> usize {
        self.items.iter().filter(|o| matches!(o.state, OutState::Failed(_))).count()
    }

    /// How many are waiting to go (pending or in flight).
    pub fn waiting(&self) -> usize {
        self.items.iter().filter(|o| matches!(o.state, OutState::Pending | OutState::Sending)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bob() -> Target {
        Target::User("bob".into())
    }

    #[test]
    fn offline_message_is_sent_once_online_with_the_same_id() {
        let mut q = Outbox::default();
        q.push("id1".into(), bob(), "hi".into(), 1);
        q.push("id2".into(), Target::Group(3), "yo".into(), 2);
        assert_eq!(q.waiting(), 2);
        let jobs = q.take_pending();
        assert_eq!(jobs.iter().map(|j| j.client_msg_id.as_str()).collect::<Vec<_>>(), ["id1", "id2"]);
        // Taken jobs are in flight: not taken twice.
        assert!(q.take_pending().is_empty());
        // The connection drops during the first send: it is resent with the same id.
        q.interrupted("id1");
        q.sent("id2");
        let again = q.take_pending();
        assert_eq!(again, vec![SendJob { client_msg_id: "id1".into(), to: bob(), body: "hi".into() }]);
        q.sent("id1");
        assert!(q.is_empty());
    }

    #[test]
    fn refusal_is_kept_as_failed_and_disconnect_requeues() {
        let mut q = Outbox::default();
        q.push("a".into(), bob(), "1".into(), 1);
        q.push("b".into(), bob(), "2".into(), 2);
        q.take_pending();
        q.refused("a", "not_friend");
        q.disconnected();
        let states: Vec<_> =
            q.for_conversation(&Target::User("Bob".into())).map(|o| o.state.clone()).collect();
        assert_eq!(states, vec![OutState::Failed("not_friend".into()), OutState::Pending]);
        assert_eq!(q.waiting(), 1);
        assert_eq!(q.take_pending().len(), 1);
        assert_eq!(q.for_conversation(&Target::Group(1)).count(), 0);
        assert_eq!(q.dismiss_failed(&bob()), 1);
        assert_eq!(q.len(), 1);
    }
}
