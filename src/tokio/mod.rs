//! The tokio front-end (feature `tokio`): a [`WebSocket`] over any
//! `AsyncRead + AsyncWrite` stream, in ten lines.
//!
//! ```no_run
//! use wsmachine::tokio::{accept, connect};
//! use wsmachine::Config;
//!
//! # async fn demo() -> Result<(), wsmachine::WsError> {
//! // A server: echo every message.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//! let (stream, _) = listener.accept().await?;
//! let mut ws = accept(stream, Config::default()).await?;
//! while let Some(message) = ws.recv().await {
//!     ws.send(message?).await?;
//! }
//!
//! // A client.
//! let (mut ws, _response) = connect("ws://127.0.0.1:9001/").await?;
//! ws.send("hello").await?;
//! println!("{:?}", ws.recv().await);
//! ws.close(wsmachine::CloseCode::NORMAL, "bye").await?;
//! # Ok(()) }
//! ```
//!
//! Keepalive Pings, the handshake, closing and idle deadlines come from the
//! machine's timers ([`Config`](crate::Config)); they run while the socket
//! is being read (`recv`, or the receive half of a [`split`](WebSocket::split)).
//! Backpressure works both ways: `send` waits while the output is above
//! [`Config::output_high_water`](crate::Config::output_high_water), and a
//! caller that stops calling `recv` stops the reading, so the peer's writes
//! block in TCP.
//!
//! Memory: an idle connection holds no read buffer. Every connection of a
//! thread reads into one 64 KiB buffer of that thread's; a read of 4 KiB or
//! more is handed to the machine in place, so the payloads it carries are
//! unmasked where the kernel put them and [`recv`](WebSocket::recv) returns
//! them without a copy. Such a message keeps the thread's buffer alive
//! while it is held (later reads go to a fresh one), so a message kept for
//! long can hold up to 64 KiB: copy it (`Bytes::copy_from_slice`) if you
//! keep many. Smaller reads are copied and their room reused at once.

mod client;
mod driver;
mod reconnect;
mod sending;
mod server;
mod socket;
mod split;
mod stream;
mod wakers;

pub use crate::frontend::Reject;
pub use client::{connect, connect_on, ClientBuilder};
pub use reconnect::{reconnecting, ReconnectPolicy, Reconnecting};
pub use server::{accept, accept_with, Listener};
pub use socket::WebSocket;
pub use split::{RecvHalf, SendHalf};
pub use stream::MaybeTlsStream;
