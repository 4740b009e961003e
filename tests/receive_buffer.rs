//! Zero-copy receive (`receive_buffer` + `commit_received`) hands out exactly
//! what `receive` does, for any read sizes, and keeps working across the
//! buffer's compaction and growth.

mod testkit;

use proptest::prelude::*;
use wsmachine::{Config, Connection, Event, ReceiveMode, Role};

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
    // After the close, committed bytes are ignored.
    let buffer = server.receive_buffer(2);
    buffer[..2].copy_from_slice(&[0x81, 0x00]);
    server.commit_received(2);
    assert_eq!(server.next_event(), None);
}
