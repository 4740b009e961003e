//! permessage-deflate (RFC 7692): every negotiation rule, RSV1 rules, context
//! takeover, bounded inflation, and round trips through compressing peers.
#![cfg(feature = "deflate")]

mod testkit;

use flate2::{Compress, Compression, FlushCompress};
use proptest::prelude::*;
use testkit::pump;
use wsmachine::handshake::accept_key;
use wsmachine::{
    Accept, ClientRequest, CloseCode, Config, Connection, DeflateConfig, Error, Event, MessageKind,
    ReadyState, ReceiveMode, Role,
};

fn request_with(extensions: &str) -> String {
    let mut request = String::from(
        "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
    );
    if !extensions.is_empty() {
        request.push_str(&format!("Sec-WebSocket-Extensions: {extensions}\r\n"));
    }
    request.push_str("\r\n");
    request
}

/// The server's Sec-WebSocket-Extensions answer to `offer`, and the server.
fn negotiate(offer: &str, config: Config) -> (Option<String>, Connection) {
    let mut server = Connection::server(config);
    server.receive(request_with(offer).as_bytes());
    assert!(matches!(
        server.next_event(),
        Some(Event::HandshakeRequest(_))
    ));
    server.accept(Accept::new()).unwrap();
    let response = String::from_utf8(server.pending_output().to_vec()).unwrap();
    server.consume_output(response.len());
    let header = response
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Extensions: "))
        .map(str::to_owned);
    (header, server)
}

fn with_deflate(deflate: DeflateConfig) -> Config {
    Config::default().with_deflate(Some(deflate))
}

#[test]
fn server_accepts_the_plain_offer() {
    let (header, server) = negotiate("permessage-deflate", Config::default());
    assert_eq!(header.as_deref(), Some("permessage-deflate"));
    let params = server.deflate_params().unwrap();
    assert_eq!(
        (params.server_max_window_bits, params.client_max_window_bits),
        (15, 15)
    );
}

#[test]
fn server_window_and_takeover_parameters() {
    let cases: &[(&str, DeflateConfig, Option<&str>)] = &[
        // The client's limit on our window is honoured.
        (
            "permessage-deflate; server_max_window_bits=10",
            DeflateConfig::default(),
            Some("permessage-deflate; server_max_window_bits=10"),
        ),
        // Quoted values are allowed.
        (
            "permessage-deflate; server_max_window_bits=\"12\"",
            DeflateConfig::default(),
            Some("permessage-deflate; server_max_window_bits=12"),
        ),
        // We may always announce a smaller window of our own.
        (
            "permessage-deflate",
            DeflateConfig {
                server_max_window_bits: 11,
                ..DeflateConfig::default()
            },
            Some("permessage-deflate; server_max_window_bits=11"),
        ),
        // We may limit the client's window only if it said it can.
        (
            "permessage-deflate; client_max_window_bits",
            DeflateConfig {
                client_max_window_bits: 10,
                ..DeflateConfig::default()
            },
            Some("permessage-deflate; client_max_window_bits=10"),
        ),
        (
            "permessage-deflate",
            DeflateConfig {
                client_max_window_bits: 10,
                ..DeflateConfig::default()
            },
            Some("permessage-deflate"),
        ),
        (
            "permessage-deflate; client_max_window_bits=9",
            DeflateConfig {
                client_max_window_bits: 12,
                ..DeflateConfig::default()
            },
            Some("permessage-deflate; client_max_window_bits=9"),
        ),
        // Context takeover: requested by the client, or forced by our config.
        (
            "permessage-deflate; server_no_context_takeover",
            DeflateConfig::default(),
            Some("permessage-deflate; server_no_context_takeover"),
        ),
        (
            "permessage-deflate; client_no_context_takeover",
            DeflateConfig::default(),
            Some("permessage-deflate; client_no_context_takeover"),
        ),
        (
            "permessage-deflate",
            DeflateConfig {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                ..DeflateConfig::default()
            },
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        ),
        // Malformed or duplicate parameters decline the offer; the next one is tried.
        (
            "permessage-deflate; server_max_window_bits=16, permessage-deflate",
            DeflateConfig::default(),
            Some("permessage-deflate"),
        ),
        (
            "permessage-deflate; server_max_window_bits=7",
            DeflateConfig::default(),
            None,
        ),
        (
            "permessage-deflate; server_max_window_bits=010",
            DeflateConfig::default(),
            None,
        ),
        (
            "permessage-deflate; server_max_window_bits",
            DeflateConfig::default(),
            None,
        ),
        (
            "permessage-deflate; client_max_window_bits=0",
            DeflateConfig::default(),
            None,
        ),
        (
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            DeflateConfig::default(),
            None,
        ),
        (
            "permessage-deflate; server_no_context_takeover=1",
            DeflateConfig::default(),
            None,
        ),
        (
            "permessage-deflate; mystery",
            DeflateConfig::default(),
            None,
        ),
        // Other extensions are not ours to accept.
        ("x-webkit-deflate-frame", DeflateConfig::default(), None),
        (
            "x-foo, permessage-deflate; client_no_context_takeover",
            DeflateConfig::default(),
            Some("permessage-deflate; client_no_context_takeover"),
        ),
    ];
    for (offer, config, expected) in cases {
        let (header, server) = negotiate(offer, with_deflate(config.clone()));
        assert_eq!(header.as_deref(), *expected, "offer {offer:?}");
        assert_eq!(server.deflate_params().is_some(), expected.is_some());
        assert_eq!(
            server.ready_state(),
            ReadyState::Open,
            "a declined offer still connects"
        );
    }
}

#[test]
fn disabled_or_declined_per_connection() {
    let (header, _) = negotiate("permessage-deflate", Config::default().with_deflate(None));
    assert_eq!(header, None);
    let mut server = Connection::server(Config::default());
    server.receive(request_with("permessage-deflate").as_bytes());
    server.next_event();
    server.accept(Accept::new().without_extensions()).unwrap();
    assert!(!String::from_utf8_lossy(server.pending_output()).contains("Extensions"));
}

/// Completes a client handshake with `extensions` as the server's answer.
fn client_with_answer(
    config: Config,
    extensions: &str,
) -> (Connection, Option<Event<'static>>, String) {
    let mut client = Connection::client(ClientRequest::new("a", "/"), config).unwrap();
    let head = String::from_utf8(client.pending_output().to_vec()).unwrap();
    client.consume_output(head.len());
    let key = head
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap();
    let offer = head
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Extensions: "))
        .unwrap_or_default()
        .to_owned();
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        accept_key(key.as_bytes())
    );
    if !extensions.is_empty() {
        response.push_str(&format!("Sec-WebSocket-Extensions: {extensions}\r\n"));
    }
    response.push_str("\r\n");
    client.receive(response.as_bytes());
    let failed = match client.next_event() {
        Some(Event::Failed(e)) => Some(Event::Failed(e)),
        Some(Event::Connected(_)) => None,
        other => panic!("{other:?}"),
    };
    (client, failed, offer)
}

#[test]
fn client_offer_and_response_rules() {
    let (client, failed, offer) = client_with_answer(Config::default(), "permessage-deflate");
    assert_eq!(offer, "permessage-deflate; client_max_window_bits");
    assert_eq!(failed, None);
    assert!(client.deflate_params().is_some());

    let config = with_deflate(DeflateConfig {
        server_max_window_bits: 10,
        server_no_context_takeover: true,
        ..DeflateConfig::default()
    });
    let (_, _, offer) = client_with_answer(
        config.clone(),
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
    );
    assert_eq!(offer, "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits");

    let bad: &[(Config, &str, Error)] = &[
        (
            Config::default(),
            "permessage-deflate; server_max_window_bits=16",
            Error::InvalidExtensionResponse,
        ),
        (
            Config::default(),
            "permessage-deflate; mystery",
            Error::InvalidExtensionResponse,
        ),
        (
            Config::default(),
            "permessage-deflate; client_max_window_bits",
            Error::InvalidExtensionResponse,
        ),
        (Config::default(), "x-foo", Error::UnofferedExtension),
        (
            Config::default(),
            "permessage-deflate, permessage-deflate",
            Error::UnofferedExtension,
        ),
        (
            Config::default().with_deflate(None),
            "permessage-deflate",
            Error::UnofferedExtension,
        ),
        // We asked for a 10-bit server window and no context takeover; more is a violation.
        (
            config.clone(),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=12",
            Error::InvalidExtensionResponse,
        ),
        (
            config,
            "permessage-deflate; server_max_window_bits=10",
            Error::InvalidExtensionResponse,
        ),
    ];
    for (config, answer, error) in bad {
        let (client, failed, _) = client_with_answer(config.clone(), answer);
        assert_eq!(failed, Some(Event::Failed(*error)), "answer {answer:?}");
        assert_eq!(client.ready_state(), ReadyState::Closed);
    }

    // A server that ignores the offer: no compression, no failure.
    let (client, failed, _) = client_with_answer(Config::default(), "");
    assert_eq!(failed, None);
    assert!(client.deflate_params().is_none());
    // The server limits our window: honoured.
    let (client, _, _) = client_with_answer(
        Config::default(),
        "permessage-deflate; client_max_window_bits=9",
    );
    assert_eq!(client.deflate_params().unwrap().client_max_window_bits, 9);
}

/// A client and a server that negotiated permessage-deflate through the handshake.
fn compressed_pair(
    client_config: DeflateConfig,
    server_config: DeflateConfig,
    mode: ReceiveMode,
) -> (Connection, Connection) {
    let client_config = Config::default()
        .with_deflate(Some(client_config))
        .with_mask_seed(Some(5))
        .with_receive_mode(mode);
    let server_config = Config::default()
        .with_deflate(Some(server_config))
        .with_receive_mode(mode);
    let (client, server) = testkit::handshake(client_config, server_config);
    assert!(client.deflate_params().is_some() && server.deflate_params().is_some());
    (client, server)
}

/// Whole messages from stream pieces or whole events alike.
#[derive(Default)]
struct Collector {
    partial: Option<(MessageKind, Vec<u8>)>,
}

impl Collector {
    fn drain(&mut self, conn: &mut Connection) -> Vec<(MessageKind, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(event) = conn.next_event() {
            let (kind, data, last) = match event {
                Event::Text(t) => (MessageKind::Text, t.as_bytes(), true),
                Event::Binary(b) => (MessageKind::Binary, b, true),
                Event::TextChunk { data, last } => (MessageKind::Text, data.as_bytes(), last),
                Event::BinaryChunk { data, last } => (MessageKind::Binary, data, last),
                Event::Ping(_) | Event::Pong { .. } => continue,
                other => panic!("unexpected {other:?}"),
            };
            let partial = self.partial.get_or_insert((kind, Vec::new()));
            assert_eq!(partial.0, kind, "one kind per message");
            partial.1.extend_from_slice(data);
            if last {
                out.push(self.partial.take().unwrap());
            }
        }
        out
    }
}

fn messages(conn: &mut Connection) -> Vec<(MessageKind, Vec<u8>)> {
    let mut collector = Collector::default();
    let out = collector.drain(conn);
    assert!(collector.partial.is_none(), "a message was left unfinished");
    out
}

#[test]
fn messages_are_compressed_per_message_with_rsv1() {
    let (mut client, mut server) = compressed_pair(
        DeflateConfig::default(),
        DeflateConfig::default(),
        ReceiveMode::Message,
    );
    let text = "compress me ".repeat(100);
    client.send_text(&text).unwrap();
    let wire = pump(&mut client, &mut server);
    assert_eq!(wire[0], 0xC1, "FIN + RSV1 + text");
    assert!(wire.len() < text.len() / 4);
    assert_eq!(
        messages(&mut server),
        vec![(MessageKind::Text, text.clone().into_bytes())]
    );
    // Below the threshold: sent as is, RSV1 clear, still fine.
    client.send_text("tiny").unwrap();
    let wire = pump(&mut client, &mut server);
    assert_eq!(wire[0], 0x81);
    assert_eq!(
        messages(&mut server),
        vec![(MessageKind::Text, b"tiny".to_vec())]
    );
    // Control frames are never compressed.
    server
        .send_ping(b"ping payload that is long enough to compress")
        .unwrap();
    let wire = pump(&mut server, &mut client);
    assert_eq!(wire[0], 0x89);
}

#[test]
fn context_takeover_carries_the_window_across_messages() {
    let text = "the same sentence, said again and again. ".repeat(20);
    let sizes = |client_cfg: DeflateConfig| {
        let (mut client, mut server) =
            compressed_pair(client_cfg, DeflateConfig::default(), ReceiveMode::Message);
        let mut sizes = Vec::new();
        for _ in 0..3 {
            client.send_text(&text).unwrap();
            sizes.push(pump(&mut client, &mut server).len());
            assert_eq!(
                messages(&mut server),
                vec![(MessageKind::Text, text.clone().into_bytes())]
            );
        }
        sizes
    };
    let with = sizes(DeflateConfig::default());
    assert!(
        with[1] < with[0] / 2,
        "second message refers to the first: {with:?}"
    );
    let without = sizes(DeflateConfig {
        client_no_context_takeover: true,
        ..DeflateConfig::default()
    });
    assert_eq!(
        without[0], without[1],
        "each message stands alone: {without:?}"
    );
}

#[test]
fn an_8_bit_window_is_honoured_by_not_compressing() {
    let (header, mut server) = negotiate(
        "permessage-deflate; server_max_window_bits=8",
        Config::default(),
    );
    assert_eq!(
        header.as_deref(),
        Some("permessage-deflate; server_max_window_bits=8")
    );
    server.send_text(&"x".repeat(1000)).unwrap();
    assert_eq!(server.pending_output()[0], 0x81, "sent uncompressed");
}

#[test]
fn rsv1_rules() {
    let (mut client, _) = compressed_pair(
        DeflateConfig::default(),
        DeflateConfig::default(),
        ReceiveMode::Message,
    );
    // RSV1 on a continuation frame, a control frame: 1002.
    for frame in [vec![0x01, 0x01, b'a', 0xC0, 0x01, b'b'], vec![0xC9, 0x00]] {
        let (mut c, _) = compressed_pair(
            DeflateConfig::default(),
            DeflateConfig::default(),
            ReceiveMode::Message,
        );
        c.receive(&frame);
        let last = std::iter::from_fn(|| c.next_event().map(|e| format!("{e:?}"))).last();
        assert_eq!(
            last.as_deref(),
            Some("Failed(ReservedBitsSet)"),
            "{frame:x?}"
        );
    }
    // Not negotiated: RSV1 anywhere is 1002.
    let mut plain =
        Connection::upgraded(Role::Client, Config::default().with_mask_seed(Some(1))).unwrap();
    plain.receive(&[0xC1, 0x01, b'a']);
    assert_eq!(
        plain.next_event(),
        Some(Event::Failed(Error::ReservedBitsSet))
    );
    // Garbage with RSV1: 1007.
    client.receive(&[0xC1, 0x04, 0xFF, 0xFF, 0xFF, 0xFF]);
    assert_eq!(
        client.next_event(),
        Some(Event::Failed(Error::InvalidCompressedData))
    );
    let out = client.pending_output();
    let key = [out[2], out[3], out[4], out[5]];
    assert_eq!([out[6] ^ key[0], out[7] ^ key[1]], 1007u16.to_be_bytes());
}

/// `copies` × 1 MiB of zeros as one compressed message (tail stripped).
fn zero_bomb(copies: usize) -> Vec<u8> {
    let mut compress = Compress::new(Compression::best(), false);
    let zeros = vec![0u8; 1 << 20];
    let mut out = Vec::with_capacity(copies * 1100 + 64);
    let mut block = Vec::new();
    for i in 0..copies {
        // From the second MiB on, each compressed block is the same: reuse it.
        if i >= 2 {
            out.extend_from_slice(&block);
            continue;
        }
        let start = out.len();
        out.reserve(1 << 16);
        compress
            .compress_vec(&zeros, &mut out, FlushCompress::Sync)
            .unwrap();
        block = out[start..].to_vec();
    }
    assert!(out.ends_with(&[0, 0, 0xFF, 0xFF]));
    out.truncate(out.len() - 4);
    out
}

fn server_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![first];
    match payload.len() {
        n @ 0..=125 => frame.push(n as u8),
        n @ 126..=0xFFFF => {
            frame.push(126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    frame
}

#[test]
fn a_compression_bomb_fails_with_1009_at_the_limit() {
    // ~1 MiB on the wire that would inflate to 1 GiB, in one frame: what it
    // inflates to passes the frame limit (16 MiB) first.
    let bomb = zero_bomb(1024);
    assert!(bomb.len() < 1_200_000, "{}", bomb.len());
    let (mut client, _) = compressed_pair(
        DeflateConfig::default(),
        DeflateConfig::default(),
        ReceiveMode::Message,
    );
    client.receive(&server_frame(0xC2, &bomb));
    assert_eq!(
        client.next_event(),
        Some(Event::Failed(Error::FrameTooLarge))
    );
    let out = client.pending_output();
    assert_eq!(out[0], 0x88);
    let key = [out[2], out[3], out[4], out[5]];
    assert_eq!([out[6] ^ key[0], out[7] ^ key[1]], 1009u16.to_be_bytes());
    assert_eq!(client.buffered_input(), 0, "memory released");

    // Stream mode hands it out in bounded pieces instead.
    let (mut client, _) = compressed_pair(
        DeflateConfig::default(),
        DeflateConfig::default(),
        ReceiveMode::Stream,
    );
    client.receive(&server_frame(0xC2, &zero_bomb(8)));
    let mut total = 0;
    let mut last = false;
    while let Some(event) = client.next_event() {
        let Event::BinaryChunk { data, last: l } = event else {
            panic!("{event:?}")
        };
        assert!(data.len() <= 64 * 1024);
        assert!(data.iter().all(|&b| b == 0));
        total += data.len();
        last = l;
        assert!(client.buffered_input() <= 2 << 20);
    }
    assert!(last);
    assert_eq!(total, 8 << 20);
}

#[test]
fn stream_mode_text_chunks_end_on_characters() {
    let (mut client, mut server) = compressed_pair(
        DeflateConfig::default(),
        DeflateConfig::default(),
        ReceiveMode::Stream,
    );
    let text: String = "ünïcödé 😀 ".repeat(30_000);
    client.send_text(&text).unwrap();
    let wire = pump(&mut client, &mut server);
    assert_eq!(wire[0], 0xC1);
    let mut got = String::new();
    while let Some(event) = server.next_event() {
        let Event::TextChunk { data, .. } = event else {
            panic!()
        };
        got.push_str(data);
    }
    assert_eq!(got, text);
}

#[test]
fn closing_works_on_a_compressed_connection() {
    let (mut client, mut server) = compressed_pair(
        DeflateConfig::default(),
        DeflateConfig::low_memory(),
        ReceiveMode::Message,
    );
    client.close(CloseCode::NORMAL, "bye").unwrap();
    pump(&mut client, &mut server);
    assert_eq!(
        server.next_event(),
        Some(Event::Close {
            code: Some(CloseCode::NORMAL),
            reason: "bye"
        })
    );
    pump(&mut server, &mut client);
    assert_eq!(
        client.next_event(),
        Some(Event::Close {
            code: Some(CloseCode::NORMAL),
            reason: "bye"
        })
    );
}

#[derive(Debug, Clone)]
enum Send {
    Text(String),
    Binary(Vec<u8>),
    Fragments(bool, Vec<u8>, Vec<usize>),
}

fn send_strategy() -> impl Strategy<Value = Send> {
    prop_oneof![
        ".{0,300}".prop_map(Send::Text),
        "(abc|xyz|ü|😀){0,2000}".prop_map(Send::Text),
        proptest::collection::vec(any::<u8>(), 0..3000).prop_map(Send::Binary),
        proptest::collection::vec(0u8..4, 0..20000).prop_map(Send::Binary),
        (
            any::<bool>(),
            proptest::collection::vec(0u8..3, 0..3000),
            proptest::collection::vec(0usize..3000, 0..4)
        )
            .prop_map(|(t, d, c)| Send::Fragments(t, d, c)),
    ]
}

fn deflate_config_strategy() -> impl Strategy<Value = DeflateConfig> {
    (
        any::<bool>(),
        any::<bool>(),
        8u8..=15,
        8u8..=15,
        0u32..=9,
        0usize..100,
    )
        .prop_map(|(s, c, sb, cb, level, threshold)| DeflateConfig {
            server_no_context_takeover: s,
            client_no_context_takeover: c,
            server_max_window_bits: sb,
            client_max_window_bits: cb,
            level,
            threshold,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: testkit::case_count(96), ..ProptestConfig::default() })]

    /// Arbitrary messages through a compressing client and server, both
    /// directions, any parameters, any chunking, arrive identical.
    #[test]
    fn compressed_roundtrip(
        client_cfg in deflate_config_strategy(),
        server_cfg in deflate_config_strategy(),
        stream in any::<bool>(),
        sends in proptest::collection::vec((any::<bool>(), send_strategy()), 1..12),
        chunk in 1usize..5000,
    ) {
        let mode = if stream { ReceiveMode::Stream } else { ReceiveMode::Message };
        let (mut client, mut server) = compressed_pair(client_cfg, server_cfg, mode);
        let mut expected: [Vec<(MessageKind, Vec<u8>)>; 2] = [Vec::new(), Vec::new()];
        for (from_client, send) in &sends {
            let (sender, to) = if *from_client { (&mut client, 1) } else { (&mut server, 0) };
            match send {
                Send::Text(t) => { sender.send_text(t).unwrap(); expected[to].push((MessageKind::Text, t.clone().into_bytes())); }
                Send::Binary(b) => { sender.send_binary(b).unwrap(); expected[to].push((MessageKind::Binary, b.clone())); }
                Send::Fragments(text, data, cuts) => {
                    let data = if *text { String::from_utf8_lossy(data).into_owned().into_bytes() } else { data.clone() };
                    let kind = if *text { MessageKind::Text } else { MessageKind::Binary };
                    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
                    points.sort_unstable();
                    points.push(data.len());
                    let mut start = 0;
                    for (i, end) in points.iter().enumerate() {
                        sender.send_fragment(kind, &data[start..*end], i + 1 == points.len()).unwrap();
                        start = *end;
                    }
                    expected[to].push((kind, data));
                }
            }
        }
        let mut got: [Vec<(MessageKind, Vec<u8>)>; 2] = [Vec::new(), Vec::new()];
        let mut peers = [client, server];
        for from in [0usize, 1] {
            let to = 1 - from;
            let wire = peers[from].pending_output().to_vec();
            peers[from].consume_output(wire.len());
            let mut collector = Collector::default();
            for piece in wire.chunks(chunk) {
                peers[to].receive(piece);
                got[to].extend(collector.drain(&mut peers[to]));
            }
            prop_assert!(collector.partial.is_none());
        }
        let [client, server] = peers;
        prop_assert_eq!(&got[0], &expected[0]);
        prop_assert_eq!(&got[1], &expected[1]);
        prop_assert!(client.error().is_none() && server.error().is_none());
    }
}
