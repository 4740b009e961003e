//! A message encoded once and sent to many connections by reference count:
//! a room of 10,000 members costs one copy (and one compression) per message.

use super::utf8_bytes::Utf8Bytes;
use crate::role::MessageKind;
use bytes::Bytes;

/// A data message prepared for broadcast: its payload is shared by every
/// connection it is sent to (see [`Sender::send_prepared`](crate::Sender::send_prepared)).
///
/// With the `deflate` feature, the payload is also compressed once, on its
/// own, with a full window. A server connection whose negotiation lets it
/// send such a message (`server_no_context_takeover` and a 15-bit window)
/// sends the compressed form; the others send it uncompressed, which
/// permessage-deflate allows. Clients mask each copy.
///
/// ```
/// use wsmachine::{Config, Connection, PreparedMessage, Role};
/// let prepared = PreparedMessage::text("hello, room");
/// let mut members: Vec<Connection> = (0..3)
///     .map(|_| Connection::upgraded(Role::Server, Config::default()).unwrap())
///     .collect();
/// for member in &mut members {
///     member.send_prepared(&prepared).unwrap();
///     assert_eq!(member.pending_output(), b"\x81\x0bhello, room");
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedMessage {
    pub(crate) kind: MessageKind,
    pub(crate) payload: Bytes,
    #[cfg(feature = "deflate")]
    pub(crate) compressed: Option<Bytes>,
}

/// Payloads shorter than this are not worth compressing.
#[cfg(feature = "deflate")]
const COMPRESS_FROM: usize = 32;

impl PreparedMessage {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        PreparedMessage::new(MessageKind::Text, text.into().into_bytes())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        PreparedMessage::new(MessageKind::Binary, data.into())
    }

    fn new(kind: MessageKind, payload: Bytes) -> Self {
        PreparedMessage {
            kind,
            #[cfg(feature = "deflate")]
            compressed: (payload.len() >= COMPRESS_FROM)
                .then(|| Bytes::from(crate::deflate::compress_standalone(&payload, 6))),
            payload,
        }
    }

    /// Text or binary.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// The payload as sent uncompressed.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }
}
