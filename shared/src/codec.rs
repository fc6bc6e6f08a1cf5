//! Framing: a 4-byte big-endian length, then that many bytes of UTF-8 JSON.
//!
//! Decoding is tokio-util's [`LengthDelimitedCodec`]; this wrapper fixes its settings
//! to the contract's and turns its oversize error into a typed [`FrameError`] so that
//! the server can answer `frame_too_large` before closing. The length is checked as
//! soon as the 4 header bytes are in, so an oversized payload is never buffered.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use tokio_util::codec::{Decoder, LengthDelimitedCodec, length_delimited::LengthDelimitedCodecError};

/// Bytes of the length header.
pub const HEADER_LEN: usize = 4;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer announced (or we tried to write) a payload above the limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: u64, max: usize },
    /// A value could not be serialized to JSON.
    #[error("cannot encode frame: {0}")]
    Encode(#[from] serde_json::Error),
    /// The transport failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Decoder of length-prefixed frames with a maximum payload size.
///
/// Yields each payload as [`BytesMut`]; a 0-length frame yields an empty payload, which
/// the caller answers with `bad_request`.
#[derive(Debug)]
pub struct FrameCodec {
    inner: LengthDelimitedCodec,
    max_frame: usize,
    /// Length of the frame whose header was read last, kept to report an oversize one.
    pending_len: Option<u64>,
}

impl FrameCodec {
    /// A codec accepting payloads of `1 ..= max_frame` bytes (0-length frames too,
    /// which the envelope layer rejects).
    pub fn new(max_frame: usize) -> Self {
        let inner = LengthDelimitedCodec::builder()
            .big_endian()
            .length_field_length(HEADER_LEN)
            .max_frame_length(max_frame)
            .new_codec();
        Self { inner, max_frame, pending_len: None }
    }

    /// The largest payload this codec accepts.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Changes the largest payload accepted from the next frame header on (the
    /// server accepts less before login than after).
    pub fn set_max_frame(&mut self, max_frame: usize) {
        self.inner.set_max_frame_length(max_frame);
        self.max_frame = max_frame;
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        // Peek at the header ourselves only to report the announced length; the inner
        // codec does the real work (and the real check).
        if src.len() >= HEADER_LEN && self.pending_len.is_none() {
            let mut head = [0u8; HEADER_LEN];
            head.copy_from_slice(&src[..HEADER_LEN]);
            self.pending_len = Some(u64::from(u32::from_be_bytes(head)));
        }
        match self.inner.decode(src) {
            Ok(Some(frame)) => {
                self.pending_len = None;
                Ok(Some(frame))
            }
            Ok(None) => Ok(None),
            Err(e) if is_too_large(&e) => {
                Err(FrameError::TooLarge { len: self.pending_len.take().unwrap_or(0), max: self.max_frame })
            }
            Err(e) => Err(FrameError::Io(e)),
        }
    }
}

fn is_too_large(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<LengthDelimitedCodecError>())
}

/// Serializes `value` as one complete frame (header included), refusing payloads
/// above `max_frame`. The result can be written as is, or shared by many writers.
pub fn encode_frame<T: Serialize + ?Sized>(value: &T, max_frame: usize) -> Result<Bytes, FrameError> {
    let mut buf = BytesMut::with_capacity(128).writer();
    buf.get_mut().put_u32(0);
    serde_json::to_writer(&mut buf, value)?;
    let mut buf = buf.into_inner();
    let len = buf.len() - HEADER_LEN;
    if len > max_frame {
        return Err(FrameError::TooLarge { len: len as u64, max: max_frame });
    }
    let header = u32::try_from(len).map_err(|_| FrameError::TooLarge { len: len as u64, max: max_frame })?;
    buf[..HEADER_LEN].copy_from_slice(&header.to_be_bytes());
    Ok(buf.freeze())
}
