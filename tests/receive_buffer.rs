//! Zero-copy receive (`receive_buffer` + `commit_received`) hands out exactly
//! what `receive` does, for any read sizes, and keeps working across the
//! buffer's compaction and growth.

mod testkit;

use proptest::prelude::*;
use std::time::Duration;
use wsmachine::{Config, Connection, Event, ReadyState, ReceiveMode, Role, Timestamp};

fn messages(conn: &mut Connection, out: &mut Vec<Vec<u8>>) {
    while let Some(event) = conn.next_event() {
        match event {
            Event::Text(t) => out.push(t.as_bytes().to_vec()),
            Event::Binary(b) => out.push(b.to_vec()),
            Event::Ping(_) | Event::Pong { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: testkit::case_count(128), ..ProptestConfig::default() })]

    #[test]
    fn same_messages_as_receive(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..70_000), 1..8),
        reads in proptest::collection::vec((1usize..9000, 1usize..9000), 1..20),
    ) {
        let mut client = Connection::upgraded(Role::Client, Config::default().with_mask_seed(Some(9))).unwrap();
        let mut server = Connection::upgraded(Role::Server, Config::default()).unwrap();
        for payload in &payloads {
            client.send_binary(payload).unwrap();
            client.send_ping(b"between").unwrap();
        }
        let wire = client.pending_output().to_vec();
        let mut got = Vec::new();
        let mut at = 0;
        for (min, read) in reads.iter().cycle() {
            if at == wire.len() {
                break;
            }
            let buffer = server.receive_buffer(*min);
            prop_assert!(buffer.len() >= *min);
            // A read fills at most what the buffer offers.
            let n = (*read).min(buffer.len()).min(wire.len() - at);
            buffer[..n].copy_from_slice(&wire[at..at + n]);
            server.commit_received(n);
            at += n;
            messages(&mut server, &mut got);
        }
        prop_assert_eq!(got, payloads);
    }
}

#[test]
fn stream_mode_and_close_work_through_the_buffer() {
    let config = Config::default().with_receive_mode(ReceiveMode::Stream);
    let mut server = Connection::upgraded(Role::Server, config).unwrap();
    let mut client =
        Connection::upgraded(Role::Client, Config::default().with_mask_seed(Some(1))).unwrap();
    client.send_text(&"é".repeat(10_000)).unwrap();
    client.close(wsmachine::CloseCode::NORMAL, "").unwrap();
    let wire = client.pending_output().to_vec();
    let mut text = String::new();
    let mut closed = false;
    for piece in wire.chunks(777) {
        let buffer = server.receive_buffer(piece.len());
        buffer[..piece.len()].copy_from_slice(piece);
        server.commit_received(piece.len());
        while let Some(event) = server.next_event() {
            match event {
                Event::TextChunk { data, .. } => text.push_str(data),
                Event::Close { .. } => closed = true,
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(text, "é".repeat(10_000));
    assert!(closed);
    // After the close, received bytes are ignored: not even buffered.
    let buffered = server.buffered_input();
    let buffer = server.receive_buffer(2);
    buffer[..2].copy_from_slice(&[0x81, 0x00]);
    server.commit_received(2);
    server.receive(&[0x81, 0x00]);
    assert_eq!(server.buffered_input(), buffered);
    assert_eq!(server.next_event(), None);
}

/// A frame gets room for the rest of its payload at once only after it has
/// delivered 32 KiB of it; a large declared length alone reserves nothing.
#[test]
fn room_for_a_large_frame_follows_its_first_32_kib() {
    const LEN: usize = 1 << 20;
    const THRESHOLD: usize = 32 * 1024;
    let mut client =
        Connection::upgraded(Role::Client, Config::default().with_mask_seed(Some(3))).unwrap();
    let mut server = Connection::upgraded(Role::Server, Config::default()).unwrap();
    client.send_binary(&vec![7; LEN]).unwrap();
    let wire = client.pending_output().to_vec();
    let header = wire.len() - LEN;
    let mut delivered = 0;
    for piece in wire[..header + 40 * 1024].chunks(1000) {
        server.receive(piece);
        assert_eq!(server.next_event(), None);
        delivered += piece.len();
        let payload = delivered.saturating_sub(header);
        let room = server.receive_buffer(1).len();
        if payload + 1000 < THRESHOLD {
            assert!(room < LEN / 2, "{room} bytes of room after {payload}");
        } else if payload > THRESHOLD {
            assert!(
                room >= LEN - payload,
                "{room} bytes of room after {payload}"
            );
        }
    }
}

/// In stream mode the bytes of a character split between frames, carried to
/// the next frame, are not its payload: they do not count toward the 32 KiB.
#[test]
fn carried_bytes_do_not_count_toward_the_reserve() {
    const LEN: usize = (1 << 20) + 1;
    const THRESHOLD: usize = 32 * 1024;
    let config = Config::default().with_receive_mode(ReceiveMode::Stream);
    let mut server = Connection::upgraded(Role::Server, config).unwrap();
    // Masked with a zero key: "é" and the first byte of the next, then a
    // continuation with the rest of it and more, its header first.
    server.receive(&[0x01, 0x83, 0, 0, 0, 0, 0xC3, 0xA9, 0xC3]);
    let mut header = vec![0x80, 0xFF];
    header.extend_from_slice(&(LEN as u64).to_be_bytes());
    server.receive(&[header, vec![0; 4]].concat());
    match server.next_event() {
        Some(Event::TextChunk { data, .. }) => assert_eq!(data, "é"),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.next_event(), None);
    let payload = [&[0xA9][..], "é".repeat(LEN / 2).as_bytes()].concat();
    let mut delivered = 0;
    for (more, reserved) in [(THRESHOLD - 1, false), (2, true)] {
        server.receive(&payload[delivered..delivered + more]);
        delivered += more;
        let room = server.receive_buffer(1).len();
        assert_eq!(
            room + delivered >= LEN,
            reserved,
            "{room} after {delivered}"
        );
    }
}

/// Bytes that arrive once the connection has ended, or after the end of
/// input, are dropped, not buffered.
#[test]
fn bytes_after_the_end_are_not_buffered() {
    let config = Config::default()
        .with_close_timeout(Some(Duration::from_secs(4)))
        .with_ping_interval(None);
    let mut server = Connection::upgraded(Role::Server, config).unwrap();
    let at = |s| Timestamp::from_duration(Duration::from_secs(s));
    server.handle_timeout(at(1));
    server.close(wsmachine::CloseCode::NORMAL, "").unwrap();
    let written = server.pending_output().len();
    server.consume_output(written);
    // The close deadline is armed at 2 s, for 6 s; no Close comes.
    server.handle_timeout(at(2));
    server.handle_timeout(at(6));
    assert!(matches!(server.next_event(), Some(Event::Failed(_))));
    assert_eq!(server.ready_state(), ReadyState::Closed);
    server.receive(&[0x81, 0x80, 0, 0, 0, 0]);
    assert_eq!(server.buffered_input(), 0);

    let mut server = Connection::upgraded(Role::Server, Config::default()).unwrap();
    server.receive_eof();
    server.receive(&[0x81, 0x80, 0, 0, 0, 0]);
    let buffer = server.receive_buffer(1);
    buffer[0] = 0x81;
    server.commit_received(1);
    assert_eq!(server.buffered_input(), 0);
}

/// Reads into the buffer leave zeroed room behind; a frame that then
/// arrives by copy into the empty buffer is written into that room.
#[test]
fn copied_frames_use_the_room_left_by_reads() {
    let mut client =
        Connection::upgraded(Role::Client, Config::default().with_mask_seed(Some(7))).unwrap();
    let mut server = Connection::upgraded(Role::Server, Config::default()).unwrap();
    client.send_binary(&[1; 10]).unwrap();
    let wire = client.pending_output().to_vec();
    client.consume_output(wire.len());
    let buffer = server.receive_buffer(4096);
    buffer[..wire.len()].copy_from_slice(&wire);
    server.commit_received(wire.len());
    let mut got = Vec::new();
    messages(&mut server, &mut got);
    client.send_binary(&[2; 300]).unwrap();
    server.receive(client.pending_output());
    messages(&mut server, &mut got);
    assert_eq!(got, [vec![1; 10], vec![2; 300]]);
}

/// Large messages copied in one after another, in 64 KiB reads that run
/// from one into the next, are all read from the same memory: the buffer
/// is grown to what a message needs, not to twice that (which put every
/// other message in its second half, and twice the memory through the
/// cache).
#[test]
fn large_messages_in_a_row_reuse_the_same_memory() {
    let mut client =
        Connection::upgraded(Role::Client, Config::default().with_mask_seed(Some(5))).unwrap();
    let mut server = Connection::upgraded(Role::Server, Config::default()).unwrap();
    let payload = vec![9u8; 1 << 20];
    for _ in 0..6 {
        client.send_binary(&payload).unwrap();
    }
    let wire = client.pending_output().to_vec();
    let mut starts = Vec::new();
    for chunk in wire.chunks(64 * 1024) {
        server.receive(chunk);
        while let Some(event) = server.next_event() {
            let Event::Binary(bytes) = event else {
                panic!("a binary message, got {event:?}");
            };
            assert_eq!(bytes.len(), payload.len());
            starts.push(bytes.as_ptr() as usize);
        }
    }
    assert_eq!(starts.len(), 6);
    // Past the first message (the buffer grows for it), each starts where
    // the one before did, give or take the frame header moved with it.
    for pair in starts[1..].windows(2) {
        assert!(
            pair[0].abs_diff(pair[1]) < 64,
            "{:#x} then {:#x}",
            pair[0],
            pair[1]
        );
    }
}
