//! Load-race load generator in Rust, modelled on uWebSockets'
//! `benchmarks/load_test.c`, with per-message latency.
//!
//! ```text
//! ws_load <connections> <host> <port> <payload bytes> <warm-up s> <measure s>
//! ```
//!
//! Like load_test: `connections` TCP connections, each upgraded with a fixed
//! request (no extensions), then each sends one masked binary message of
//! `payload` bytes, waits until the whole echo (an unmasked binary frame of
//! the same payload) has arrived, and sends the next: one message in flight
//! per connection. Unlike load_test it checks the first echo of every
//! connection byte for byte (later echoes are counted by length, as
//! load_test does), and it times every message: the latency is from the
//! `write` of the message to the `read` that completes its echo, as seen by
//! this single-threaded event loop (mio, edge-triggered epoll), so it
//! includes the generator's own queueing under load, the same for every
//! server.
//!
//! Output: `Running benchmark now...` once every connection is upgraded,
//! `Msg/sec: X` every second, `Measuring...` when the warm-up ends, and one
//! final line
//! `RESULT msgs=.. secs=.. msg_per_s=.. p50_us=.. p90_us=.. p99_us=.. p999_us=.. max_us=..`
//! over the measurement window. Exits non-zero on any protocol surprise (a
//! wrong echo, a frame it did not expect, a closed connection).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// The same request as load_test's (no extension offered).
const UPGRADE: &[u8] = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\nHost: server.example.com\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";
const MASK: [u8; 4] = [1, 2, 3, 4];
/// Handshakes under way at once (keeps the listen backlogs out of it).
const CONNECTING_AT_ONCE: usize = 64;

#[derive(PartialEq)]
enum Phase {
    /// TCP connect under way, then the upgrade request being written.
    Connecting,
    /// Reading the 101 response head.
    Head,
    /// Upgraded; `expected` bytes of the current echo still to come.
    Echoing,
}

struct Conn {
    stream: TcpStream,
    phase: Phase,
    /// Bytes of the current outgoing buffer (request or message) written.
    written: usize,
    /// The response head so far, then the first echo (checked in full).
    inbox: Vec<u8>,
    checked: bool,
    expected: usize,
    sent_at: Instant,
}

struct Frames {
    message: Vec<u8>,
    echo: Vec<u8>,
}

fn frames(payload: usize) -> Frames {
    let mut message = vec![0x82];
    let mut echo = vec![0x82];
    match payload {
        0..=125 => {
            message.push(0x80 | payload as u8);
            echo.push(payload as u8);
        }
        126..=65535 => {
            message.push(0x80 | 126);
            echo.push(126);
            message.extend_from_slice(&(payload as u16).to_be_bytes());
            echo.extend_from_slice(&(payload as u16).to_be_bytes());
        }
        _ => {
            message.push(0x80 | 127);
            echo.push(127);
            message.extend_from_slice(&(payload as u64).to_be_bytes());
            echo.extend_from_slice(&(payload as u64).to_be_bytes());
        }
    }
    message.extend_from_slice(&MASK);
    message.extend((0..payload).map(|i| b'T' ^ MASK[i % 4]));
    echo.extend(std::iter::repeat_n(b'T', payload));
    Frames { message, echo }
}

fn fail(message: impl std::fmt::Display) -> io::Error {
    io::Error::other(message.to_string())
}

/// Writes what is left of `buf` from `conn.written`; true once all is out.
fn write_rest(conn: &mut Conn, buf: &[u8]) -> io::Result<bool> {
    while conn.written < buf.len() {
        match conn.stream.write(&buf[conn.written..]) {
            Ok(0) => return Err(fail("connection closed while writing")),
            Ok(n) => conn.written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

struct Stats {
    measuring: bool,
    latencies_ns: Vec<u64>,
    count: u64,
    measured: u64,
}

fn send_message(conn: &mut Conn, frames: &Frames) -> io::Result<()> {
    conn.written = 0;
    conn.expected = frames.echo.len();
    conn.sent_at = Instant::now();
    write_rest(conn, &frames.message)?;
    Ok(())
}

/// Handles readiness of one connection; returns true when it just finished
/// its upgrade.
fn on_ready(
    conn: &mut Conn,
    frames: &Frames,
    buf: &mut [u8],
    stats: &mut Stats,
    running: bool,
) -> io::Result<bool> {
    let mut upgraded = false;
    if conn.phase == Phase::Connecting {
        if let Some(e) = conn.stream.take_error()? {
            return Err(e);
        }
        match conn.stream.peer_addr() {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(false),
            Err(e) => return Err(e),
        }
        if write_rest(conn, UPGRADE)? {
            conn.phase = Phase::Head;
        }
    }
    if conn.phase == Phase::Echoing && conn.written < frames.message.len() {
        write_rest(conn, &frames.message)?;
    }
    loop {
        let n = match conn.stream.read(buf) {
            Ok(0) => return Err(fail("the server closed a connection")),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut data = &buf[..n];
        if conn.phase == Phase::Head {
            conn.inbox.extend_from_slice(data);
            let Some(end) = conn.inbox.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            if !conn.inbox.starts_with(b"HTTP/1.1 101") {
                let head = String::from_utf8_lossy(&conn.inbox[..end]).into_owned();
                return Err(fail(format!("upgrade refused: {head}")));
            }
            if conn.inbox.len() > end + 4 {
                return Err(fail("data after the 101 before any message"));
            }
            conn.inbox.clear();
            conn.phase = Phase::Echoing;
            conn.written = frames.message.len();
            upgraded = true;
            continue;
        }
        if conn.phase != Phase::Echoing || conn.expected == 0 || !running {
            return Err(fail("unexpected data from the server"));
        }
        while !data.is_empty() {
            let take = data.len().min(conn.expected);
            if !conn.checked {
                conn.inbox.extend_from_slice(&data[..take]);
            }
            conn.expected -= take;
            data = &data[take..];
            if conn.expected > 0 {
                continue;
            }
            if !data.is_empty() {
                return Err(fail(
                    "more bytes than one echo (a frame we did not ask for?)",
                ));
            }
            if !conn.checked {
                if conn.inbox != frames.echo {
                    return Err(fail("the first echo differs from the message sent"));
                }
                conn.checked = true;
                conn.inbox = Vec::new();
            }
            stats.count += 1;
            if stats.measuring {
                stats.measured += 1;
                stats
                    .latencies_ns
                    .push(conn.sent_at.elapsed().as_nanos() as u64);
            }
            send_message(conn, frames)?;
        }
    }
    Ok(upgraded)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn run(
    connections: usize,
    addr: SocketAddr,
    payload: usize,
    warmup: Duration,
    measure: Duration,
) -> io::Result<()> {
    let frames = frames(payload);
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut conns: Vec<Conn> = Vec::with_capacity(connections);
    let mut buf = vec![0u8; 256 * 1024];
    let mut stats = Stats {
        measuring: false,
        latencies_ns: Vec::new(),
        count: 0,
        measured: 0,
    };
    println!("Using message size of {payload} bytes");

    // Connect and upgrade, a few at a time.
    let mut upgraded = 0;
    let connect_deadline = Instant::now() + Duration::from_secs(60);
    while upgraded < connections {
        while conns.len() < connections && conns.len() - upgraded < CONNECTING_AT_ONCE {
            let mut stream = TcpStream::connect(addr)?;
            stream.set_nodelay(true)?;
            let token = Token(conns.len());
            poll.registry().register(
                &mut stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            )?;
            conns.push(Conn {
                stream,
                phase: Phase::Connecting,
                written: 0,
                inbox: Vec::new(),
                checked: false,
                expected: 0,
                sent_at: Instant::now(),
            });
        }
        if Instant::now() > connect_deadline {
            return Err(fail(format!(
                "only {upgraded} of {connections} upgraded in 60 s"
            )));
        }
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for event in &events {
            let conn = &mut conns[event.token().0];
            if on_ready(conn, &frames, &mut buf, &mut stats, false)? {
                upgraded += 1;
            }
        }
    }
    println!("Running benchmark now...");
    for conn in &mut conns {
        send_message(conn, &frames)?;
    }

    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + measure;
    let mut next_report = start + Duration::from_secs(1);
    let mut last_count = 0;
    let mut measure_started_at = None;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if measure_started_at.is_none() && now >= measure_from {
            stats.measuring = true;
            measure_started_at = Some(now);
            println!("Measuring...");
        }
        if now >= next_report {
            println!("Msg/sec: {}", stats.count - last_count);
            last_count = stats.count;
            next_report += Duration::from_secs(1);
        }
        let mut wake = next_report.min(end);
        if measure_started_at.is_none() {
            wake = wake.min(measure_from);
        }
        poll.poll(&mut events, Some(wake.saturating_duration_since(now)))?;
        for event in &events {
            let conn = &mut conns[event.token().0];
            on_ready(conn, &frames, &mut buf, &mut stats, true)?;
        }
    }
    let secs = measure_started_at.map_or(0.0, |t| t.elapsed().as_secs_f64());
    let mut latencies = std::mem::take(&mut stats.latencies_ns);
    latencies.sort_unstable();
    println!(
        "RESULT msgs={} secs={:.3} msg_per_s={:.0} p50_us={:.1} p90_us={:.1} p99_us={:.1} \
         p999_us={:.1} max_us={:.1}",
        stats.measured,
        secs,
        stats.measured as f64 / secs,
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        percentile(&latencies, 99.9),
        latencies.last().map_or(f64::NAN, |&l| l as f64 / 1000.0),
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 6 {
        eprintln!(
            "usage: ws_load <connections> <host> <port> <payload bytes> <warm-up s> <measure s>"
        );
        return ExitCode::from(2);
    }
    let parse = |i: usize| -> f64 {
        args[i]
            .parse()
            .unwrap_or_else(|_| panic!("argument {} is not a number: {}", i + 1, args[i]))
    };
    let addr = (args[1].as_str(), parse(2) as u16)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .expect("host and port resolve");
    match run(
        parse(0) as usize,
        addr,
        parse(3) as usize,
        Duration::from_secs_f64(parse(4)),
        Duration::from_secs_f64(parse(5)),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ws_load: {e}");
            ExitCode::FAILURE
        }
    }
}
