//! Answering through the split borrows: an echo that answers each event
//! while holding it (`split_mut`) writes what an echo through a copy
//! writes, and what the receive path sends itself (Pongs, the Close echo)
//! joins the output only at frame boundaries, never inside a frame from
//! `send_vectored`. With `bytes`, the owned-message echo writes the same
//! bytes too.

mod testkit;

use proptest::collection::vec;
use proptest::prelude::*;
use testkit::traffic::{chunking, control_payload, script, Ev, Script};
use testkit::wire::{encode_frame, parse_frames};
use testkit::{filled, Blob, Rng};
use wsmachine::{Config, Connection, Event, MessageKind, Role, SendError};

fn cases(n: u32) -> ProptestConfig {
    testkit::cases(n, "proptest-regressions/split_echo.txt")
}

/// Every client in these tests masks with keys from this seed, so two
/// clients that send the same frames send the same bytes.
const MASK_SEED: u64 = 0x5eed_ec40;

fn upgraded(role: Role) -> Connection {
    Connection::upgraded(role, Config::default().with_mask_seed(Some(MASK_SEED))).unwrap()
}

/// The other end of `role`.
fn peer_of(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Server), Just(Role::Client)]
}

/// Writes out everything queued, a `pending_output()` piece at a time.
fn write_all(conn: &mut Connection, wire: &mut Vec<u8>) {
    loop {
        let piece = conn.pending_output();
        if piece.is_empty() {
            break;
        }
        wire.extend_from_slice(piece);
        let n = piece.len();
        conn.consume_output(n);
    }
}

// ============================================== 1. split echo = copy echo

/// How an echo answers the messages it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Echo {
    /// `conn.next_event()`, the payload copied out, `conn.send_*` once the
    /// event is dropped.
    Copy,
    /// `conn.split_mut()`: answered through the `Sender` while the
    /// `Receiver`'s event is held.
    Split,
    /// `conn.next_owned_event()`, the message sent back with `conn.send`.
    #[cfg(feature = "bytes")]
    Owned,
    /// The same through the split halves: `rx.next_owned_event()`, `tx.send`.
    #[cfg(feature = "bytes")]
    OwnedSplit,
}

/// An echoing end: feeds what it reads, answers every message, and records
/// its events and what it writes.
struct Echoer {
    conn: Connection,
    echo: Echo,
    events: Vec<Ev>,
    /// What each `drain` wrote.
    writes: Vec<Vec<u8>>,
    /// Write sizes, for the echoes that write in pieces.
    #[cfg_attr(not(feature = "bytes"), allow(dead_code))]
    rng: Rng,
}

impl Echoer {
    fn new(role: Role, echo: Echo, write_seed: u64) -> Self {
        Echoer {
            conn: upgraded(role),
            echo,
            events: Vec::new(),
            writes: Vec::new(),
            rng: Rng(write_seed),
        }
    }

    /// Answers every event the buffered input makes, then writes.
    fn drain(&mut self) {
        let conn = &mut self.conn;
        let events = &mut self.events;
        match self.echo {
            Echo::Copy => {
                while let Some(event) = conn.next_event() {
                    let ev = Ev::of(&event);
                    events.push(ev.clone());
                    // The event is dropped here; `ev` holds the copy.
                    match ev {
                        Ev::Message(MessageKind::Text, text) => {
                            conn.send_text(std::str::from_utf8(&text.0).unwrap())
                        }
                        Ev::Message(MessageKind::Binary, data) => conn.send_binary(&data.0),
                        _ => Ok(()),
                    }
                    .unwrap();
                }
            }
            Echo::Split => {
                let (mut rx, mut tx) = conn.split_mut();
                while let Some(event) = rx.next_event() {
                    events.push(Ev::of(&event));
                    match event {
                        Event::Text(text) => tx.send_text(text),
                        Event::Binary(data) => tx.send_binary(data),
                        _ => Ok(()),
                    }
                    .unwrap();
                }
            }
            #[cfg(feature = "bytes")]
            Echo::Owned => {
                while let Some(event) = conn.next_owned_event() {
                    if let Some(message) = owned::record(event, events) {
                        conn.send(message).unwrap();
                    }
                }
            }
            #[cfg(feature = "bytes")]
            Echo::OwnedSplit => {
                let (mut rx, mut tx) = conn.split_mut();
                while let Some(event) = rx.next_owned_event() {
                    if let Some(message) = owned::record(event, events) {
                        tx.send(message).unwrap();
                    }
                }
            }
        }
        let mut wire = Vec::new();
        match self.echo {
            Echo::Copy | Echo::Split => write_all(&mut self.conn, &mut wire),
            #[cfg(feature = "bytes")]
            Echo::Owned | Echo::OwnedSplit => {
                owned::write_some(&mut self.conn, &mut wire, &mut self.rng)
            }
        }
        self.writes.push(wire);
    }

    /// Everything written, the rest of the output included.
    fn finish(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        write_all(&mut self.conn, &mut rest);
        self.writes.push(rest);
        self.writes.concat()
    }
}

/// Feeds the same reads to one echo of each kind, draining each after the
/// reads where `drain` says so (bytes then arrive while earlier ones wait).
fn run_echoes(role: Role, input: &[u8], (seed, max): (u64, usize), echoes: &[Echo]) -> Vec<Echoer> {
    let mut echoers: Vec<Echoer> = echoes
        .iter()
        .map(|&echo| Echoer::new(role, echo, seed ^ 0xABCD))
        .collect();
    let mut rng = Rng(seed);
    let mut at = 0;
    while at < input.len() {
        let n = rng.chunk(max).min(input.len() - at);
        let drain = !rng.next().is_multiple_of(4);
        for echoer in &mut echoers {
            echoer.conn.receive(&input[at..at + n]);
            if drain {
                echoer.drain();
            }
        }
        at += n;
    }
    for echoer in &mut echoers {
        echoer.drain();
    }
    echoers
}

/// The split echo wrote what the copy echo wrote, byte for byte, drain by
/// drain: what the receive path must send (Pongs, the Close echo) waits in
/// its control queue either way and joins the output when it is read.
fn assert_split_writes_as_copy(split: &Echoer, copy: &Echoer) {
    assert_eq!(split.writes.len(), copy.writes.len());
    for (i, (split_bytes, copy_bytes)) in split.writes.iter().zip(&copy.writes).enumerate() {
        assert_eq!(
            Blob(split_bytes.clone()),
            Blob(copy_bytes.clone()),
            "drain {i}"
        );
    }
}

/// Runs one echo of each kind on a peer's traffic; checks that each saw
/// the events the traffic makes and sent every message back, in order, and
/// the Close echo last. Returns the echoes, finished.
fn echo_all(role: Role, traffic: &Script, chunks: (u64, usize), echoes: &[Echo]) -> Vec<Echoer> {
    let (input, expected) = traffic.encode(peer_of(role) == Role::Client);
    let mut echoers = run_echoes(role, &input, chunks, echoes);
    let sent: Vec<&Ev> = expected
        .events
        .iter()
        .filter(|ev| matches!(ev, Ev::Message(..)))
        .collect();
    let close_echo = expected.replies.iter().find(|(first, _)| *first == 0x88);
    for echoer in &mut echoers {
        let echo = echoer.echo;
        assert_eq!(echoer.events, expected.events, "{echo:?} echo");
        let frames = parse_frames(&echoer.finish());
        assert!(frames.iter().all(|f| f.masked == (role == Role::Client)));
        let echoed: Vec<Ev> = frames
            .iter()
            .filter_map(|frame| match frame.first {
                0x81 => Some(Ev::Message(MessageKind::Text, frame.payload.clone())),
                0x82 => Some(Ev::Message(MessageKind::Binary, frame.payload.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(echoed.iter().collect::<Vec<_>>(), sent, "{echo:?} echo");
        if let Some(close) = close_echo {
            let last = frames.last().map(|f| (f.first, f.payload.clone()));
            assert_eq!(last.as_ref(), Some(close), "{echo:?} echo");
        }
    }
    echoers
}

proptest! {
    #![proptest_config(cases(256))]

    /// An end (server or client) echoing its peer's traffic through the
    /// split borrows writes, byte for byte, what one echoing through a copy
    /// writes.
    #[test]
    fn split_echo_writes_what_copy_echo_writes(
        role in role(),
        traffic in script(),
        chunks in chunking(),
    ) {
        let echoers = echo_all(role, &traffic, chunks, &[Echo::Copy, Echo::Split]);
        let _ = role;
        assert_split_writes_as_copy(&echoers[1], &echoers[0]);
    }

    /// An echo of owned messages (`next_owned_event`, `send`) writes byte
    /// for byte what the copy echo writes, and through the split halves
    /// what the split echo writes, though it writes in pieces of
    /// `pending_output_chunks` and large payloads go by reference.
    #[cfg(feature = "bytes")]
    #[test]
    fn owned_echo_writes_what_borrowed_echo_writes(
        role in role(),
        traffic in script(),
        chunks in chunking(),
    ) {
        let echoes = [Echo::Copy, Echo::Owned, Echo::Split, Echo::OwnedSplit];
        let echoers = echo_all(role, &traffic, chunks, &echoes);
        let wires: Vec<Blob> = echoers.iter().map(|e| Blob(e.writes.concat())).collect();
        assert_eq!(&wires[1], &wires[0], "owned echo");
        assert_eq!(&wires[3], &wires[2], "owned split echo");
    }
}

/// Pings read together are all answered, each Pong before the frames sent
/// after its Ping was read (so a Pong is never held back behind the echo of
/// a message that arrived later), the same way through a copy and through
/// the split halves.
#[test]
fn pings_are_answered_before_what_is_sent_after_them() {
    let mut input = encode_frame(0x89, b"first", Some([1, 2, 3, 4]));
    input.extend(encode_frame(0x89, b"second", Some([5, 6, 7, 8])));
    input.extend(encode_frame(0x81, b"hi", Some([9, 10, 11, 12])));
    input.extend(encode_frame(0x89, b"third", Some([1, 2, 3, 4])));
    let echoers = run_echoes(
        Role::Server,
        &input,
        (0, usize::MAX),
        &[Echo::Copy, Echo::Split],
    );
    for echoer in &echoers {
        assert_eq!(
            Blob(echoer.writes.concat()),
            Blob(b"\x8a\x05first\x8a\x06second\x81\x02hi\x8a\x05third".to_vec()),
            "{:?}",
            echoer.echo
        );
    }
}

// ======================================= 2. nothing inside a vectored frame

/// What happens between two pieces of a vectored frame being written.
#[derive(Clone, Debug)]
enum Between {
    /// The peer's Ping arrives (and its events are drained).
    Ping(Blob),
    /// This end queues a Ping of its own.
    OwnPing(Blob),
    /// This end queues a small text message.
    Text(String),
    /// Nothing but the caller looking at the output (as after every step).
    Look,
}

fn between() -> impl Strategy<Value = Between> {
    prop_oneof![
        4 => control_payload().prop_map(Between::Ping),
        1 => control_payload().prop_map(Between::OwnPing),
        1 => "[a-z€]{0,20}".prop_map(Between::Text),
        2 => Just(Between::Look),
    ]
}

/// A large message sent with `send_vectored`, and what happens while it is
/// written in pieces.
#[derive(Clone, Debug)]
struct Vectored {
    kind: MessageKind,
    payload: Blob,
    /// Through the split `Sender` rather than the connection.
    split: bool,
    /// Piece sizes (cycled until the frame is written), and what happens
    /// after each of the first pieces.
    pieces: Vec<(usize, Vec<Between>)>,
}

fn vectored() -> impl Strategy<Value = Vectored> {
    let payload = prop_oneof![
        3 => (126usize..=4000, any::<u64>()).prop_map(|(n, s)| filled(n, s)),
        1 => (0usize..126, any::<u64>()).prop_map(|(n, s)| filled(n, s)),
        1 => (65_536usize..=70_000, any::<u64>()).prop_map(|(n, s)| filled(n, s)),
    ];
    let kind = prop_oneof![Just(MessageKind::Text), Just(MessageKind::Binary)];
    let piece = prop_oneof![1usize..=3, 1usize..=700, 1usize..=80_000];
    (
        kind,
        payload,
        any::<bool>(),
        vec((piece, vec(between(), 0..3)), 1..12),
    )
        .prop_map(|(kind, payload, split, pieces)| {
            // Text is sent as ASCII, so any payload is valid UTF-8.
            let payload = match kind {
                MessageKind::Text => payload.into_iter().map(|b| b'a' + b % 26).collect(),
                MessageKind::Binary => payload,
            };
            Vectored {
                kind,
                payload: Blob(payload),
                split,
                pieces,
            }
        })
}

/// The end sending vectored frames, its wire, and what the wire must hold.
struct VectoredRun {
    role: Role,
    conn: Connection,
    wire: Vec<u8>,
    /// The peer's masking keys.
    keys: Rng,
    /// Payloads of the data frames in the order they must appear.
    data: Vec<(u8, Blob)>,
    /// Pings received, and Pings sent, in order.
    pings_in: Vec<Blob>,
    pings_out: Vec<Blob>,
}

impl VectoredRun {
    fn new(role: Role) -> Self {
        VectoredRun {
            role,
            conn: upgraded(role),
            wire: Vec::new(),
            keys: Rng(7),
            data: Vec::new(),
            pings_in: Vec::new(),
            pings_out: Vec::new(),
        }
    }

    fn send(&mut self, message: &Vectored) {
        write_all(&mut self.conn, &mut self.wire);
        let mut payload = message.payload.0.clone();
        let head = if message.split {
            let (_, mut tx) = self.conn.split_mut();
            tx.send_vectored(message.kind, &mut payload)
        } else {
            self.conn.send_vectored(message.kind, &mut payload)
        }
        .unwrap();
        let first = match message.kind {
            MessageKind::Text => 0x81,
            MessageKind::Binary => 0x82,
        };
        self.data.push((first, message.payload.clone()));
        // Nothing else may start another message or take the output
        // until the frame is written.
        assert_eq!(
            self.conn.send_vectored(MessageKind::Binary, &mut []),
            Err(SendError::OutputPending)
        );
        let mut frame = head.to_vec();
        frame.extend_from_slice(&payload);
        let mut at = 0;
        let mut steps = message.pieces.iter().map(|(_, between)| between);
        for (size, _) in message.pieces.iter().cycle() {
            let n = (*size).min(frame.len() - at);
            self.wire.extend_from_slice(&frame[at..at + n]);
            self.conn.consume_output(n);
            at += n;
            if at == frame.len() {
                break;
            }
            for step in steps.next().into_iter().flatten() {
                self.between(step);
                // The frame is being written: the queue waits behind it.
                assert_eq!(
                    self.conn.pending_output(),
                    b"",
                    "output inside a vectored frame"
                );
                #[cfg(feature = "bytes")]
                assert_eq!(self.conn.pending_output_chunks(&mut [&[][..]; 4]), 0);
            }
        }
    }

    fn between(&mut self, step: &Between) {
        match step {
            Between::Ping(payload) => {
                let key = (self.role == Role::Server).then(|| self.keys.key());
                self.conn.receive(&encode_frame(0x89, &payload.0, key));
                self.pings_in.push(payload.clone());
                self.drain_events();
            }
            Between::OwnPing(payload) => {
                self.conn.send_ping(&payload.0).unwrap();
                self.pings_out.push(payload.clone());
            }
            Between::Text(text) => {
                self.conn.send_text(text).unwrap();
                self.data.push((0x81, Blob(text.clone().into_bytes())));
            }
            Between::Look => {}
        }
    }

    /// Alternates between the two ways of reading events.
    fn drain_events(&mut self) {
        if self.pings_in.len().is_multiple_of(2) {
            while let Some(event) = self.conn.next_event() {
                assert!(
                    matches!(event, Event::Ping(_) | Event::WriteBackpressure(_)),
                    "{event:?}"
                );
            }
        } else {
            let (mut rx, _tx) = self.conn.split_mut();
            while let Some(event) = rx.next_event() {
                assert!(
                    matches!(event, Event::Ping(_) | Event::WriteBackpressure(_)),
                    "{event:?}"
                );
            }
        }
    }

    /// The wire holds well-formed frames: exactly the data frames sent, our
    /// Pings, and Pongs for the peer's Pings in order, the latest answered.
    fn check(mut self) {
        write_all(&mut self.conn, &mut self.wire);
        let frames = parse_frames(&self.wire);
        let mut data = Vec::new();
        let mut pongs = Vec::new();
        let mut pings = Vec::new();
        for frame in frames {
            assert_eq!(frame.masked, self.role == Role::Client, "{frame:?}");
            match frame.first {
                0x81 | 0x82 => data.push((frame.first, frame.payload)),
                0x89 => pings.push(frame.payload),
                0x8A => pongs.push(frame.payload),
                _ => panic!("a frame not sent: {frame:?}"),
            }
        }
        assert_eq!(data, self.data, "the data frames, in order");
        assert_eq!(pings, self.pings_out, "our Pings, in order");
        let mut unanswered = self.pings_in.iter();
        for pong in &pongs {
            assert!(
                unanswered.any(|ping| ping == pong),
                "a Pong out of order or for no Ping: {pong:?}"
            );
        }
        assert_eq!(
            pongs.last(),
            self.pings_in.last(),
            "the latest Ping answered"
        );
    }
}

proptest! {
    #![proptest_config(cases(256))]

    /// Large messages go out with `send_vectored`, written in pieces while
    /// the peer's Pings arrive and more is queued: every Pong, Ping and
    /// message lands between frames, none inside the vectored ones.
    #[test]
    fn no_control_frame_lands_inside_a_vectored_frame(
        role in role(),
        messages in vec(vectored(), 1..5),
        trailing in vec(control_payload(), 0..3),
    ) {
        let mut run = VectoredRun::new(role);
        for message in &messages {
            run.send(message);
        }
        for payload in trailing {
            run.between(&Between::Ping(payload));
        }
        run.check();
    }
}

// ================================================= 3. owned-message echo

#[cfg(feature = "bytes")]
mod owned {
    use super::testkit::traffic::Ev;
    use super::testkit::{Blob, Rng};
    use wsmachine::{Connection, Message, MessageKind, OwnedEvent};

    /// Records an owned event; returns the message to echo, if it is one.
    pub fn record(event: OwnedEvent, events: &mut Vec<Ev>) -> Option<Message> {
        let ev = match &event {
            OwnedEvent::Message(Message::Text(text)) => {
                Ev::Message(MessageKind::Text, Blob(text.as_bytes().to_vec()))
            }
            OwnedEvent::Message(Message::Binary(data)) => {
                Ev::Message(MessageKind::Binary, Blob(data.to_vec()))
            }
            OwnedEvent::Message(Message::Ping(payload)) => Ev::Ping(Blob(payload.to_vec())),
            OwnedEvent::Pong { payload, .. } => Ev::Pong(Blob(payload.to_vec())),
            OwnedEvent::Message(Message::Close(frame)) => Ev::Close(
                frame.as_ref().map(|f| f.code.0),
                frame.as_ref().map_or("", |f| f.reason.as_str()).to_owned(),
            ),
            OwnedEvent::WriteBackpressure(high) => Ev::Backpressure(*high),
            OwnedEvent::Failed(error) => Ev::Failed(*error),
            OwnedEvent::Chunk { kind, data, last } => Ev::Chunk(*kind, Blob(data.to_vec()), *last),
            other => panic!("unexpected {other:?}"),
        };
        events.push(ev);
        match event {
            OwnedEvent::Message(message @ (Message::Text(_) | Message::Binary(_))) => Some(message),
            _ => None,
        }
    }

    /// Writes some of the output, as a vectored write that the transport
    /// takes only part of: a prefix of `pending_output_chunks`.
    pub fn write_some(conn: &mut Connection, wire: &mut Vec<u8>, rng: &mut Rng) {
        let mut chunks = [&[][..]; 3];
        let n = conn.pending_output_chunks(&mut chunks);
        let offered: usize = chunks[..n].iter().map(|c| c.len()).sum();
        let mut budget = match rng.next() % 3 {
            0 => offered,
            _ => rng.chunk(offered + 1) - 1,
        };
        let written = budget;
        for chunk in &chunks[..n] {
            let take = budget.min(chunk.len());
            wire.extend_from_slice(&chunk[..take]);
            budget -= take;
        }
        conn.consume_output(written);
    }
}

// ======================================== 4. closing during a vectored frame

/// A server half way through writing a 1000-byte vectored frame.
fn half_written_vectored() -> (Connection, Vec<u8>) {
    let mut server = upgraded(Role::Server);
    let mut payload = vec![7u8; 1000];
    let head = server
        .send_vectored(MessageKind::Binary, &mut payload)
        .unwrap();
    let mut rest = head.to_vec();
    rest.extend_from_slice(&payload);
    server.consume_output(500);
    (server, rest.split_off(500))
}

/// The peer's Close during a vectored frame: its echo waits behind the
/// frame, and the transport stays open until both are written.
#[test]
fn close_echo_waits_behind_a_vectored_frame() {
    let (mut server, rest) = half_written_vectored();
    server.receive(&encode_frame(0x88, b"\x03\xe8bye", Some([1, 2, 3, 4])));
    {
        let (mut rx, _tx) = server.split_mut();
        assert!(matches!(rx.next_event(), Some(Event::Close { .. })));
        assert_eq!(rx.next_event(), None);
    }
    assert_eq!(server.pending_output(), b"");
    assert!(!server.should_close_transport());
    server.consume_output(rest.len());
    // The echo: the same code and reason.
    assert_eq!(server.pending_output(), b"\x88\x05\x03\xe8bye");
    assert!(!server.should_close_transport());
    server.consume_output(7);
    assert!(server.should_close_transport());
}

/// A protocol error during a vectored frame: the Close it calls for
/// (1002 for an unmasked client frame) waits behind the frame too.
#[test]
fn failure_close_waits_behind_a_vectored_frame() {
    let (mut server, rest) = half_written_vectored();
    server.receive(&encode_frame(0x81, b"unmasked", None));
    assert!(matches!(server.next_event(), Some(Event::Failed(_))));
    assert_eq!(server.pending_output(), b"");
    assert!(!server.should_close_transport());
    server.consume_output(rest.len());
    let close = server.pending_output().to_vec();
    let frames = parse_frames(&close);
    assert_eq!(frames.len(), 1);
    assert_eq!(
        (frames[0].first, &frames[0].payload.0[..2]),
        (0x88, &[0x03, 0xEA][..])
    );
    server.consume_output(close.len());
    assert!(server.should_close_transport());
}

/// A keepalive Ping due while a vectored frame is being written waits
/// behind it; its Pong, read through the split `Receiver`, reports the
/// round trip in the caller's time.
#[test]
fn keepalive_ping_waits_behind_a_vectored_frame() {
    use std::time::Duration;
    use wsmachine::Timestamp;
    let config = Config::default().with_ping_interval(Some(Duration::from_secs(5)));
    let mut server = Connection::upgraded(Role::Server, config).unwrap();
    server.handle_timeout(Timestamp::from_secs(100));
    let mut payload = vec![1u8; 3000];
    let head = server
        .send_vectored(MessageKind::Binary, &mut payload)
        .unwrap();
    server.consume_output(100);
    server.handle_timeout(Timestamp::from_secs(105));
    assert_eq!(server.pending_output(), b"", "the Ping is due, but waits");
    server.consume_output(head.len() + payload.len() - 100);
    let ping = server.pending_output().to_vec();
    assert_eq!(ping, b"\x89\x04\x00\x00\x00\x01", "a counter for a payload");
    server.consume_output(ping.len());
    server.handle_timeout(Timestamp::from_duration(Duration::from_millis(105_020)));
    server.receive(&encode_frame(0x8A, &ping[2..], Some([9, 9, 9, 9])));
    let (mut rx, _) = server.split_mut();
    let rtt = Some(Duration::from_millis(20));
    assert_eq!(
        rx.next_event(),
        Some(Event::Pong {
            payload: &ping[2..],
            rtt
        })
    );
    assert_eq!(server.latency(), rtt);
}

/// `pending_output_vectored` gives the output's pieces in order (queued
/// bytes and payloads held by reference), at most 64 a call.
#[cfg(feature = "bytes")]
#[test]
fn vectored_writes_give_the_pieces_in_order() {
    use bytes::Bytes;
    use std::io::IoSlice;
    let mut server = upgraded(Role::Server);
    for i in 0..70u8 {
        server
            .send(wsmachine::Message::Binary(Bytes::from(vec![i; 600])))
            .unwrap();
        server.send_text("x").unwrap();
    }
    let mut wire = Vec::new();
    loop {
        let mut slices = [IoSlice::new(&[]); 100];
        let n = server.pending_output_vectored(&mut slices);
        assert!(n <= 64);
        if n == 0 {
            break;
        }
        let before = wire.len();
        for slice in &slices[..n] {
            wire.extend_from_slice(slice);
        }
        let written = wire.len() - before;
        server.consume_output(written);
    }
    let frames = parse_frames(&wire);
    assert_eq!(frames.len(), 140);
    for (i, pair) in frames.chunks(2).enumerate() {
        assert_eq!(pair[0].payload.0, vec![i as u8; 600]);
        assert_eq!(pair[1].payload.0, b"x");
    }
}

// ========================================= 5. owned events = borrowed events

/// The events `conn` makes from `input`, read in chunks as `chunks` says,
/// borrowed (and fed with `receive`) or owned (read into `receive_buffer`,
/// every payload held until the end, so later reads cannot reuse its
/// memory); and what it wrote.
#[cfg(feature = "bytes")]
fn receive_all(
    mut conn: Connection,
    input: &[u8],
    (seed, max): (u64, usize),
    owned: bool,
) -> (Vec<Ev>, Vec<u8>) {
    let mut rng = Rng(seed);
    let mut events = Vec::new();
    let mut held = Vec::new();
    let mut wire = Vec::new();
    let mut at = 0;
    while at < input.len() {
        let n = rng.chunk(max).min(input.len() - at);
        let chunk = &input[at..at + n];
        at += n;
        if !owned {
            conn.receive(chunk);
            while let Some(event) = conn.next_event() {
                events.push(Ev::of(&event));
            }
        }
        if owned {
            conn.receive_buffer(n)[..n].copy_from_slice(chunk);
            conn.commit_received(n);
            while let Some(event) = conn.next_owned_event() {
                held.push(event);
            }
        }
        write_all(&mut conn, &mut wire);
    }
    for event in held {
        owned::record(event, &mut events);
    }
    (events, wire)
}

#[cfg(feature = "bytes")]
proptest! {
    #![proptest_config(cases(256))]

    /// `next_owned_event` hands out the events `next_event` does, in both
    /// receive modes and any read chunking, and the payloads it took out of
    /// the input buffer keep their bytes while later reads fill it.
    #[test]
    fn owned_events_are_the_borrowed_events(
        role in role(),
        stream in any::<bool>(),
        traffic in script(),
        chunks in chunking(),
    ) {
        let (input, _) = traffic.encode(peer_of(role) == Role::Client);
        use wsmachine::ReceiveMode;
        let mode = if stream { ReceiveMode::Stream } else { ReceiveMode::Message };
        let conn = || {
            let config = Config::default().with_mask_seed(Some(MASK_SEED)).with_receive_mode(mode);
            Connection::upgraded(role, config).unwrap()
        };
        let (borrowed, borrowed_wire) = receive_all(conn(), &input, chunks, false);
        let (owned, owned_wire) = receive_all(conn(), &input, chunks, true);
        prop_assert_eq!(owned, borrowed);
        prop_assert_eq!(Blob(owned_wire), Blob(borrowed_wire));
    }
}
