//! The status bar's notice, as a typed value: what it announces decides its text
//! and when it goes away (see `App::settle_notice`), so nothing has to be read
//! back out of the words on screen.

use std::borrow::Cow;

use chat_proto::event::CloseReason;

/// Seconds an outcome stays up when nothing else replaces or clears it.
pub const OUTCOME_SECS: u64 = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Messages wait in the queue (offline, or a send was cut; the reason, if any).
    /// Gone once the queue is empty.
    Queued { why: Option<String> },
    /// The server refused a message (shown in the pane too). Gone once dismissed.
    NotSent(String),
    /// A friend request came. Gone once no request from them waits.
    FriendRequest { from: String },
    /// Someone asks to join a group we manage. Gone once answered.
    JoinRequest { user: String, group_id: u64 },
    /// The server closed the connection, and why. Gone once online again.
    Closing(CloseReason),
    /// What was asked needs the server. Gone once online.
    NeedsServer,
    /// Tab found no one to complete `@prefix` with. Gone at the next key.
    NoMatch(String),
    /// An operation's outcome, or how to use a command. Gone after
    /// [`OUTCOME_SECS`], at Esc, or when another notice comes.
    Outcome(String),
}

impl Notice {
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Notice::Queued { why: None } => "offline: queued, sent once online".into(),
            Notice::Queued { why: Some(why) } => format!("queued: {why}").into(),
            Notice::NotSent(error) => format!("not sent: {error} (Esc dismisses)").into(),
            Notice::FriendRequest { from } => format!("friend request from {from} (Ctrl+R)").into(),
            Notice::JoinRequest { user, group_id } => {
                format!("{user} asks to join #{group_id} (Ctrl+R)").into()
            }
            Notice::Closing(reason) => closing_text(*reason).into(),
            Notice::NeedsServer => "offline: that needs the server, try again once online".into(),
            Notice::NoMatch(prefix) => format!("no one here to complete @{prefix} with").into(),
            Notice::Outcome(text) => text.as_str().into(),
        }
    }

    /// Whether it goes away by itself after [`OUTCOME_SECS`].
    pub fn expires(&self) -> bool {
        matches!(self, Notice::Outcome(_))
    }
}

/// What the user is told when the server closes the connection, and why.
pub fn closing_text(reason: CloseReason) -> &'static str {
    match reason {
        CloseReason::Shutdown => "the server is restarting; reconnecting",
        CloseReason::SessionRevoked => {
            "your password was changed on another device: this session ended (a change made on this machine carries on)"
        }
        CloseReason::LoggedOut => "this session was logged out on another device",
        CloseReason::SessionExpired => "your session expired: log in again",
        CloseReason::AccountDeleted => "your account was deleted",
        CloseReason::TooSlow => "the connection fell behind; reconnecting and catching up",
        CloseReason::IdleTimeout | CloseReason::AuthTimeout => "the connection timed out; reconnecting",
    }
}
