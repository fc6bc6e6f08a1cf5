//! The wire protocol of the chat system, version 1.
//!
//! Everything a peer needs to speak to the server: the length-prefixed frame codec
//! ([`codec`]), the envelope that wraps requests, replies and events ([`envelope`]),
//! typed requests and their results for every op of the contract ([`request`],
//! [`reply`]), server-pushed events ([`event`]), error codes ([`error`]), shared data
//! shapes ([`model`]) and the validation rules for names and passwords ([`validate`]).
//! No I/O happens here beyond the codec.

pub mod bounds;
pub mod codec;
pub mod envelope;
pub mod error;
pub mod event;
pub mod model;
pub mod reply;
pub mod request;
pub mod validate;

pub use codec::{FrameCodec, FrameError, encode_frame};
pub use envelope::{RequestError, ServerFrame, parse_request};
pub use error::{ErrorBody, ErrorCode};
pub use event::Event;
pub use request::{Call, Request};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest id (request ids and every entity id): 2^53 - 1, so that ids survive a trip
/// through an IEEE double in any JSON library.
pub const MAX_ID: u64 = (1 << 53) - 1;

/// The server's default largest frame payload, in bytes (1 MiB).
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;
