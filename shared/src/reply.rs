//! The result fields of each op's successful reply (beside `re` and `ok`).

use serde::{Deserialize, Serialize};

use crate::model::{Message, Role, Target};

/// The result of ops that return nothing beyond `ok`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloReply {
    pub server: String,
    pub protocol: u32,
    pub node: String,
    pub heartbeat_secs: u64,
    pub max_frame: u64,
    pub max_body: u64,
    pub max_file_size: u64,
    pub max_chunk: u64,
    pub max_group_members: u64,
    pub recall_window_secs: u64,
    pub page_limit: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterReply {
    pub user_id: u64,
}

/// Result of `login` and `resume`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginReply {
    pub user_id: u64,
    pub username: String,
    pub token: String,
}

impl std::fmt::Debug for LoginReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginReply")
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .field("token", &"<redacted>")
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangePasswordReply {
    /// The new token of this connection's session; every older token is revoked.
    pub token: String,
}

impl std::fmt::Debug for ChangePasswordReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangePasswordReply").field("token", &"<redacted>").finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendRequestReply {
    pub request_id: u64,
    pub accepted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Friend {
    pub user_id: u64,
    pub username: String,
    pub online: bool,
    pub blocked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendListReply {
    pub friends: Vec<Friend>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingFriendRequest {
    pub request_id: u64,
    pub from: String,
    pub from_id: u64,
    pub note: String,
    pub ts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingFriendRequest {
    pub request_id: u64,
    pub to: String,
    pub to_id: u64,
    pub note: String,
    pub ts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendRequestsReply {
    pub incoming: Vec<IncomingFriendRequest>,
    pub outgoing: Vec<OutgoingFriendRequest>,
    /// The `cursor` of the next page; absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupCreateReply {
    pub group_id: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInfoReply {
    pub group_id: u64,
    pub name: String,
    pub description: String,
    pub owner: String,
    pub owner_id: u64,
    pub member_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSummary {
    pub group_id: u64,
    pub name: String,
    pub description: String,
    pub member_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSearchReply {
    pub groups: Vec<GroupSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyGroup {
    pub group_id: u64,
    pub name: String,
    pub description: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupListReply {
    pub groups: Vec<MyGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupJoinReply {
    pub request_id: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    pub request_id: u64,
    pub user: String,
    pub user_id: u64,
    pub note: String,
    pub ts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRequestsReply {
    pub requests: Vec<JoinRequest>,
    /// The `cursor` of the next page; absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user_id: u64,
    pub username: String,
    pub role: Role,
    pub online: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMembersReply {
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReply {
    pub msg_id: u64,
    pub seq: u64,
    pub ts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReply {
    /// Oldest first.
    pub messages: Vec<Message>,
    pub last_seq: u64,
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryReply {
    /// Newest first.
    pub messages: Vec<Message>,
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub with: Target,
    pub last_seq: u64,
    pub read_seq: u64,
    pub unread: u64,
    pub last_message: Option<Message>,
    /// The `ts` of the conversation's last entry.
    pub activity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationsReply {
    /// Newest activity first.
    pub conversations: Vec<Conversation>,
    pub more: bool,
    /// Where the next page starts (its `cursor`), when `more`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecallReply {
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileUploadReply {
    pub file_id: u64,
    pub offset: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChunkReply {
    pub offset: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDownloadReply {
    /// base64 (standard alphabet, padded).
    pub data: String,
    pub eof: bool,
}
