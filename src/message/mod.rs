//! Owned messages over `bytes::Bytes` (feature `bytes`): what a front-end
//! hands its caller and takes from it, cheap to clone and to queue.

mod prepared;
mod utf8_bytes;

pub use prepared::PreparedMessage;
pub use utf8_bytes::{NotUtf8, Utf8Bytes};

use crate::close::CloseCode;
use crate::error::Error;
use crate::handshake::HandshakeResponse;
use crate::role::MessageKind;
use bytes::Bytes;

/// A whole message, owned: received with
/// [`Connection::next_owned_event`](crate::Connection::next_owned_event),
/// sent with [`Connection::send`](crate::Connection::send).
///
/// ```
/// use wsmachine::Message;
/// let message = Message::text("hello");
/// assert_eq!(message.as_text(), Some("hello"));
/// assert_eq!(Message::binary(vec![1, 2, 3]).len(), 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// UTF-8 text.
    Text(Utf8Bytes),
    /// Arbitrary bytes.
    Binary(Bytes),
    /// A Ping (payload at most 125 bytes).
    Ping(Bytes),
    /// A Pong (payload at most 125 bytes).
    Pong(Bytes),
    /// A Close, with its code and reason unless it had none.
    Close(Option<CloseFrame>),
}

/// The code and reason of a Close frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    /// The close code.
    pub code: CloseCode,
    /// The reason, at most 123 bytes.
    pub reason: Utf8Bytes,
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Message::Text(text.into())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Message::Binary(data.into())
    }

    /// The text of a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(text) => Some(text),
            _ => None,
        }
    }

    /// Text or binary, for a data message.
    pub fn kind(&self) -> Option<MessageKind> {
        match self {
            Message::Text(_) => Some(MessageKind::Text),
            Message::Binary(_) => Some(MessageKind::Binary),
            _ => None,
        }
    }

    /// The payload's bytes (a Close's reason without its code).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(data) | Message::Ping(data) | Message::Pong(data) => data,
            Message::Close(frame) => frame.as_ref().map_or(&[], |f| f.reason.as_bytes()),
        }
    }

    /// The payload, without copying (a Close's reason without its code).
    pub fn into_bytes(self) -> Bytes {
        match self {
            Message::Text(text) => text.into_bytes(),
            Message::Binary(data) | Message::Ping(data) | Message::Pong(data) => data,
            Message::Close(frame) => frame.map_or_else(Bytes::new, |f| f.reason.into_bytes()),
        }
    }

    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// True for an empty payload.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Utf8Bytes> for Message {
    fn from(text: Utf8Bytes) -> Self {
        Message::Text(text)
    }
}

impl From<alloc::string::String> for Message {
    fn from(text: alloc::string::String) -> Self {
        Message::Text(text.into())
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Message::Text(text.into())
    }
}

impl From<Bytes> for Message {
    fn from(data: Bytes) -> Self {
        Message::Binary(data)
    }
}

impl From<alloc::vec::Vec<u8>> for Message {
    fn from(data: alloc::vec::Vec<u8>) -> Self {
        Message::Binary(data.into())
    }
}

/// An [`Event`](crate::Event) that owns its payload, from
/// [`Connection::next_owned_event`](crate::Connection::next_owned_event).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OwnedEvent {
    /// Server: a valid opening-handshake request; read it with
    /// [`Connection::handshake_request`](crate::Connection::handshake_request),
    /// then accept or reject.
    HandshakeRequest,
    /// Client: the server accepted the upgrade.
    Connected(HandshakeResponse),
    /// Client: the server answered with another status; the connection is closed.
    HandshakeRejected(HandshakeResponse),
    /// A message, a Ping or a Close (see [`Event`](crate::Event) for what
    /// the machine already did about each). Pongs come as [`OwnedEvent::Pong`].
    Message(Message),
    /// A Pong, with its round-trip time when it answers our latest Ping
    /// (see [`Event::Pong`](crate::Event::Pong)).
    Pong {
        /// Its payload.
        payload: Bytes,
        /// The round-trip time of the Ping it answers.
        rtt: Option<core::time::Duration>,
    },
    /// A piece of a message, in [`ReceiveMode::Stream`](crate::ReceiveMode::Stream);
    /// text pieces end on character boundaries.
    Chunk {
        /// Text or binary.
        kind: MessageKind,
        /// The piece.
        data: Bytes,
        /// True on the message's final piece.
        last: bool,
    },
    /// See [`Event::WriteBackpressure`](crate::Event::WriteBackpressure).
    WriteBackpressure(bool),
    /// See [`Event::Failed`](crate::Event::Failed).
    Failed(Error),
}
