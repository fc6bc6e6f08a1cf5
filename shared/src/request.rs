//! Requests: one struct per op holding its fields, the [`Request`] enum tagged by `op`,
//! and the [`Call`] trait tying each op to the result type of its reply.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::{Role, Target};
use crate::reply::*;

/// An op: its request fields (`Self`), its wire name and the result of its reply.
pub trait Call: Serialize + Into<Request> {
    const OP: &'static str;
    type Reply: DeserializeOwned + Serialize;
}

macro_rules! ops {
    ($($(#[$doc:meta])* $name:literal => $ty:ident -> $reply:ty;)*) => {
        /// Any request of the contract, tagged by its `op` field.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "op")]
        pub enum Request {
            $($(#[$doc])* #[serde(rename = $name)] $ty($ty),)*
        }

        /// The name of every op of the contract.
        pub const OP_NAMES: &[&str] = &[$($name),*];

        impl Request {
            /// This request's op name.
            pub fn op(&self) -> &'static str {
                match self {
                    $(Request::$ty(_) => $name,)*
                }
            }
        }

        $(
            impl Call for $ty {
                const OP: &'static str = $name;
                type Reply = $reply;
            }
            impl From<$ty> for Request {
                fn from(r: $ty) -> Self {
                    Request::$ty(r)
                }
            }
        )*
    };
}

ops! {
    "hello" => Hello -> HelloReply;
    "ping" => Ping -> Empty;
    "register" => Register -> RegisterReply;
    "login" => Login -> LoginReply;
    "resume" => Resume -> LoginReply;
    "logout" => Logout -> Empty;
    "change_password" => ChangePassword -> ChangePasswordReply;
    "delete_account" => DeleteAccount -> Empty;
    "friend_request" => FriendRequest -> FriendRequestReply;
    "friend_respond" => FriendRespond -> Empty;
    "friend_remove" => FriendRemove -> Empty;
    "friend_list" => FriendList -> FriendListReply;
    "friend_requests" => FriendRequests -> FriendRequestsReply;
    "block" => Block -> Empty;
    "unblock" => Unblock -> Empty;
    "group_create" => GroupCreate -> GroupCreateReply;
    "group_info" => GroupInfo -> GroupInfoReply;
    "group_search" => GroupSearch -> GroupSearchReply;
    "group_list" => GroupList -> GroupListReply;
    "group_join" => GroupJoin -> GroupJoinReply;
    "group_requests" => GroupRequests -> GroupRequestsReply;
    "group_respond" => GroupRespond -> Empty;
    "group_members" => GroupMembers -> GroupMembersReply;
    "group_leave" => GroupLeave -> Empty;
    "group_kick" => GroupKick -> Empty;
    "group_set_role" => GroupSetRole -> Empty;
    "group_dissolve" => GroupDissolve -> Empty;
    "send" => Send -> SendReply;
    "sync" => Sync -> SyncReply;
    "history" => History -> HistoryReply;
    "conversations" => Conversations -> ConversationsReply;
    "read" => Read -> Empty;
    "recall" => Recall -> RecallReply;
    "file_upload" => FileUpload -> FileUploadReply;
    "file_chunk" => FileChunk -> FileChunkReply;
    "file_finish" => FileFinish -> Empty;
    "file_download" => FileDownload -> FileDownloadReply;
}

// ---- session ----

/// Optional handshake; its reply advertises the server's limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ping {}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Register {
    pub username: String,
    pub password: String,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Login {
    pub username: String,
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Logout {}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangePassword {
    pub old_password: String,
    pub new_password: String,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteAccount {
    pub password: String,
}

// Secrets never reach logs through Debug.
macro_rules! redacted_debug {
    ($ty:ident { $($shown:ident),* } hides { $($hidden:ident),* }) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($shown), &self.$shown))*
                    $(.field(stringify!($hidden), &"<redacted>"))*
                    .finish()
            }
        }
    };
}
redacted_debug!(Register { username } hides { password });
redacted_debug!(Login { username, device } hides { password });
redacted_debug!(Resume { device } hides { token });
redacted_debug!(ChangePassword {} hides { old_password, new_password });
redacted_debug!(DeleteAccount {} hides { password });

// ---- friends ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FriendRequest {
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FriendRespond {
    pub request_id: u64,
    pub accept: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FriendRemove {
    pub user: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FriendList {}

/// One page of pending requests, both directions together, by `request_id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FriendRequests {
    /// The `next` of the previous page: requests after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    pub user: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unblock {
    pub user: String,
}

// ---- groups ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupCreate {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupInfo {
    pub group_id: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSearch {
    pub query: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupList {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupJoin {
    pub group_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupRequests {
    pub group_id: u64,
    /// The `next` of the previous page: requests after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupRespond {
    pub request_id: u64,
    pub accept: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMembers {
    pub group_id: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupLeave {
    pub group_id: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupKick {
    pub group_id: u64,
    pub user: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSetRole {
    pub group_id: u64,
    pub user: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupDissolve {
    pub group_id: u64,
}

// ---- messages ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Send {
    pub to: Target,
    #[serde(default)]
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sync {
    pub with: Target,
    #[serde(default)]
    pub after: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub with: Target,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conversations {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// An `activity` value (ms since the epoch), exclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
    /// A `next` from the previous page: the listing goes on right after it, never
    /// skipping a conversation, even among many with the same activity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Read {
    pub with: Target,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recall {
    pub msg_id: u64,
}

// ---- files ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileUpload {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileChunk {
    pub file_id: u64,
    pub offset: u64,
    /// The piece's bytes, base64 (standard alphabet, padded).
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileFinish {
    pub file_id: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileDownload {
    pub file_id: u64,
    pub offset: u64,
    pub length: u64,
}
