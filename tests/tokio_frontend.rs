//! The tokio front-end (`wsmachine::tokio`) on real and in-memory streams:
//! cancellation at every byte boundary, a `select!` loop under a 1 ms
//! ticker, split halves at full speed and with a blocked writer,
//! backpressure both ways, keepalive, the handshake's answers and
//! timeouts, and the closing handshake down to the TCP FIN.
//!
//! Hermetic: every peer is in this process, on 127.0.0.1 or in memory;
//! every wait is bounded. The only timed assertions are the deadlines
//! (keepalive, handshake, close, connect) and the round-trip time through
//! a delaying relay, each with a margin.

mod frontkit;
mod support;
mod testkit;

use frontkit::*;
use std::future::{poll_fn, Future};
use std::io::{self, ErrorKind, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use support::IO_TIMEOUT;
use testkit::wire::{encode_frame, parse_complete_frames, WireFrame};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use wsmachine::tokio::{accept, accept_with, ClientBuilder, WebSocket};
use wsmachine::{
    CloseCode, Config, Connection, Error, Message, MessageKind, OwnedEvent, Role, WsError,
};

// ================================================================ helpers

/// Awaits `future`, failing the test if it takes longer than `IO_TIMEOUT`.
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(IO_TIMEOUT, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: still waiting after {IO_TIMEOUT:?}"),
    }
}

/// Polls `future` exactly once.
async fn poll_once<F: Future + ?Sized>(mut future: Pin<&mut F>) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await
}

/// A listener on an ephemeral loopback port.
async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

async fn accept_tcp(listener: &TcpListener) -> TcpStream {
    let (stream, _) = within("accept", listener.accept()).await.unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// A tokio server and a tokio client, connected over loopback.
async fn tokio_pair(
    server: Config,
    client: Config,
) -> (WebSocket<TcpStream>, WebSocket<TcpStream>) {
    let (listener, addr) = listener().await;
    let server_side = async {
        let stream = accept_tcp(&listener).await;
        accept(stream, server).await.unwrap()
    };
    let client_side = async {
        // Over a socket of our own, so both ends are `WebSocket<TcpStream>`.
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let builder = ClientBuilder::new(&format!("ws://{addr}/")).config(client);
        builder.connect_on(stream).await.unwrap().0
    };
    within("handshake", async {
        tokio::join!(server_side, client_side)
    })
    .await
}

/// A tokio server and a raw blocking peer (see `raw_client`).
async fn with_raw_peer(config: Config) -> (WebSocket<TcpStream>, std::net::TcpStream) {
    let (listener, addr) = listener().await;
    let peer = tokio::task::spawn_blocking(move || raw_client(addr));
    let stream = accept_tcp(&listener).await;
    let ws = within("accept", accept(stream, config)).await.unwrap();
    let peer = within("raw peer", peer).await.unwrap();
    (ws, peer)
}

/// Runs a blocking closure on a thread of its own.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    within("blocking peer", tokio::task::spawn_blocking(f))
        .await
        .unwrap()
}

fn no_deflate() -> Config {
    Config::default().with_deflate(None)
}

fn peer_of(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

/// Everything `conn` has queued.
fn drain_output(conn: &mut Connection) -> Vec<u8> {
    let mut bytes = Vec::new();
    loop {
        let piece = conn.pending_output();
        if piece.is_empty() {
            return bytes;
        }
        bytes.extend_from_slice(piece);
        let n = piece.len();
        conn.consume_output(n);
    }
}

// ====================================== 1. cancellation at every byte boundary

/// A stream that moves at most one byte per read or write, and answers
/// every other poll with `Pending` (waking itself): a future polled on it
/// stops at every byte boundary, the 2-byte header's middle included.
struct Trickle {
    inner: DuplexStream,
    read_turn: bool,
    write_turn: bool,
}

impl Trickle {
    fn new(inner: DuplexStream) -> Self {
        Trickle {
            inner,
            read_turn: false,
            write_turn: false,
        }
    }
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.read_turn = !this.read_turn;
        if !this.read_turn {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let mut one = [0u8; 1];
        let mut small = ReadBuf::new(&mut one);
        match Pin::new(&mut this.inner).poll_read(cx, &mut small) {
            Poll::Ready(Ok(())) => {
                buf.put_slice(small.filled());
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl AsyncWrite for Trickle {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.write_turn = !this.write_turn;
        if !this.write_turn {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let n = buf.len().min(1);
        Pin::new(&mut this.inner).poll_write(cx, &buf[..n])
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What a peer of a `role` socket sends: the boundary messages whole, then
/// fragmented ones (a fragment splitting a character, empty fragments, a
/// Ping between fragments). Returns the bytes, the messages they make and
/// the Ping payloads.
fn peer_traffic(role: Role) -> (Vec<u8>, Vec<Message>, Vec<Vec<u8>>) {
    let config = Config::default().with_mask_seed(Some(0x7e57));
    let mut peer = Connection::upgraded(peer_of(role), config).unwrap();
    let mut expected = boundary_messages();
    for message in &expected {
        peer.send(message.clone()).unwrap();
    }
    let mut pings = Vec::new();

    let text = text_of_len(300, 3);
    let (a, b) = text.as_bytes().split_at(2); // inside the 'é'
    peer.send_fragment(MessageKind::Text, a, false).unwrap();
    peer.send_ping(b"between").unwrap();
    pings.push(b"between".to_vec());
    peer.send_fragment(MessageKind::Text, b"", false).unwrap();
    peer.send_fragment(MessageKind::Text, b, true).unwrap();
    expected.push(Message::text(text));

    let data = payload(99, 65536 + 127);
    let parts = [
        &data[..0],
        &data[..126],
        &data[126..65536 + 126],
        &data[65536 + 126..],
    ];
    for (i, part) in parts.iter().enumerate() {
        peer.send_fragment(MessageKind::Binary, part, i + 1 == parts.len())
            .unwrap();
        if i == 1 {
            peer.send_ping(b"").unwrap();
            pings.push(Vec::new());
        }
    }
    expected.push(Message::binary(data));
    peer.send(Message::text("last")).unwrap();
    expected.push(Message::text("last"));
    (drain_output(&mut peer), expected, pings)
}

/// Reads frames from `from` until `count` of them came.
async fn read_frames(mut from: tokio::io::ReadHalf<DuplexStream>, count: usize) -> Vec<WireFrame> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let (frames, rest) = parse_complete_frames(&bytes);
        if frames.len() >= count {
            assert!(rest.is_empty(), "bytes after the expected frames");
            return frames;
        }
        let n = from.read(&mut buf).await.unwrap();
        assert!(n > 0, "the socket ended after {} frames", frames.len());
        bytes.extend_from_slice(&buf[..n]);
    }
}

async fn recv_through_fresh_futures(role: Role) {
    let (bytes, expected, pings) = peer_traffic(role);
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let conn = Connection::upgraded(role, Config::default()).unwrap();
    let mut ws = WebSocket::from_connection(Trickle::new(ours), conn);
    let (their_reader, mut their_writer) = tokio::io::split(theirs);
    let sent = bytes.clone();
    let writer = tokio::spawn(async move { their_writer.write_all(&sent).await.unwrap() });
    let pongs = tokio::spawn(read_frames(their_reader, pings.len()));

    let mut polls = 0usize;
    let mut got = Vec::new();
    within("recv", async {
        while got.len() < expected.len() {
            // A new `recv()` future for every poll, dropped right after it.
            let next = poll_fn(|cx| {
                polls += 1;
                let mut recv = Box::pin(ws.recv());
                recv.as_mut().poll(cx)
            })
            .await;
            match next {
                Some(Ok(message)) => got.push(message),
                other => panic!("after {} messages: {other:?}", got.len()),
            }
        }
        // The Pongs go out the same way: a new `flush()` for every poll.
        while poll_once(Box::pin(ws.flush()).as_mut()).await.is_pending() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_same_messages(&got, &expected);
    // A poll reads at most one byte: every byte boundary, the ones inside
    // each frame header included, ended a poll and dropped its future.
    assert!(
        polls >= bytes.len(),
        "{polls} polls for {} bytes: not every byte boundary was a cancellation",
        bytes.len()
    );
    within("writer", writer).await.unwrap();
    let frames = within("pongs", pongs).await.unwrap();
    let answered: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| {
            assert_eq!(f.opcode(), 0xA, "not a Pong: {f:?}");
            f.payload.0.clone()
        })
        .collect();
    assert_eq!(answered, pings);
}

#[tokio::test]
async fn recv_recreated_on_every_poll_loses_nothing_server() {
    recv_through_fresh_futures(Role::Server).await;
}

#[tokio::test]
async fn recv_recreated_on_every_poll_loses_nothing_client() {
    recv_through_fresh_futures(Role::Client).await;
}

/// Sends every message through `send()` futures polled once each and
/// dropped: a message whose future was dropped before it was queued is
/// sent again with a new future; one that was queued is not (its frame
/// must go out through later calls). The peer must get each exactly once.
async fn send_through_fresh_futures(role: Role, high_water: usize) {
    let (_, expected, _) = peer_traffic(role);
    let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
    let config = Config::default().with_output_high_water(high_water);
    let mut ws = WebSocket::from_connection(
        Trickle::new(ours),
        Connection::upgraded(role, config).unwrap(),
    );

    let count = expected.len();
    let peer = tokio::spawn(async move {
        let mut conn = Connection::upgraded(peer_of(role), Config::default()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.len() < count {
            let n = theirs.read(&mut buf).await.unwrap();
            assert!(n > 0, "the socket ended after {} messages", got.len());
            conn.receive(&buf[..n]);
            while let Some(event) = conn.next_owned_event() {
                match event {
                    OwnedEvent::Message(message) => got.push(message),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        // Nothing more may come: no duplicate of a queued frame.
        let extra = tokio::time::timeout(Duration::from_millis(100), theirs.read(&mut buf)).await;
        assert!(extra.is_err(), "bytes after the last message: {extra:?}");
        got
    });

    let mut dropped_pending = 0usize;
    within("send", async {
        for message in &expected {
            loop {
                let before = ws.connection().buffered_amount();
                let polled = poll_once(Box::pin(ws.send(message.clone())).as_mut()).await;
                if let Poll::Ready(result) = polled {
                    result.unwrap();
                    break;
                }
                dropped_pending += 1;
                // A poll writes at most one byte; a queued frame adds two
                // or more: a growth means the message is queued.
                if ws.connection().buffered_amount() > before {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        while poll_once(Box::pin(ws.flush()).as_mut()).await.is_pending() {
            dropped_pending += 1;
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        dropped_pending > 1000,
        "only {dropped_pending} futures were dropped pending"
    );
    let got = within("peer", peer).await.unwrap();
    assert_same_messages(&got, &expected);
}

#[tokio::test]
async fn send_recreated_on_every_poll_delivers_each_message_once_server() {
    send_through_fresh_futures(Role::Server, 1 << 20).await;
}

#[tokio::test]
async fn send_recreated_on_every_poll_delivers_each_message_once_client() {
    send_through_fresh_futures(Role::Client, 1 << 20).await;
}

/// With a high-water mark of 0 every `send` first waits for the previous
/// frame to be written whole, so futures are also dropped before queuing.
#[tokio::test]
async fn send_recreated_while_waiting_below_high_water_sends_once() {
    send_through_fresh_futures(Role::Server, 0).await;
}

/// Messages the `select!` test echoes.
const SELECT_MESSAGES: usize = 100_000;

fn numbered(seq: usize) -> String {
    // 8 to 72 bytes: small, of varying length.
    format!("{seq:08}:{}", "x".repeat(seq % 65))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_loop_with_a_1ms_ticker_echoes_100k_messages_in_order() {
    let (mut server, client) = tokio_pair(Config::default(), Config::default()).await;
    let echo = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(1));
        let mut ticks = 0u64;
        loop {
            tokio::select! {
                message = server.recv() => match message {
                    Some(Ok(message)) => server.send(message).await.unwrap(),
                    Some(Err(error)) => panic!("echo failed: {error}"),
                    None => break,
                },
                _ = ticker.tick() => ticks += 1,
            }
        }
        ticks
    });
    let started = Instant::now();
    let (mut rx, tx) = client.split();
    let sender = tokio::spawn(async move {
        for seq in 0..SELECT_MESSAGES {
            tx.send(numbered(seq)).await.unwrap();
        }
        tx
    });
    within("echoes", async {
        for seq in 0..SELECT_MESSAGES {
            match rx.recv().await {
                Some(Ok(Message::Text(text))) => {
                    assert_eq!(text.as_str(), numbered(seq), "echo {seq}")
                }
                other => panic!("echo {seq}: {other:?}"),
            }
        }
    })
    .await;
    let tx = within("sender", sender).await.unwrap();
    within("close", tx.close(CloseCode::NORMAL, "done"))
        .await
        .unwrap();
    assert!(within("closing", rx.recv()).await.is_none());
    let ticks = within("echo task", echo).await.unwrap();
    eprintln!(
        "{SELECT_MESSAGES} echoes in {:?}, {ticks} ticks of the 1 ms ticker",
        started.elapsed()
    );
    assert!(ticks > 0, "the ticker never won a round");
}

/// A socket with a frame queued by a `send()` future that was dropped
/// while the peer was not reading.
async fn dropped_send() -> (WebSocket<TcpStream>, WebSocket<TcpStream>, Vec<u8>) {
    let config = no_deflate().with_output_high_water(64 << 20);
    let (mut server, client) = tokio_pair(config, no_deflate()).await;
    let big = payload(7, 16 << 20); // more than the socket buffers take
    {
        let mut send = Box::pin(server.send(big.clone()));
        assert!(
            poll_once(send.as_mut()).await.is_pending(),
            "a 16 MiB send completed while the peer was not reading"
        );
    }
    let queued = server.connection().buffered_amount();
    assert!(queued > 0, "the dropped send queued nothing");
    (server, client, big)
}

#[tokio::test]
async fn a_dropped_send_whose_frame_was_queued_is_delivered_by_flush() {
    let (mut server, mut client, big) = dropped_send().await;
    let reader = tokio::spawn(async move { (client.recv().await, client) });
    within("flush", server.flush()).await.unwrap();
    let (message, _client) = within("peer", reader).await.unwrap();
    assert!(
        message.unwrap().unwrap() == Message::binary(big),
        "the dropped send's message arrived changed"
    );
}

#[tokio::test]
async fn a_dropped_send_whose_frame_was_queued_is_delivered_by_recv() {
    let (mut server, mut client, big) = dropped_send().await;
    let peer = tokio::spawn(async move {
        let message = client.recv().await;
        client.send("got it").await.unwrap();
        (message, client)
    });
    // Only `recv` drives the socket now: it must write the queued rest.
    let answer = within("recv", server.recv()).await.unwrap().unwrap();
    assert_eq!(answer, Message::text("got it"));
    let (message, _client) = within("peer", peer).await.unwrap();
    assert!(message.unwrap().unwrap() == Message::binary(big));
}

// ============================================================== 2. split

const SPLIT_MESSAGES: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_at_full_speed_both_ways_lose_nothing() {
    let (server, client) = tokio_pair(Config::default(), Config::default()).await;
    let started = Instant::now();
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for (ws, me, them) in [(server, b'S', b'C'), (client, b'C', b'S')] {
        let (mut rx, tx) = ws.split();
        senders.push(tokio::spawn(async move {
            for seq in 0..SPLIT_MESSAGES {
                tx.send(split_message(seq, me)).await.unwrap();
            }
            tx
        }));
        receivers.push(tokio::spawn(async move {
            for seq in 0..SPLIT_MESSAGES {
                match rx.recv().await {
                    Some(Ok(Message::Binary(data))) => {
                        assert!(
                            data == split_message(seq, them),
                            "message {seq} from {them}"
                        )
                    }
                    other => panic!("message {seq} from {them}: {other:?}"),
                }
            }
            rx
        }));
    }
    let mut txs = Vec::new();
    for sender in senders {
        txs.push(within("sending", sender).await.unwrap());
    }
    let mut rxs = Vec::new();
    for receiver in receivers {
        rxs.push(within("receiving", receiver).await.unwrap());
    }
    eprintln!(
        "{SPLIT_MESSAGES} messages each way in {:?}",
        started.elapsed()
    );
    // The client's send half closes; both receive halves see the end.
    within("close", txs[1].close(CloseCode::NORMAL, "done"))
        .await
        .unwrap();
    let (mut server_rx, mut client_rx) = (rxs.remove(0), rxs.remove(0));
    let (server_end, client_end) = within("closing", async {
        tokio::join!(server_rx.recv(), client_rx.recv())
    })
    .await;
    assert!(server_end.is_none(), "{server_end:?}");
    assert!(client_end.is_none(), "{client_end:?}");
    let frame = server_rx.close_frame().unwrap();
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (CloseCode::NORMAL, "done")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_ping_while_the_sender_is_blocked_is_answered_between_frames() {
    let (mut ws, peer) = with_raw_peer(no_deflate()).await;
    ws.set_receive_control(true);
    let (mut rx, tx) = ws.split();
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let sender = tokio::spawn(async move {
        for seq in 0..BLOCKED_MESSAGES {
            tx.send(payload(seq, BLOCKED_LEN)).await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
        }
        tx
    });
    let (ping_seen, ping_rx) = tokio::sync::oneshot::channel();
    let receiver = tokio::spawn(async move {
        let mut ping_seen = Some(ping_seen);
        let mut close = None;
        while let Some(message) = rx.recv().await {
            match message.unwrap() {
                Message::Ping(p) => {
                    if let Some(seen) = ping_seen.take() {
                        let _ = seen.send(p);
                    }
                }
                Message::Close(frame) => close = frame,
                other => panic!("unexpected {}", describe(&other)),
            }
        }
        close
    });

    // The peer does not read until the sender is stuck on a full socket.
    let stalled = {
        let sent = sent.clone();
        blocking(move || wait_for_stall(&sent, BLOCKED_MESSAGES, Duration::from_millis(300))).await
    };
    let peer = blocking(move || {
        let mut peer = peer;
        send_frame(&mut peer, 0x89, BLOCKED_PING);
        peer
    })
    .await;
    let ping = within("the Ping to be read", ping_rx).await.unwrap();
    assert_eq!(ping, BLOCKED_PING);

    // Now read: every frame whole and in order, the Pong between two.
    let pong_after = blocking(move || read_again_then_close(peer)).await;
    eprintln!(
        "sender stalled after {stalled} of {BLOCKED_MESSAGES} messages; the Pong came after frame {pong_after}"
    );
    assert!(
        pong_after >= stalled,
        "the Pong overtook frames already queued"
    );
    within("sender", sender).await.unwrap();
    let close = within("receiver", receiver).await.unwrap();
    assert_eq!(close.map(|f| f.code), Some(CloseCode::NORMAL));
}

// ======================================================== 3. backpressure

/// `close()` must fail with the close timeout, on time.
async fn close_times_out(ws: &mut WebSocket<TcpStream>, limit: Duration, what: &str) {
    let started = Instant::now();
    let result = within("close", ws.close(CloseCode::NORMAL, "")).await;
    let took = started.elapsed();
    assert!(
        matches!(result, Err(WsError::Protocol(Error::CloseTimeout))),
        "{what}: {result:?}"
    );
    assert_on_time(what, took, limit);
}

#[tokio::test]
async fn a_peer_that_never_reads_holds_send_bounds_memory_and_close_times_out() {
    const LEN: usize = 64 * 1024;
    let high_water = 256 * 1024;
    let close_timeout = Duration::from_millis(500);
    let config = no_deflate()
        .with_output_high_water(high_water)
        .with_output_low_water(high_water / 4)
        .with_close_timeout(Some(close_timeout));
    let (mut ws, _peer) = with_raw_peer(config).await;
    let bound = high_water + LEN + 14; // the mark, one message and its header

    // Send until a send stays pending: the kernel's buffers are full.
    let mut seq = 0;
    let mut completed = 0;
    loop {
        let send = tokio::time::timeout(Duration::from_millis(300), ws.send(payload(seq, LEN)));
        seq += 1;
        if send.await.is_err() {
            break;
        }
        completed += 1;
        assert!(ws.connection().buffered_amount() <= bound);
        assert!(seq < 4096, "256 MiB sent to a peer that never reads");
    }
    // Every further send stays pending, and what the connection holds
    // stays under the mark plus one message.
    let mut most = 0;
    for _ in 0..10 {
        let send = tokio::time::timeout(Duration::from_millis(100), ws.send(payload(seq, LEN)));
        seq += 1;
        assert!(
            send.await.is_err(),
            "a send completed though the peer never reads"
        );
        let held = ws.connection().buffered_amount();
        assert!(held <= bound, "{held} bytes held, above {bound}");
        most = most.max(held);
    }
    assert!(
        most > high_water,
        "the output never reached the high-water mark"
    );
    eprintln!(
        "{completed} sends of 64 KiB completed before one waited; the connection then held at most {most} bytes (bound {bound})"
    );

    // The Close cannot even be written: the closing timeout ends it.
    close_times_out(&mut ws, close_timeout, "close() to a peer that never reads").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_that_never_calls_recv_stops_the_reading() {
    const LEN: usize = 64 * 1024;
    let (mut ws, peer) = with_raw_peer(no_deflate()).await;
    // The peer writes without blocking until the socket is full.
    let flood = tokio::task::spawn_blocking(move || {
        let mut peer = peer;
        peer.set_nonblocking(true).unwrap();
        let mut written = 0usize;
        let mut seq = 0;
        loop {
            let frame = encode_frame(0x82, &payload(seq, LEN), Some([1, 2, 3, 4]));
            let mut at = 0;
            while at < frame.len() {
                match peer.write(&frame[at..]) {
                    Ok(n) => {
                        at += n;
                        written += n;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        // Still full a moment later: the reading has stopped.
                        std::thread::sleep(Duration::from_millis(200));
                        if let Err(e) = peer.write(&frame[at..at + 1]) {
                            assert_eq!(e.kind(), ErrorKind::WouldBlock);
                            return (peer, written, seq, frame[at..].to_vec());
                        }
                        at += 1;
                        written += 1;
                    }
                    Err(e) => panic!("write failed: {e}"),
                }
                assert!(written < 256 << 20, "256 MiB written and no write blocked");
            }
            seq += 1;
        }
    });
    // Meanwhile the application only sends: that must not read.
    let mut sends = 0;
    while !flood.is_finished() {
        within("send", ws.send("still sending")).await.unwrap();
        sends += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(sends < 1000, "the peer's writes never blocked");
    }
    let (peer, written, last_seq, rest) = within("flood", flood).await.unwrap();
    let bound = kernel_buffers() + (1 << 20);
    eprintln!(
        "the peer's writes blocked after {written} bytes ({} frames of 64 KiB; bound {bound}), {sends} sends meanwhile",
        written / (LEN + 14)
    );
    assert!(
        written <= bound,
        "{written} bytes taken from a peer nobody reads"
    );

    // Reading resumes with `recv`: every message arrives, in order.
    let finish = tokio::task::spawn_blocking(move || {
        let mut peer = peer;
        peer.set_nonblocking(false).unwrap();
        peer.write_all(&rest).unwrap();
        peer
    });
    for seq in 0..=last_seq {
        match within("recv", ws.recv()).await {
            Some(Ok(Message::Binary(data))) => {
                assert!(data == payload(seq, LEN), "message {seq} differs")
            }
            other => panic!("message {seq}: {other:?}"),
        }
    }
    drop(within("finish", finish).await.unwrap());
}

// =========================================================== 4. keepalive

#[tokio::test]
async fn a_peer_that_ignores_pings_is_failed_with_1011() {
    let (mut ws, peer) = with_raw_peer(keepalive_config()).await;
    let silent = tokio::task::spawn_blocking(move || FrameReader::new(peer).frames_to_end());
    let started = Instant::now();
    let result = within("recv", ws.recv()).await;
    let took = started.elapsed();
    assert_keepalive_failure(result, took);
    assert!(within("recv after", ws.recv()).await.is_none());

    assert_pings_then_close(within("silent peer", silent).await.unwrap(), 1011);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_through_a_relay_that_delays_50ms_each_way_measures_100ms() {
    let (listener, addr) = listener().await;
    let relay = spawn_delay_relay(addr, RELAY_DELAY);
    let server = tokio::spawn(async move {
        let stream = accept_tcp(&listener).await;
        let mut ws = accept(stream, Config::default()).await.unwrap();
        while let Some(Ok(_)) = ws.recv().await {}
    });
    let connect = ClientBuilder::new(&format!("ws://{relay}/")).connect();
    let (mut ws, _) = within("connect", connect).await.unwrap();

    let mut rtts = Vec::new();
    for i in 0..5u8 {
        let rtt = within("ping", ws.ping(&[i])).await.unwrap();
        assert_eq!(ws.latency(), Some(rtt));
        rtts.push(rtt);
    }
    let (mut rx, tx) = ws.split();
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = rx.recv().await {} });
    let mut split_rtts = Vec::new();
    for i in 0..5u8 {
        let rtt = within("split ping", tx.ping(&[i])).await.unwrap();
        assert_eq!(tx.latency(), Some(rtt));
        split_rtts.push(rtt);
    }
    assert_round_trips("WebSocket::ping", &rtts);
    assert_round_trips("SendHalf::ping", &split_rtts);
    within("close", tx.close(CloseCode::NORMAL, ""))
        .await
        .unwrap();
    within("reader", reader).await.unwrap();
    within("server", server).await.unwrap();
}

// =========================================================== 5. handshake

#[tokio::test]
async fn accept_with_answers_a_bad_origin_403_and_takes_a_good_one() {
    let (listener, addr) = listener().await;
    let server = tokio::spawn(async move {
        let stream = accept_tcp(&listener).await;
        let refused = accept_with(stream, Config::default(), origin_gate).await;
        assert!(matches!(refused, Err(WsError::Refused(403))), "{refused:?}");
        let stream = accept_tcp(&listener).await;
        let mut ws = accept_with(stream, Config::default(), origin_gate)
            .await
            .unwrap();
        let message = ws.recv().await.unwrap().unwrap();
        ws.send(message).await.unwrap();
        ws.close(CloseCode::NORMAL, "").await.unwrap();
    });
    let url = format!("ws://{addr}/");
    let evil = ClientBuilder::new(&url)
        .origin("https://evil.example")
        .connect();
    match within("evil client", evil).await {
        Err(WsError::Rejected(response)) => assert_eq!(response.status(), 403),
        other => panic!("{:?}", other.map(|_| ())),
    }
    let good = ClientBuilder::new(&url)
        .origin("https://good.example")
        .connect();
    let (mut ws, response) = within("good client", good).await.unwrap();
    assert_eq!(response.status(), 101);
    ws.send("hello").await.unwrap();
    assert_eq!(
        within("echo", ws.recv()).await.unwrap().unwrap(),
        Message::text("hello")
    );
    assert!(within("close", ws.recv()).await.is_none());
    within("server", server).await.unwrap();
}

#[tokio::test]
async fn a_plain_http_request_gets_a_200_page() {
    let (listener, addr) = listener().await;
    let server = tokio::spawn(async move {
        let stream = accept_tcp(&listener).await;
        let config = Config::default().with_allow_plain_http(true);
        accept_with(stream, config, serve_page).await.map(|_| ())
    });
    let response = blocking(move || http_exchange(addr, PLAIN_GET)).await;
    assert_page(&response);
    let refused = within("server", server).await.unwrap();
    assert!(matches!(refused, Err(WsError::Refused(200))), "{refused:?}");
}

#[tokio::test]
async fn a_slowloris_client_gets_408_at_the_handshake_timeout() {
    let limit = Duration::from_millis(300);
    let (listener, addr) = listener().await;
    let server = tokio::spawn(async move {
        let stream = accept_tcp(&listener).await;
        let started = Instant::now();
        let result = accept(
            stream,
            Config::default().with_handshake_timeout(Some(limit)),
        )
        .await;
        (result.map(|_| ()), started.elapsed())
    });
    let slow = b"GET / HTTP/1.1\r\nHost: loc"; // and nothing more
    let response = blocking(move || http_exchange(addr, slow)).await;
    assert!(response.starts_with("HTTP/1.1 408 "), "{response}");
    let (result, took) = within("server", server).await.unwrap();
    assert!(
        matches!(result, Err(WsError::Protocol(Error::HandshakeTimeout))),
        "{result:?}"
    );
    assert_on_time("the 408", took, limit);
}

#[tokio::test]
async fn connect_timeout_to_a_host_that_never_answers_is_a_timeout() {
    // A loopback listener with a full accept queue drops our SYN, as an
    // unreachable host would, without a packet leaving this machine.
    let (listener, fillers) = blocking(saturated_listener).await;
    let addr = listener.local_addr().unwrap();
    let limit = Duration::from_millis(200);
    let started = Instant::now();
    let connect = ClientBuilder::new(&format!("ws://{addr}/"))
        .connect_timeout(limit)
        .connect();
    let result = within("connect", connect).await;
    let took = started.elapsed();
    assert!(
        matches!(result, Err(WsError::Timeout)),
        "{:?}",
        result.map(|_| ())
    );
    assert_on_time("the connect timeout", took, limit);
    drop((listener, fillers));
}

#[tokio::test]
async fn a_server_that_answers_403_gives_rejected() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::task::spawn_blocking(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        read_head(&mut stream);
        stream
            .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\nX-Why: origin\r\n\r\nno")
            .unwrap();
        support::close_gracefully(stream, &mut [0; 4096]);
    });
    match within(
        "connect",
        ClientBuilder::new(&format!("ws://{addr}/")).connect(),
    )
    .await
    {
        Err(WsError::Rejected(response)) => {
            assert_eq!(response.status(), 403);
            assert_eq!(response.headers().get("x-why"), Some("origin"));
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    within("server", server).await.unwrap();
}

// ======================================================= 6. closing

#[tokio::test]
async fn close_from_the_server_reaches_the_peer_and_ends_with_fin() {
    let (mut ws, peer) = with_raw_peer(no_deflate()).await;
    let peer = tokio::task::spawn_blocking(move || answer_close(peer, true));
    within("close", ws.close(CloseCode(4000), "bye now"))
        .await
        .unwrap();
    assert_closed_with_fin(within("peer", peer).await.unwrap(), 4000, "bye now");
    assert!(within("recv", ws.recv()).await.is_none());
}

#[tokio::test]
async fn close_from_the_client_reaches_the_peer_and_ends_with_fin() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = tokio::task::spawn_blocking(move || answer_close(raw_server(&listener), false));
    let (mut ws, _) = within(
        "connect",
        ClientBuilder::new(&format!("ws://{addr}/")).connect(),
    )
    .await
    .unwrap();
    within("close", ws.close(CloseCode(4001), "client leaves"))
        .await
        .unwrap();
    assert_closed_with_fin(within("peer", peer).await.unwrap(), 4001, "client leaves");
    let frame = ws.close_frame().unwrap();
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (CloseCode(4001), "client leaves")
    );
}

#[tokio::test]
async fn close_to_a_peer_that_never_answers_fails_at_the_close_timeout() {
    let limit = Duration::from_millis(300);
    let (mut ws, peer) = with_raw_peer(no_deflate().with_close_timeout(Some(limit))).await;
    let silent = tokio::task::spawn_blocking(move || FrameReader::new(peer).frames_to_end());
    close_times_out(&mut ws, limit, "close() to a silent peer").await;
    drop(ws);
    let (frames, _) = within("silent peer", silent).await.unwrap();
    assert_eq!(close_of(&frames[0]).0, 1000);
}

/// Through the split halves, the close timeout holds too: the receive
/// half, waiting on a silent socket, must end once the Close the send
/// half wrote stays unanswered for `close_timeout`.
#[tokio::test]
async fn split_close_to_a_peer_that_never_answers_ends_at_the_close_timeout() {
    let limit = Duration::from_millis(300);
    let config = no_deflate()
        .with_ping_interval(None)
        .with_close_timeout(Some(limit));
    let (ws, peer) = with_raw_peer(config).await;
    let silent = tokio::task::spawn_blocking(move || FrameReader::new(peer).frames_to_end());
    let (mut rx, tx) = ws.split();
    let receiver = tokio::spawn(async move { rx.recv().await });
    tokio::time::sleep(Duration::from_millis(50)).await; // the receive half waits
    let started = Instant::now();
    within("close", tx.close(CloseCode::NORMAL, ""))
        .await
        .unwrap();
    let ended = tokio::time::timeout(limit + Duration::from_millis(1500), receiver).await;
    let took = started.elapsed();
    let result = ended
        .unwrap_or_else(|_| panic!("RecvHalf::recv still waiting {took:?} after SendHalf::close, close_timeout {limit:?}"))
        .unwrap();
    assert!(
        matches!(result, Some(Err(WsError::Protocol(Error::CloseTimeout)))),
        "{result:?}"
    );
    drop(tx);
    let _ = within("silent peer", silent).await;
}
