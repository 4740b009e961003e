//! Broadcast with `PreparedMessage` (feature `bytes`): every server
//! connection sends the same frame for one prepared message, its payload
//! by reference. With `deflate`, the message is compressed once and that
//! form goes to the connections whose negotiation takes a message
//! compressed on its own (`server_no_context_takeover`, a 15-bit server
//! window); the others get it uncompressed. A real client decodes each.
//!
//! Connections are made through the opening handshake, in memory.

mod testkit;

use testkit::wire::{encode_frame, parse_frames};
use testkit::{filled, handshake};
use wsmachine::{Config, Connection, Event, MessageKind, PreparedMessage};

/// Members of the room.
const MEMBERS: usize = 50;

/// A prepared message and what it is: the frame's first byte and the payload.
struct Sample {
    prepared: PreparedMessage,
    first: u8,
    payload: Vec<u8>,
}

fn text(text: String) -> Sample {
    Sample {
        prepared: PreparedMessage::text(text.clone()),
        first: 0x81,
        payload: text.into_bytes(),
    }
}

fn binary(data: Vec<u8>) -> Sample {
    Sample {
        prepared: PreparedMessage::binary(data.clone()),
        first: 0x82,
        payload: data,
    }
}

/// Each kind, below and above the 512 bytes a server sends by reference,
/// in the 7-, 16- and 64-bit length forms; compressible and not.
fn samples() -> Vec<Sample> {
    vec![
        text("hello, room".into()),
        text("an announcement to every member of the room. ".repeat(50)),
        binary(filled(100, 1)),
        binary(filled(511, 2)),
        binary(filled(512, 3)),
        binary(b"0123456789abcdef".repeat(40)),
        binary(filled(70_000, 4)),
    ]
}

/// Writes out everything `conn` has queued through `pending_output_chunks`;
/// returns the bytes and where each piece came from.
fn written(conn: &mut Connection) -> (Vec<u8>, Vec<(*const u8, usize)>) {
    let mut bytes = Vec::new();
    let mut pieces = Vec::new();
    loop {
        let mut chunks: [&[u8]; 4] = [&[]; 4];
        let n = conn.pending_output_chunks(&mut chunks);
        if n == 0 {
            return (bytes, pieces);
        }
        let before = bytes.len();
        for chunk in &chunks[..n] {
            bytes.extend_from_slice(chunk);
            pieces.push((chunk.as_ptr(), chunk.len()));
        }
        let len = bytes.len() - before;
        conn.consume_output(len);
    }
}

/// The message `client` decodes from `wire`.
fn decoded(client: &mut Connection, wire: &[u8]) -> (MessageKind, Vec<u8>) {
    client.receive(wire);
    let message = match client.next_event() {
        Some(Event::Text(text)) => (MessageKind::Text, text.as_bytes().to_vec()),
        Some(Event::Binary(data)) => (MessageKind::Binary, data.to_vec()),
        other => panic!("expected a message, got {other:?}"),
    };
    assert_eq!(client.next_event(), None);
    message
}

fn kind_of(first: u8) -> MessageKind {
    match first & 0x0F {
        0x1 => MessageKind::Text,
        _ => MessageKind::Binary,
    }
}

/// Sends `sample` from a member's server; its client must decode it.
/// Returns the wire bytes and their pieces.
fn broadcast(
    client: &mut Connection,
    server: &mut Connection,
    sample: &Sample,
) -> (Vec<u8>, Vec<(*const u8, usize)>) {
    server.send_prepared(&sample.prepared).unwrap();
    let (wire, pieces) = written(server);
    let message = decoded(client, &wire);
    assert_eq!(message, (kind_of(sample.first), sample.payload.clone()));
    (wire, pieces)
}

/// Without permessage-deflate, every member gets the plain frame, byte for
/// byte the same, its payload (from 512 bytes) the prepared `Bytes` itself.
#[test]
fn every_member_gets_the_same_frame() {
    let config = Config::default();
    #[cfg(feature = "deflate")]
    let config = config.with_deflate(None);
    let mut room: Vec<(Connection, Connection)> = (0..MEMBERS)
        .map(|_| handshake(config.clone(), config.clone()))
        .collect();
    for sample in samples() {
        let prepared = &sample.prepared;
        assert_eq!(prepared.payload(), &sample.payload[..]);
        assert_eq!(prepared.kind(), kind_of(sample.first));
        for (client, server) in &mut room {
            assert_plain(&broadcast(client, server, &sample), &sample);
        }
    }
}

/// The plain frame went out, its payload by reference from 512 bytes.
fn assert_plain((wire, pieces): &(Vec<u8>, Vec<(*const u8, usize)>), sample: &Sample) {
    let len = sample.payload.len();
    assert_eq!(
        wire,
        &encode_frame(sample.first, &sample.payload, None),
        "{len} bytes"
    );
    let shared = pieces.contains(&(sample.prepared.payload().as_ptr(), len));
    assert_eq!(shared, len >= 512, "{len} bytes in pieces {pieces:?}");
}

/// A client masks a copy of the prepared payload, as for any message.
#[test]
fn a_client_sends_a_masked_copy() {
    let config = Config::default().with_mask_seed(Some(11));
    #[cfg(feature = "deflate")]
    let config = config.with_deflate(None);
    let (mut client, mut server) = handshake(config.clone(), config);
    for sample in samples() {
        client.send_prepared(&sample.prepared).unwrap();
        let (wire, pieces) = written(&mut client);
        assert!(!pieces
            .iter()
            .any(|p| p.0 == sample.prepared.payload().as_ptr()));
        let frames = parse_frames(&wire);
        assert_eq!(frames.len(), 1);
        assert!(frames[0].masked);
        assert_eq!(frames[0].payload.0, sample.payload);
        let message = decoded(&mut server, &wire);
        assert_eq!(message, (kind_of(sample.first), sample.payload));
    }
}

#[cfg(feature = "deflate")]
mod deflate {
    use super::*;
    use wsmachine::DeflateConfig;

    fn with_deflate(deflate: DeflateConfig) -> Config {
        Config::default()
            .with_deflate(Some(deflate))
            .with_mask_seed(Some(3))
    }

    /// `n` members whose negotiation came from these offers and limits.
    fn room(
        n: usize,
        client: DeflateConfig,
        server: DeflateConfig,
    ) -> Vec<(Connection, Connection)> {
        (0..n)
            .map(|_| {
                let pair = handshake(with_deflate(client.clone()), with_deflate(server.clone()));
                assert!(pair.1.deflate_params().is_some());
                pair
            })
            .collect()
    }

    /// The member's server compresses `text` itself; its client decodes it.
    fn own_message(client: &mut Connection, server: &mut Connection, text: &str) {
        server.send_text(text).unwrap();
        let (wire, _) = written(server);
        assert_eq!(wire[0], 0xC1, "the connection's own message is compressed");
        let message = decoded(client, &wire);
        assert_eq!(message, (MessageKind::Text, text.as_bytes().to_vec()));
    }

    /// Half the room asked for `server_no_context_takeover`, the other half
    /// got it from the server's configuration: every member gets the one
    /// compressed frame (RSV1 set), and decodes it to the message, also
    /// between messages the connection compressed itself.
    #[test]
    fn no_context_takeover_members_get_the_compressed_form() {
        let no_takeover = DeflateConfig {
            server_no_context_takeover: true,
            ..DeflateConfig::default()
        };
        let mut members = room(MEMBERS / 2, no_takeover.clone(), DeflateConfig::default());
        members.extend(room(MEMBERS / 2, DeflateConfig::default(), no_takeover));
        for (_, server) in &members {
            let params = server.deflate_params().unwrap();
            assert!(params.server_no_context_takeover);
            assert_eq!(params.server_max_window_bits, 15);
        }
        let own = "a message the connection compresses itself, ".repeat(20);
        for sample in samples() {
            let mut first_wire: Option<Vec<u8>> = None;
            for (client, server) in &mut members {
                own_message(client, server, &own);
                let (wire, _) = broadcast(client, server, &sample);
                let frames = parse_frames(&wire);
                assert_eq!(frames.len(), 1);
                if sample.payload.len() >= 32 {
                    assert_eq!(frames[0].first, sample.first | 0x40, "RSV1: compressed");
                    assert_ne!(frames[0].payload.0, sample.payload);
                }
                let first = first_wire.get_or_insert_with(|| wire.clone());
                assert_eq!(&wire, first, "every member gets the same frame");
            }
        }
    }

    /// With context takeover (the default) or a server window under 15
    /// bits, a message compressed on its own cannot be sent: members get
    /// the plain frame, RSV1 clear, and decode it, interleaved with
    /// messages the connection compresses with its running context.
    #[test]
    fn other_members_get_the_plain_form() {
        let small_window = DeflateConfig {
            server_no_context_takeover: true,
            server_max_window_bits: 10,
            ..DeflateConfig::default()
        };
        let mut members = room(
            MEMBERS / 2,
            DeflateConfig::default(),
            DeflateConfig::default(),
        );
        members.extend(room(MEMBERS / 2, small_window, DeflateConfig::default()));
        let own = [
            "the first message this connection compresses, ".repeat(20),
            "the second, which refers back to the first one, ".repeat(20),
        ];
        for sample in samples() {
            for (client, server) in &mut members {
                for own in &own {
                    own_message(client, server, own);
                    assert_plain(&broadcast(client, server, &sample), &sample);
                }
            }
        }
    }
}
