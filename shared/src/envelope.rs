//! The envelope: how a request, a reply and an event look on the wire, and the
//! exact rules for turning a received payload into a typed request.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::MAX_ID;
use crate::error::{ErrorBody, ErrorCode};
use crate::event::Event;
use crate::request::{OP_NAMES, Request};

/// A request that could not be accepted, with the `re` its error reply must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// The request's id when the payload was an object with a valid id, else 0.
    pub re: u64,
    pub error: ErrorBody,
}

impl RequestError {
    fn new(re: u64, code: ErrorCode, message: impl Into<String>) -> Self {
        Self { re, error: ErrorBody::new(code, message) }
    }
}

/// Reads a request payload as the contract's Precise rules say: a JSON object with an
/// integer `id` in 1 ..= 2^53-1 and a string `op` naming a known op, whose fields
/// match that op, with every id and count field in range ([`crate::bounds`]).
pub fn parse_request(payload: &[u8]) -> Result<(u64, Request), RequestError> {
    if payload.is_empty() {
        return Err(RequestError::new(0, ErrorCode::BadRequest, "empty frame"));
    }
    let value: Value = serde_json::from_slice(payload).map_err(|e| {
        RequestError::new(0, ErrorCode::BadRequest, format!("payload is not valid JSON: {e}"))
    })?;
    let Value::Object(map) = value else {
        return Err(RequestError::new(0, ErrorCode::BadRequest, "payload is not a JSON object"));
    };
    let id = match map.get("id").and_then(Value::as_u64) {
        Some(id) if (1..=MAX_ID).contains(&id) => id,
        _ => {
            return Err(RequestError::new(
                0,
                ErrorCode::BadRequest,
                "`id` must be an integer from 1 to 2^53-1",
            ));
        }
    };
    let op = match map.get("op") {
        Some(Value::String(op)) => op,
        _ => {
            return Err(RequestError::new(id, ErrorCode::BadRequest, "`op` must be a string"));
        }
    };
    if !OP_NAMES.contains(&op.as_str()) {
        let message = format!("unknown op `{}`", truncate(op, 64));
        return Err(RequestError::new(id, ErrorCode::UnknownOp, message));
    }
    crate::bounds::check(&map).map_err(|m| RequestError::new(id, ErrorCode::BadRequest, m))?;
    let request = Request::deserialize(Value::Object(map))
        .map_err(|e| RequestError::new(id, ErrorCode::BadRequest, format!("invalid fields: {e}")))?;
    Ok((id, request))
}

fn truncate(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A request as a client writes it: `{"id": .., "op": .., ...fields}`.
#[derive(Debug, Serialize)]
pub struct OutgoingRequest<'a> {
    pub id: u64,
    #[serde(flatten)]
    pub request: &'a Request,
}

/// A successful reply as the server writes it: `{"re": .., "ok": true, ...result}`.
#[derive(Debug, Serialize)]
pub struct OkReply<'a, T: Serialize> {
    pub re: u64,
    pub ok: bool,
    #[serde(flatten)]
    pub result: &'a T,
}

impl<'a, T: Serialize> OkReply<'a, T> {
    pub fn new(re: u64, result: &'a T) -> Self {
        Self { re, ok: true, result }
    }
}

/// A failed reply: `{"re": .., "ok": false, "error": {"code": .., "message": ..}}`.
#[derive(Debug, Serialize)]
pub struct ErrReply<'a> {
    pub re: u64,
    pub ok: bool,
    pub error: &'a ErrorBody,
}

impl<'a> ErrReply<'a> {
    pub fn new(re: u64, error: &'a ErrorBody) -> Self {
        Self { re, ok: false, error }
    }
}

/// Any frame a client receives from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerFrame {
    /// A reply to request `re`: its result fields, or its error.
    Reply { re: u64, result: Result<Map<String, Value>, ErrorBody> },
    /// A pushed event.
    Event(Event),
    /// An event this crate does not know (a newer server); clients ignore it.
    UnknownEvent(Map<String, Value>),
}

/// Why a server frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ServerFrameError {
    #[error("server frame is not a JSON object: {0}")]
    Json(#[from] serde_json::Error),
    #[error("server frame has neither `re` nor `event`")]
    Neither,
    #[error("malformed reply: {0}")]
    Reply(String),
}

impl ServerFrame {
    /// Tells a reply (`re`) from an event (`event`), as the Envelope section says.
    pub fn parse(payload: &[u8]) -> Result<Self, ServerFrameError> {
        let mut map: Map<String, Value> = serde_json::from_slice(payload)?;
        if let Some(re) = map.remove("re") {
            let re = re.as_u64().ok_or_else(|| ServerFrameError::Reply("`re` is not an integer".into()))?;
            let ok = map.remove("ok").and_then(|v| v.as_bool());
            return match ok {
                Some(true) => Ok(ServerFrame::Reply { re, result: Ok(map) }),
                Some(false) => {
                    let error =
                        map.remove("error").ok_or_else(|| ServerFrameError::Reply("no `error`".into()))?;
                    let error: ErrorBody =
                        serde_json::from_value(error).map_err(|e| ServerFrameError::Reply(e.to_string()))?;
                    Ok(ServerFrame::Reply { re, result: Err(error) })
                }
                None => Err(ServerFrameError::Reply("`ok` is not a boolean".into())),
            };
        }
        if map.contains_key("event") {
            return match Event::deserialize(Value::Object(map.clone())) {
                Ok(event) => Ok(ServerFrame::Event(event)),
                Err(_) => Ok(ServerFrame::UnknownEvent(map)),
            };
        }
        Err(ServerFrameError::Neither)
    }
}

/// Reads a reply's result fields as the op's typed result.
pub fn result_as<T: DeserializeOwned>(fields: Map<String, Value>) -> Result<T, serde_json::Error> {
    serde_json::from_value(Value::Object(fields))
}
