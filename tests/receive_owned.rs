//! Receiving into a buffer of the caller's (`receive_owned`): the bytes are
//! kept where they are when nothing is buffered, so owned payloads share the
//! caller's allocation; the connection lets its part go once the bytes are
//! consumed; and whatever mix of `receive_owned`, `receive` and
//! `receive_buffer` the reads take, the events are the ones `receive` gives.

mod testkit;

use bytes::BytesMut;
use proptest::prelude::*;
use testkit::wire::encode_frame;
use wsmachine::{Config, Connection, Error, Message, OwnedEvent, ReceiveMode, Role};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn server() -> Connection {
    Connection::upgraded(Role::Server, Config::default()).unwrap()
}

/// A shared buffer holding `wire` after `before` bytes of another reader's.
fn shared_after(before: usize, wire: &[u8]) -> BytesMut {
    let mut shared = BytesMut::with_capacity(64 * 1024);
    shared.extend_from_slice(&vec![0; before]);
    shared.extend_from_slice(wire);
    shared
}

fn within(inner: &[u8], outer_start: *const u8, outer_len: usize) -> bool {
    let start = outer_start as usize;
    let at = inner.as_ptr() as usize;
    at >= start && at + inner.len() <= start + outer_len
}

#[test]
fn a_whole_frame_is_unmasked_in_place_and_its_payload_shares_the_buffer() {
    for (first, payload) in [
        (0x82, vec![7u8; 10_000]),
        (0x81, "héllo wörld ".repeat(800).into_bytes()),
    ] {
        let wire = encode_frame(first, &payload, Some(KEY));
        let mut shared = shared_after(100, &wire);
        let (start, len) = (shared.as_ptr(), shared.len());
        let _other_reader = shared.split_to(100);
        let mut conn = server();
        conn.receive_owned(shared.split_to(wire.len()));
        let got = match conn.next_owned_event() {
            Some(OwnedEvent::Message(Message::Binary(bytes))) => bytes,
            Some(OwnedEvent::Message(Message::Text(text))) => text.into_bytes(),
            other => panic!("a message, got {other:?}"),
        };
        assert_eq!(got, payload);
        assert!(within(&got, start, len), "the payload was copied");
        assert_eq!(conn.buffered_input(), 0);
        assert!(conn.next_owned_event().is_none());
    }
}

#[test]
fn the_connection_lets_its_part_go_once_it_is_consumed() {
    let wire = encode_frame(0x82, &[1; 5000], Some(KEY));
    let mut shared = shared_after(0, &wire);
    let mut conn = server();
    conn.receive_owned(shared.split_to(wire.len()));
    let Some(OwnedEvent::Message(Message::Binary(payload))) = conn.next_owned_event() else {
        panic!("a binary message");
    };
    // The payload handed out holds the allocation; nothing else does.
    assert!(
        !shared.try_reclaim(64 * 1024),
        "reclaimed while the payload lives"
    );
    drop(payload);
    assert!(conn.next_owned_event().is_none());
    assert!(
        shared.try_reclaim(64 * 1024),
        "the idle connection still holds a part"
    );
    // An empty part (still a share of the allocation) is not kept.
    shared.extend_from_slice(b"x");
    let mut empty = shared.split();
    empty.clear();
    conn.receive_owned(empty);
    assert!(shared.try_reclaim(64 * 1024), "an empty part is kept");
}

#[test]
fn a_frame_cut_by_the_read_continues_in_a_buffer_of_the_connections_own() {
    let payload: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let wire = encode_frame(0x82, &payload, Some(KEY));
    let mut shared = shared_after(0, &wire[..20_000]);
    let mut conn = server();
    conn.receive_owned(shared.split());
    assert!(conn.next_owned_event().is_none());
    // The partial frame does not pin the shared allocation once more room
    // was needed.
    conn.receive(&wire[20_000..]);
    assert!(
        shared.try_reclaim(64 * 1024),
        "the partial frame still holds the part"
    );
    match conn.next_owned_event() {
        Some(OwnedEvent::Message(Message::Binary(bytes))) => assert_eq!(bytes, payload),
        other => panic!("the message, got {other:?}"),
    }
}

#[test]
fn invalid_utf8_in_an_adopted_frame_fails_with_1007() {
    let wire = encode_frame(0x81, b"ok \xff\xfe not text", Some(KEY));
    let mut conn = server();
    conn.receive_owned(BytesMut::from(&wire[..]));
    assert_eq!(
        conn.next_owned_event(),
        Some(OwnedEvent::Failed(Error::InvalidUtf8))
    );
    let close = conn.pending_output().to_vec();
    assert_eq!(close[0], 0x88, "a Close frame");
    assert_eq!(&close[2..4], &1007u16.to_be_bytes(), "code 1007");
}

/// A short name for a payload: its length and a hash of its bytes.
fn digest(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{} bytes #{hash:016x}", bytes.len())
}

/// Every owned event, payloads by digest; a stream-mode message's chunks
/// (cut where the reads happened to end) joined into one entry.
fn drain(conn: &mut Connection, out: &mut Vec<String>, chunks: &mut Vec<u8>) {
    while let Some(event) = conn.next_owned_event() {
        out.push(match event {
            OwnedEvent::Message(Message::Text(text)) => format!("text {}", digest(text.as_bytes())),
            OwnedEvent::Message(Message::Binary(bytes)) => format!("binary {}", digest(&bytes)),
            OwnedEvent::Chunk { kind, data, last } => {
                chunks.extend_from_slice(&data);
                if !last {
                    continue;
                }
                let whole = core::mem::take(chunks);
                format!("chunks {kind:?} {}", digest(&whole))
            }
            other => format!("{other:?}"),
        });
    }
}

/// How one read reaches the connection.
#[derive(Clone, Copy, Debug)]
enum Read {
    Owned,
    Copied,
    Direct,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: testkit::case_count(96), ..ProptestConfig::default() })]

    #[test]
    fn any_mix_of_reads_gives_the_events_receive_gives(
        messages in proptest::collection::vec(
            (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..20_000), 1usize..4),
            1..6,
        ),
        reads in proptest::collection::vec(
            (1usize..12_000, prop_oneof![Just(Read::Owned), Just(Read::Copied), Just(Read::Direct)]),
            1..24,
        ),
        stream_mode in any::<bool>(),
    ) {
        // Text messages as ASCII so fragments may cut anywhere; binary as is.
        let mut wire = Vec::new();
        for (text, payload, fragments) in &messages {
            let payload: Vec<u8> = if *text {
                payload.iter().map(|b| b'a' + b % 26).collect()
            } else {
                payload.clone()
            };
            let step = payload.len().div_ceil(*fragments).max(1);
            let pieces: Vec<&[u8]> = if payload.is_empty() { vec![&[][..]] } else { payload.chunks(step).collect() };
            for (i, piece) in pieces.iter().enumerate() {
                let opcode = if i > 0 { 0 } else if *text { 1 } else { 2 };
                let fin = if i + 1 == pieces.len() { 0x80 } else { 0 };
                wire.extend(encode_frame(fin | opcode, piece, Some(KEY)));
            }
            wire.extend(encode_frame(0x89, b"ping", Some(KEY)));
        }
        let mode = if stream_mode { ReceiveMode::Stream } else { ReceiveMode::Message };
        let config = Config::default().with_receive_mode(mode);

        let mut expected = Vec::new();
        let mut reference = Connection::upgraded(Role::Server, config.clone()).unwrap();
        reference.receive(&wire);
        drain(&mut reference, &mut expected, &mut Vec::new());

        let mut got = Vec::new();
        let mut chunks = Vec::new();
        let mut conn = Connection::upgraded(Role::Server, config).unwrap();
        let mut shared = BytesMut::new();
        let mut at = 0;
        for (len, how) in reads.iter().cycle() {
            if at == wire.len() {
                break;
            }
            let n = (*len).min(wire.len() - at);
            let bytes = &wire[at..at + n];
            match how {
                Read::Owned => {
                    shared.extend_from_slice(bytes);
                    conn.receive_owned(shared.split());
                }
                Read::Copied => conn.receive(bytes),
                Read::Direct => {
                    conn.receive_buffer(n)[..n].copy_from_slice(bytes);
                    conn.commit_received(n);
                }
            }
            at += n;
            drain(&mut conn, &mut got, &mut chunks);
        }
        prop_assert_eq!(got, expected);
        prop_assert_eq!(conn.buffered_input(), 0);
    }
}

#[test]
fn a_connection_grown_for_large_messages_copies_into_its_own_buffer() {
    let large: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let wire = encode_frame(0x82, &large, Some(KEY));
    let mut conn = server();
    conn.receive_owned(BytesMut::from(&wire[..64 * 1024]));
    conn.receive(&wire[64 * 1024..]);
    match conn.next_owned_event() {
        Some(OwnedEvent::Message(Message::Binary(bytes))) => assert_eq!(bytes, large),
        other => panic!("the large message, got {other:?}"),
    }
    // The next read is copied into the buffer that grew (kept by the
    // hysteresis), not taken in place: the shared buffer is free at once.
    let small = encode_frame(0x82, &[3; 10_000], Some(KEY));
    let mut shared = shared_after(0, &small);
    conn.receive_owned(shared.split_to(small.len()));
    assert!(
        shared.try_reclaim(64 * 1024),
        "the part was kept, not copied"
    );
    match conn.next_owned_event() {
        Some(OwnedEvent::Message(Message::Binary(bytes))) => assert_eq!(&bytes[..], &[3; 10_000]),
        other => panic!("the small message, got {other:?}"),
    }
}
