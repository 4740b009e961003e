//! Which events a caller of a front-end's `recv` sees.

use crate::message::{Message, OwnedEvent, Utf8Bytes};
use crate::role::MessageKind;

/// The message a caller of `recv` gets for `event`, if any: text and
/// binary always, Pings, Pongs and the Close when asked for.
pub(crate) fn deliverable(event: OwnedEvent, receive_control: bool) -> Option<Message> {
    match event {
        OwnedEvent::Message(message @ (Message::Text(_) | Message::Binary(_))) => Some(message),
        OwnedEvent::Message(message) if receive_control => Some(message),
        OwnedEvent::Pong { payload, .. } if receive_control => Some(Message::Pong(payload)),
        // Stream mode: each piece comes as a message of its own.
        OwnedEvent::Chunk { kind, data, .. } => Some(match kind {
            MessageKind::Binary => Message::Binary(data),
            MessageKind::Text => Message::Text(Utf8Bytes::try_from(data).ok()?),
        }),
        _ => None,
    }
}
