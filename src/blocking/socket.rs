//! [`WebSocket`]: one connection over one blocking stream.

use super::engine::Engine;
use super::split::{self, Reader, Writer};
use super::Transport;
use crate::frontend::deliverable;
use crate::message::{CloseFrame, Message, OwnedEvent, PreparedMessage};
use crate::ws_error::WsError;
use crate::{CloseCode, Connection, SendError};
use std::collections::VecDeque;
use std::net::TcpStream;
use std::time::Duration;

/// Messages `ping` may hold back for `recv` while it waits for its Pong.
const MAX_HELD: usize = 1024;

/// A WebSocket connection over a blocking stream: `recv`, `send`, `close`.
///
/// Made by [`accept`](super::accept), [`connect`](super::connect) and
/// friends, or from a [`Connection`] upgraded elsewhere
/// ([`WebSocket::from_connection`]). It is also an `Iterator` of messages.
#[derive(Debug)]
pub struct WebSocket<S> {
    pub(crate) engine: Engine<S>,
    receive_control: bool,
    held: VecDeque<Message>,
}

impl<S: Transport> WebSocket<S> {
    /// A WebSocket over `stream` for a connection whose opening handshake
    /// is done (see [`Connection::upgraded_with`]).
    pub fn from_connection(stream: S, conn: Connection) -> Self {
        WebSocket::from_engine(Engine::new(conn, stream))
    }

    pub(crate) fn from_engine(engine: Engine<S>) -> Self {
        WebSocket {
            engine,
            receive_control: false,
            held: VecDeque::new(),
        }
    }

    /// With `true`, [`recv`](Self::recv) also returns the Pings, Pongs and
    /// the Close that arrive (the machine answers Pings and Closes either
    /// way). Default `false`.
    pub fn set_receive_control(&mut self, receive: bool) {
        self.receive_control = receive;
    }

    /// The next message; `None` once the connection closed cleanly (the
    /// peer's Close is in [`close_frame`](Self::close_frame)); an error if it
    /// failed. While it waits it answers Pings, keeps the deadlines and
    /// writes what is queued.
    pub fn recv(&mut self) -> Option<Result<Message, WsError>> {
        if let Some(message) = self.held.pop_front() {
            return Some(Ok(message));
        }
        loop {
            let Some(event) = self.engine.next_event() else {
                return self.engine.take_failure().map(Err);
            };
            if let Some(message) = deliverable(event, self.receive_control) {
                return Some(Ok(message));
            }
        }
    }

    /// Queues a message and writes it, with anything queued before it.
    pub fn send(&mut self, message: impl Into<Message>) -> Result<(), WsError> {
        self.feed(message)?;
        self.flush()
    }

    /// Queues a message without writing it yet: the next `flush`, `send` or
    /// `recv` writes the batch in one vectored write.
    pub fn feed(&mut self, message: impl Into<Message>) -> Result<(), WsError> {
        self.engine.conn.send(message.into())?;
        if self.engine.conn.buffered_amount() > self.engine.conn.config().output_high_water {
            // Backpressure: write now rather than queue without bound.
            self.flush()?;
        }
        Ok(())
    }

    /// Queues a prepared (broadcast) message and writes it.
    pub fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), WsError> {
        self.engine.conn.send_prepared(message)?;
        self.flush()
    }

    /// Writes everything queued.
    pub fn flush(&mut self) -> Result<(), WsError> {
        self.engine
            .write_out()
            .map_err(|error| self.engine.fail_io(error))
    }

    /// Sends a Ping and waits for its Pong; returns the round-trip time.
    /// Messages that arrive meanwhile are kept for [`recv`](Self::recv) (up
    /// to 1,024).
    pub fn ping(&mut self, payload: &[u8]) -> Result<Duration, WsError> {
        self.engine.tick();
        self.engine.conn.send_ping(payload)?;
        self.flush()?;
        loop {
            let Some(event) = self.engine.next_event() else {
                return Err(self.engine.take_failure().unwrap_or(WsError::Closed));
            };
            match event {
                OwnedEvent::Pong {
                    payload: answer,
                    rtt: Some(rtt),
                } if answer == payload => return Ok(rtt),
                event => {
                    if let Some(message) = deliverable(event, self.receive_control) {
                        if self.held.len() >= MAX_HELD {
                            return Err(WsError::Send(SendError::OutputFull));
                        }
                        self.held.push_back(message);
                    }
                }
            }
        }
    }

    /// The closing handshake: sends a Close with `code` and `reason`, waits
    /// for the peer's (dropping messages that arrive meanwhile), closes our
    /// side of the transport and waits briefly for the peer's. Bounded by
    /// [`Config::close_timeout`](crate::Config::close_timeout).
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), WsError> {
        match self.engine.conn.close(code, reason) {
            Ok(()) | Err(SendError::Closed) | Err(SendError::NotOpen) => {}
            Err(other) => return Err(WsError::Send(other)),
        }
        self.engine.tick();
        // Writes to a peer that does not read must not outlast the close
        // timeout either.
        let limit = self.engine.conn.config().close_timeout;
        self.engine.stream.set_write_timeout(limit)?;
        while self.engine.next_event().is_some() {}
        match self.engine.take_failure() {
            None => Ok(()),
            Some(failure) => Err(failure),
        }
    }

    /// The round-trip time of the latest Ping answered.
    pub fn latency(&self) -> Option<Duration> {
        self.engine.conn.latency()
    }

    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.engine.conn.protocol()
    }

    /// The peer's Close, once it arrived.
    pub fn close_frame(&self) -> Option<&CloseFrame> {
        self.engine.close_frame.as_ref()
    }

    /// The machine, for what this type does not expose.
    pub fn connection(&self) -> &Connection {
        &self.engine.conn
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.engine.stream
    }
}

impl WebSocket<TcpStream> {
    /// Splits into a reader and a cloneable writer for different threads
    /// (both use the one socket). The reader answers Pings and keeps the
    /// deadlines; writers queue and write.
    pub fn split(self) -> std::io::Result<(Reader, Writer)> {
        split::split(self.engine, self.receive_control, self.held)
    }
}

impl WebSocket<super::MaybeTlsStream> {
    /// [`split`](WebSocket::split) for a client's connection; a TLS stream
    /// cannot be read and written from two threads at once, so splitting
    /// one fails with `Unsupported` (use the tokio front-end's split).
    pub fn split(self) -> std::io::Result<(Reader, Writer)> {
        let WebSocket {
            engine,
            receive_control,
            held,
        } = self;
        let engine = engine.map_stream(|stream| match stream {
            super::MaybeTlsStream::Plain(tcp) => Ok(tcp),
            #[allow(unreachable_patterns)]
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "a TLS connection cannot be split for two threads",
            )),
        })?;
        split::split(engine, receive_control, held)
    }
}

impl<S: Transport> Iterator for WebSocket<S> {
    type Item = Result<Message, WsError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.recv()
    }
}
