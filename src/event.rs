//! What the peer did: the events the receive path hands out.

use crate::close::CloseCode;
use crate::error::Error;
use crate::handshake::{HandshakeRequest, HandshakeResponse};
use core::time::Duration;

/// Something the peer did, for the caller to act on.
///
/// Payloads borrow the connection's receive buffers (no copy, no
/// allocation). To answer while holding one, split the connection with
/// [`Connection::split_mut`](crate::Connection::split_mut): the send half
/// borrows apart from the receive half.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Server: a complete, valid opening-handshake request. Answer it with
    /// [`Connection::accept`](crate::Connection::accept) or
    /// [`Connection::reject`](crate::Connection::reject).
    HandshakeRequest(&'a HandshakeRequest),
    /// Client: the server accepted the upgrade (status 101, key verified).
    Connected(&'a HandshakeResponse),
    /// Client: the server answered with another status (401, 403, a redirect,
    /// ...). The connection is closed; the response tells the caller why.
    HandshakeRejected(&'a HandshakeResponse),
    /// A complete text message (in [`ReceiveMode::Message`](crate::ReceiveMode::Message)).
    Text(&'a str),
    /// A complete binary message (in [`ReceiveMode::Message`](crate::ReceiveMode::Message)).
    Binary(&'a [u8]),
    /// A piece of a text message (in [`ReceiveMode::Stream`](crate::ReceiveMode::Stream));
    /// it always ends on a character boundary. `last` marks the message's
    /// final piece.
    TextChunk {
        /// The text received since the previous piece.
        data: &'a str,
        /// True on the message's final piece.
        last: bool,
    },
    /// A piece of a binary message (in [`ReceiveMode::Stream`](crate::ReceiveMode::Stream)).
    BinaryChunk {
        /// The bytes received since the previous piece.
        data: &'a [u8],
        /// True on the message's final piece.
        last: bool,
    },
    /// A Ping; a Pong is already queued unless `auto_pong` is off.
    Ping(&'a [u8]),
    /// A Pong.
    Pong {
        /// Its payload.
        payload: &'a [u8],
        /// When it answers our latest Ping (a keepalive or one sent with
        /// `send_ping`): the round-trip time, measured in the times given to
        /// `handle_timeout`. Also kept as
        /// [`Connection::latency`](crate::Connection::latency).
        rtt: Option<Duration>,
    },
    /// The peer's Close frame. If we had not sent one, the machine has queued
    /// the echo (the same code and reason); either way the connection is now
    /// closed.
    Close {
        /// The peer's code; `None` when its Close frame had no payload (1005).
        code: Option<CloseCode>,
        /// The peer's reason, possibly empty.
        reason: &'a str,
    },
    /// Queued output crossed [`Config::output_high_water`](crate::Config::output_high_water)
    /// (`true`: stop producing, the peer is not reading fast enough) or fell
    /// back to [`Config::output_low_water`](crate::Config::output_low_water)
    /// (`false`: go on). Reported only while the connection is open: once it
    /// closes, nothing more will be sent.
    WriteBackpressure(bool),
    /// The connection failed (the peer broke the protocol, the handshake was
    /// invalid, a deadline passed, or the transport ended early). The right
    /// Close frame or HTTP response is queued. This is the last event.
    Failed(Error),
}
