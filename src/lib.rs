//! # wsmachine
//!
//! A sans-IO WebSocket ([RFC 6455]) state machine for clients and servers.
//! Bytes go in, events and bytes to write come out: no sockets, no clock, no
//! runtime. The same [`Connection`] drives a blocking `std::net` loop, tokio, an
//! embedded executor, or a fuzzer.
//!
//! ## The loop
//!
//! 1. Feed what you read: [`Connection::receive`] (and
//!    [`Connection::receive_eof`] when the read returns 0).
//! 2. Drain events: [`Connection::next_event`] until `None`; answer them
//!    through [`Connection::split_mut`]'s [`Sender`] while you hold them.
//! 3. Write [`Connection::pending_output`] and report it with
//!    [`Connection::consume_output`].
//! 4. Keep time: call [`Connection::handle_timeout`] when
//!    [`Connection::poll_timeout`] says (keepalive, slowloris and closing
//!    deadlines live there).
//! 5. Close the transport when [`Connection::should_close_transport`] says so.
//!
//! A blocking echo server, timers included:
//!
//! ```no_run
//! use std::io::{ErrorKind, Read, Write};
//! use std::net::{TcpListener, TcpStream};
//! use wsmachine::{Accept, Clock, Config, Connection, Event};
//!
//! fn serve(mut socket: TcpStream) -> std::io::Result<()> {
//!     let clock = Clock::new();
//!     let mut conn = Connection::server(Config::default());
//!     let mut buf = vec![0u8; 16 * 1024];
//!     while !conn.should_close_transport() {
//!         // Sleep in read() until the next deadline at the latest.
//!         let wait = conn.poll_timeout().map(|at| clock.instant(at).saturating_duration_since(std::time::Instant::now()));
//!         socket.set_read_timeout(wait.map(|w| w.max(std::time::Duration::from_millis(1))))?;
//!         match socket.read(&mut buf) {
//!             Ok(0) => conn.receive_eof(),
//!             Ok(n) => conn.receive(&buf[..n]),
//!             Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
//!             Err(e) => return Err(e),
//!         }
//!         conn.handle_timeout(clock.now());
//!         let (mut rx, mut tx) = conn.split_mut();
//!         while let Some(event) = rx.next_event() {
//!             match event {
//!                 Event::Text(text) => { let _ = tx.send_text(text); }
//!                 Event::Binary(data) => { let _ = tx.send_binary(data); }
//!                 _ => {}
//!             }
//!         }
//!         if conn.handshake_request().is_some() {
//!             conn.accept(Accept::new()).ok();
//!         }
//!         loop {
//!             let out = conn.pending_output();
//!             if out.is_empty() { break; }
//!             socket.write_all(out)?;
//!             let n = out.len();
//!             conn.consume_output(n);
//!         }
//!     }
//!     Ok(())
//! }
//!
//! let listener = TcpListener::bind("127.0.0.1:9001")?;
//! for socket in listener.incoming() {
//!     std::thread::spawn(move || serve(socket?));
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ## Features
//!
//! - `std` (default): OS randomness for client masking keys, [`Clock`],
//!   `std::error::Error` impls. Without it the core is `no_std` + `alloc`.
//! - `deflate`: permessage-deflate (RFC 7692).
//! - `bytes`: owned [`Message`]s over `bytes::Bytes`, zero-copy owned
//!   receive, payloads queued by reference, [`PreparedMessage`] for broadcast.
//! - `http`: conversions to and from the `http` crate's requests and
//!   responses, for hyper, axum and other HTTP layers ([`mod@http`]).
//!
//! [RFC 6455]: https://www.rfc-editor.org/rfc/rfc6455
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_code)] // allowed in `mask` (SIMD) and `Utf8Bytes::as_str` alone
#![warn(missing_docs)]

extern crate alloc;

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
pub use config::{Config, ReceiveMode};
pub use connection::{Connection, FrameHead, Receiver, Sender};
#[cfg(feature = "deflate")]
pub use deflate::{DeflateConfig, DeflateParams};
pub use error::{Error, SendError};
pub use event::Event;
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
