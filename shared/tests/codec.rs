//! The frame codec, byte for byte, and its behaviour on arbitrary input.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use bytes::{BufMut, BytesMut};
use chat_proto::codec::HEADER_LEN;
use chat_proto::{FrameCodec, FrameError, encode_frame};
use proptest::prelude::*;
use tokio_util::codec::Decoder;

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

#[test]
fn encodes_exact_bytes() {
    let bytes = encode_frame(&["ok", "好"], 1024).unwrap();
    assert_eq!(&bytes[..], "\x00\x00\x00\x0c[\"ok\",\"好\"]".as_bytes());
}

#[test]
fn encoder_refuses_payloads_above_max_frame() {
    let err = encode_frame(&"x".repeat(20), 10).unwrap_err();
    assert!(matches!(err, FrameError::TooLarge { len: 22, max: 10 }), "{err:?}");
    // exactly max_frame is fine
    assert!(encode_frame(&"x".repeat(8), 10).is_ok());
}

#[test]
fn decodes_exact_bytes() {
    let mut codec = FrameCodec::new(1024);
    let mut buf = BytesMut::from(&b"\x00\x00\x00\x0b{\"op\":\"hi\"}"[..]);
    let payload = codec.decode(&mut buf).unwrap().unwrap();
    assert_eq!(&payload[..], b"{\"op\":\"hi\"}");
    assert!(buf.is_empty());
    assert!(codec.decode(&mut buf).unwrap().is_none());
}

#[test]
fn zero_length_frame_yields_empty_payload() {
    let mut codec = FrameCodec::new(1024);
    let mut buf = BytesMut::from(&b"\x00\x00\x00\x00\x00\x00\x00\x02{}"[..]);
    assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"");
    assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"{}");
}

#[test]
fn frame_split_byte_by_byte() {
    let mut codec = FrameCodec::new(1024);
    let wire = frame(br#"{"id":1,"op":"ping"}"#);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for b in &wire {
        buf.put_u8(*b);
        if let Some(p) = codec.decode(&mut buf).unwrap() {
            out.push(p);
        }
    }
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0][..], br#"{"id":1,"op":"ping"}"#);
}

#[test]
fn many_frames_in_one_read() {
    let mut codec = FrameCodec::new(1024);
    let mut wire = Vec::new();
    for i in 0..50 {
        wire.extend(frame(format!("{{\"id\":{i}}}").as_bytes()));
    }
    let mut buf = BytesMut::from(&wire[..]);
    let mut n = 0;
    while let Some(p) = codec.decode(&mut buf).unwrap() {
        assert_eq!(p, format!("{{\"id\":{n}}}").as_bytes());
        n += 1;
    }
    assert_eq!(n, 50);
}

#[test]
fn oversized_header_is_refused_before_the_payload_arrives() {
    let mut codec = FrameCodec::new(1024);
    // Only the header: the payload it announces is never needed to decide.
    let mut buf = BytesMut::from(&1025u32.to_be_bytes()[..]);
    let err = codec.decode(&mut buf).unwrap_err();
    assert!(matches!(err, FrameError::TooLarge { len: 1025, max: 1024 }), "{err:?}");
    assert!(buf.capacity() < 1025, "payload space must not be reserved");

    let mut codec = FrameCodec::new(1024);
    let mut buf = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
    assert!(matches!(codec.decode(&mut buf), Err(FrameError::TooLarge { len: 4294967295, .. })));
}

#[test]
fn max_frame_itself_is_accepted() {
    let mut codec = FrameCodec::new(16);
    let mut buf = BytesMut::from(&frame(&[b'x'; 16])[..]);
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap().len(), 16);
}

proptest! {
    /// Arbitrary bytes in arbitrary chunks: the decoder never panics, never yields a
    /// payload above max_frame, and never holds more than one partial frame
    /// (header + at most max_frame bytes) once it has consumed what it can.
    #[test]
    fn decoder_never_panics_or_overbuffers(
        data in proptest::collection::vec(any::<u8>(), 0..4096),
        cuts in proptest::collection::vec(1usize..64, 1..64),
        max_frame in 1usize..256,
    ) {
        let mut codec = FrameCodec::new(max_frame);
        let mut buf = BytesMut::new();
        let mut rest = &data[..];
        let mut cut = cuts.iter().cycle();
        'feed: while !rest.is_empty() {
            let n = (*cut.next().unwrap()).min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(p)) => prop_assert!(p.len() <= max_frame),
                    Ok(None) => {
                        prop_assert!(buf.len() < HEADER_LEN + max_frame);
                        prop_assert!(buf.capacity() <= 2 * (HEADER_LEN + max_frame) + 64);
                        break;
                    }
                    Err(FrameError::TooLarge { len, max }) => {
                        prop_assert!(len > max as u64);
                        prop_assert_eq!(max, max_frame);
                        break 'feed;
                    }
                    Err(e) => prop_assert!(false, "unexpected error {e:?}"),
                }
            }
        }
    }

    /// Whatever is encoded decodes to the same payload, however it is split.
    #[test]
    fn roundtrip_any_split(text in ".{0,200}", cut in 1usize..300) {
        let bytes = encode_frame(&text, 1024).unwrap();
        let mut codec = FrameCodec::new(1024);
        let mut buf = BytesMut::new();
        let cut = cut.min(bytes.len());
        buf.extend_from_slice(&bytes[..cut]);
        let first = codec.decode(&mut buf).unwrap();
        buf.extend_from_slice(&bytes[cut..]);
        let payload = match first { Some(p) => p, None => codec.decode(&mut buf).unwrap().unwrap() };
        let back: String = serde_json::from_slice(&payload).unwrap();
        prop_assert_eq!(back, text);
    }
}
