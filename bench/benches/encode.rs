//! Encoding binary messages into frames and writing them out, as a server
//! (unmasked) and as a client (masked, a fresh random key per frame):
//! wsmachine, tungstenite and fastwebsockets in one criterion group per case.
//!
//! How the comparison is made fair:
//! - One long-lived connection per library, warm buffers, no construction
//!   cost timed. Each iteration sends a batch of messages of the same payload.
//! - Every byte produced ends up in the same `common::CopySink`, which copies
//!   it into a preallocated buffer (the stand-in for the kernel copying into a
//!   socket buffer); a discarding sink would hide the cost of producing bytes
//!   for a library that writes the caller's payload straight through.
//! - Each library is used the way its API is meant to be used:
//!   * `wsmachine`: `send_binary` per message, then the whole
//!     `pending_output()` is written once per batch and `consume_output`
//!     called (one transport write per event-loop turn).
//!     `wsmachine/flush_each` writes and consumes after every message.
//!     With `--features owned`, `wsmachine/owned` calls `send(Message::Binary)`
//!     with a prebuilt `Bytes` cloned per message (what the tokio and blocking
//!     front-ends call; a server queues a payload of 512 bytes or more by
//!     reference), then writes the output's pieces once per batch.
//!     `wsmachine/send_vectored` uses `send_vectored`: the machine returns the
//!     header, the caller writes header + payload from its own buffer (one
//!     vectored write, no copy into the output queue; a client's payload is
//!     masked in place, so it gets the same re-masked scratch buffer as
//!     fastwebsockets below).
//!   * `tungstenite`: `write(Message::Binary)` per message (it buffers up to
//!     its 128 KiB write buffer), `flush()` at the end of the batch.
//!     `tungstenite/flush_each` calls `send` (write + flush) per message.
//!     The payload is a prebuilt `Bytes` cloned per message (a reference
//!     count, no copy): the cheapest way to hand it a message.
//!   * `fastwebsockets`: `write_frame` per message; it has no write buffering,
//!     each frame goes to the stream at once (payloads above 1 KiB with a
//!     vectored write of header + payload, so it never copies them itself).
//!     Server frames borrow the payload (`Payload::Borrowed`). Client frames
//!     are masked in place, so they get a mutable scratch buffer
//!     (`Payload::BorrowedMut`) that is re-masked every time: this spares
//!     fastwebsockets the copy + allocation a `Payload::Borrowed` would cost
//!     it, i.e. it is its best case (an application building each message
//!     into a buffer it gives away).
//! - wsmachine copies (and for clients masks in the same pass) each payload
//!   into its output queue; tungstenite copies into its write buffer and masks
//!   there.

mod common;

use common::{binary, runtime, CopySink, ReplayStream};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fastwebsockets::{Frame, Payload};
use std::hint::black_box;
use tungstenite::{protocol::Role as TRole, Bytes, Message};
use wsmachine::{Config, Connection, MessageKind, Role};

const CASES: [(usize, &str, usize); 3] = [
    (16, "16B", 1024),
    (125, "125B", 1024),
    (64 * 1024, "64KiB", 16),
];

fn frame_len(payload: usize, client: bool) -> u64 {
    let len = match payload {
        n if n < 126 => 2,
        n if n < 65536 => 4,
        _ => 10,
    };
    (len + if client { 4 } else { 0 } + payload) as u64
}

/// One batch of wsmachine `send_binary` calls and the transport write(s).
fn wsm_batch(
    conn: &mut Connection,
    sink: &mut CopySink,
    payload: &[u8],
    batch: usize,
    flush_each: bool,
) {
    for i in 0..batch {
        conn.send_binary(black_box(payload)).unwrap();
        if flush_each || i + 1 == batch {
            let n = conn.pending_output().len();
            sink.put(conn.pending_output());
            conn.consume_output(n);
        }
    }
}

/// One batch of wsmachine `send(Message::Binary)` calls, then every piece
/// of the output written once (the writer's vectored write).
#[cfg(feature = "owned")]
fn wsm_owned_batch(conn: &mut Connection, sink: &mut CopySink, bytes: &Bytes, batch: usize) {
    for _ in 0..batch {
        conn.send(wsmachine::Message::Binary(black_box(bytes).clone()))
            .unwrap();
    }
    loop {
        let mut chunks: [&[u8]; 64] = [&[]; 64];
        let count = conn.pending_output_chunks(&mut chunks);
        if count == 0 {
            break;
        }
        let mut written = 0;
        for chunk in &chunks[..count] {
            sink.put(chunk);
            written += chunk.len();
        }
        conn.consume_output(written);
    }
}

/// One batch of wsmachine `send_vectored` calls, each followed by the
/// vectored write of header + payload (two copies into the sink, like
/// fastwebsockets' writev below).
fn wsm_vectored_batch(
    conn: &mut Connection,
    sink: &mut CopySink,
    scratch: &mut [u8],
    batch: usize,
) {
    for _ in 0..batch {
        let head = conn
            .send_vectored(MessageKind::Binary, black_box(&mut *scratch))
            .unwrap();
        sink.put(head.as_ref());
        sink.put(scratch);
        conn.consume_output(head.len() + scratch.len());
    }
}

/// One batch of tungstenite `write` (or `send`) calls.
fn tung_batch(
    ws: &mut tungstenite::WebSocket<ReplayStream<'_>>,
    bytes: &Bytes,
    batch: usize,
    flush_each: bool,
) {
    for _ in 0..batch {
        let message = Message::Binary(black_box(bytes).clone());
        if flush_each {
            ws.send(message).unwrap();
        } else {
            ws.write(message).unwrap();
        }
    }
    if !flush_each {
        ws.flush().unwrap();
    }
}

/// One batch of fastwebsockets `write_frame` calls.
fn fws_batch(
    rt: &tokio::runtime::Runtime,
    ws: &mut fastwebsockets::WebSocket<ReplayStream<'_>>,
    batch: usize,
    client: bool,
    payload: &[u8],
    scratch: &mut [u8],
) {
    rt.block_on(async {
        for _ in 0..batch {
            let body = if client {
                Payload::BorrowedMut(black_box(&mut *scratch))
            } else {
                Payload::Borrowed(black_box(payload))
            };
            ws.write_frame(Frame::binary(body)).await.unwrap();
        }
        ws.flush().await.unwrap();
    })
}

fn encode(c: &mut Criterion) {
    let rt = runtime();
    for client in [false, true] {
        let side = if client { "client" } else { "server" };
        for (size, label, batch) in CASES {
            let payload = binary(size);
            let expected = batch as u64 * frame_len(size, client);
            let mut group = c.benchmark_group(format!("encode/{side}_{label}"));
            group.throughput(if size < 1024 {
                Throughput::Elements(batch as u64)
            } else {
                Throughput::Bytes((batch * size) as u64)
            });
            let role = if client { Role::Client } else { Role::Server };

            // wsmachine: one write per batch, or one per message.
            for flush_each in [false, true] {
                let mut conn = Connection::upgraded(role, Config::default()).unwrap();
                let mut sink = CopySink::new();
                wsm_batch(&mut conn, &mut sink, &payload, batch, flush_each);
                assert_eq!(sink.written, expected, "wsmachine {side} {label}");
                let name = if flush_each {
                    "wsmachine/flush_each"
                } else {
                    "wsmachine"
                };
                group.bench_function(name, |b| {
                    b.iter(|| wsm_batch(&mut conn, &mut sink, &payload, batch, flush_each))
                });
            }

            // wsmachine: owned messages, the front-ends' call.
            #[cfg(feature = "owned")]
            {
                let mut conn = Connection::upgraded(role, Config::default()).unwrap();
                let mut sink = CopySink::new();
                let bytes = Bytes::from(payload.clone());
                wsm_owned_batch(&mut conn, &mut sink, &bytes, batch);
                assert_eq!(sink.written, expected, "wsmachine/owned {side} {label}");
                group.bench_function("wsmachine/owned", |b| {
                    b.iter(|| wsm_owned_batch(&mut conn, &mut sink, &bytes, batch))
                });
            }

            // wsmachine: send_vectored, header from the machine, payload from
            // the caller's buffer (masked in place for a client).
            let mut conn = Connection::upgraded(role, Config::default()).unwrap();
            let mut sink = CopySink::new();
            let mut scratch = payload.clone();
            wsm_vectored_batch(&mut conn, &mut sink, &mut scratch, batch);
            assert_eq!(
                sink.written, expected,
                "wsmachine/send_vectored {side} {label}"
            );
            group.bench_function("wsmachine/send_vectored", |b| {
                b.iter(|| wsm_vectored_batch(&mut conn, &mut sink, &mut scratch, batch))
            });

            // tungstenite: buffered writes and one flush per batch, or send
            // (write + flush) per message.
            let trole = if client { TRole::Client } else { TRole::Server };
            let bytes = Bytes::from(payload.clone());
            for flush_each in [false, true] {
                let stream = ReplayStream::once(&[]);
                let mut ws = tungstenite::WebSocket::from_raw_socket(stream, trole, None);
                tung_batch(&mut ws, &bytes, batch, flush_each);
                assert_eq!(
                    ws.get_ref().sink.written,
                    expected,
                    "tungstenite {side} {label}"
                );
                let name = if flush_each {
                    "tungstenite/flush_each"
                } else {
                    "tungstenite"
                };
                group.bench_function(name, |b| {
                    b.iter(|| tung_batch(&mut ws, &bytes, batch, flush_each))
                });
            }

            // fastwebsockets: write_frame per message.
            let frole = if client {
                fastwebsockets::Role::Client
            } else {
                fastwebsockets::Role::Server
            };
            let mut scratch = payload.clone();
            let mut check =
                fastwebsockets::WebSocket::after_handshake(ReplayStream::once(&[]), frole);
            fws_batch(&rt, &mut check, batch, client, &payload, &mut scratch);
            let written = check.into_inner().sink.written;
            assert_eq!(written, expected, "fastwebsockets {side} {label}");
            let mut ws = fastwebsockets::WebSocket::after_handshake(ReplayStream::once(&[]), frole);
            let mut fws = || fws_batch(&rt, &mut ws, batch, client, &payload, &mut scratch);
            group.bench_function("fastwebsockets", |b| b.iter(&mut fws));
            group.finish();
        }
    }
}

criterion_group!(benches, encode);
criterion_main!(benches);
