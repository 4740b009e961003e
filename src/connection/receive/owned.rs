//! Events that own their payload (feature `bytes`). A payload at the front
//! of the input leaves as a `Bytes` split off the buffer, without a copy;
//! a reassembled one hands over its buffer.

use super::state::{Handshake, Payload, Ready, Receiver};
use crate::error::Error;
use crate::message::{CloseFrame, Message, OwnedEvent, Utf8Bytes};
use crate::role::MessageKind;
use bytes::Bytes;

impl Receiver<'_> {
    /// The next event with its payload owned.
    pub fn next_owned_event(&mut self) -> Option<OwnedEvent> {
        let ready = self.next_ready(true)?;
        Some(self.owned(ready))
    }

    /// The first `len` bytes of the input, taken out of it.
    fn take_input(&mut self, len: usize) -> Bytes {
        // `step` marked them to be consumed on the next call; they are gone now.
        self.state.release.consume = 0;
        self.input.split_front(len)
    }

    pub(crate) fn owned(&mut self, ready: Ready) -> OwnedEvent {
        let message = match ready {
            Ready::HandshakeRequest => return OwnedEvent::HandshakeRequest,
            Ready::HandshakeAnswered { accepted } => {
                let response = match self.state.handshake.as_deref() {
                    Some(Handshake::Answered(response)) => response.clone(),
                    _ => {
                        debug_assert!(false, "handshake response event without a response");
                        return OwnedEvent::Failed(Error::MalformedResponse);
                    }
                };
                return if accepted {
                    OwnedEvent::Connected(response)
                } else {
                    OwnedEvent::HandshakeRejected(response)
                };
            }
            Ready::WholeText(len) => {
                if crate::utf8::validate(&self.input.live()[..len]).is_err() {
                    self.fail(Error::InvalidUtf8);
                    return OwnedEvent::Failed(Error::InvalidUtf8);
                }
                Message::Text(Utf8Bytes::from_validated(self.take_input(len)))
            }
            Ready::Message(kind, payload) => {
                let bytes = match payload {
                    Payload::Input(len) => self.take_input(len),
                    Payload::Message => {
                        Bytes::from(core::mem::take(&mut self.state.gathered().message))
                    }
                    Payload::Text => Bytes::from(core::mem::take(&mut self.state.gathered().text)),
                };
                match kind {
                    MessageKind::Text => Message::Text(Utf8Bytes::from_validated(bytes)),
                    MessageKind::Binary => Message::Binary(bytes),
                }
            }
            Ready::Chunk {
                kind,
                from_message,
                len,
                last,
            } => {
                let data = if from_message {
                    // Drained from the message buffer on the next call.
                    Bytes::copy_from_slice(&self.state.message()[..len])
                } else {
                    self.take_input(len)
                };
                return OwnedEvent::Chunk { kind, data, last };
            }
            Ready::Ping(len) => Message::Ping(self.take_input(len)),
            Ready::Pong(len) => {
                let payload = self.take_input(len);
                let rtt = self.link.pong_received(&payload);
                return OwnedEvent::Pong { payload, rtt };
            }
            Ready::Close(code, len) => {
                let mut payload = self.take_input(len);
                Message::Close(code.map(|code| {
                    bytes::Buf::advance(&mut payload, 2);
                    CloseFrame {
                        code,
                        reason: Utf8Bytes::from_validated(payload),
                    }
                }))
            }
            Ready::Backpressure(high) => return OwnedEvent::WriteBackpressure(high),
            Ready::Failed(error) => return OwnedEvent::Failed(error),
        };
        OwnedEvent::Message(message)
    }
}
