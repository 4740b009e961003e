//! Allocation accounting with a counting global allocator: an open
//! connection in its steady state allocates nothing (answering through the
//! split borrows, and with `bytes` echoing owned messages, included), a
//! connection that grew its buffers for one large message gives the memory
//! back, and with `bytes` owned payloads go in and out without a copy.
//!
//! The counters are per thread, so tests running in parallel (and the test
//! harness) do not disturb each other; every measured part runs on the test's
//! own thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;
use wsmachine::{Config, Connection, Event, MessageKind, ReceiveMode, Role, Timestamp};

struct Counting;

thread_local! {
    /// Calls to `alloc`, `alloc_zeroed` and `realloc` on this thread.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    /// Bytes allocated minus bytes freed on this thread.
    static LIVE_BYTES: Cell<i64> = const { Cell::new(0) };
    /// The most `LIVE_BYTES` has been since the last `reset_peak`.
    static PEAK_BYTES: Cell<i64> = const { Cell::new(0) };
}

fn note(allocation: bool, live_delta: i64) {
    // `try_with`: the allocator may run while the thread's locals are torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + u64::from(allocation)));
    let _ = LIVE_BYTES.try_with(|live| {
        live.set(live.get() + live_delta);
        let _ = PEAK_BYTES.try_with(|peak| peak.set(peak.get().max(live.get())));
    });
}

// SAFETY: every call is forwarded unchanged to `System`; the bookkeeping
// touches only const-initialised thread locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(true, layout.size() as i64);
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(true, layout.size() as i64);
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(true, new_size as i64 - layout.size() as i64);
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(false, -(layout.size() as i64));
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

fn live_bytes() -> i64 {
    LIVE_BYTES.with(Cell::get)
}

fn reset_peak() {
    PEAK_BYTES.with(|peak| peak.set(live_bytes()));
}

fn peak_bytes() -> i64 {
    PEAK_BYTES.with(Cell::get)
}

/// What an empty buffer may keep (`RETAIN_CAPACITY` in the crate): a 64 KiB
/// read leaves the input buffer at exactly this, which is kept for the next.
const RETAINED: i64 = 64 * 1024;

/// Allocations made by each kind of call, so a failure names the culprit.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    send: u64,
    pump: u64,
    next_event: u64,
    /// `handle_timeout` and `poll_timeout`.
    timers: u64,
}

/// Runs `f` and adds the allocations it made to `counter`.
fn counted<T>(counter: &mut u64, f: impl FnOnce() -> T) -> T {
    let before = allocations();
    let value = f();
    *counter += allocations() - before;
    value
}

fn pair(mode: ReceiveMode) -> (Connection, Connection) {
    let config = Config::default()
        .with_receive_mode(mode)
        .with_mask_seed(Some(0x5eed));
    let client = Connection::upgraded(Role::Client, config.clone()).unwrap();
    let server = Connection::upgraded(Role::Server, config).unwrap();
    (client, server)
}

/// Moves everything `from` has queued into `to`, straight from one buffer
/// to the other.
fn pump(from: &mut Connection, to: &mut Connection) {
    let pending = from.pending_output();
    let n = pending.len();
    to.receive(pending);
    from.consume_output(n);
}

/// Pumps a 64 KiB socket read at a time, like a real transport would, and
/// appends the data of messages (or stream-mode chunks) to `sink`.
fn pump_in_reads(from: &mut Connection, to: &mut Connection, sink: &mut Vec<u8>) -> usize {
    let mut messages = 0;
    while !from.pending_output().is_empty() {
        let n = from.pending_output().len().min(64 * 1024);
        to.receive(&from.pending_output()[..n]);
        from.consume_output(n);
        while let Some(event) = to.next_event() {
            match event {
                Event::Binary(data) => {
                    sink.extend_from_slice(data);
                    messages += 1;
                }
                Event::BinaryChunk { data, last } => {
                    sink.extend_from_slice(data);
                    messages += usize::from(last);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    messages
}

/// The next event must be this text; its bytes are copied into `copy`.
fn expect_text(conn: &mut Connection, copy: &mut Vec<u8>) {
    match conn.next_event() {
        Some(Event::Text(text)) => {
            copy.clear();
            copy.extend_from_slice(text.as_bytes());
        }
        other => panic!("expected a text message, got {other:?}"),
    }
}

fn expect_binary(conn: &mut Connection, copy: &mut Vec<u8>) {
    match conn.next_event() {
        Some(Event::Binary(data)) => {
            copy.clear();
            copy.extend_from_slice(data);
        }
        other => panic!("expected a binary message, got {other:?}"),
    }
}

fn expect_pong(conn: &mut Connection) {
    match conn.next_event() {
        Some(Event::Pong { .. }) => {}
        other => panic!("expected a pong, got {other:?}"),
    }
}

fn expect_ping(conn: &mut Connection) {
    match conn.next_event() {
        Some(Event::Ping(_)) => {}
        other => panic!("expected a ping, got {other:?}"),
    }
}

fn expect_none(conn: &mut Connection) {
    if let Some(event) = conn.next_event() {
        panic!("expected nothing, got {event:?}");
    }
}

const TEXT: &str = "0123456789abcdef"; // 16 bytes
const BINARY: [u8; 125] = [0xA5; 125];

/// One round of each kind of traffic the steady state sees: a text echo, a
/// binary echo, and a ping each way. Every call's allocations are tallied.
fn round_trip(client: &mut Connection, server: &mut Connection, copy: &mut Vec<u8>, t: &mut Tally) {
    // Text: client -> server, echoed back.
    counted(&mut t.send, || client.send_text(TEXT)).unwrap();
    counted(&mut t.pump, || pump(client, server));
    counted(&mut t.next_event, || expect_text(server, copy));
    counted(&mut t.next_event, || expect_none(server));
    let echo = std::str::from_utf8(copy).unwrap();
    counted(&mut t.send, || server.send_text(echo)).unwrap();
    counted(&mut t.pump, || pump(server, client));
    counted(&mut t.next_event, || expect_text(client, copy));
    counted(&mut t.next_event, || expect_none(client));
    assert_eq!(copy, TEXT.as_bytes());

    // Binary: server -> client, echoed back.
    counted(&mut t.send, || server.send_binary(&BINARY)).unwrap();
    counted(&mut t.pump, || pump(server, client));
    counted(&mut t.next_event, || expect_binary(client, copy));
    counted(&mut t.next_event, || expect_none(client));
    counted(&mut t.send, || client.send_binary(copy)).unwrap();
    counted(&mut t.pump, || pump(client, server));
    counted(&mut t.next_event, || expect_binary(server, copy));
    counted(&mut t.next_event, || expect_none(server));
    assert_eq!(copy, &BINARY);

    // A ping each way, answered automatically.
    ping_pong(client, server, t);
    ping_pong(server, client, t);
}

/// `a` pings `b`; `b` answers on its own.
fn ping_pong(a: &mut Connection, b: &mut Connection, t: &mut Tally) {
    counted(&mut t.send, || a.send_ping(b"are you there")).unwrap();
    counted(&mut t.pump, || pump(a, b));
    counted(&mut t.next_event, || expect_ping(b));
    counted(&mut t.next_event, || expect_none(b));
    counted(&mut t.pump, || pump(b, a));
    counted(&mut t.next_event, || expect_pong(a));
    counted(&mut t.next_event, || expect_none(a));
}

fn warm_up(client: &mut Connection, server: &mut Connection, copy: &mut Vec<u8>) {
    for _ in 0..100 {
        round_trip(client, server, copy, &mut Tally::default());
    }
}

/// The counter works: it sees a `Vec` being allocated and freed, and the
/// machine's buffers growing on the first round trip.
#[test]
fn the_counter_counts() {
    let before = (allocations(), live_bytes());
    let v: Vec<u8> = Vec::with_capacity(1000);
    assert_eq!(allocations() - before.0, 1);
    assert_eq!(live_bytes() - before.1, 1000);
    drop(v);
    assert_eq!(live_bytes(), before.1);

    let (mut client, mut server) = pair(ReceiveMode::Message);
    let mut t = Tally::default();
    round_trip(&mut client, &mut server, &mut Vec::new(), &mut t);
    assert!(t.send > 0 && t.pump > 0, "{t:?}");
}

#[test]
fn steady_state_text_echo_allocates_nothing() {
    let (mut client, mut server) = pair(ReceiveMode::Message);
    let mut copy = Vec::with_capacity(1024);
    warm_up(&mut client, &mut server, &mut copy);

    // Exactly the loop of an echo: send, pump, receive and copy, echo, pump,
    // receive.
    let mut t = Tally::default();
    for _ in 0..10_000 {
        counted(&mut t.send, || client.send_text(TEXT)).unwrap();
        counted(&mut t.pump, || pump(&mut client, &mut server));
        counted(&mut t.next_event, || expect_text(&mut server, &mut copy));
        counted(&mut t.next_event, || expect_none(&mut server));
        let echo = std::str::from_utf8(&copy).unwrap();
        counted(&mut t.send, || server.send_text(echo)).unwrap();
        counted(&mut t.pump, || pump(&mut server, &mut client));
        counted(&mut t.next_event, || expect_text(&mut client, &mut copy));
        counted(&mut t.next_event, || expect_none(&mut client));
    }
    assert_eq!(t, Tally::default(), "allocations in the steady state");
    assert_eq!(copy, TEXT.as_bytes());
}

#[test]
fn steady_state_mixed_traffic_allocates_nothing() {
    let (mut client, mut server) = pair(ReceiveMode::Message);
    let mut copy = Vec::with_capacity(1024);
    warm_up(&mut client, &mut server, &mut copy);
    // Traffic, then silence long enough for both keepalive Pings to go out
    // and be answered.
    let mut now = Duration::ZERO;
    let mut run = |rounds: usize, t: &mut Tally| {
        for _ in 0..rounds {
            round_trip(&mut client, &mut server, &mut copy, t);
            for conn in [&mut client, &mut server] {
                counted(&mut t.timers, || {
                    conn.handle_timeout(Timestamp::from_duration(now))
                });
            }
            now += Duration::from_secs(30);
            for conn in [&mut client, &mut server] {
                counted(&mut t.timers, || {
                    conn.handle_timeout(Timestamp::from_duration(now));
                    assert_eq!(
                        conn.poll_timeout().map(Timestamp::since_origin),
                        Some(now + Duration::from_secs(30))
                    );
                });
            }
            counted(&mut t.pump, || pump(&mut client, &mut server));
            counted(&mut t.pump, || pump(&mut server, &mut client));
            for conn in [&mut client, &mut server] {
                counted(&mut t.next_event, || expect_ping(conn));
                counted(&mut t.next_event, || expect_none(conn));
            }
            counted(&mut t.pump, || pump(&mut client, &mut server));
            counted(&mut t.pump, || pump(&mut server, &mut client));
            for conn in [&mut client, &mut server] {
                counted(&mut t.next_event, || expect_pong(conn));
                counted(&mut t.next_event, || expect_none(conn));
                counted(&mut t.timers, || {
                    conn.handle_timeout(Timestamp::from_duration(now))
                });
            }
        }
    };
    run(100, &mut Tally::default());
    let mut t = Tally::default();
    run(2_000, &mut t);
    assert_eq!(t, Tally::default(), "allocations in the steady state");
}

/// Reads that end mid-frame leave a partial frame in the input buffer,
/// which is kept and moved to the front, never grown: still no allocation.
#[test]
fn steady_state_split_reads_allocate_nothing() {
    for mode in [ReceiveMode::Message, ReceiveMode::Stream] {
        let (mut client, mut server) = pair(mode);
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut sink = Vec::with_capacity(1 << 16);
        let mut run = |rounds: usize, t: &mut Tally| {
            for _ in 0..rounds {
                counted(&mut t.send, || client.send_text(TEXT)).unwrap();
                counted(&mut t.send, || client.send_binary(&BINARY)).unwrap();
                while !client.pending_output().is_empty() {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let n = (1 + seed % 64) as usize;
                    let n = n.min(client.pending_output().len());
                    counted(&mut t.pump, || {
                        server.receive(&client.pending_output()[..n]);
                        client.consume_output(n);
                    });
                    counted(&mut t.next_event, || {
                        while let Some(event) = server.next_event() {
                            match event {
                                Event::Text(text) => sink.extend_from_slice(text.as_bytes()),
                                Event::Binary(data) => sink.extend_from_slice(data),
                                Event::TextChunk { data, .. } => {
                                    sink.extend_from_slice(data.as_bytes())
                                }
                                Event::BinaryChunk { data, .. } => sink.extend_from_slice(data),
                                other => panic!("unexpected {other:?}"),
                            }
                        }
                    });
                }
                assert_eq!(sink.len(), TEXT.len() + BINARY.len());
                sink.clear();
            }
        };
        run(100, &mut Tally::default());
        let mut t = Tally::default();
        run(10_000, &mut t);
        assert_eq!(
            t,
            Tally::default(),
            "{mode:?}: allocations in the steady state"
        );
    }
}

/// Fragmented messages go through the reassembly buffer, which keeps its
/// (small) capacity between messages.
#[test]
fn steady_state_fragmented_messages_allocate_nothing() {
    let (mut client, mut server) = pair(ReceiveMode::Message);
    let mut copy = Vec::with_capacity(1024);
    warm_up(&mut client, &mut server, &mut copy);
    let mut t = Tally::default();
    run_fragmented(
        &mut client,
        &mut server,
        &mut copy,
        100,
        &mut Tally::default(),
    );
    run_fragmented(&mut client, &mut server, &mut copy, 2_000, &mut t);
    assert_eq!(t, Tally::default(), "allocations in the steady state");
}

/// Sends a 300-byte binary message in three fragments with a ping after
/// each, and collects what the server sees; pongs go back to the client.
fn run_fragmented(
    client: &mut Connection,
    server: &mut Connection,
    copy: &mut Vec<u8>,
    rounds: usize,
    t: &mut Tally,
) {
    let data = [0x5Au8; 300];
    for _ in 0..rounds {
        for (i, piece) in data.chunks(100).enumerate() {
            counted(&mut t.send, || {
                client.send_fragment(MessageKind::Binary, piece, i == 2)
            })
            .unwrap();
            counted(&mut t.send, || client.send_ping(b"between")).unwrap();
        }
        counted(&mut t.pump, || pump(client, server));
        counted(&mut t.next_event, || expect_ping(server));
        counted(&mut t.next_event, || expect_ping(server));
        counted(&mut t.next_event, || expect_binary(server, copy));
        counted(&mut t.next_event, || expect_ping(server));
        counted(&mut t.next_event, || expect_none(server));
        counted(&mut t.pump, || pump(server, client));
        for _ in 0..3 {
            counted(&mut t.next_event, || expect_pong(client));
        }
        counted(&mut t.next_event, || expect_none(client));
        assert_eq!(copy, &data);
    }
}

/// Buffers that grew for large messages are kept while large messages keep
/// coming (a second one allocates nothing), and given back after a run of
/// small traffic or when the keepalive interval passes in silence.
#[test]
fn large_message_buffers_shrink_back() {
    let (mut client, mut server) = pair(ReceiveMode::Message);
    let mut copy = Vec::with_capacity(2 << 20);
    let big: Vec<u8> = (0..1 << 20).map(|i| (i * 7) as u8).collect();
    let mut sink: Vec<u8> = Vec::with_capacity(2 << 20);
    warm_up(&mut client, &mut server, &mut copy);
    let baseline = live_bytes();

    let mut echo_big = |client: &mut Connection, server: &mut Connection| {
        client.send_binary(&big).unwrap();
        pump(client, server);
        expect_binary(server, &mut copy);
        expect_none(server);
        server.send_binary(&copy).unwrap();
        pump(server, client);
        expect_binary(client, &mut copy);
        expect_none(client);
        assert_eq!(copy, big);
    };
    echo_big(&mut client, &mut server);
    let after_first = live_bytes() - baseline;
    let before = allocations();
    echo_big(&mut client, &mut server);
    let second_allocations = allocations() - before;

    // Small traffic afterwards: warm_up's 100 round trips are more than
    // enough small rounds for every buffer to let go.
    warm_up(&mut client, &mut server, &mut Vec::with_capacity(1024));
    let after_small = live_bytes() - baseline;

    // Fragmented (reassembled in the message buffer), in 64 KiB reads.
    for (i, piece) in big.chunks(16 << 10).enumerate() {
        let last = (i + 1) * (16 << 10) >= big.len();
        client
            .send_fragment(MessageKind::Binary, piece, last)
            .unwrap();
    }
    assert_eq!(pump_in_reads(&mut client, &mut server, &mut sink), 1);
    expect_none(&mut server);
    assert_eq!(sink, big);
    let after_fragmented = live_bytes() - baseline;

    // Then silence: the keepalive deadline gives the memory back at once.
    for conn in [&mut client, &mut server] {
        conn.handle_timeout(Timestamp::from_duration(Duration::ZERO));
        let deadline = conn.poll_timeout().expect("keepalive armed");
        conn.handle_timeout(deadline);
    }
    let after_idle = live_bytes() - baseline;

    let report = format!(
        "live heap bytes over the baseline: {after_first} after a 1 MiB echo, \
         {second_allocations} allocations for a second one, {after_small} after small \
         traffic, {after_fragmented} after a fragmented 1 MiB, {after_idle} after the \
         keepalive interval"
    );
    assert!(after_first > 1 << 20, "{report}");
    assert_eq!(second_allocations, 0, "{report}");
    assert!(after_small <= 1024, "{report}");
    assert!(after_fragmented > 1 << 20, "{report}");
    // The keepalive Ping sits in the output queue.
    assert!(after_idle <= 1024, "{report}");
}

/// Asking for events when none is there is not small traffic: a poll loop
/// that asks again and again keeps the grown buffers (letting go of them
/// would grow them again for the next large message), and small messages
/// afterwards still let them go.
#[test]
fn asking_again_for_events_does_not_count_as_small_traffic() {
    let (mut client, mut server) = pair(ReceiveMode::Message);
    let mut copy = Vec::with_capacity(2 << 20);
    warm_up(&mut client, &mut server, &mut copy);
    let big: Vec<u8> = (0..1 << 20).map(|i| (i * 3) as u8).collect();
    let baseline = live_bytes();
    client.send_binary(&big).unwrap();
    pump(&mut client, &mut server);
    expect_binary(&mut server, &mut copy);
    let after_message = live_bytes() - baseline;
    for _ in 0..100 {
        expect_none(&mut server);
        assert!(server.next_owned_event().is_none());
    }
    let after_polls = live_bytes() - baseline;
    warm_up(&mut client, &mut server, &mut Vec::with_capacity(1024));
    let after_small = live_bytes() - baseline;
    let report = format!(
        "live heap bytes over the baseline: {after_message} after a 1 MiB message, \
         {after_polls} after 200 empty polls, {after_small} after small traffic"
    );
    assert!(after_message > 1 << 20, "{report}");
    assert_eq!(after_polls, after_message, "{report}");
    assert!(after_small <= 1024, "{report}");
}

/// In stream mode a 1 MiB message sent a fragment at a time passes through
/// without being buffered whole on either side: the heap never grows by more
/// than a few reads' worth.
#[test]
fn stream_mode_large_message_is_never_buffered_whole() {
    let (mut client, mut server) = pair(ReceiveMode::Stream);
    let big: Vec<u8> = (0..1 << 20).map(|i| (i * 7) as u8).collect();
    let mut sink: Vec<u8> = Vec::with_capacity(2 << 20);
    // Warm up: a small message arrives as one last chunk.
    for _ in 0..100 {
        client.send_binary(&BINARY).unwrap();
        assert_eq!(pump_in_reads(&mut client, &mut server, &mut sink), 1);
        ping_pong(&mut server, &mut client, &mut Tally::default());
    }
    sink.clear();
    let baseline = live_bytes();
    reset_peak();

    let mut messages = 0;
    for (i, piece) in big.chunks(16 << 10).enumerate() {
        let last = (i + 1) * (16 << 10) >= big.len();
        client
            .send_fragment(MessageKind::Binary, piece, last)
            .unwrap();
        messages += pump_in_reads(&mut client, &mut server, &mut sink);
    }
    assert_eq!(messages, 1);
    assert_eq!(sink, big);
    let peak = peak_bytes() - baseline;
    let after = live_bytes() - baseline;
    assert!(
        peak <= 4 * (16 << 10) && after <= RETAINED,
        "heap grew by {peak} bytes at the peak, {after} at the end, for a 1 MiB message \
         sent in 16 KiB fragments"
    );
}

// ------------------------------------------------- answering while holding

/// Echoes every message `conn` has received through the split halves,
/// answering each while its event is held; returns how many.
fn echo_split(conn: &mut Connection) -> usize {
    let (mut rx, mut tx) = conn.split_mut();
    let mut echoed = 0;
    while let Some(event) = rx.next_event() {
        match event {
            Event::Text(text) => tx.send_text(text).unwrap(),
            Event::Binary(data) => tx.send_binary(data).unwrap(),
            Event::Ping(_) | Event::Pong { .. } => continue,
            other => panic!("unexpected {other:?}"),
        }
        echoed += 1;
    }
    echoed
}

/// Reads the echoed messages back (and a Pong), answering nothing.
fn expect_echoes(conn: &mut Connection, messages: usize) {
    let mut seen = 0;
    while let Some(event) = conn.next_event() {
        match event {
            Event::Text(_) | Event::Binary(_) => seen += 1,
            Event::Pong { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, messages);
}

/// A 1000-byte message: a 16-bit length, and above the size a server
/// queues by reference with `bytes`.
const LARGE: [u8; 1000] = [0x3C; 1000];

/// The client sends a text, two binaries and a Ping; the server echoes
/// them through the split halves (its Pong waits in the control queue for
/// the echo), the client echoes the echoes the same way, and the server
/// reads them.
fn split_echo_round(client: &mut Connection, server: &mut Connection, t: &mut Tally) {
    counted(&mut t.send, || {
        client.send_text(TEXT).unwrap();
        client.send_binary(&BINARY).unwrap();
        client.send_binary(&LARGE).unwrap();
        client.send_ping(b"are you there").unwrap();
    });
    counted(&mut t.pump, || pump(client, server));
    assert_eq!(counted(&mut t.next_event, || echo_split(server)), 3);
    counted(&mut t.pump, || pump(server, client));
    assert_eq!(counted(&mut t.next_event, || echo_split(client)), 3);
    counted(&mut t.pump, || pump(client, server));
    counted(&mut t.next_event, || expect_echoes(server, 3));
}

/// (a) An echo that answers through the split borrows, both ways.
#[test]
fn steady_state_split_echo_allocates_nothing() {
    let (mut client, mut server) = pair(ReceiveMode::Message);
    for _ in 0..100 {
        split_echo_round(&mut client, &mut server, &mut Tally::default());
    }
    let mut t = Tally::default();
    for _ in 0..10_000 {
        split_echo_round(&mut client, &mut server, &mut t);
    }
    assert_eq!(t, Tally::default(), "allocations in the steady state");
}

// ------------------------------------------------------- owned messages

/// Moves everything `from` has queued into `to` through
/// `pending_output_chunks`, a vectored write at a time, by way of `sink`.
#[cfg(feature = "bytes")]
fn pump_chunks(from: &mut Connection, to: &mut Connection, sink: &mut Vec<u8>) {
    loop {
        sink.clear();
        let mut chunks: [&[u8]; 8] = [&[]; 8];
        let n = from.pending_output_chunks(&mut chunks);
        if n == 0 {
            break;
        }
        for chunk in &chunks[..n] {
            sink.extend_from_slice(chunk);
        }
        from.consume_output(sink.len());
        to.receive(sink);
    }
}

/// Echoes every message `conn` has received as the owned message it is;
/// returns how many.
#[cfg(feature = "bytes")]
fn echo_owned(conn: &mut Connection) -> usize {
    use wsmachine::{Message, OwnedEvent};
    let mut echoed = 0;
    while let Some(event) = conn.next_owned_event() {
        match event {
            OwnedEvent::Message(message @ (Message::Text(_) | Message::Binary(_))) => {
                conn.send(message).unwrap();
                echoed += 1;
            }
            OwnedEvent::Message(Message::Ping(_)) | OwnedEvent::Pong { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    echoed
}

/// [`split_echo_round`] with owned messages: `next_owned_event`, `send`,
/// and `pending_output_chunks`.
#[cfg(feature = "bytes")]
fn owned_echo_round(
    client: &mut Connection,
    server: &mut Connection,
    sink: &mut Vec<u8>,
    t: &mut Tally,
) {
    counted(&mut t.send, || {
        client.send_text(TEXT).unwrap();
        client.send_binary(&BINARY).unwrap();
        client.send_binary(&LARGE).unwrap();
        client.send_ping(b"are you there").unwrap();
    });
    counted(&mut t.pump, || pump_chunks(client, server, sink));
    assert_eq!(counted(&mut t.next_event, || echo_owned(server)), 3);
    counted(&mut t.pump, || pump_chunks(server, client, sink));
    assert_eq!(counted(&mut t.next_event, || echo_owned(client)), 3);
    counted(&mut t.pump, || pump_chunks(client, server, sink));
    counted(&mut t.next_event, || expect_echoes(server, 3));
}

/// (b) An echo of owned messages, both ways: the received payload leaves
/// the input buffer as a `Bytes`, and the server queues the large one by
/// reference.
#[cfg(feature = "bytes")]
#[test]
fn steady_state_owned_echo_allocates_nothing() {
    let (mut client, mut server) = pair(ReceiveMode::Message);
    let mut sink = Vec::with_capacity(64 * 1024);
    for _ in 0..100 {
        owned_echo_round(&mut client, &mut server, &mut sink, &mut Tally::default());
    }
    let mut t = Tally::default();
    for _ in 0..10_000 {
        owned_echo_round(&mut client, &mut server, &mut sink, &mut t);
    }
    assert_eq!(t, Tally::default(), "allocations in the steady state");
}

/// (c) A server's owned payload reaches the writer as it was handed over:
/// the output chunk is the caller's `Bytes`, not a copy. Below 512 bytes it
/// is copied into the queue, and a client masks a copy.
#[cfg(feature = "bytes")]
#[test]
fn servers_owned_payload_is_written_without_a_copy() {
    use bytes::Bytes;
    use wsmachine::Message;
    let payload = Bytes::from(vec![0x42u8; 64 * 1024]);
    let (mut client, mut server) = pair(ReceiveMode::Message);
    let before = live_bytes();
    server.send(Message::Binary(payload.clone())).unwrap();
    let mut chunks: [&[u8]; 4] = [&[]; 4];
    let n = server.pending_output_chunks(&mut chunks);
    assert_eq!(
        chunks[..n].iter().map(|c| c.len()).sum::<usize>(),
        10 + payload.len() // a 64-bit length: 2 + 8 bytes of header
    );
    let shared = chunks[..n]
        .iter()
        .any(|c| c.as_ptr() == payload.as_ptr() && c.len() == payload.len());
    assert!(
        shared,
        "the payload was copied: {:?}",
        chunks[..n].iter().map(|c| c.len()).collect::<Vec<_>>()
    );
    // The queue grew by a header and its bookkeeping, not by the payload.
    let grown = live_bytes() - before;
    assert!(grown < 1024, "queueing by reference took {grown} bytes");

    let small = Bytes::from(vec![0x42u8; 511]);
    let mut other = Connection::upgraded(Role::Server, Config::default()).unwrap();
    other.send(Message::Binary(small.clone())).unwrap();
    let out = other.pending_output();
    assert_eq!(out.len(), 4 + small.len());
    assert_ne!(out[4..].as_ptr(), small.as_ptr());

    client.send(Message::Binary(payload.clone())).unwrap();
    let mut chunks: [&[u8]; 4] = [&[]; 4];
    let n = client.pending_output_chunks(&mut chunks);
    assert!(chunks[..n].iter().all(|c| c.as_ptr() != payload.as_ptr()));
}

/// Sends `LARGE` from `from`, reads it into `to`'s own receive buffer and
/// takes it out as an owned message: it must point into that buffer.
#[cfg(feature = "bytes")]
fn receive_owned(from: &mut Connection, to: &mut Connection, t: &mut Tally) {
    use wsmachine::{Message, OwnedEvent};
    counted(&mut t.send, || from.send_binary(&LARGE)).unwrap();
    let wire = from.pending_output();
    let n = wire.len();
    let room = to.receive_buffer(n);
    room[..n].copy_from_slice(wire);
    let room = room.as_ptr();
    from.consume_output(n);
    counted(&mut t.pump, || to.commit_received(n));
    let message = counted(&mut t.next_event, || to.next_owned_event());
    let Some(OwnedEvent::Message(Message::Binary(data))) = message else {
        panic!("expected a binary message, got {message:?}");
    };
    assert_eq!(&data[..], &LARGE[..]);
    let header = n - LARGE.len();
    assert_eq!(
        data.as_ptr(),
        room.wrapping_add(header),
        "the payload was copied"
    );
    counted(&mut t.next_event, || {
        drop(data);
        assert_eq!(to.next_owned_event(), None);
    });
}

/// (d) A single-frame message received with `next_owned_event` is the
/// input buffer's bytes: it points into the room the transport was read
/// into, and once warm receiving it allocates nothing, both ways.
#[cfg(feature = "bytes")]
#[test]
fn owned_receive_shares_the_input_buffer() {
    for to_server in [true, false] {
        let (mut client, mut server) = pair(ReceiveMode::Message);
        let (from, to) = match to_server {
            true => (&mut client, &mut server),
            false => (&mut server, &mut client),
        };
        for _ in 0..100 {
            receive_owned(from, to, &mut Tally::default());
        }
        let mut t = Tally::default();
        for _ in 0..10_000 {
            receive_owned(from, to, &mut t);
        }
        assert_eq!(
            t,
            Tally::default(),
            "{:?} receiving: allocations",
            to.role()
        );
    }
}

/// After a real opening handshake, once the 101 is written, a server
/// connection that stays idle holds no heap of its own: the request's
/// buffer and state and the response's bytes are all given back (the
/// configuration is shared, made before). With permessage-deflate agreed,
/// only the two small boxes that will hold the zlib streams once a message
/// is compressed (the streams themselves come with the first message).
#[test]
fn an_idle_connection_after_the_handshake_holds_no_heap() {
    use std::sync::Arc;
    for (deflate, allowed) in [(None, 0), (Some(wsmachine::DeflateConfig::default()), 512)] {
        let config = Config::default()
            .with_mask_seed(Some(7))
            .with_deflate(deflate);
        let config = Arc::new(config);
        let before = live_bytes();
        let request = wsmachine::ClientRequest::new("example.com", "/");
        let mut client = Connection::client(request, config.clone()).unwrap();
        let mut server = Connection::server(config.clone());
        pump(&mut client, &mut server);
        assert!(matches!(
            server.next_event(),
            Some(Event::HandshakeRequest(_))
        ));
        server.accept(wsmachine::Accept::new()).unwrap();
        pump(&mut server, &mut client);
        assert!(matches!(client.next_event(), Some(Event::Connected(_))));
        expect_none(&mut server);
        drop(client);
        let held = live_bytes() - before;
        let compressing = server.deflate_params().is_some();
        assert_eq!(compressing, allowed > 0);
        assert!(
            held <= allowed,
            "{held} heap bytes held (deflate: {compressing})"
        );
        // It still works: the RFC's masked "Hello" (section 5.7).
        server.receive(&[
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ]);
        assert_eq!(server.next_event(), Some(Event::Text("Hello")));
    }
}

/// A connection that takes owned messages gives back what grew for a large
/// one after a run of small ones, as one that takes borrowed events does:
/// a message split off the input ends a round like a consumed one.
#[cfg(feature = "bytes")]
#[test]
fn owned_messages_let_a_grown_input_buffer_go_after_small_traffic() {
    use wsmachine::{Message, OwnedEvent};
    let (mut client, mut server) = pair(ReceiveMode::Message);
    let mut sink = Vec::with_capacity(2 << 20);
    let big = vec![7u8; 1 << 20];
    let take_one = |server: &mut Connection| {
        let event = server.next_owned_event();
        assert!(
            matches!(event, Some(OwnedEvent::Message(Message::Binary(_)))),
            "{event:?}"
        );
        assert!(server.next_owned_event().is_none());
    };
    for _ in 0..100 {
        client.send_binary(b"warm").unwrap();
        pump_chunks(&mut client, &mut server, &mut sink);
        take_one(&mut server);
    }
    let baseline = live_bytes();
    client.send_binary(&big).unwrap();
    pump_chunks(&mut client, &mut server, &mut sink);
    take_one(&mut server);
    let after_large = live_bytes() - baseline;
    for _ in 0..100 {
        client.send_binary(b"small").unwrap();
        pump_chunks(&mut client, &mut server, &mut sink);
        take_one(&mut server);
    }
    let after_small = live_bytes() - baseline;
    let report = format!(
        "live heap bytes over the baseline: {after_large} after a 1 MiB message, \
         {after_small} after 100 small ones"
    );
    assert!(after_large >= 1 << 20, "{report}");
    assert!(after_small <= 1024, "{report}");
}
