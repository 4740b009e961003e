//! # wsmachine
//!
//! A sans-IO WebSocket ([RFC 6455]) state machine for clients and servers,
//! with permessage-deflate ([RFC 7692]), and two front-ends built on it. The
//! machine, [`Connection`], takes bytes and the time and gives back events
//! and bytes to write: it has no sockets, no clock and no runtime, so the
//! same code runs in a thread, on tokio, on an embedded executor or under a
//! fuzzer.
//!
//! Pick the loop that fits:
//!
//! - plain threads: [`blocking`] ([a server](#a-blocking-server),
//!   [a client](#a-blocking-client));
//! - tokio: [`tokio`](mod@tokio) ([a server](#a-tokio-server));
//! - another runtime, or I/O of your own: the bare [`Connection`]
//!   ([the loop](#the-bare-machine), and `examples/sansio_echo.rs`).
//!
//! Whichever you pick, the machine keeps the deadlines its [`Config`] sets,
//! all on by default: a keepalive Ping after 30 s of silence and failure
//! after 30 s more without an answer, 10 s for the opening handshake
//! (a slowloris gets 408) and 10 s for the peer's Close; idle and
//! fragmented-message timeouts are there to turn on. Output is bounded too:
//! above [`Config::output_high_water`] (1 MiB) a sender waits or is told.
//!
//! ## A blocking server
//!
//! A thread per connection; every message comes back.
//!
//! ```no_run
//! use std::net::TcpListener;
//! use std::sync::Arc;
//! use std::time::Duration;
//! use wsmachine::blocking::accept;
//! use wsmachine::{Config, WsError};
//!
//! fn main() -> std::io::Result<()> {
//!     // The defaults, with a shorter keepalive and an idle timeout (1001).
//!     let config = Arc::new(
//!         Config::default()
//!             .with_ping_interval(Some(Duration::from_secs(20)))
//!             .with_idle_timeout(Some(Duration::from_secs(300))),
//!     );
//!     let listener = TcpListener::bind("127.0.0.1:9001")?;
//!     for stream in listener.incoming() {
//!         let (stream, config) = (stream?, config.clone());
//!         stream.set_nodelay(true)?; // small frames go out at once
//!         std::thread::spawn(move || -> Result<(), WsError> {
//!             // The opening handshake, within Config::handshake_timeout (10 s).
//!             let mut ws = accept(stream, config)?;
//!             // recv waits with the socket's read timeout set to the next
//!             // deadline: it sends the keepalive Pings, answers the peer's,
//!             // fails a peer gone silent, and completes the closing handshake.
//!             while let Some(message) = ws.recv() {
//!                 ws.send(message?)?;
//!             }
//!             Ok(()) // closed cleanly: the peer's Close is in ws.close_frame()
//!         });
//!     }
//!     Ok(())
//! }
//! ```
//!
//! The deadlines run while a thread is in `recv`: keep one there. To send
//! from other threads meanwhile, [`split`](blocking::WebSocket::split) a
//! `TcpStream` socket into a [`Reader`](blocking::Reader) (it reads and keeps
//! the deadlines) and cloneable [`Writer`](blocking::Writer)s. A send blocks
//! while the socket is full, so backpressure is TCP's own; set a write
//! timeout on the stream to bound how long a peer that stops reading can
//! hold a sender (the connection fails when it passes).
//!
//! ## A blocking client
//!
//! ```no_run
//! use std::time::Duration;
//! use wsmachine::blocking::ClientBuilder;
//! use wsmachine::{CloseCode, Message, WsError};
//!
//! fn main() -> Result<(), WsError> {
//!     let (mut ws, _response) = ClientBuilder::new("ws://127.0.0.1:9001/chat")
//!         .connect_timeout(Duration::from_secs(5))
//!         .protocol("chat") // offered; ws.protocol() says what was agreed
//!         .connect()?;
//!     ws.send("hello")?;
//!     let rtt = ws.ping(b"are you there")?; // waits for the Pong
//!     println!("round trip: {rtt:?}");
//!     // recv keeps the deadlines while it waits, as on the server.
//!     while let Some(message) = ws.recv() {
//!         match message? {
//!             Message::Text(text) if text == "hello" => break, // the echo
//!             Message::Text(text) => println!("{text}"),
//!             other => println!("{} bytes", other.len()),
//!         }
//!     }
//!     // The closing handshake: our Close, the peer's, then the end of the
//!     // stream, within Config::close_timeout (10 s).
//!     ws.close(CloseCode::NORMAL, "done")
//! }
//! ```
//!
//! ## A tokio server
//!
//! Echoes every message and sends the time every second: `recv` is polled
//! on every turn of the loop, and that is what runs the deadlines.
//!
//! ```no_run
//! use std::time::Duration;
//! use tokio::net::TcpStream;
//! use wsmachine::tokio::{accept, Listener};
//! use wsmachine::{Config, WsError};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     // Out of file descriptors, a Listener answers 503 and goes on.
//!     let mut listener = Listener::bind("127.0.0.1:9002").await?;
//!     loop {
//!         let (stream, peer) = listener.accept().await?;
//!         tokio::spawn(async move {
//!             if let Err(e) = serve(stream).await {
//!                 eprintln!("{peer}: {e}");
//!             }
//!         });
//!     }
//! }
//!
//! async fn serve(stream: TcpStream) -> Result<(), WsError> {
//!     stream.set_nodelay(true)?; // small frames go out at once
//!     let mut ws = accept(stream, Config::default()).await?;
//!     let mut ticks = tokio::time::interval(Duration::from_secs(1));
//!     loop {
//!         tokio::select! {
//!             // Cancel safe: when the tick wins, no message is lost. While it
//!             // waits, recv reads, answers Pings and keeps the deadlines.
//!             message = ws.recv() => match message {
//!                 Some(message) => ws.send(message?).await?,
//!                 None => return Ok(()), // closed cleanly
//!             },
//!             // send waits while the output is above the high-water mark.
//!             _ = ticks.tick() => {
//!                 let now = std::time::SystemTime::now();
//!                 ws.send(format!("{now:?}")).await?;
//!             }
//!         }
//!     }
//! }
//! ```
//!
//! Every method of [`tokio::WebSocket`] is cancel
//! safe: `recv` loses no message, `send` queues a whole message or nothing
//! and what it queued is written by the next call that drives the socket.
//! For a reader task and writer tasks, [`split`](crate::tokio::WebSocket::split)
//! it: the receive half drives the socket and the deadlines, the send halves
//! clone. `examples/chat.rs` is a whole server in this style.
//!
//! ## The bare machine
//!
//! For a front-end of your own. Each turn: tell the machine the time, take
//! its events (answering through [`Connection::split_mut`]'s [`Sender`]
//! while the event borrows the [`Receiver`]), write its output, then wait
//! for input no longer than [`Connection::poll_timeout`]: a [`Timestamp`],
//! a point on your clock, never a length ([`Clock`] maps it to an
//! `Instant`).
//!
//! ```no_run
//! use std::io::{ErrorKind, Read, Write};
//! use std::net::TcpStream;
//! use std::time::{Duration, Instant};
//! use wsmachine::{Accept, Clock, Config, Connection, Event};
//!
//! fn serve(mut socket: TcpStream) -> std::io::Result<()> {
//!     let clock = Clock::new();
//!     let mut conn = Connection::server(Config::default());
//!     let mut buf = vec![0u8; 16 * 1024];
//!     loop {
//!         conn.handle_timeout(clock.now()); // keepalive, handshake, close deadlines
//!         let (mut rx, mut tx) = conn.split_mut();
//!         while let Some(event) = rx.next_event() {
//!             let _ = match event {
//!                 Event::Text(text) => tx.send_text(text),
//!                 Event::Binary(data) => tx.send_binary(data),
//!                 _ => Ok(()), // Pongs and the Close echo are queued already
//!             };
//!         }
//!         if conn.handshake_request().is_some() {
//!             conn.accept(Accept::new()).ok(); // or conn.reject(403, ..)
//!             continue; // frames that came with the request are next
//!         }
//!         loop {
//!             let out = conn.pending_output();
//!             if out.is_empty() {
//!                 break;
//!             }
//!             let n = socket.write(out)?;
//!             conn.consume_output(n);
//!         }
//!         if conn.should_close_transport() {
//!             return Ok(());
//!         }
//!         let wait = conn
//!             .poll_timeout()
//!             .map(|at| clock.instant(at).saturating_duration_since(Instant::now()));
//!         socket.set_read_timeout(wait.map(|w| w.max(Duration::from_millis(1))))?;
//!         match socket.read(&mut buf) {
//!             Ok(0) => conn.receive_eof(),
//!             Ok(n) => conn.receive(&buf[..n]),
//!             Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
//!             Err(e) => return Err(e),
//!         }
//!     }
//! }
//! ```
//!
//! Peer misbehaviour is never an `Err` here: the machine queues the right
//! Close frame or HTTP status, reports one [`Event::Failed`], and ends.
//! `examples/sansio_echo.rs` is this loop on tokio's sockets with
//! backpressure, [`Connection::wants_read`] and a bound on the last write;
//! the front-ends' sources (`src/blocking/engine.rs`,
//! `src/tokio/driver.rs`) are complete ones.
//!
//! ## Features
//!
//! - `std` (default): OS randomness for client masking keys, [`Clock`],
//!   `std::error::Error` impls. Without it the core is `no_std` + `alloc`.
//! - `deflate`: permessage-deflate (RFC 7692), offered and accepted by
//!   default once enabled ([`Config`]'s `deflate` field).
//! - `bytes`: owned [`Message`]s over `bytes::Bytes`, zero-copy owned
//!   receive ([`Connection::next_owned_event`]), payloads queued by
//!   reference, [`PreparedMessage`] for broadcast.
//! - `http`: conversions to and from the `http` crate's requests and
//!   responses, for hyper, axum and other HTTP layers ([`mod@http`]).
//! - `blocking` (with `bytes`): [`blocking::WebSocket`] over `Read + Write`.
//! - `tokio` (with `bytes`): [`tokio::WebSocket`]
//!   over `AsyncRead + AsyncWrite`, a `Stream` and a `Sink`.
//! - `interop`: no code; builds the test suites that need outside peers.
//!
//! [RFC 6455]: https://www.rfc-editor.org/rfc/rfc6455
//! [RFC 7692]: https://www.rfc-editor.org/rfc/rfc7692
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_code)] // allowed in the SIMD passes (`mask`, `utf8`) and `Utf8Bytes::as_str` alone
#![warn(missing_docs)]

extern crate alloc;

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "blocking")]
pub mod blocking;
mod buffer;
pub mod close;
mod config;
mod connection;
#[cfg(feature = "deflate")]
mod deflate;
pub mod error;
mod event;
mod extensions;
pub mod frame;
#[cfg(any(feature = "tokio", feature = "blocking"))]
mod frontend;
pub mod handshake;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "hyper")]
pub mod hyper;
mod keys;
pub mod mask;
#[cfg(feature = "bytes")]
mod message;
pub mod proxy;
mod role;
mod timers;
#[cfg(feature = "rustls")]
pub mod tls;
#[cfg(feature = "tokio")]
pub mod tokio;
pub mod utf8;
#[cfg(feature = "std")]
mod ws_error;

pub use close::CloseCode;
pub use config::{Config, OriginPolicy, ReceiveMode};
pub use connection::{Connection, FrameHead, Receiver, Sender};
#[cfg(feature = "deflate")]
pub use deflate::{DeflateConfig, DeflateParams};
pub use error::{Error, SendError};
pub use event::Event;
#[cfg(any(feature = "tokio", feature = "blocking"))]
pub use frontend::{ConnectionLimit, ConnectionPermit};
pub use handshake::{
    Accept, ClientHandshake, ClientRequest, HandshakeRequest, HandshakeResponse, Header, Headers,
    Negotiated, Upgrade,
};
#[cfg(feature = "bytes")]
pub use message::{CloseFrame, Message, NotUtf8, OwnedEvent, PreparedMessage, Utf8Bytes};
pub use role::{MessageKind, ReadyState, Role};
#[cfg(feature = "std")]
pub use timers::Clock;
pub use timers::Timestamp;
#[cfg(feature = "std")]
pub use ws_error::WsError;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
