//! permessage-deflate: echo throughput and memory per compressed connection.
//!
//! Neither tungstenite 0.30 nor fastwebsockets 0.10 implements
//! permessage-deflate, so there is no peer to run beside us: the group
//! compares wsmachine uncompressed, with the default deflate settings
//! (context takeover, 15-bit windows, level 6) and with
//! `DeflateConfig::low_memory()`. One iteration is a full round trip in
//! memory: client compresses and masks, server unmasks and inflates, server
//! compresses the echo, client inflates. Text is JSON-like (what chat and
//! API traffic look like), so it compresses as real traffic does.
//!
//! Memory: live heap bytes of one connection (server side) after it has
//! received and sent one compressed message, counted with a global allocator;
//! printed as a table on stderr.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::sync::Arc;
use wsmachine::{Accept, ClientRequest, Config, Connection, DeflateConfig, Event};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only a counter is
// updated on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        // SAFETY: same layout, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn json_text(len: usize) -> String {
    let mut out = String::with_capacity(len + 128);
    let mut i = 0u64;
    while out.len() < len {
        i = i
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.push_str(&format!(
            "{{\"id\":{},\"user\":\"user{}\",\"text\":\"message number {} in the room\",\"ts\":{}}},",
            i % 100_000,
            i % 97,
            i % 1000,
            1_700_000_000 + i % 86_400
        ));
    }
    out.truncate(len);
    out
}

fn pump(from: &mut Connection, to: &mut Connection) {
    let n = from.pending_output().len();
    to.receive(from.pending_output());
    from.consume_output(n);
}

/// A client and server that completed a handshake with `deflate`.
fn pair(deflate: Option<DeflateConfig>) -> (Connection, Connection) {
    let config = Arc::new(
        Config::default()
            .with_deflate(deflate)
            .with_mask_seed(Some(7)),
    );
    let mut client = Connection::client(ClientRequest::new("bench", "/"), config.clone()).unwrap();
    let mut server = Connection::server(config);
    pump(&mut client, &mut server);
    assert!(matches!(
        server.next_event(),
        Some(Event::HandshakeRequest(_))
    ));
    server.accept(Accept::new()).unwrap();
    pump(&mut server, &mut client);
    assert!(matches!(client.next_event(), Some(Event::Connected(_))));
    (client, server)
}

/// One echo round trip of `text`; `echo` is reused between rounds.
fn round_trip(client: &mut Connection, server: &mut Connection, text: &str, echo: &mut String) {
    client.send_text(text).unwrap();
    pump(client, server);
    match server.next_event() {
        Some(Event::Text(t)) => {
            echo.clear();
            echo.push_str(t);
        }
        other => panic!("{other:?}"),
    }
    server.send_text(echo).unwrap();
    pump(server, client);
    match client.next_event() {
        Some(Event::Text(t)) => {
            black_box(t);
        }
        other => panic!("{other:?}"),
    }
}

fn configs() -> [(&'static str, Option<DeflateConfig>); 3] {
    [
        ("uncompressed", None),
        ("deflate_default", Some(DeflateConfig::default())),
        ("deflate_low_memory", Some(DeflateConfig::low_memory())),
    ]
}

/// Heap bytes a connection holds = what dropping it gives back.
fn heap_of(conn: Connection) -> isize {
    let before = LIVE.load(Relaxed);
    drop(conn);
    before - LIVE.load(Relaxed)
}

fn memory_table() {
    eprintln!(
        "\n| config | wire bytes, 1 KiB JSON message | server heap after one echo | struct |"
    );
    eprintln!("|---|---:|---:|---:|");
    let text = json_text(1024);
    for (name, deflate) in configs() {
        let (mut client, mut server) = pair(deflate);
        client.send_text(&text).unwrap();
        let wire = client.pending_output().len();
        let mut echo = String::new();
        pump(&mut client, &mut server);
        if let Some(Event::Text(t)) = server.next_event() {
            echo.push_str(t);
        }
        server.send_text(&echo).unwrap();
        pump(&mut server, &mut client);
        let _ = client.next_event();
        drop(client);
        let size = std::mem::size_of::<Connection>();
        eprintln!("| {name} | {wire} | {} | {size} |", heap_of(server));
    }
}

fn deflate_echo(c: &mut Criterion) {
    memory_table();
    for size in [1024usize, 64 * 1024] {
        let text = json_text(size);
        let mut group = c.benchmark_group(format!("deflate_echo/{size}B"));
        group.throughput(Throughput::Bytes(2 * size as u64));
        for (name, deflate) in configs() {
            let (mut client, mut server) = pair(deflate);
            let mut echo = String::new();
            group.bench_function(BenchmarkId::new(name, size), |b| {
                b.iter(|| round_trip(&mut client, &mut server, &text, &mut echo))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, deflate_echo);
criterion_main!(benches);
