//! What the TUI's state asks of the outside world ([`Effect`]), and what comes back
//! ([`Done`]). The state decides, purely; the executor (`exec`) does the I/O and
//! sends the outcome back to the event loop, which hands it to the state again.

use chat_proto::model::{Message, Role, Target};
use chat_proto::reply::{Friend, IncomingFriendRequest, JoinRequest, Member, MyGroup};

use super::popup::SecretRequest;
use super::queue::SendJob;
use super::requests::PendingRequest;
use super::sidebar::ConversationEntry;

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Read the conversation list from the local history.
    LoadConversations,
    /// Read a conversation's messages from the local history: from seq `from` on
    /// (the older ones loaded stay), or the newest page when `None`.
    LoadMessages {
        with: Target,
        from: Option<u64>,
    },
    /// Messages before seq `before`: from the local history, else the server's.
    LoadOlder {
        with: Target,
        before: u64,
    },
    /// The user saw `with` up to `seq` while connected: tell the server, then the
    /// local history. Nothing happens offline.
    MarkRead {
        with: Target,
        seq: u64,
    },
    /// Search the local history.
    Search(String),
    /// Send these queued messages.
    Send(Vec<SendJob>),
    /// Fetch friends, groups and the requests waiting for us.
    RefreshSocial,
    /// A server operation a command asked for.
    Call(Call),
    Bell,
}

/// A server operation, its arguments resolved from what is on screen.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Secret(SecretRequest),
    Logout,
    AddFriend {
        user: String,
        note: Option<String>,
    },
    /// Answer USER's friend request (`known`: its id, when listed here already).
    AnswerFriend {
        user: String,
        known: Option<(u64, String)>,
        accept: bool,
    },
    /// Answer a request from the requests pop-up.
    Answer {
        request: PendingRequest,
        accept: bool,
    },
    /// Answer USER's request to join the group.
    AnswerJoin {
        group_id: u64,
        user: String,
        accept: bool,
    },
    RemoveFriend {
        user: String,
    },
    Block {
        user: String,
    },
    Unblock {
        user: String,
    },
    GroupCreate {
        name: String,
    },
    GroupJoin {
        group_id: u64,
    },
    GroupLeave {
        group_id: u64,
    },
    GroupMembers {
        group_id: u64,
    },
    GroupRequests {
        group_id: u64,
    },
    GroupKick {
        group_id: u64,
        user: String,
    },
    GroupSetRole {
        group_id: u64,
        user: String,
        role: Role,
    },
    GroupDissolve {
        group_id: u64,
    },
    GroupSearch {
        query: String,
    },
    GroupInfo {
        group_id: u64,
    },
    Recall {
        with: Target,
        msg_id: u64,
    },
    Read {
        with: Target,
        seq: u64,
    },
}

/// The outcome of an effect, back in the event loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    Conversations(Vec<ConversationEntry>),
    /// A conversation's messages, oldest first (see [`Effect::LoadMessages`]).
    Messages {
        with: Target,
        messages: Vec<Message>,
    },
    /// Older messages (oldest first; empty: there are none).
    Older {
        with: Target,
        messages: Vec<Message>,
    },
    OlderFailed(String),
    /// The server and the local history have the read marker.
    Read {
        with: Target,
        seq: u64,
    },
    ReadFailed(String),
    SearchResults {
        query: String,
        results: Vec<(Target, Message)>,
    },
    /// The server stored a queued message.
    Sent {
        client_msg_id: String,
        message: Message,
    },
    /// The connection failed during a send: it stays queued, sent again with the
    /// same id.
    SendInterrupted {
        client_msg_id: String,
        error: String,
    },
    /// The server refused a message.
    SendRefused {
        client_msg_id: String,
        error: String,
    },
    Friends(Vec<Friend>),
    Groups(Vec<MyGroup>),
    FriendRequests(Vec<IncomingFriendRequest>),
    /// `show`: the user asked to see them.
    GroupRequests {
        group_id: u64,
        requests: Vec<JoinRequest>,
        show: bool,
    },
    Members {
        group_id: u64,
        members: Vec<Member>,
    },
    /// Lines to show in a pop-up.
    Info {
        title: String,
        lines: Vec<String>,
    },
    /// Done; the text says what happened.
    Outcome(String),
    /// Done, and friends or groups changed: fetch them again.
    Changed(String),
    Failed(String),
    /// The operation needs the server and we are offline.
    Offline,
    Answered {
        request_id: u64,
        group: bool,
        notice: String,
    },
    /// Our message was recalled (and the local history has the recall).
    Recalled {
        with: Target,
        msg_id: u64,
    },
    /// We left or dissolved a group.
    LeftGroup {
        group_id: u64,
        notice: String,
    },
    /// The account is gone, or logged out: the interface closes.
    SessionEnded,
    /// The local history failed.
    HistoryFailed(String),
}
