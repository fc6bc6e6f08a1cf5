//! The hot path's view of frames: a light parse of what the server sends and an
//! encoder that appends a request to a connection's write buffer in place.
//!
//! `chat_proto::ServerFrame::parse` builds a full `serde_json::Map` per frame, and
//! `chat_proto::encode_frame` allocates a buffer per frame; at ~100k messages/s on
//! one core the bench can afford neither. [`Incoming`] names only the fields the bench
//! reads, borrows its strings from the frame and skips everything else.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};
use chat_proto::codec::HEADER_LEN;
use serde::{Deserialize, Serialize};

/// The fields of a server frame the bench looks at; any other field is skipped.
#[derive(Debug, Deserialize)]
pub struct Incoming<'a> {
    /// Present on replies, absent on events.
    #[serde(default)]
    pub re: Option<u64>,
    #[serde(default)]
    pub ok: Option<bool>,
    #[serde(default)]
    pub event: Option<EventName>,
    /// The entry of a `message` event.
    #[serde(default, borrow)]
    pub message: Option<MessageHead<'a>>,
    /// The error of a failed reply.
    #[serde(default, borrow)]
    pub error: Option<ErrorHead<'a>>,
}

/// The events the bench reacts to; every other name reads as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventName {
    Message,
    Closing,
    #[serde(other)]
    Other,
}

/// The part of a delivered message the bench checks.
#[derive(Debug, Deserialize)]
pub struct MessageHead<'a> {
    /// The entry's place in its conversation.
    pub seq: u64,
    /// Borrowed unless the server escaped something in it (the bench's bodies need no
    /// escaping).
    #[serde(borrow)]
    pub body: Cow<'a, str>,
}

/// The code of a failed reply (its message is for people and is skipped).
#[derive(Debug, Deserialize)]
pub struct ErrorHead<'a> {
    #[serde(borrow)]
    pub code: Cow<'a, str>,
}

impl Incoming<'_> {
    /// The error code of a failed reply, `"?"` when the server sent none.
    pub fn error_code(&self) -> &str {
        self.error.as_ref().map_or("?", |e| &e.code)
    }
}

/// Why a frame could not be appended.
#[derive(Debug)]
pub enum EncodeError {
    Json(serde_json::Error),
    TooLarge { len: usize, max: usize },
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeError::Json(e) => write!(f, "cannot encode frame: {e}"),
            EncodeError::TooLarge { len, max } => write!(f, "frame of {len} bytes exceeds max_frame {max}"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Appends `value` to `buf` as one frame (header and JSON payload), exactly as
/// `chat_proto::encode_frame` would write it. On failure `buf` is left as it was.
pub fn encode_into<T: Serialize + ?Sized>(
    buf: &mut BytesMut,
    value: &T,
    max_frame: usize,
) -> Result<(), EncodeError> {
    let start = buf.len();
    buf.put_u32(0);
    if let Err(e) = serde_json::to_writer((&mut *buf).writer(), value) {
        buf.truncate(start);
        return Err(EncodeError::Json(e));
    }
    let len = buf.len() - start - HEADER_LEN;
    let header = match u32::try_from(len) {
        Ok(header) if len <= max_frame => header,
        _ => {
            buf.truncate(start);
            return Err(EncodeError::TooLarge { len, max: max_frame });
        }
    };
    buf[start..start + HEADER_LEN].copy_from_slice(&header.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use chat_proto::envelope::OutgoingRequest;
    use chat_proto::model::Target;
    use chat_proto::request::{Ping, Request, Send};

    use super::*;

    #[test]
    fn encodes_like_chat_proto() {
        let send: Request = Send {
            to: Target::User("bob".into()),
            body: "12:3:4".into(),
            client_msg_id: None,
            file_id: None,
        }
        .into();
        let ping: Request = Ping {}.into();
        let mut buf = BytesMut::new();
        encode_into(&mut buf, &OutgoingRequest { id: 7, request: &send }, 1 << 20).unwrap();
        encode_into(&mut buf, &OutgoingRequest { id: 8, request: &ping }, 1 << 20).unwrap();
        let mut expected =
            chat_proto::encode_frame(&OutgoingRequest { id: 7, request: &send }, 1 << 20).unwrap().to_vec();
        expected.extend_from_slice(
            &chat_proto::encode_frame(&OutgoingRequest { id: 8, request: &ping }, 1 << 20).unwrap(),
        );
        assert_eq!(&buf[..], &expected[..]);
    }

    #[test]
    fn oversize_leaves_buffer_untouched() {
        let mut buf = BytesMut::from(&b"abc"[..]);
        let err = encode_into(&mut buf, &"x".repeat(100), 10).unwrap_err();
        assert!(matches!(err, EncodeError::TooLarge { .. }));
        assert_eq!(&buf[..], b"abc");
    }

    #[test]
    fn reads_a_message_event_without_copying_the_body() {
        let frame = br#"{"event":"message","message":{"msg_id":9,"seq":2,"from":"a","from_id":1,
            "to":{"user":"b"},"body":"5:0:1","ts":1,"kind":"text"}}"#;
        let f: Incoming = serde_json::from_slice(frame).unwrap();
        assert_eq!(f.event, Some(EventName::Message));
        let m = f.message.unwrap();
        assert!(matches!(m.body, Cow::Borrowed("5:0:1")));
        assert_eq!(m.seq, 2);
    }

    #[test]
    fn reads_replies_and_unknown_events() {
        let ok: Incoming =
            serde_json::from_slice(br#"{"re":4,"ok":true,"msg_id":1,"seq":1,"ts":2}"#).unwrap();
        assert_eq!((ok.re, ok.ok), (Some(4), Some(true)));
        let err: Incoming =
            serde_json::from_slice(br#"{"re":0,"ok":false,"error":{"code":"unavailable","message":"full"}}"#)
                .unwrap();
        assert_eq!(err.error_code(), "unavailable");
        let other: Incoming =
            serde_json::from_slice(br#"{"event":"group_member_left","group_id":1,"reason":"left"}"#).unwrap();
        assert_eq!(other.event, Some(EventName::Other));
    }
}
