//! Memory per connection and allocations per message, counted with a global
//! allocator that tracks live heap bytes and allocation calls; printed as a
//! markdown table on stderr. Then a criterion group times the same 16-byte
//! echo round trip for the three libraries.
//!
//! How the comparison is made fair:
//! - Bytes per idle connection = `size_of` the connection value (for the
//!   peers, which own their stream, minus `size_of` the stream) + the heap
//!   bytes still held once the connection is idle. Heap bytes are the growth
//!   of live heap from just before the connection is created; the in-memory
//!   stream and its sink are allocated before that point and never grow.
//! - "Idle after handshake": wsmachine is measured after a real server
//!   handshake (`Connection::server` + `accept`) and as `Connection::upgraded`,
//!   with the `Arc<Config>` a server shares between its connections (allocated
//!   before the baseline, so only the pointer counts) and with a
//!   `Config::default()` of its own (boxed per connection);
//!   tungstenite after `WebSocket::from_raw_socket`, fastwebsockets after
//!   `WebSocket::after_handshake` (both do their handshake elsewhere).
//! - "After one echo": one 16-byte client text message read and echoed back,
//!   then idle. "After a 64 KiB message": one 64 KiB binary message read and
//!   dropped, then idle: shows what buffers each keeps after a larger message.
//! - Not counted: wsmachine's caller also needs a buffer to read the socket
//!   into before `receive` (it can be one buffer shared by every connection of
//!   an event loop, or on the stack); the peers own theirs inside.
//! - Allocations per message: 10,000 echo round trips of a 16-byte text
//!   message after 1,000 warm-up ones; the stream hands out one frame per read,
//!   as when client and server ping-pong. Each library echoes the way its API
//!   allows: wsmachine sends the borrowed text back through `split_mut`'s
//!   sender while it holds the event; tungstenite sends back the `Message`
//!   it read; fastwebsockets writes back the `Frame` it read. Timing
//!   (criterion) uses the same loop, for 16 B and for 4 KiB text messages.

mod common;

use common::{client_messages, runtime, text, ReplayStream, OP_BINARY, OP_TEXT};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::io::Read;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use tungstenite::protocol::Role as TRole;
use wsmachine::{Accept, Config, Connection, Event, Role};

// ------------------------------------------------------- counting allocator

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

fn record_alloc(size: usize) {
    LIVE.fetch_add(size as isize, Relaxed);
    ALLOCS.fetch_add(1, Relaxed);
    ALLOCATED.fetch_add(size, Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are
// updated on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            record_alloc(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            record_alloc(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as ours.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            // A realloc counts as one allocation of the new size.
            record_alloc(new_size);
            LIVE.fetch_sub(layout.size() as isize, Relaxed);
        }
        new
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Clone, Copy)]
struct Snapshot {
    live: isize,
    allocs: usize,
    allocated: usize,
}

fn snapshot() -> Snapshot {
    Snapshot {
        live: LIVE.load(Relaxed),
        allocs: ALLOCS.load(Relaxed),
        allocated: ALLOCATED.load(Relaxed),
    }
}

impl Snapshot {
    fn live_since(self, before: Snapshot) -> isize {
        self.live - before.live
    }
}

// ------------------------------------------------------------- workloads

const CHROMIUM_LIKE_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: localhost:8080\r\n\
Connection: Upgrade\r\nUpgrade: websocket\r\nOrigin: http://localhost:8080\r\n\
Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";

const WARMUP: usize = 1_000;
const ROUND_TRIPS: usize = 10_000;
/// Round trips per criterion iteration.
const BATCH: usize = 1_000;

/// What the table reports for one library.
#[derive(Default)]
struct Row {
    name: &'static str,
    struct_size: usize,
    idle_after_handshake: isize,
    idle_after_echo: isize,
    idle_after_64k: isize,
    allocs_per_msg: f64,
    bytes_per_msg: f64,
}

/// The wsmachine server loop for one readable event: read what the socket
/// has, feed it, answer each text message with the same text while its
/// event is still held (`split_mut`: no copy in between).
struct WsmEcho {
    read_buf: Box<[u8]>,
}

impl WsmEcho {
    fn new() -> Self {
        WsmEcho {
            read_buf: vec![0; 8192].into_boxed_slice(),
        }
    }

    /// One round trip: returns the number of messages echoed.
    fn round_trip(&mut self, conn: &mut Connection, stream: &mut ReplayStream<'_>) -> usize {
        let n = stream.read(&mut self.read_buf).unwrap();
        conn.receive(&self.read_buf[..n]);
        let mut echoed = 0;
        let (mut rx, mut tx) = conn.split_mut();
        while let Some(event) = rx.next_event() {
            match event {
                Event::Text(text) => {
                    tx.send_text(text).unwrap();
                    echoed += 1;
                }
                Event::Binary(data) => {
                    black_box(data);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let pending = conn.pending_output().len();
        std::io::Write::write_all(stream, conn.pending_output()).unwrap();
        conn.consume_output(pending);
        echoed
    }
}

fn tung_round_trip(ws: &mut tungstenite::WebSocket<ReplayStream<'_>>) {
    match ws.read().unwrap() {
        message @ tungstenite::Message::Text(_) => ws.send(message).unwrap(),
        message => {
            black_box(message);
        }
    }
}

async fn fws_round_trip(ws: &mut fastwebsockets::WebSocket<ReplayStream<'_>>) {
    let frame = ws.read_frame().await.unwrap();
    if frame.opcode == fastwebsockets::OpCode::Text {
        ws.write_frame(frame).await.unwrap();
    } else {
        black_box(&frame.payload[..]);
    }
}

/// Bytes a stream delivers for the idle measurements: the 16-byte message in
/// a read of its own, then the 64 KiB one.
struct Wire {
    small: Vec<u8>,
    both: Vec<u8>,
}

impl Wire {
    fn new() -> Self {
        let small = client_messages(OP_TEXT, text(16).as_bytes(), 1);
        let large = client_messages(OP_BINARY, &common::binary(64 * 1024), 1);
        let both = [&small[..], &large[..]].concat();
        Wire { small, both }
    }

    fn idle_stream(&self) -> ReplayStream<'_> {
        ReplayStream::once_with_cut(&self.both, self.small.len())
    }

    fn echo_stream(&self) -> ReplayStream<'_> {
        echo_stream(&self.small)
    }
}

/// A stream that hands out `message` (one client frame) per read, again
/// and again, and keeps what is written to it.
fn echo_stream(message: &[u8]) -> ReplayStream<'_> {
    ReplayStream::new(message, message.len())
}

fn per_message(start: Snapshot, end: Snapshot) -> (f64, f64) {
    (
        (end.allocs - start.allocs) as f64 / ROUND_TRIPS as f64,
        (end.allocated - start.allocated) as f64 / ROUND_TRIPS as f64,
    )
}

/// How the wsmachine connection is set up for [`measure_wsmachine`].
#[derive(Clone, Copy, PartialEq)]
enum WsmSetup {
    /// `Connection::server` + the handshake + `accept`, config shared.
    HandshakeShared,
    /// `Connection::upgraded` with its own `Config::default()`.
    UpgradedOwnConfig,
    /// `Connection::upgraded` with an `Arc<Config>` shared by all connections.
    UpgradedShared,
}

fn measure_wsmachine(wire: &Wire, setup: WsmSetup) -> Row {
    // A server shares one configuration between its connections; it is
    // allocated before the baseline, so only the pointer counts.
    let shared = Arc::new(Config::default());
    let mut app = WsmEcho::new();
    let mut stream = wire.idle_stream();
    let mut sink = common::CopySink::new();
    let before = snapshot();
    let mut conn = if setup == WsmSetup::HandshakeShared {
        let mut conn = Connection::server(Arc::clone(&shared));
        conn.receive(CHROMIUM_LIKE_REQUEST);
        assert!(matches!(
            conn.next_event(),
            Some(Event::HandshakeRequest(_))
        ));
        conn.accept(Accept::new()).unwrap();
        assert!(conn.next_event().is_none());
        sink.put(conn.pending_output());
        {
            let n = conn.pending_output().len();
            conn.consume_output(n);
        }
        conn
    } else if setup == WsmSetup::UpgradedShared {
        Connection::upgraded(Role::Server, Arc::clone(&shared)).unwrap()
    } else {
        Connection::upgraded(Role::Server, Config::default()).unwrap()
    };
    let idle_after_handshake = snapshot().live_since(before);
    assert_eq!(app.round_trip(&mut conn, &mut stream), 1);
    let idle_after_echo = snapshot().live_since(before);
    let mut large = 0;
    loop {
        let n = stream.read(&mut app.read_buf).unwrap();
        if n == 0 {
            break;
        }
        conn.receive(&app.read_buf[..n]);
        while let Some(event) = conn.next_event() {
            if let Event::Binary(data) = event {
                large += black_box(data).len();
            }
        }
    }
    assert_eq!(large, 64 * 1024);
    let idle_after_64k = snapshot().live_since(before);

    let mut stream = wire.echo_stream();
    for _ in 0..WARMUP {
        app.round_trip(&mut conn, &mut stream);
    }
    let start = snapshot();
    for _ in 0..ROUND_TRIPS {
        app.round_trip(&mut conn, &mut stream);
    }
    let (allocs_per_msg, bytes_per_msg) = per_message(start, snapshot());
    Row {
        name: match setup {
            WsmSetup::HandshakeShared => "wsmachine (server + accept, shared Arc<Config>)",
            WsmSetup::UpgradedOwnConfig => "wsmachine (upgraded, own Config::default())",
            WsmSetup::UpgradedShared => "wsmachine (upgraded, shared Arc<Config>)",
        },
        struct_size: std::mem::size_of::<Connection>(),
        idle_after_handshake,
        idle_after_echo,
        idle_after_64k,
        allocs_per_msg,
        bytes_per_msg,
    }
}

fn measure_tungstenite(wire: &Wire) -> Row {
    let stream = wire.idle_stream();
    let before = snapshot();
    let mut ws = tungstenite::WebSocket::from_raw_socket(stream, TRole::Server, None);
    let idle_after_handshake = snapshot().live_since(before);
    tung_round_trip(&mut ws);
    let idle_after_echo = snapshot().live_since(before);
    assert_eq!(ws.read().unwrap().len(), 64 * 1024);
    let idle_after_64k = snapshot().live_since(before);

    let mut ws = tungstenite::WebSocket::from_raw_socket(wire.echo_stream(), TRole::Server, None);
    for _ in 0..WARMUP {
        tung_round_trip(&mut ws);
    }
    let start = snapshot();
    for _ in 0..ROUND_TRIPS {
        tung_round_trip(&mut ws);
    }
    let (allocs_per_msg, bytes_per_msg) = per_message(start, snapshot());
    Row {
        name: "tungstenite",
        struct_size: std::mem::size_of::<tungstenite::WebSocket<ReplayStream<'_>>>()
            - std::mem::size_of::<ReplayStream<'_>>(),
        idle_after_handshake,
        idle_after_echo,
        idle_after_64k,
        allocs_per_msg,
        bytes_per_msg,
    }
}

fn measure_fastwebsockets(rt: &tokio::runtime::Runtime, wire: &Wire) -> Row {
    use fastwebsockets::{Role as FRole, WebSocket};
    let stream = wire.idle_stream();
    let (idle_after_handshake, idle_after_echo, idle_after_64k) = rt.block_on(async {
        let before = snapshot();
        let mut ws = WebSocket::after_handshake(stream, FRole::Server);
        let idle_after_handshake = snapshot().live_since(before);
        fws_round_trip(&mut ws).await;
        let idle_after_echo = snapshot().live_since(before);
        let frame = ws.read_frame().await.unwrap();
        assert_eq!(black_box(&frame.payload[..]).len(), 64 * 1024);
        drop(frame);
        let idle_after_64k = snapshot().live_since(before);
        black_box(&ws);
        (idle_after_handshake, idle_after_echo, idle_after_64k)
    });
    let stream = wire.echo_stream();
    let (start, end) = rt.block_on(async {
        let mut ws = WebSocket::after_handshake(stream, FRole::Server);
        for _ in 0..WARMUP {
            fws_round_trip(&mut ws).await;
        }
        let start = snapshot();
        for _ in 0..ROUND_TRIPS {
            fws_round_trip(&mut ws).await;
        }
        (start, snapshot())
    });
    let (allocs_per_msg, bytes_per_msg) = per_message(start, end);
    Row {
        name: "fastwebsockets",
        struct_size: std::mem::size_of::<WebSocket<ReplayStream<'_>>>()
            - std::mem::size_of::<ReplayStream<'_>>(),
        idle_after_handshake,
        idle_after_echo,
        idle_after_64k,
        allocs_per_msg,
        bytes_per_msg,
    }
}

fn print_table(rows: &[Row]) {
    eprintln!();
    eprintln!("### Memory per idle server connection, allocations per 16 B echo");
    eprintln!();
    eprintln!(
        "| library | size_of | heap after handshake | total idle after handshake \
         | heap after one 16 B echo | total idle after echo | heap after a 64 KiB message \
         | allocs / echo | bytes allocated / echo |"
    );
    eprintln!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let size = row.struct_size as isize;
        eprintln!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.3} | {:.1} |",
            row.name,
            row.struct_size,
            row.idle_after_handshake,
            size + row.idle_after_handshake,
            row.idle_after_echo,
            size + row.idle_after_echo,
            row.idle_after_64k,
            row.allocs_per_msg,
            row.bytes_per_msg,
        );
    }
    eprintln!();
}

fn memory(c: &mut Criterion) {
    let rt = runtime();
    let wire = Wire::new();
    let rows = [
        measure_wsmachine(&wire, WsmSetup::HandshakeShared),
        measure_wsmachine(&wire, WsmSetup::UpgradedShared),
        measure_wsmachine(&wire, WsmSetup::UpgradedOwnConfig),
        measure_tungstenite(&wire),
        measure_fastwebsockets(&rt, &wire),
    ];
    print_table(&rows);

    // Timing of the same echo loop, for a small and a page-sized message.
    for (size, label) in [(16, "16B"), (4096, "4KiB")] {
        let message = client_messages(OP_TEXT, text(size).as_bytes(), 1);
        time_echo(c, &rt, &message, label);
    }
}

fn time_echo(c: &mut Criterion, rt: &tokio::runtime::Runtime, message: &[u8], label: &str) {
    let mut group = c.benchmark_group(format!("echo/{label}_round_trip"));
    group.throughput(Throughput::Elements(BATCH as u64));

    let mut conn = Connection::upgraded(Role::Server, Config::default()).unwrap();
    let mut stream = echo_stream(message);
    let mut app = WsmEcho::new();
    assert_eq!(
        app.round_trip(&mut conn, &mut stream),
        1,
        "wsmachine echoes"
    );
    group.bench_function("wsmachine", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                app.round_trip(&mut conn, &mut stream);
            }
        })
    });

    let mut ws = tungstenite::WebSocket::from_raw_socket(echo_stream(message), TRole::Server, None);
    group.bench_function("tungstenite", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                tung_round_trip(&mut ws);
            }
        })
    });

    let mut ws = fastwebsockets::WebSocket::after_handshake(
        echo_stream(message),
        fastwebsockets::Role::Server,
    );
    group.bench_function("fastwebsockets", |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..BATCH {
                    fws_round_trip(&mut ws).await;
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, memory);
criterion_main!(benches);
