//! The error an op answers with, and how internal failures become `internal`
//! without leaking their details to the client.

use std::time::Duration;

use chat_proto::{ErrorBody, ErrorCode};

use crate::auth::HashError;
use crate::log_limit::LogLimit;
use crate::store::StoreError;

/// A refusal or failure of one op, sent back as its error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl OpError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after: None }
    }

    /// `rate_limited`, with the wait after which the same request may succeed.
    pub fn rate_limited(message: impl Into<String>, wait: Duration) -> Self {
        Self { retry_after: Some(wait), ..Self::new(ErrorCode::RateLimited, message) }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal server error")
    }

    pub fn into_body(self) -> ErrorBody {
        let body = ErrorBody::new(self.code, self.message);
        match self.retry_after {
            Some(wait) => body.retry_after(wait),
            None => body,
        }
    }
}

/// Store failures reach the log a few times a second at most, whoever causes them.
static STORE_FAILURES: LogLimit = LogLimit::new(5, Duration::from_secs(1));

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        if let StoreError::OutOfRange(what) = &e {
            tracing::debug!(error = %e, "request value out of range");
            return Self::bad_request(format!("{what} is out of range"));
        }
        if let Some(dropped) = STORE_FAILURES.admit() {
            tracing::error!(error = %e, dropped, "store operation failed");
        }
        Self::internal()
    }
}

impl From<HashError> for OpError {
    fn from(e: HashError) -> Self {
        if let HashError::Busy = e {
            // A hash takes well under a second; by then the address's queue has moved.
            return Self::rate_limited(
                "too many password checks from your address at once",
                Duration::from_secs(1),
            );
        }
        tracing::error!(error = %e, "password hashing failed");
        Self::internal()
    }
}

impl From<getrandom::Error> for OpError {
    fn from(e: getrandom::Error) -> Self {
        tracing::error!(error = %e, "no randomness for a session token");
        Self::internal()
    }
}
