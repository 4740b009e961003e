//! What the front-end suites (`tokio_frontend`, `blocking_frontend`) share:
//! raw peers on loopback TCP that read the byte stream frame by frame, a
//! relay that delays every chunk, a listener whose accept queue is full
//! (a hermetic connect timeout), and the payloads the suites send.
#![allow(dead_code)]

use crate::support::IO_TIMEOUT;
use crate::testkit::filled;
use crate::testkit::wire::{encode_frame, parse_complete_frames, WireFrame};
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use wsmachine::tokio::Reject;
use wsmachine::{Accept, Config, Connection, Error, Event, Message, WsError};

/// Payload sizes at the frame header's length boundaries (7-bit, 16-bit,
/// 64-bit forms).
pub const SIZES: [usize; 6] = [0, 1, 125, 126, 65535, 65536];

/// Text of exactly `len` bytes with one-, two-, three- and four-byte
/// characters, so 1-byte reads split characters too.
pub fn text_of_len(len: usize, seed: usize) -> String {
    const CHARS: [char; 5] = ['a', 'é', '€', '😀', 'z'];
    let mut text = String::with_capacity(len);
    let mut i = seed;
    loop {
        let c = CHARS[i % CHARS.len()];
        i += 1;
        if text.len() + c.len_utf8() > len {
            break;
        }
        text.push(c);
    }
    while text.len() < len {
        text.push('.');
    }
    text
}

/// Incompressible bytes for message `seq` (so compression, where it is on,
/// cannot shrink what crosses the socket).
pub fn payload(seq: usize, len: usize) -> Vec<u8> {
    let mut data = filled(len, seq as u64 ^ 0x00c0_ffee);
    if len >= 8 {
        data[..8].copy_from_slice(&(seq as u64).to_be_bytes());
    }
    data
}

/// A text and a binary message of every size in [`SIZES`].
pub fn boundary_messages() -> Vec<Message> {
    let mut messages = Vec::new();
    for (i, &len) in SIZES.iter().enumerate() {
        messages.push(Message::text(text_of_len(len, i)));
        messages.push(Message::binary(payload(i, len)));
    }
    messages
}

/// A short `Debug` of a message for assertion failures.
pub fn describe(message: &Message) -> String {
    let kind = match message {
        Message::Text(_) => "text",
        Message::Binary(_) => "binary",
        Message::Ping(_) => "ping",
        Message::Pong(_) => "pong",
        Message::Close(_) => "close",
    };
    format!("{kind} of {} bytes", message.len())
}

/// Asserts two message lists are equal, naming the first difference.
pub fn assert_same_messages(got: &[Message], expected: &[Message]) {
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!(
            g == e,
            "message {i} differs: got {}, expected {}",
            describe(g),
            describe(e)
        );
    }
    assert_eq!(got.len(), expected.len(), "message count");
}

/// An upgrade request without extensions or subprotocols.
pub const UPGRADE: &str = "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A raw peer: a blocking `TcpStream` through the opening handshake, its
/// response read a byte at a time so no frame byte is read with it.
pub fn raw_client(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(UPGRADE.as_bytes()).unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101 "), "not upgraded: {head}");
    stream
}

/// An HTTP head, read a byte at a time up to its blank line.
pub fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).unwrap();
        assert_eq!(n, 1, "the stream ended inside the head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Writes one masked (client) frame.
pub fn send_frame(stream: &mut TcpStream, first: u8, payload: &[u8]) {
    stream
        .write_all(&encode_frame(first, payload, Some([7, 1, 8, 2])))
        .unwrap();
}

/// How a byte stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// A clean end of stream (the peer sent FIN).
    Eof,
    /// Any error: a reset, or our read timeout.
    Error(ErrorKind),
}

/// Reads `stream` frame by frame: every frame must start where the last
/// one ended, so a frame written inside another breaks the parse.
pub struct FrameReader {
    pub stream: TcpStream,
    pending: Vec<u8>,
    ready: VecDeque<WireFrame>,
    buf: Vec<u8>,
    /// Bytes read so far.
    pub bytes: usize,
}

impl FrameReader {
    /// Reads a stream that is past its handshake.
    pub fn new(stream: TcpStream) -> Self {
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        FrameReader {
            stream,
            pending: Vec::new(),
            ready: VecDeque::new(),
            buf: vec![0; 256 * 1024],
            bytes: 0,
        }
    }

    /// The next whole frame, or how the stream ended.
    pub fn next_frame(&mut self) -> Result<WireFrame, End> {
        loop {
            if let Some(frame) = self.ready.pop_front() {
                return Ok(frame);
            }
            let (frames, rest) = parse_complete_frames(&self.pending);
            if !frames.is_empty() {
                self.pending = rest.to_vec();
                self.ready.extend(frames);
                continue;
            }
            match self.stream.read(&mut self.buf) {
                Ok(0) => return Err(End::Eof),
                Ok(n) => {
                    self.bytes += n;
                    self.pending.extend_from_slice(&self.buf[..n]);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(End::Error(e.kind())),
            }
        }
    }

    /// Every frame until the stream ends, and how it ended.
    pub fn frames_to_end(&mut self) -> (Vec<WireFrame>, End) {
        let mut frames = Vec::new();
        loop {
            match self.next_frame() {
                Ok(frame) => frames.push(frame),
                Err(end) => return (frames, end),
            }
        }
    }
}

/// The code and reason of a Close frame.
pub fn close_of(frame: &WireFrame) -> (u16, String) {
    assert_eq!(frame.opcode(), 0x8, "not a Close: {frame:?}");
    let p = &frame.payload.0;
    assert!(p.len() >= 2, "a Close without a code: {frame:?}");
    (
        u16::from_be_bytes([p[0], p[1]]),
        String::from_utf8(p[2..].to_vec()).unwrap(),
    )
}

/// A raw server peer: accepts one connection on `listener` and answers
/// its opening handshake with a sans-IO `Connection` (no extensions).
pub fn raw_server(listener: &TcpListener) -> TcpStream {
    let (mut stream, _) = listener.accept().unwrap();
    stream.set_nodelay(true).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let head = read_head(&mut stream);
    let mut conn = Connection::server(Config::default().with_deflate(None));
    conn.receive(head.as_bytes());
    assert!(matches!(
        conn.next_event(),
        Some(Event::HandshakeRequest(_))
    ));
    conn.accept(Accept::new()).unwrap();
    stream.write_all(conn.pending_output()).unwrap();
    stream
}

/// What the bytes on the wire measured on this machine may hold: the
/// largest send and receive buffers TCP grows to.
pub fn kernel_buffers() -> usize {
    let max_of = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.split_whitespace().nth(2)?.parse::<usize>().ok())
            .unwrap_or(16 << 20)
    };
    max_of("/proc/sys/net/ipv4/tcp_wmem") + max_of("/proc/sys/net/ipv4/tcp_rmem")
}

/// A relay on loopback to `target` that holds every chunk `delay` before
/// passing it on, each way, in order (a link with `delay` latency each
/// way). Serves one connection.
pub fn spawn_delay_relay(target: SocketAddr, delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((inbound, _)) = listener.accept() else {
            return;
        };
        let outbound = TcpStream::connect(target).unwrap();
        for s in [&inbound, &outbound] {
            s.set_nodelay(true).unwrap();
        }
        delay_one_way(
            inbound.try_clone().unwrap(),
            outbound.try_clone().unwrap(),
            delay,
        );
        delay_one_way(outbound, inbound, delay);
    });
    addr
}

fn delay_one_way(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        // Dropping `tx` tells the writer: it passes the end of stream on.
    });
    std::thread::spawn(move || {
        while let Ok((due, chunk)) = rx.recv() {
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if to.write_all(&chunk).is_err() {
                return;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

/// A loopback listener whose accept queue is full: a new connection to
/// it gets no answer to its SYN, as an unreachable host would (a
/// connect timeout without sending a packet off this machine). Keep the
/// fillers alive as long as the listener.
pub fn saturated_listener() -> (std::net::TcpListener, Vec<TcpStream>) {
    // std binds with a backlog of 128; tokio lets us ask for 0.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let listener = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        socket.listen(0).unwrap().into_std().unwrap()
    });
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(stream) => fillers.push(stream),
            Err(e) if e.kind() == ErrorKind::TimedOut => return (listener, fillers),
            Err(e) => panic!("filling the accept queue: {e}"),
        }
    }
    panic!("the accept queue of a backlog-0 listener never filled");
}

/// Waits until `counter` stops moving for `quiet` (a sender blocked on a
/// full socket) and returns its value; panics if it reaches `end` or
/// keeps moving for `limit`.
pub fn wait_for_stall(counter: &AtomicUsize, end: usize, quiet: Duration) -> usize {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut last = counter.load(Ordering::SeqCst);
    let mut since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = counter.load(Ordering::SeqCst);
        assert!(
            now < end,
            "all {end} messages were sent: the socket never filled"
        );
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return now;
        }
        assert!(Instant::now() < deadline, "the sender never stalled");
    }
}

/// Reads the byte stream of a server that was sending `count` binary
/// messages of `payload(i, len)` while the peer sent it a Ping with
/// `ping`: every data frame must be whole and in order, and the Pong must
/// come exactly once, between frames. Returns after the last data frame
/// and the Pong, with how many data frames came before the Pong.
pub fn read_data_and_pong(
    reader: &mut FrameReader,
    count: usize,
    len: usize,
    ping: &[u8],
) -> usize {
    let mut data = 0;
    let mut pong_after = None;
    while data < count || pong_after.is_none() {
        let frame = reader
            .next_frame()
            .unwrap_or_else(|end| panic!("stream ended ({end:?}) after {data} frames"));
        match frame.opcode() {
            0x2 => {
                assert_eq!(
                    frame.first, 0x82,
                    "frame {data} is not a whole binary frame"
                );
                assert!(
                    frame.payload.0 == payload(data, len),
                    "data frame {data} differs: a frame inside it?"
                );
                data += 1;
            }
            0xA => {
                assert_eq!(frame.payload.0, ping, "a Pong with another payload");
                assert!(pong_after.is_none(), "the Ping was answered twice");
                pong_after = Some(data);
            }
            0x9 => {} // a keepalive Ping of the server's own
            other => panic!("unexpected opcode {other} after {data} frames"),
        }
    }
    pong_after.unwrap()
}

/// Sends `request` on a new connection to `addr` and returns everything
/// the server answers until it closes; then closes our end.
pub fn http_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

/// The peer's side of a closing handshake the other end starts: reads its
/// Close (the first frame), answers it (masked when `client`), then reads
/// to the end. Returns the Close's code and reason, any frames after it,
/// and how the stream ended.
pub fn answer_close(stream: TcpStream, client: bool) -> ((u16, String), Vec<WireFrame>, End) {
    let mut reader = FrameReader::new(stream);
    let close = reader.next_frame().expect("no Close");
    assert_eq!(
        close.masked, !client,
        "a client's frames, and only a client's, are masked"
    );
    let answer = encode_frame(0x88, &close.payload.0, client.then_some([9, 9, 9, 9]));
    reader.stream.write_all(&answer).unwrap();
    let (rest, end) = reader.frames_to_end();
    (close_of(&close), rest, end)
}

/// What [`answer_close`] saw must be a Close with `code` and `reason`,
/// nothing after it, and a FIN (not a reset) at the end.
pub fn assert_closed_with_fin(seen: ((u16, String), Vec<WireFrame>, End), code: u16, reason: &str) {
    let (close, rest, end) = seen;
    assert_eq!(close, (code, reason.to_owned()));
    assert!(rest.is_empty(), "frames after the Close: {rest:?}");
    assert_eq!(
        end,
        End::Eof,
        "the connection ended with a reset, not a FIN"
    );
}

/// How late a deadline may fire on a loaded machine.
pub const LATE: Duration = Duration::from_millis(1500);

/// `what` happened `took` after the start, for a `deadline` after it: not
/// early (a timer may round down by a millisecond or so), and not later
/// than [`LATE`] past it.
pub fn assert_on_time(what: &str, took: Duration, deadline: Duration) {
    eprintln!("{what} after {took:?} (deadline {deadline:?})");
    let early = Duration::from_millis(10);
    assert!(
        took + early >= deadline,
        "{what} came early: {took:?}, deadline {deadline:?}"
    );
    assert!(
        took < deadline + LATE,
        "{what} came late: {took:?}, deadline {deadline:?}"
    );
}

/// A server's say in the handshake: only this Origin may connect.
pub fn origin_gate(request: &wsmachine::HandshakeRequest) -> Result<Accept, Reject> {
    match request.origin() {
        Some("https://good.example") => Ok(Accept::new()),
        _ => Err(Reject::new(403, "origin not allowed")),
    }
}

/// A plain HTTP request, and the page a server with
/// `Config::allow_plain_http` serves for it with [`serve_page`].
pub const PLAIN_GET: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// The answer to a plain HTTP request.
pub fn serve_page(request: &wsmachine::HandshakeRequest) -> Result<Accept, Reject> {
    assert!(!request.is_websocket_upgrade());
    Err(Reject::new(200, "<h1>hello</h1>").header("Content-Type", "text/html"))
}

/// The response must be [`serve_page`]'s 200 page.
pub fn assert_page(response: &str) {
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    let lower = response.to_ascii_lowercase();
    assert!(lower.contains("content-type: text/html"), "{response}");
    assert!(response.ends_with("<h1>hello</h1>"), "{response}");
}

/// Message `seq` of the split tests, from end `from`: up to 2 KiB.
pub fn split_message(seq: usize, from: u8) -> Vec<u8> {
    let mut data = payload(seq, 16 + (seq * 37) % 2000);
    data.push(from);
    data
}

/// A silent peer's view of a keepalive failure: Pings, then a Close with
/// `code`, then a FIN.
pub fn assert_pings_then_close(seen: (Vec<WireFrame>, End), code: u16) {
    let (frames, end) = seen;
    let (last, pings) = frames.split_last().expect("no frame at all");
    assert!(!pings.is_empty(), "no keepalive Ping before the Close");
    assert!(pings.iter().all(|f| f.opcode() == 0x9), "{pings:?}");
    assert_eq!(close_of(last).0, code);
    assert_eq!(end, End::Eof);
}

/// Messages the blocked-writer tests send, and their size: together far
/// more than the high-water mark and the kernel's socket buffers.
pub const BLOCKED_MESSAGES: usize = 96;
pub const BLOCKED_LEN: usize = 256 * 1024;
/// The Ping the peer sends while the writer is blocked.
pub const BLOCKED_PING: &[u8] = b"are you there?";

/// The peer of a blocked writer, once it reads again: every data frame
/// whole and in order, the Pong between two (see [`read_data_and_pong`]);
/// then it closes (1000) and reads the echo and the FIN. Returns how
/// many data frames came before the Pong.
pub fn read_again_then_close(mut peer: TcpStream) -> usize {
    let mut reader = FrameReader::new(peer.try_clone().unwrap());
    let pong_after = read_data_and_pong(&mut reader, BLOCKED_MESSAGES, BLOCKED_LEN, BLOCKED_PING);
    send_frame(&mut peer, 0x88, &1000u16.to_be_bytes());
    let (rest, end) = reader.frames_to_end();
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert_eq!(close_of(&rest[0]).0, 1000);
    assert_eq!(end, End::Eof);
    pong_after
}

/// Keepalive for the silent-peer tests: a Ping after 200 ms of quiet, and
/// 200 ms for an answer.
pub const PING_INTERVAL: Duration = Duration::from_millis(200);
pub const PONG_TIMEOUT: Duration = Duration::from_millis(200);

pub fn keepalive_config() -> Config {
    Config::default()
        .with_deflate(None)
        .with_ping_interval(Some(PING_INTERVAL))
        .with_pong_timeout(PONG_TIMEOUT)
        .with_close_timeout(Some(Duration::from_secs(2)))
}

/// `recv` on a connection whose peer ignores Pings must fail with the
/// keepalive timeout, `took` after it started waiting.
pub fn assert_keepalive_failure(result: Option<Result<Message, WsError>>, took: Duration) {
    assert!(
        matches!(
            result,
            Some(Err(WsError::Protocol(Error::KeepaliveTimeout)))
        ),
        "{result:?}"
    );
    assert_on_time("keepalive failure", took, PING_INTERVAL + PONG_TIMEOUT);
}

/// The relay's delay each way in the round-trip tests.
pub const RELAY_DELAY: Duration = Duration::from_millis(50);

/// Round trips through the relay: never less than its delay both ways,
/// and the best within 10 ms of it.
pub fn assert_round_trips(what: &str, rtts: &[Duration]) {
    eprintln!("{what} through the relay: {rtts:?}");
    let floor = 2 * RELAY_DELAY;
    assert!(rtts.iter().all(|&rtt| rtt >= floor), "{what}: {rtts:?}");
    let best = rtts.iter().min().unwrap();
    assert!(
        *best <= floor + Duration::from_millis(10),
        "{what}: {rtts:?}"
    );
}
