//! The blocking front-end (`wsmachine::blocking`) on loopback TCP: echoes
//! at the frame header's size boundaries in both roles, the handshake's
//! answers and timeouts, round-trip times, keepalive, the closing
//! handshake down to the TCP FIN, and the split `Reader`/`Writer` on
//! threads: at full speed, with a Ping arriving while a `Writer` is stuck
//! in a write, and with the times and deadlines the `Reader` keeps.
//!
//! Hermetic: every peer is a thread of this process on 127.0.0.1; every
//! wait is bounded. The only timed assertions are the deadlines and the
//! round-trip times through a delaying relay, each with a margin.

mod frontkit;
mod support;
mod testkit;

use frontkit::*;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};
use support::IO_TIMEOUT;
use wsmachine::blocking::{accept, accept_with, ClientBuilder, WebSocket};
use wsmachine::{CloseCode, Config, Error, Message, WsError};

// ================================================================ helpers

/// Runs `f` on a thread of its own and waits for it at most `limit`.
fn bounded_for<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Duration> {
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(value) => Ok(value),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(started.elapsed()),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: the thread panicked"),
    }
}

/// Runs `f` on a thread of its own, failing the test if it takes longer
/// than `IO_TIMEOUT`.
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    bounded_for(what, IO_TIMEOUT, f)
        .unwrap_or_else(|took| panic!("{what}: still waiting after {took:?}"))
}

fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/")
}

/// Accepts one TCP connection (bounded) and runs `f` on it.
fn serve<T: Send + 'static>(
    listener: TcpListener,
    f: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_nodelay(true).unwrap();
        f(stream)
    })
}

/// A blocking server and a blocking client, connected over loopback.
fn blocking_pair(server: Config, client: Config) -> (WebSocket<TcpStream>, WebSocket<TcpStream>) {
    let (listener, addr) = listener();
    let server = serve(listener, move |stream| accept(stream, server).unwrap());
    let (client, _) = bounded("connect", move || {
        // Over a socket of our own, so both ends are `WebSocket<TcpStream>`.
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        ClientBuilder::new(&url(addr))
            .config(client)
            .connect_on(stream)
            .unwrap()
    });
    (bounded("accept", move || server.join().unwrap()), client)
}

/// A blocking server and a raw peer (see `raw_client`).
fn with_raw_peer(config: Config) -> (WebSocket<TcpStream>, TcpStream) {
    let (listener, addr) = listener();
    let server = serve(listener, move |stream| accept(stream, config).unwrap());
    let peer = bounded("raw peer", move || raw_client(addr));
    (bounded("accept", move || server.join().unwrap()), peer)
}

fn no_deflate() -> Config {
    Config::default().with_deflate(None)
}

/// Echoes every message until the connection ends; returns how it ended.
fn echo(mut ws: WebSocket<TcpStream>) -> Option<WsError> {
    while let Some(message) = ws.recv() {
        match message {
            Ok(message) => ws.send(message).unwrap(),
            Err(error) => return Some(error),
        }
    }
    None
}

// ================================================================ 1. echo

/// `sender` sends every boundary message (and 1 MiB) and checks each
/// echo; then closes, and the echoing end sees the end.
fn echo_boundaries(mut sender: WebSocket<TcpStream>, echoer: WebSocket<TcpStream>) {
    let echoer = thread::spawn(move || echo(echoer));
    let mut messages = boundary_messages();
    messages.push(Message::binary(payload(1, 1 << 20)));
    let sender = bounded("echoes", move || {
        for message in &messages {
            sender.send(message.clone()).unwrap();
            let echoed = sender.recv().unwrap().unwrap();
            assert!(echoed == *message, "echo of {} differs", describe(message));
        }
        sender.close(CloseCode::NORMAL, "done").unwrap();
        sender
    });
    assert!(sender.close_frame().is_some());
    let ended = bounded("echoer", move || echoer.join().unwrap());
    assert!(ended.is_none(), "{ended:?}");
}

#[test]
fn a_server_echoes_every_header_size() {
    let (server, client) = blocking_pair(Config::default(), Config::default());
    echo_boundaries(client, server);
}

#[test]
fn a_client_echoes_every_header_size() {
    let (server, client) = blocking_pair(Config::default(), Config::default());
    echo_boundaries(server, client);
}

// =========================================================== 2. handshake

#[test]
fn accept_with_answers_a_bad_origin_403_and_takes_a_good_one() {
    let (listener, addr) = listener();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let refused = accept_with(stream, Config::default(), origin_gate).map(|_| ());
        assert!(matches!(refused, Err(WsError::Refused(403))), "{refused:?}");
        let (stream, _) = listener.accept().unwrap();
        echo(accept_with(stream, Config::default(), origin_gate).unwrap())
    });
    let evil = bounded("evil client", move || {
        ClientBuilder::new(&url(addr))
            .origin("https://evil.example")
            .connect()
            .map(|_| ())
    });
    match evil {
        Err(WsError::Rejected(response)) => assert_eq!(response.status(), 403),
        other => panic!("{other:?}"),
    }
    bounded("good client", move || {
        let good = ClientBuilder::new(&url(addr)).origin("https://good.example");
        let (mut ws, response) = good.connect().unwrap();
        assert_eq!(response.status(), 101);
        ws.send("hello").unwrap();
        assert_eq!(ws.recv().unwrap().unwrap(), Message::text("hello"));
        ws.close(CloseCode::NORMAL, "").unwrap();
    });
    assert!(bounded("server", move || server.join().unwrap()).is_none());
}

#[test]
fn a_plain_http_request_gets_a_200_page() {
    let (listener, addr) = listener();
    let server = serve(listener, |stream| {
        let config = Config::default().with_allow_plain_http(true);
        accept_with(stream, config, serve_page).map(|_| ())
    });
    let response = bounded("page", move || http_exchange(addr, PLAIN_GET));
    assert_page(&response);
    let refused = bounded("server", move || server.join().unwrap());
    assert!(matches!(refused, Err(WsError::Refused(200))), "{refused:?}");
}

#[test]
fn a_slowloris_client_gets_408_at_the_handshake_timeout() {
    let limit = Duration::from_millis(300);
    let (listener, addr) = listener();
    let server = serve(listener, move |stream| {
        let started = Instant::now();
        let config = Config::default().with_handshake_timeout(Some(limit));
        (accept(stream, config).map(|_| ()), started.elapsed())
    });
    let response = bounded("408", move || {
        http_exchange(addr, b"GET / HTTP/1.1\r\nHost: loc") // and nothing more
    });
    assert!(response.starts_with("HTTP/1.1 408 "), "{response}");
    let (result, took) = bounded("server", move || server.join().unwrap());
    assert!(
        matches!(result, Err(WsError::Protocol(Error::HandshakeTimeout))),
        "{result:?}"
    );
    assert_on_time("the 408", took, limit);
}

#[test]
fn connect_timeout_to_a_host_that_never_answers_is_a_timeout() {
    // A loopback listener with a full accept queue drops our SYN, as an
    // unreachable host would, without a packet leaving this machine.
    let (listener, fillers) = saturated_listener();
    let addr = listener.local_addr().unwrap();
    let limit = Duration::from_millis(200);
    let (result, took) = bounded("connect", move || {
        let started = Instant::now();
        let builder = ClientBuilder::new(&url(addr)).connect_timeout(limit);
        (builder.connect().map(|_| ()), started.elapsed())
    });
    assert!(matches!(result, Err(WsError::Timeout)), "{result:?}");
    assert_on_time("the connect timeout", took, limit);
    drop((listener, fillers));
}

// ============================================================= 3. pings

/// A blocking echo server behind a relay that delays every chunk 50 ms
/// each way; returns the relay's address.
fn server_behind_relay(delay: Duration) -> SocketAddr {
    let (listener, addr) = listener();
    serve(listener, |stream| {
        echo(accept(stream, Config::default()).unwrap())
    });
    spawn_delay_relay(addr, delay)
}

/// `count` round-trip times from `ping`, each the latency it leaves.
fn round_trips(
    count: u8,
    mut ping: impl FnMut(u8) -> (Duration, Option<Duration>),
) -> Vec<Duration> {
    (0..count)
        .map(|i| {
            let (rtt, latency) = ping(i);
            assert_eq!(latency, Some(rtt));
            rtt
        })
        .collect()
}

#[test]
fn ping_through_a_relay_that_delays_50ms_each_way_measures_100ms() {
    let relay = server_behind_relay(RELAY_DELAY);
    let rtts = bounded("pings", move || {
        let (mut ws, _) = ClientBuilder::new(&url(relay)).connect().unwrap();
        let rtts = round_trips(5, |i| {
            let rtt = ws.ping(&[i]).unwrap();
            (rtt, ws.latency())
        });
        ws.close(CloseCode::NORMAL, "").unwrap();
        rtts
    });
    assert_round_trips("WebSocket::ping", &rtts);
}

/// The two kinds of blocking socket that split.
trait Splittable {
    fn split(self) -> std::io::Result<(wsmachine::blocking::Reader, wsmachine::blocking::Writer)>;
}

impl Splittable for WebSocket<TcpStream> {
    fn split(self) -> std::io::Result<(wsmachine::blocking::Reader, wsmachine::blocking::Writer)> {
        WebSocket::<TcpStream>::split(self)
    }
}

impl Splittable for WebSocket<wsmachine::blocking::MaybeTlsStream> {
    fn split(self) -> std::io::Result<(wsmachine::blocking::Reader, wsmachine::blocking::Writer)> {
        WebSocket::<wsmachine::blocking::MaybeTlsStream>::split(self)
    }
}

/// A split client (its `Reader` on a thread of its own, reading until
/// the end) and its `Writer`.
fn split_client<S>(ws: WebSocket<S>) -> (wsmachine::blocking::Writer, thread::JoinHandle<()>)
where
    WebSocket<S>: Splittable,
{
    let (mut reader, writer) = Splittable::split(ws).unwrap();
    let reading = thread::spawn(move || while let Some(Ok(_)) = reader.recv() {});
    (writer, reading)
}

/// A connection used for a while, then split: the `Writer`'s pings must
/// still measure the round trip (the `Reader` must keep the machine's
/// clock, not start one of its own at zero).
#[test]
fn writer_ping_after_the_socket_was_used_a_while_measures_100ms() {
    let relay = server_behind_relay(RELAY_DELAY);
    let rtts = bounded("pings", move || {
        let (mut ws, _) = ClientBuilder::new(&url(relay)).connect().unwrap();
        thread::sleep(Duration::from_millis(600));
        ws.ping(b"before the split").unwrap();
        let (mut writer, reading) = split_client(ws);
        let rtts = round_trips(3, |i| {
            let rtt = writer.ping(&[i]).unwrap();
            (rtt, writer.latency())
        });
        writer.close(CloseCode::NORMAL, "").unwrap();
        reading.join().unwrap();
        rtts
    });
    assert_round_trips("Writer::ping after 700 ms of use", &rtts);
}

/// A `Writer`'s Ping after a quiet spell must be timed from when it is
/// sent, not from the `Reader`'s last read.
#[test]
fn writer_ping_after_a_quiet_spell_measures_the_round_trip_not_the_quiet() {
    let quiet = Duration::from_millis(600);
    let (server, client) = blocking_pair(Config::default(), Config::default());
    thread::spawn(move || echo(server));
    let rtt = bounded("ping", move || {
        let (mut writer, reading) = split_client(client);
        thread::sleep(quiet);
        let rtt = writer.ping(b"after a quiet spell").unwrap();
        writer.close(CloseCode::NORMAL, "").unwrap();
        reading.join().unwrap();
        rtt
    });
    eprintln!("Writer::ping on loopback after {quiet:?} of quiet: {rtt:?}");
    assert!(
        rtt < quiet / 2,
        "a loopback round trip measured {rtt:?}: the quiet spell before the Ping counted"
    );
}

// =========================================================== 4. keepalive

#[test]
fn a_peer_that_ignores_pings_is_failed_with_1011() {
    let (mut ws, peer) = with_raw_peer(keepalive_config());
    let silent = thread::spawn(move || FrameReader::new(peer).frames_to_end());
    let (result, took) = bounded("recv", move || {
        let started = Instant::now();
        let result = ws.recv();
        let took = started.elapsed();
        assert!(ws.recv().is_none());
        (result, took)
    });
    assert_keepalive_failure(result, took);
    assert_pings_then_close(bounded("silent peer", move || silent.join().unwrap()), 1011);
}

// ============================================================= 5. closing

#[test]
fn close_from_the_server_reaches_the_peer_and_ends_with_fin() {
    let (mut ws, peer) = with_raw_peer(no_deflate());
    let peer = thread::spawn(move || answer_close(peer, true));
    bounded("close", move || {
        ws.close(CloseCode(4000), "bye now").unwrap();
        assert!(ws.recv().is_none());
    });
    let seen = bounded("peer", move || peer.join().unwrap());
    assert_closed_with_fin(seen, 4000, "bye now");
}

#[test]
fn close_from_the_client_reaches_the_peer_and_ends_with_fin() {
    let (listener, addr) = listener();
    let peer = thread::spawn(move || answer_close(raw_server(&listener), false));
    let frame = bounded("close", move || {
        let (mut ws, _) = ClientBuilder::new(&url(addr)).connect().unwrap();
        ws.close(CloseCode(4001), "client leaves").unwrap();
        ws.close_frame().cloned()
    });
    let frame = frame.expect("the peer's Close");
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (CloseCode(4001), "client leaves")
    );
    let seen = bounded("peer", move || peer.join().unwrap());
    assert_closed_with_fin(seen, 4001, "client leaves");
}

#[test]
fn close_to_a_peer_that_never_answers_fails_at_the_close_timeout() {
    let limit = Duration::from_millis(300);
    let (mut ws, peer) = with_raw_peer(no_deflate().with_close_timeout(Some(limit)));
    let silent = thread::spawn(move || FrameReader::new(peer).frames_to_end());
    let (result, took) = bounded("close", move || {
        let started = Instant::now();
        (ws.close(CloseCode::NORMAL, ""), started.elapsed())
    });
    assert!(
        matches!(result, Err(WsError::Protocol(Error::CloseTimeout))),
        "{result:?}"
    );
    assert_on_time("close() to a silent peer", took, limit);
    let (frames, _) = bounded("silent peer", move || silent.join().unwrap());
    assert_eq!(close_of(&frames[0]).0, 1000);
}

/// `close()` is bounded by the close timeout even when what is queued
/// before the Close cannot be written: a message `feed` queued (under the
/// high-water mark, so not written yet) to a peer that never reads.
#[test]
fn close_behind_output_a_peer_never_reads_fails_at_the_close_timeout() {
    let limit = Duration::from_millis(300);
    let config = no_deflate()
        .with_output_high_water(64 << 20)
        .with_close_timeout(Some(limit));
    let (mut ws, peer) = with_raw_peer(config);
    ws.feed(payload(0, 32 << 20)).unwrap(); // more than the kernel takes
    let outcome = bounded_for("close", limit + LATE, move || {
        let started = Instant::now();
        (ws.close(CloseCode::NORMAL, ""), started.elapsed())
    });
    // Unblock a close stuck in a write either way.
    let _ = peer.shutdown(Shutdown::Both);
    let (result, took) = outcome.unwrap_or_else(|took| {
        panic!("close() still writing to a peer that never reads after {took:?}, close_timeout {limit:?}")
    });
    assert!(
        matches!(result, Err(WsError::Protocol(Error::CloseTimeout))),
        "{result:?}"
    );
    assert_on_time("close() behind unwritten output", took, limit);
}

/// Split, the close timeout holds too: the `Reader`, waiting on a silent
/// socket, must end once the Close a `Writer` wrote stays unanswered for
/// `close_timeout`.
#[test]
fn writer_close_to_a_peer_that_never_answers_ends_the_reader_at_the_close_timeout() {
    let limit = Duration::from_millis(300);
    let config = no_deflate()
        .with_ping_interval(None)
        .with_close_timeout(Some(limit));
    let (ws, peer) = with_raw_peer(config);
    let peer_handle = peer.try_clone().unwrap();
    let silent = thread::spawn(move || FrameReader::new(peer).frames_to_end());
    let (mut reader, mut writer) = ws.split().unwrap();
    let (ended_tx, ended) = mpsc::channel();
    thread::spawn(move || {
        let result = reader.recv();
        let _ = ended_tx.send((result, Instant::now()));
    });
    thread::sleep(Duration::from_millis(50)); // the Reader waits
    let started = Instant::now();
    writer.close(CloseCode::NORMAL, "").unwrap();
    let outcome = ended.recv_timeout(limit + LATE);
    // Unblock the threads either way.
    let _ = peer_handle.shutdown(Shutdown::Both);
    let (result, at) = outcome.unwrap_or_else(|_| {
        panic!(
            "Reader::recv still waiting {:?} after Writer::close, close_timeout {limit:?}",
            started.elapsed()
        )
    });
    assert!(
        matches!(result, Some(Err(WsError::Protocol(Error::CloseTimeout)))),
        "{result:?}"
    );
    assert_on_time("the Reader's end", at - started, limit);
    let _ = bounded("silent peer", move || silent.join().unwrap());
}

// =============================================================== 6. split

const SPLIT_MESSAGES: usize = 10_000;

#[test]
fn reader_and_writer_at_full_speed_both_ways_lose_nothing() {
    let (server, client) = blocking_pair(Config::default(), Config::default());
    let started = Instant::now();
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    for (ws, me, them) in [(server, b'S', b'C'), (client, b'C', b'S')] {
        let (mut reader, mut writer) = ws.split().unwrap();
        writers.push(thread::spawn(move || {
            for seq in 0..SPLIT_MESSAGES {
                writer.send(split_message(seq, me)).unwrap();
            }
            writer
        }));
        readers.push(thread::spawn(move || {
            for seq in 0..SPLIT_MESSAGES {
                match reader.recv() {
                    Some(Ok(Message::Binary(data))) => {
                        assert!(
                            data == split_message(seq, them),
                            "message {seq} from {them}"
                        )
                    }
                    other => panic!("message {seq} from {them}: {other:?}"),
                }
            }
            // Then to the end: the client's Writer closes.
            assert!(reader.recv().is_none());
            reader.close_frame()
        }));
    }
    let mut writers = bounded("writers", move || {
        writers
            .into_iter()
            .map(|w| w.join().unwrap())
            .collect::<Vec<_>>()
    });
    writers[1].close(CloseCode::NORMAL, "done").unwrap();
    let closes = bounded("readers", move || {
        readers
            .into_iter()
            .map(|r| r.join().unwrap())
            .collect::<Vec<_>>()
    });
    eprintln!(
        "{SPLIT_MESSAGES} messages each way in {:?}",
        started.elapsed()
    );
    for close in closes {
        assert_eq!(close.map(|f| f.code), Some(CloseCode::NORMAL));
    }
}

#[test]
fn a_ping_while_a_writer_is_stuck_in_a_write_is_answered_between_frames() {
    let (mut ws, mut peer) = with_raw_peer(no_deflate());
    ws.set_receive_control(true);
    let (mut reader, mut writer) = ws.split().unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let writing = thread::spawn(move || {
        for seq in 0..BLOCKED_MESSAGES {
            writer.send(payload(seq, BLOCKED_LEN)).unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let (ping_seen, ping_rx) = mpsc::channel();
    let reading = thread::spawn(move || {
        let mut close = None;
        while let Some(message) = reader.recv() {
            match message.unwrap() {
                Message::Ping(p) => ping_seen.send(p).unwrap(),
                Message::Close(frame) => close = frame,
                other => panic!("unexpected {}", describe(&other)),
            }
        }
        close
    });

    // The peer does not read until the Writer is stuck in a write.
    let stalled = wait_for_stall(&sent, BLOCKED_MESSAGES, Duration::from_millis(300));
    send_frame(&mut peer, 0x89, BLOCKED_PING);
    assert_eq!(ping_rx.recv_timeout(IO_TIMEOUT).unwrap(), BLOCKED_PING);

    // Now read: every frame whole and in order, the Pong between two.
    let pong_after = bounded("peer", move || read_again_then_close(peer));
    eprintln!(
        "Writer stuck after {stalled} of {BLOCKED_MESSAGES} messages; the Pong came after frame {pong_after}"
    );
    assert!(
        pong_after >= stalled,
        "the Pong overtook frames already queued"
    );
    bounded("writer", move || writing.join().unwrap());
    let close = bounded("reader", move || reading.join().unwrap());
    assert_eq!(close.map(|f| f.code), Some(CloseCode::NORMAL));
}
