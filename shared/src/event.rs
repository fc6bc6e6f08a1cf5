//! Events: frames the server pushes unasked, tagged by `event`, never carrying `re`.

use serde::{Deserialize, Serialize};

use crate::model::{LeaveReason, Role, Target};

macro_rules! events {
    ($($name:literal => $ty:ident;)*) => {
        /// Any event of the contract.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "event")]
        pub enum Event {
            $(#[serde(rename = $name)] $ty($ty),)*
        }

        /// The name of every event.
        pub const EVENT_NAMES: &[&str] = &[$($name),*];

        impl Event {
            /// This event's wire name.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Event::$ty(_) => $name,)*
                }
            }
        }

        $(impl From<$ty> for Event {
            fn from(e: $ty) -> Self {
                Event::$ty(e)
            }
        })*
    };
}

events! {
    "friend_request" => FriendRequest;
    "friend_response" => FriendResponse;
    "friend_removed" => FriendRemoved;
    "presence" => Presence;
    "group_join_request" => GroupJoinRequest;
    "group_join_response" => GroupJoinResponse;
    "group_member_joined" => GroupMemberJoined;
    "group_member_left" => GroupMemberLeft;
    "group_role_changed" => GroupRoleChanged;
    "group_dissolved" => GroupDissolved;
    "message" => Message;
    "read" => Read;
    "closing" => Closing;
    "resync" => Resync;
}

/// To the target of a friend request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendRequest {
    pub request_id: u64,
    pub from: String,
    pub from_id: u64,
    pub note: String,
}

/// To the requester, when the target answered (or a crossing request matched).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendResponse {
    pub request_id: u64,
    pub user: String,
    pub user_id: u64,
    pub accepted: bool,
}

/// To the other side of a removed friendship.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendRemoved {
    pub user: String,
    pub user_id: u64,
}

/// To online friends, when a user's first connection logs in or its last one leaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub user: String,
    pub user_id: u64,
    pub online: bool,
}

/// To a group's owner and admins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupJoinRequest {
    pub group_id: u64,
    pub request_id: u64,
    pub user: String,
    pub user_id: u64,
    pub note: String,
}

/// To the applicant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupJoinResponse {
    pub group_id: u64,
    pub request_id: u64,
    pub accepted: bool,
}

/// To every member, the new one included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMemberJoined {
    pub group_id: u64,
    pub user: String,
    pub user_id: u64,
}

/// To every member, the one who left (or was kicked) included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMemberLeft {
    pub group_id: u64,
    pub user: String,
    pub user_id: u64,
    pub reason: LeaveReason,
}

/// To every member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRoleChanged {
    pub group_id: u64,
    pub user: String,
    pub user_id: u64,
    pub role: Role,
}

/// To every member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDissolved {
    pub group_id: u64,
}

/// A new conversation entry, to every other connection of every participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub message: crate::model::Message,
}

/// A raised read marker, to the reader's other devices and a direct conversation's peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Read {
    /// From the receiving user's point of view.
    pub with: Target,
    pub user: String,
    pub user_id: u64,
    pub seq: u64,
}

/// Why the server is about to close this connection (sent just before it does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The server is shutting down; reconnect later.
    Shutdown,
    /// The session was revoked (password changed on another connection).
    SessionRevoked,
    /// The account was deleted.
    AccountDeleted,
    /// The connection fell too far behind in reading its events; reconnect and `sync`.
    TooSlow,
    /// Nothing was received for the idle timeout.
    IdleTimeout,
    /// The connection did not log in within the server's deadline for it.
    AuthTimeout,
    /// The session this connection used was ended by `logout` on another
    /// connection.
    LoggedOut,
    /// The session this connection used expired.
    SessionExpired,
}

/// An extension to the contract: the last frame before the server closes a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closing {
    pub reason: CloseReason,
}

/// An extension to the contract: events for this connection may have been lost
/// (its server lost its link to the rest of the cluster for a while). The client
/// catches up as after a reconnect: `conversations`, then `sync` where it is behind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resync {}
