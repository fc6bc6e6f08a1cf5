//! Error codes of the contract and the error object every failed reply carries.

use serde::{Deserialize, Serialize};

/// The contract's error codes. Any op may return `bad_request`, `unauthenticated`,
/// `rate_limited`, `unavailable` and `internal`; each op documents the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    UnknownOp,
    FrameTooLarge,
    Unauthenticated,
    InvalidCredentials,
    UsernameTaken,
    WeakPassword,
    NotFound,
    Forbidden,
    NotFriend,
    NotMember,
    Conflict,
    TooLarge,
    ChecksumMismatch,
    RateLimited,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// Every code, in the contract's order.
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::BadRequest,
        ErrorCode::UnknownOp,
        ErrorCode::FrameTooLarge,
        ErrorCode::Unauthenticated,
        ErrorCode::InvalidCredentials,
        ErrorCode::UsernameTaken,
        ErrorCode::WeakPassword,
        ErrorCode::NotFound,
        ErrorCode::Forbidden,
        ErrorCode::NotFriend,
        ErrorCode::NotMember,
        ErrorCode::Conflict,
        ErrorCode::TooLarge,
        ErrorCode::ChecksumMismatch,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownOp => "unknown_op",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::UsernameTaken => "username_taken",
            ErrorCode::WeakPassword => "weak_password",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFriend => "not_friend",
            ErrorCode::NotMember => "not_member",
            ErrorCode::Conflict => "conflict",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::ChecksumMismatch => "checksum_mismatch",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `error` object of a failed reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    /// With `rate_limited`: milliseconds after which the same request may succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after_ms: None }
    }

    /// This error with a retry hint of `wait`, rounded up to whole milliseconds.
    pub fn retry_after(self, wait: std::time::Duration) -> Self {
        let ms = u64::try_from(wait.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
        Self { retry_after_ms: Some(ms.max(1)), ..self }
    }
}
