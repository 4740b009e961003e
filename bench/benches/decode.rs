//! Server-side decoding of client (masked) frames: wsmachine, tungstenite,
//! fastwebsockets and tokio-websockets in one criterion group per workload.
//!
//! How the comparison is made fair:
//! - The frames are built once, outside the timed loop, by an encoder of the
//!   bench's own (`common::push_frame`); all three decode the same bytes.
//! - Each library keeps ONE connection for the whole benchmark, so buffers are
//!   warm and no construction cost is timed. The input replays the same bytes
//!   every iteration; each iteration decodes exactly the messages in them, so
//!   it starts and ends on a frame boundary.
//! - The bytes arrive in reads of at most 64 KiB (`common::READ_CHUNK`), like a
//!   socket read with a 64 KiB buffer: wsmachine gets `receive(chunk)` per 64
//!   KiB and drains `next_event()` after each; tungstenite and fastwebsockets
//!   read from an in-memory stream that returns at most 64 KiB per read. Every
//!   library therefore copies the input once from the "socket" into its buffer.
//! - Every message is fully checked: unmasked, and for text UTF-8 validated.
//!   Payloads are passed to `black_box`.
//!   * wsmachine: default `Config` (message mode: whole messages, UTF-8 checked).
//!     With `--features owned`, `wsmachine/owned` takes the same messages
//!     with `next_owned_event` (the front-ends' call), and both rows use the
//!     `bytes` build.
//!   * tungstenite: `WebSocket::from_raw_socket(stream, Role::Server, None)`,
//!     `read()` per message; it validates text (single frame and fragmented).
//!   * fastwebsockets: `WebSocket::after_handshake(stream, Role::Server)` with
//!     its defaults (auto-close, auto-pong, auto-unmask on), `read_frame()` per
//!     message in a current-thread tokio runtime's `block_on` (one `block_on`
//!     per iteration, i.e. per batch of messages). Its `read_frame` validates a
//!     text frame only when it is final (`fin`), i.e. an unfragmented text
//!     message: fine for the single-frame cases. For the fragmented case it
//!     would check nothing, so there `FragmentCollector` is used, which
//!     reassembles the message and validates it incrementally, like the
//!     other two do.
//!   * tokio-websockets: `ServerBuilder::new().serve(stream)` (its defaults:
//!     UTF-8 checked, fragments reassembled; SIMD masking and validation),
//!     `next()` per message in the same kind of `block_on`.
//! - Text is mostly ASCII with ~10% multi-byte characters (`common::text`).

mod common;

use common::{
    binary, client_messages, fragmented_text, runtime, text, ReplayStream, OP_BINARY, OP_TEXT,
    READ_CHUNK,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::StreamExt as _;
use std::hint::black_box;
use tungstenite::protocol::Role as TRole;
use wsmachine::{Config, Connection, Event, Role};

/// One workload: the bytes of `messages` client messages.
struct Workload {
    name: &'static str,
    wire: Vec<u8>,
    messages: usize,
    /// Payload bytes per message.
    payload_len: usize,
    throughput: Throughput,
    /// Fragmented messages: fastwebsockets needs its `FragmentCollector`.
    fragmented: bool,
}

fn workloads() -> Vec<Workload> {
    let mut all = Vec::new();
    let mut add = |name, opcode, payload: Vec<u8>, messages, by_elements: bool| {
        let wire = client_messages(opcode, &payload, messages);
        all.push(Workload {
            name,
            wire,
            messages,
            payload_len: payload.len(),
            throughput: if by_elements {
                Throughput::Elements(messages as u64)
            } else {
                Throughput::Bytes((messages * payload.len()) as u64)
            },
            fragmented: false,
        });
    };
    add("text_16B", OP_TEXT, text(16).into_bytes(), 4096, true);
    add("binary_125B", OP_BINARY, binary(125), 1024, true);
    add("text_4KiB", OP_TEXT, text(4096).into_bytes(), 64, false);
    add("binary_4KiB", OP_BINARY, binary(4096), 64, false);
    add("text_1MiB", OP_TEXT, text(1 << 20).into_bytes(), 2, false);
    add("binary_1MiB", OP_BINARY, binary(1 << 20), 2, false);
    // A 64 KiB text message in 16 frames of 4 KiB, 4 messages per iteration.
    let message = text(64 * 1024);
    let one = fragmented_text(&message, 16);
    all.push(Workload {
        name: "text_64KiB_in_16_fragments",
        wire: one.repeat(4),
        messages: 4,
        payload_len: message.len(),
        throughput: Throughput::Bytes(4 * message.len() as u64),
        fragmented: true,
    });
    all
}

/// Drains every event; returns (messages, payload bytes) seen.
fn wsm_drain(conn: &mut Connection) -> (usize, usize) {
    let (mut messages, mut bytes) = (0, 0);
    while let Some(event) = conn.next_event() {
        match event {
            Event::Text(text) => bytes += black_box(text).len(),
            Event::Binary(data) => bytes += black_box(data).len(),
            other => panic!("unexpected event {other:?}"),
        }
        messages += 1;
    }
    (messages, bytes)
}

/// Drains every event as owned messages; returns (messages, payload bytes).
#[cfg(feature = "owned")]
fn wsm_drain_owned(conn: &mut Connection) -> (usize, usize) {
    use wsmachine::{Message, OwnedEvent};
    let (mut messages, mut bytes) = (0, 0);
    while let Some(event) = conn.next_owned_event() {
        match event {
            OwnedEvent::Message(Message::Text(text)) => bytes += black_box(text).as_str().len(),
            OwnedEvent::Message(Message::Binary(data)) => bytes += black_box(data).len(),
            other => panic!("unexpected event {other:?}"),
        }
        messages += 1;
    }
    (messages, bytes)
}

/// One iteration for wsmachine: the whole workload in 64 KiB reads.
fn wsm_iteration(conn: &mut Connection, wire: &[u8]) -> (usize, usize) {
    wsm_iteration_with(conn, wire, wsm_drain)
}

/// The same, each read's events drained by `drain`.
fn wsm_iteration_with(
    conn: &mut Connection,
    wire: &[u8],
    drain: fn(&mut Connection) -> (usize, usize),
) -> (usize, usize) {
    let (mut messages, mut bytes) = (0, 0);
    for chunk in wire.chunks(READ_CHUNK) {
        conn.receive(chunk);
        let (m, b) = drain(conn);
        messages += m;
        bytes += b;
    }
    (messages, bytes)
}

fn tung_message_len(message: &tungstenite::Message) -> usize {
    match message {
        tungstenite::Message::Text(text) => text.len(),
        tungstenite::Message::Binary(data) => data.len(),
        other => panic!("unexpected message {other:?}"),
    }
}

fn twss_message_len(message: &tokio_websockets::Message) -> usize {
    assert!(message.is_text() || message.is_binary());
    black_box(&message.as_payload()[..]).len()
}

fn fws_frame_len(frame: &fastwebsockets::Frame<'_>) -> usize {
    assert!(matches!(
        frame.opcode,
        fastwebsockets::OpCode::Text | fastwebsockets::OpCode::Binary
    ));
    black_box(&frame.payload[..]).len()
}

/// Proves the configurations above really validate UTF-8: each library must
/// reject invalid text, both as one frame and split across fragments.
fn check_utf8_is_validated(rt: &tokio::runtime::Runtime) {
    let mut bad = text(64).into_bytes();
    bad[40] = 0xff;
    let single = client_messages(OP_TEXT, &bad, 1);
    let mut split = Vec::new();
    common::push_frame(&mut split, false, OP_TEXT, &bad[..32], Some(common::KEY));
    common::push_frame(&mut split, true, 0, &bad[32..], Some(common::KEY));
    for (wire, fragmented) in [(&single, false), (&split, true)] {
        let mut conn = Connection::upgraded(Role::Server, Config::default()).unwrap();
        conn.receive(wire);
        assert!(matches!(conn.next_event(), Some(Event::Failed(_))));

        let stream = ReplayStream::once(wire);
        let mut ws = tungstenite::WebSocket::from_raw_socket(stream, TRole::Server, None);
        assert!(ws.read().is_err(), "tungstenite accepted invalid UTF-8");

        let stream = ReplayStream::once(wire);
        let ws = fastwebsockets::WebSocket::after_handshake(stream, fastwebsockets::Role::Server);
        let rejected = if fragmented {
            let mut ws = fastwebsockets::FragmentCollector::new(ws);
            rt.block_on(ws.read_frame()).is_err()
        } else {
            let mut ws = ws;
            rt.block_on(ws.read_frame()).is_err()
        };
        assert!(
            rejected,
            "fastwebsockets accepted invalid UTF-8 (fragmented: {fragmented})"
        );

        let mut ws = tokio_websockets::ServerBuilder::new().serve(ReplayStream::once(wire));
        let rejected = !matches!(rt.block_on(ws.next()), Some(Ok(_)));
        assert!(
            rejected,
            "tokio-websockets accepted invalid UTF-8 (fragmented: {fragmented})"
        );
    }
}

fn decode(c: &mut Criterion) {
    let rt = runtime();
    check_utf8_is_validated(&rt);
    for work in workloads() {
        let expected = (work.messages, work.messages * work.payload_len);
        let mut group = c.benchmark_group(format!("decode/{}", work.name));
        group.throughput(work.throughput.clone());
        if work.payload_len >= 1 << 20 {
            group.sample_size(30);
        }

        // wsmachine: an upgraded server connection fed 64 KiB at a time.
        let mut conn = Connection::upgraded(Role::Server, Config::default()).unwrap();
        assert_eq!(wsm_iteration(&mut conn, &work.wire), expected, "wsmachine");
        group.bench_function("wsmachine", |b| {
            b.iter(|| wsm_iteration(&mut conn, &work.wire))
        });

        #[cfg(feature = "owned")]
        {
            let mut conn = Connection::upgraded(Role::Server, Config::default()).unwrap();
            assert_eq!(
                wsm_iteration_with(&mut conn, &work.wire, wsm_drain_owned),
                expected,
                "owned"
            );
            group.bench_function("wsmachine/owned", |b| {
                b.iter(|| wsm_iteration_with(&mut conn, &work.wire, wsm_drain_owned))
            });
        }

        // tungstenite: read() per message over the replaying stream.
        let stream = ReplayStream::new(&work.wire, READ_CHUNK);
        let mut ws = tungstenite::WebSocket::from_raw_socket(stream, TRole::Server, None);
        let mut tung_iteration = || {
            let mut bytes = 0;
            for _ in 0..work.messages {
                let message = ws.read().unwrap();
                bytes += tung_message_len(black_box(&message));
            }
            (work.messages, bytes)
        };
        assert_eq!(tung_iteration(), expected, "tungstenite");
        group.bench_function("tungstenite", |b| b.iter(&mut tung_iteration));

        // fastwebsockets: read_frame() per message (FragmentCollector when the
        // messages are fragmented, so they are reassembled and UTF-8 checked).
        let stream = ReplayStream::new(&work.wire, READ_CHUNK);
        let ws = fastwebsockets::WebSocket::after_handshake(stream, fastwebsockets::Role::Server);
        if work.fragmented {
            let mut ws = fastwebsockets::FragmentCollector::new(ws);
            let mut fws_iteration = || {
                rt.block_on(async {
                    let mut bytes = 0;
                    for _ in 0..work.messages {
                        let frame = ws.read_frame().await.unwrap();
                        bytes += fws_frame_len(&frame);
                    }
                    (work.messages, bytes)
                })
            };
            assert_eq!(fws_iteration(), expected, "fastwebsockets");
            group.bench_function("fastwebsockets", |b| b.iter(&mut fws_iteration));
        } else {
            let mut ws = ws;
            let mut fws_iteration = || {
                rt.block_on(async {
                    let mut bytes = 0;
                    for _ in 0..work.messages {
                        let frame = ws.read_frame().await.unwrap();
                        bytes += fws_frame_len(&frame);
                    }
                    (work.messages, bytes)
                })
            };
            assert_eq!(fws_iteration(), expected, "fastwebsockets");
            group.bench_function("fastwebsockets", |b| b.iter(&mut fws_iteration));
        }

        // tokio-websockets: next() per message (fragments reassembled by it).
        let stream = ReplayStream::new(&work.wire, READ_CHUNK);
        let mut ws = tokio_websockets::ServerBuilder::new().serve(stream);
        let mut twss_iteration = || {
            rt.block_on(async {
                let mut bytes = 0;
                for _ in 0..work.messages {
                    let message = ws.next().await.unwrap().unwrap();
                    bytes += twss_message_len(&message);
                }
                (work.messages, bytes)
            })
        };
        assert_eq!(twss_iteration(), expected, "tokio-websockets");
        group.bench_function("tokio-websockets", |b| b.iter(&mut twss_iteration));
        group.finish();
    }
}

criterion_group!(benches, decode);
criterion_main!(benches);
