//! Loopback echo: server CPU time per message, for three WebSocket servers on
//! tokio.
//!
//! What is measured: 100 WebSocket connections over 127.0.0.1 to one echo
//! server. One criterion iteration is one *round*: every one of the 100
//! clients sends one 16-byte masked binary message, then the generator waits
//! for all 100 echoes (the 100 sends go out back to back, so the connections
//! are pipelined against each other; each connection has one message in
//! flight). The value returned to criterion (`iter_custom`) is **the CPU time
//! the server's thread consumed** during those rounds, user + system, read
//! from that thread's own POSIX CPU clock (`pthread_getcpuclockid` +
//! `clock_gettime`, nanosecond resolution, exact to the scheduler's
//! accounting), not wall time. `Throughput::Elements(100)` makes criterion's
//! "thrpt" line read as messages per server-CPU-second; divide the "time"
//! line by 100 for CPU per message. The system time is the kernel's TCP and
//! epoll work done on the server thread's behalf (recv, send, epoll_wait),
//! which is most of the cost for 16-byte messages and is the same kernel
//! work for every server that makes the same syscalls.
//!
//! The servers, all plain tokio (`current_thread` runtime, IO driver only, no
//! timer driver), one task per connection, `TCP_NODELAY` on every socket:
//! - `wsmachine`: the machine driven by hand like `examples/tokio_echo.rs`,
//!   minus the timers: `read` into a 64 KiB buffer, `receive`, drain
//!   `next_event` (accepting the handshake, copying each Text/Binary payload
//!   out and `send_*`-ing it back), `write` all of `pending_output`, repeat.
//!   One shared `Arc<Config>`, default settings (the client offers no
//!   permessage-deflate, so none is negotiated even with `--all-features`).
//! - `tokio-tungstenite`: `accept_async`, then `StreamExt::next` /
//!   `SinkExt::send` (send = feed + flush, one write per echo), default
//!   config. Note that its default 128 KiB read buffer is zero-filled
//!   (`resize(.., 0)` in `FrameCodec::read_in`) before every read: with
//!   16-byte messages that memset is most of its user-space time (perf), and
//!   with `read_buffer_size(4096)` its CPU per message drops by about a third
//!   on the machine this was written on. The default is kept, as a user of
//!   the crate gets it.
//! - `fastwebsockets`: the HTTP upgrade by hand (read the request head, parse
//!   it with httparse, answer 101 with `wsmachine::handshake::accept_key` —
//!   setup only, not measured), then `WebSocket::after_handshake(stream,
//!   Role::Server)` with its defaults (auto-pong, auto-close), `read_frame` /
//!   `write_frame` (a 16-byte frame is one `write_all`). The echo is rebuilt
//!   with `Frame::new(fin, opcode, None, payload)` (payload moved, not
//!   copied): the frame as read keeps the client's masking key, and writing
//!   it back as is (as fastwebsockets' own doc example does) sends a masked
//!   frame to the client, which the client rightly rejects.
//!
//! How it is made fair:
//! - Each server runs alone (one at a time) in ONE dedicated OS thread pinned
//!   to CPU 0; the load generator is pinned to CPU 1 (criterion's own
//!   thread, which drives it; criterion's analysis runs between measurements,
//!   never during one). A pinning failure is printed and the bench goes on.
//! - The SAME load generator for all three: 100 wsmachine client connections
//!   on blocking `std::net` sockets (10 s timeouts), same payload, same round
//!   structure; every echo is checked byte for byte.
//! - Only the server thread's CPU is counted, so the generator's cost, the
//!   other server implementations and other processes on the machine do not
//!   enter the number (they can only add cache noise). Connection setup and
//!   the handshakes happen before the first measurement; closing after the
//!   last.
//! - Batching: the generator is not infinitely fast, and a server that
//!   drains its sockets sooner could sleep in epoll more often (each sleep
//!   and wakeup costs CPU). The summary printed after each server's run shows
//!   its busy share of wall time and the messages echoed per epoll sleep
//!   (voluntary context switches of the server thread); in practice every
//!   server sleeps about once per round (~100 messages per sleep), i.e. all
//!   three are measured in the same regime.
//! - What dominates: for 16-byte messages most of the server's CPU is the
//!   kernel's (TCP send/receive on loopback, epoll), which is the same for
//!   all three (one recv and one send per message each, checked with
//!   strace); the libraries' own user-space work is the smaller part, so
//!   differences here are diluted compared with the encode/decode benches.
//!
//! Run: `cargo bench -p wsmachine-bench --bench loopback_echo` (under a minute).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::os::unix::thread::JoinHandleExt;
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use wsmachine::{Accept, ClientRequest, CloseCode, Config, Connection, Event};

#[path = "../src/fastwebsockets_upgrade.rs"]
mod fastwebsockets_upgrade;

/// Concurrent connections, and so messages per round.
const CLIENTS: usize = 100;
/// The message every client sends each round.
const PAYLOAD: [u8; 16] = *b"0123456789abcdef";
/// Bound on every blocking read or write of the generator.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
const SERVER_CPU: usize = 0;
const GENERATOR_CPU: usize = 1;

use fastwebsockets_upgrade::BoxError;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Wsmachine,
    TokioTungstenite,
    Fastwebsockets,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Wsmachine => "wsmachine",
            Kind::TokioTungstenite => "tokio-tungstenite",
            Kind::Fastwebsockets => "fastwebsockets",
        }
    }
}

// ------------------------------------------------------------- OS helpers

/// Pins the calling thread to one CPU; false if the OS refused.
fn pin_to_cpu(cpu: usize) -> bool {
    // SAFETY: `cpu_set_t` is plain data for which all-zero is the empty set;
    // `sched_setaffinity(0, ..)` affects the calling thread only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// The calling thread's kernel id (for /proc/self/task/<tid>/stat).
fn gettid() -> libc::pid_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

fn read_clock(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; `clock` belongs to a live thread.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime: {}", io::Error::last_os_error());
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Voluntary context switches of one of our threads so far, from /proc:
/// each is a sleep in epoll_wait (a diagnostic of batching, not measured).
fn sleeps(tid: libc::pid_t) -> u64 {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

// ----------------------------------------------------------------- servers

/// One echo server in its own pinned thread.
struct Server {
    addr: SocketAddr,
    tid: libc::pid_t,
    cpu_clock: libc::clockid_t,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn spawn(kind: Kind) -> Server {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name(format!("server-{}", kind.name()))
            .spawn(move || {
                if !pin_to_cpu(SERVER_CPU) {
                    eprintln!(
                        "note: could not pin the {} server to CPU {SERVER_CPU}: {}",
                        kind.name(),
                        io::Error::last_os_error()
                    );
                }
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(async move {
                    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                    let addr = listener.local_addr().expect("local_addr");
                    ready_tx.send((addr, gettid())).expect("report address");
                    tokio::select! {
                        _ = stop_rx => {}
                        err = accept_loop(kind, listener) => eprintln!("{} accept: {err}", kind.name()),
                    }
                });
                // Dropping the runtime cancels any connection task still alive.
                drop(rt);
            })
            .expect("spawn server thread");
        let (addr, tid) = ready_rx.recv().expect("server thread started");
        let mut cpu_clock: libc::clockid_t = 0;
        // SAFETY: the pthread_t is that of a live thread we own (joined in
        // `stop`), and `cpu_clock` is a valid out-pointer.
        let rc = unsafe { libc::pthread_getcpuclockid(thread.as_pthread_t(), &mut cpu_clock) };
        assert_eq!(rc, 0, "pthread_getcpuclockid failed: {rc}");
        Server {
            addr,
            tid,
            cpu_clock,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// CPU time (user + system) the server thread has used so far.
    fn cpu_time(&self) -> Duration {
        read_clock(self.cpu_clock)
    }

    fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().expect("server thread panicked");
        }
    }
}

async fn accept_loop(kind: Kind, listener: TcpListener) -> io::Error {
    let config = Arc::new(Config::default());
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => return e,
        };
        if let Err(e) = stream.set_nodelay(true) {
            return e;
        }
        let config = Arc::clone(&config);
        tokio::spawn(async move {
            let result = match kind {
                Kind::Wsmachine => serve_wsmachine(stream, config).await,
                Kind::TokioTungstenite => serve_tungstenite(stream).await,
                Kind::Fastwebsockets => serve_fastwebsockets(stream).await,
            };
            if let Err(e) = result {
                eprintln!("{} connection: {e}", kind.name());
            }
        });
    }
}

async fn serve_wsmachine(mut stream: TcpStream, config: Arc<Config>) -> Result<(), BoxError> {
    let mut conn = Connection::server(config);
    let mut read_buf = vec![0u8; 64 * 1024];
    let mut message = Vec::new();
    loop {
        // Events borrow the connection: copy the payload out, then answer.
        while let Some(event) = conn.next_event() {
            let is_text = match event {
                Event::HandshakeRequest(_) => {
                    conn.accept(Accept::new())?;
                    continue;
                }
                Event::Text(text) => {
                    message.clear();
                    message.extend_from_slice(text.as_bytes());
                    true
                }
                Event::Binary(data) => {
                    message.clear();
                    message.extend_from_slice(data);
                    false
                }
                _ => continue,
            };
            // A send fails only once we are closing; the echo is then moot.
            let _ = match std::str::from_utf8(&message) {
                Ok(text) if is_text => conn.send_text(text),
                _ => conn.send_binary(&message),
            };
        }
        while !conn.pending_output().is_empty() {
            let n = stream.write(conn.pending_output()).await?;
            if n == 0 {
                return Ok(()); // the peer is gone
            }
            conn.consume_output(n);
        }
        if conn.should_close_transport() || !conn.wants_read() {
            break;
        }
        match stream.read(&mut read_buf).await? {
            0 => conn.receive_eof(),
            n => conn.receive(&read_buf[..n]),
        }
    }
    stream.shutdown().await?;
    Ok(())
}

async fn serve_tungstenite(stream: TcpStream) -> Result<(), BoxError> {
    use tokio_tungstenite::tungstenite::Message;
    let mut ws = tokio_tungstenite::accept_async(stream).await?;
    // A Close is answered by tungstenite itself; the stream then ends.
    while let Some(message) = ws.next().await {
        let message = message?;
        if matches!(message, Message::Binary(_) | Message::Text(_)) {
            ws.send(message).await?;
        }
    }
    Ok(())
}

async fn serve_fastwebsockets(mut stream: TcpStream) -> Result<(), BoxError> {
    use fastwebsockets::{Frame, OpCode, Role, WebSocket};
    fastwebsockets_upgrade::upgrade(&mut stream).await?;
    let mut ws = WebSocket::after_handshake(stream, Role::Server);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => break, // auto-close already answered it
            // Rebuild the frame without the client's masking key: written
            // as read, it would go back masked, which a client must reject
            // (§5.1). Same as fastwebsockets' `FragmentCollector` does; the
            // payload moves, no copy.
            OpCode::Text | OpCode::Binary => {
                let echo = Frame::new(frame.fin, frame.opcode, None, frame.payload);
                ws.write_frame(echo).await?;
            }
            _ => {}
        }
    }
    Ok(())
}

// ---------------------------------------------------------- load generator

/// One client connection: a wsmachine client on a blocking std socket.
struct Client {
    socket: StdTcpStream,
    conn: Connection,
}

impl Client {
    fn connect(addr: SocketAddr, buf: &mut [u8]) -> io::Result<Client> {
        let socket = StdTcpStream::connect(addr)?;
        socket.set_nodelay(true)?;
        socket.set_read_timeout(Some(IO_TIMEOUT))?;
        socket.set_write_timeout(Some(IO_TIMEOUT))?;
        // No timers are driven on the client side.
        #[allow(unused_mut)]
        let mut config = Config::default().with_ping_interval(None);
        // Plain frames against every server, whatever features are on.
        #[cfg(feature = "deflate")]
        {
            config.deflate = None;
        }
        let request = ClientRequest::new(&addr.to_string(), "/");
        let conn = Connection::client(request, config).map_err(io::Error::other)?;
        let mut client = Client { socket, conn };
        client.flush()?;
        loop {
            client.read_some(buf)?;
            while let Some(event) = client.conn.next_event() {
                match event {
                    Event::Connected(_) => return Ok(client),
                    Event::HandshakeRejected(r) => {
                        return Err(io::Error::other(format!("rejected: {}", r.status())))
                    }
                    Event::Failed(e) => return Err(io::Error::other(format!("{e:?}"))),
                    _ => {}
                }
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        let output = self.conn.pending_output();
        if !output.is_empty() {
            self.socket.write_all(output)?;
            let n = output.len();
            self.conn.consume_output(n);
        }
        Ok(())
    }

    /// Reads once and feeds the machine; returns false at end of stream.
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        match self.socket.read(buf)? {
            0 => {
                self.conn.receive_eof();
                Ok(false)
            }
            n => {
                self.conn.receive(&buf[..n]);
                Ok(true)
            }
        }
    }

    /// Waits for the echo of `PAYLOAD` and checks it.
    fn await_echo(&mut self, buf: &mut [u8]) -> io::Result<()> {
        loop {
            if !self.read_some(buf)? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let mut echoed = false;
            while let Some(event) = self.conn.next_event() {
                match event {
                    Event::Binary(data) => {
                        assert_eq!(data, PAYLOAD, "wrong echo");
                        echoed = true;
                    }
                    Event::Failed(e) => return Err(io::Error::other(format!("{e:?}"))),
                    _ => {}
                }
            }
            self.flush()?; // a Pong, should the server ping
            if echoed {
                return Ok(());
            }
        }
    }
}

/// The load generator: every client, driven from the calling thread.
struct Generator {
    clients: Vec<Client>,
    buf: Vec<u8>,
}

impl Generator {
    fn connect(addr: SocketAddr) -> Generator {
        let mut buf = vec![0u8; 64 * 1024];
        let clients = (0..CLIENTS)
            .map(|_| Client::connect(addr, &mut buf).expect("client connect"))
            .collect();
        Generator { clients, buf }
    }

    /// One round: every client sends one message, then every echo is awaited.
    fn round(&mut self) {
        for client in &mut self.clients {
            client.conn.send_binary(&PAYLOAD).expect("send");
            client.flush().expect("write message");
        }
        for client in &mut self.clients {
            client.await_echo(&mut self.buf).expect("echo");
        }
    }

    /// Closing handshake on every connection, bounded by the socket timeouts.
    fn close(mut self) {
        for client in &mut self.clients {
            let _ = client.conn.close(CloseCode::NORMAL, "");
            let _ = client.flush();
        }
        for client in &mut self.clients {
            while !client.conn.should_close_transport() {
                match client.read_some(&mut self.buf) {
                    Ok(true) => {
                        while client.conn.next_event().is_some() {}
                        let _ = client.flush();
                    }
                    Ok(false) | Err(_) => break,
                }
            }
        }
    }
}

// --------------------------------------------------------------- the bench

fn loopback_echo(c: &mut Criterion) {
    if !pin_to_cpu(GENERATOR_CPU) {
        eprintln!(
            "note: could not pin the load generator to CPU {GENERATOR_CPU}: {}",
            io::Error::last_os_error()
        );
    }
    let mut group = c.benchmark_group("loopback_echo");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(CLIENTS as u64));

    for kind in [
        Kind::Wsmachine,
        Kind::TokioTungstenite,
        Kind::Fastwebsockets,
    ] {
        let server = Server::spawn(kind);
        let mut generator = Generator::connect(server.addr);
        generator.round(); // every connection open and echoing before timing

        let sleeps0 = sleeps(server.tid);
        let (mut cpu_total, mut wall_total, mut rounds) = (Duration::ZERO, Duration::ZERO, 0u64);
        group.bench_function(kind.name(), |b| {
            b.iter_custom(|iters| {
                let wall = Instant::now();
                let cpu = server.cpu_time();
                for _ in 0..iters {
                    generator.round();
                }
                let cpu = server.cpu_time() - cpu;
                cpu_total += cpu;
                wall_total += wall.elapsed();
                rounds += iters;
                cpu
            })
        });
        let sleeps1 = sleeps(server.tid);

        if rounds > 0 {
            let messages = (rounds * CLIENTS as u64) as f64;
            println!(
                "{:>18}: {:.3} µs server CPU/msg over {} msgs (warm-up included); \
                 server busy {:.0}% of wall; {:.1} messages per epoll sleep",
                kind.name(),
                cpu_total.as_secs_f64() * 1e6 / messages,
                messages,
                100.0 * cpu_total.as_secs_f64() / wall_total.as_secs_f64(),
                messages / (sleeps1 - sleeps0).max(1) as f64,
            );
        }
        generator.close();
        server.stop();
    }
    group.finish();
}

criterion_group!(benches, loopback_echo);
criterion_main!(benches);
