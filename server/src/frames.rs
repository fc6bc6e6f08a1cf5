//! Encoding of the frames the server sends.

use std::time::Duration;

use bytes::Bytes;
use chat_proto::envelope::{ErrReply, OkReply};
use chat_proto::{ErrorBody, ErrorCode, encode_frame};
use serde::Serialize;

use crate::log_limit::LogLimit;

/// Sent if even an error cannot be encoded (it always can; this keeps the
/// connection's one-reply-per-request promise without a panic path).
const FALLBACK: &[u8] =
    b"\0\0\0\x44{\"re\":0,\"ok\":false,\"error\":{\"code\":\"internal\",\"message\":\"internal\"}}";

static TOO_LARGE: LogLimit = LogLimit::new(5, Duration::from_secs(1));

/// Longest error message sent, so that an error frame always fits any max_frame.
const MAX_MESSAGE: usize = 512;

/// A success reply, or `internal` when it cannot be encoded within max_frame.
pub fn ok<T: Serialize>(re: u64, result: &T, max_frame: usize) -> Bytes {
    match encode_frame(&OkReply::new(re, result), max_frame) {
        Ok(frame) => frame,
        Err(e) => {
            // A list a client grew past the frame is its doing: not an ERROR, and
            // never a flood.
            if let Some(dropped) = TOO_LARGE.admit() {
                tracing::warn!(error = %e, re, dropped, "reply could not be encoded");
            }
            error(re, &ErrorBody::new(ErrorCode::Internal, "reply too large to send"), max_frame)
        }
    }
}

/// An error reply. Never fails: the message is cut to a size that always fits.
pub fn error(re: u64, body: &ErrorBody, max_frame: usize) -> Bytes {
    let mut body = body.clone();
    if body.message.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !body.message.is_char_boundary(cut) {
            cut -= 1;
        }
        body.message.truncate(cut);
    }
    encode_frame(&ErrReply::new(re, &body), max_frame.max(4096))
        .unwrap_or_else(|_| Bytes::from_static(FALLBACK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_frames_always_fit() {
        let body = ErrorBody::new(ErrorCode::BadRequest, "é".repeat(10_000));
        let frame = error(3, &body, 4096);
        assert!(frame.len() < 4096);
        let v: serde_json::Value = serde_json::from_slice(&frame[4..]).unwrap();
        assert_eq!(v["error"]["code"], "bad_request");
    }

    #[test]
    fn fallback_frame_is_well_formed() {
        assert_eq!(FALLBACK.len() - 4, 0x44);
        let _: serde_json::Value = serde_json::from_slice(&FALLBACK[4..]).unwrap();
    }
}
