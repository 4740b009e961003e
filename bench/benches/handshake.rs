//! Server side of the opening handshake: from the bytes of a typical browser
//! upgrade request (Chromium's headers, as Chrome 131 sends them) to the bytes
//! of the 101 response.
//!
//! How the comparison is made fair:
//! - `wsmachine`: `Connection::server` + `receive` + `next_event`
//!   (the `HandshakeRequest` event) + `accept`, then the response is read from
//!   `pending_output`. Creating and dropping the connection is included, since
//!   the result is a connection ready for frames.
//! - `tungstenite/accept`: `tungstenite::accept` over an in-memory stream that
//!   delivers the request once and copies the response into a sink. Same
//!   scope as wsmachine's: it ends with a `WebSocket` ready for frames (which
//!   includes allocating its default 128 KiB read buffer).
//! - `tungstenite/parse_respond`: the lower bound of tungstenite's public API,
//!   no connection object: `Request::try_parse` (httparse into an
//!   `http::Request`), `create_response` (header checks, accept key) and
//!   `write_response` into a reused `Vec`.
//! - fastwebsockets is not measured: its server handshake
//!   (`fastwebsockets::upgrade::upgrade`, behind the `upgrade` feature) takes
//!   a request that hyper has already parsed and returns a hyper response for
//!   hyper to serialize, so the parsing and writing would be hyper's, and the
//!   number would measure hyper's HTTP/1 server rather than fastwebsockets.

mod common;

use common::ReplayStream;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use tungstenite::handshake::machine::TryParse;
use tungstenite::handshake::server::{create_response, write_response, Request};
use wsmachine::{Accept, Config, Connection, Event};

/// What Chromium sends for `new WebSocket("ws://localhost:8080/chat")` from a
/// page on the same origin.
const CHROMIUM_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: localhost:8080\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: http://localhost:8080\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Cookie: session=4f2a9c1e7b3d; theme=dark\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
\r\n";

/// The accept value every contender must send for the key above (RFC 6455 §1.3).
const ACCEPT: &[u8] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn wsmachine_handshake() -> usize {
    let mut conn = Connection::server(Config::default());
    conn.receive(black_box(CHROMIUM_REQUEST));
    match conn.next_event() {
        Some(Event::HandshakeRequest(request)) => {
            black_box(request);
        }
        other => panic!("unexpected {other:?}"),
    }
    conn.accept(Accept::new()).unwrap();
    black_box(conn.pending_output()).len()
}

fn tungstenite_accept() -> u64 {
    let stream = ReplayStream::once(black_box(CHROMIUM_REQUEST));
    let ws = tungstenite::accept(stream).unwrap();
    black_box(&ws);
    ws.get_ref().sink.written
}

fn tungstenite_parse_respond(out: &mut Vec<u8>) -> usize {
    out.clear();
    let (_, request) = Request::try_parse(black_box(CHROMIUM_REQUEST))
        .unwrap()
        .unwrap();
    let response = create_response(&request).unwrap();
    write_response(&mut *out, &response).unwrap();
    black_box(&out[..]).len()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn handshake(c: &mut Criterion) {
    // Each contender must produce a 101 with the right accept key.
    let mut conn = Connection::server(Config::default());
    conn.receive(CHROMIUM_REQUEST);
    assert!(matches!(
        conn.next_event(),
        Some(Event::HandshakeRequest(_))
    ));
    conn.accept(Accept::new()).unwrap();
    assert!(contains(conn.pending_output(), ACCEPT));
    let mut out = Vec::new();
    tungstenite_parse_respond(&mut out);
    assert!(out.starts_with(b"HTTP/1.1 101") && contains(&out, ACCEPT));
    assert!(tungstenite_accept() as usize == out.len());

    let mut group = c.benchmark_group("handshake/chromium_request");
    group.throughput(Throughput::Elements(1));
    group.bench_function("wsmachine", |b| b.iter(wsmachine_handshake));
    group.bench_function("tungstenite/accept", |b| b.iter(tungstenite_accept));
    group.bench_function("tungstenite/parse_respond", |b| {
        b.iter(|| tungstenite_parse_respond(&mut out))
    });
    group.finish();
}

criterion_group!(benches, handshake);
criterion_main!(benches);
