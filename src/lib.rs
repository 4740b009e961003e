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
//! 2. Drain events: [`Connection::next_event`] until `None`.
//! 3. Act: `send_*`, [`Connection::accept`] / [`Connection::reject`],
//!    [`Connection::close`].
//! 4. Write [`Connection::pending_output`] and report it with
//!    [`Connection::consume_output`].
//! 5. Close the transport when [`Connection::should_close_transport`] says so.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use wsmachine::{Accept, Config, Connection, Event};
//!
//! fn serve(mut socket: std::net::TcpStream) -> std::io::Result<()> {
//!     let mut conn = Connection::server(Config::default());
//!     let mut buf = vec![0u8; 64 * 1024];
//!     let mut echo = Vec::new();
//!     loop {
//!         let n = socket.read(&mut buf)?;
//!         if n == 0 { conn.receive_eof() } else { conn.receive(&buf[..n]) }
//!         while let Some(event) = conn.next_event() {
//!             match event {
//!                 Event::HandshakeRequest(_) => { conn.accept(Accept::new()).ok(); }
//!                 Event::Text(text) => {
//!                     echo.clear();
//!                     echo.extend_from_slice(text.as_bytes());
//!                     let text = std::str::from_utf8(&echo).unwrap();
//!                     conn.send_text(text).ok();
//!                 }
//!                 _ => {}
//!             }
//!         }
//!         socket.write_all(conn.pending_output())?;
//!         let written = conn.pending_output().len();
//!         conn.consume_output(written);
//!         if conn.should_close_transport() || n == 0 { return Ok(()); }
//!     }
//! }
//! ```
//!
//! [RFC 6455]: https://www.rfc-editor.org/rfc/rfc6455
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_code)] // allowed in `mask` alone, for the SIMD paths
#![warn(missing_docs)]

extern crate alloc;

mod buffer;
pub mod close;
mod config;
mod connection;
#[cfg(feature = "deflate")]
mod deflate;
pub mod error;
mod extensions;
pub mod frame;
pub mod handshake;
pub mod mask;
mod timers;
pub mod utf8;

pub use close::CloseCode;
pub use config::{Config, ReceiveMode};
pub use connection::{Connection, Event, FrameHead, MessageKind, ReadyState, Role};
#[cfg(feature = "deflate")]
pub use deflate::{DeflateConfig, DeflateParams};
pub use error::{Error, SendError};
pub use handshake::{Accept, ClientRequest, HandshakeRequest, HandshakeResponse, Header, Headers};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
