//! Data shapes shared by requests, replies and events.

use serde::{Deserialize, Serialize};

/// A conversation target: `{"user": "bob"}` or `{"group": 12}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    User(String),
    Group(u64),
}

/// A member's role in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

/// Why a member left a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    Left,
    Kicked,
}

/// What a conversation entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Text,
    File,
    Recall,
}

/// The file carried by a `file` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    pub file_id: u64,
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// One entry of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub msg_id: u64,
    pub seq: u64,
    pub from: String,
    pub from_id: u64,
    pub to: Target,
    pub body: String,
    pub ts: i64,
    pub kind: MessageKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileInfo>,
    /// On a `recall` entry: the msg_id it withdraws.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recalls: Option<u64>,
    /// On a withdrawn message read back through `sync` or `history`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recalled: bool,
}
