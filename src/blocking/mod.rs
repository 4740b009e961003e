//! The blocking front-end (feature `blocking`): a [`WebSocket`] over any
//! `Read + Write` stream, for plain threads.
//!
//! ```no_run
//! use wsmachine::blocking::{accept, connect};
//! use wsmachine::Config;
//!
//! # fn demo() -> Result<(), wsmachine::WsError> {
//! // A server: echo every message, a thread per connection.
//! let listener = std::net::TcpListener::bind("127.0.0.1:9001")?;
//! for stream in listener.incoming() {
//!     std::thread::spawn(move || -> Result<(), wsmachine::WsError> {
//!         let mut ws = accept(stream?, Config::default())?;
//!         while let Some(message) = ws.recv() {
//!             ws.send(message?)?;
//!         }
//!         Ok(())
//!     });
//! }
//!
//! // A client.
//! let (mut ws, _response) = connect("ws://127.0.0.1:9001/")?;
//! ws.send("hello")?;
//! println!("{:?}", ws.recv());
//! ws.close(wsmachine::CloseCode::NORMAL, "bye")?;
//! # Ok(()) }
//! ```
//!
//! Deadlines (keepalive, handshake, closing, idle) come from the machine's
//! timers, kept with the stream's read timeout while `recv` waits. Sends
//! block while the socket is full: backpressure is the transport's own.

mod client;
mod engine;
mod server;
mod socket;
mod split;
mod stream;

pub use crate::frontend::Reject;
pub use client::{connect, connect_on, ClientBuilder};
pub use server::{accept, accept_with};
pub use socket::WebSocket;
pub use split::{Reader, Writer};
pub use stream::MaybeTlsStream;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// A stream the blocking front-end can run on: `Read + Write`, with a read
/// timeout so the machine's deadlines are kept while it waits, and a way to
/// close the write direction. Implemented for `TcpStream`; implement it for a
/// TLS stream by forwarding to the socket underneath.
pub trait Transport: Read + Write {
    /// Limits how long the next reads wait; `None` waits indefinitely.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;

    /// Limits how long the next writes wait, so closing a connection whose
    /// peer does not read ends at the close timeout. The default does
    /// nothing (writes then block until the peer reads).
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Ok(())
    }

    /// Closes the write direction (TCP FIN) once the closing handshake is
    /// done. The default does nothing.
    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_write_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        (**self).shutdown_write()
    }
}
