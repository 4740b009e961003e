//! Sending owned messages (feature `bytes`): a server queues a large payload
//! by reference instead of copying it, and a prepared message is shared by
//! every connection it goes to.

use super::send::Sender;
use crate::error::SendError;
use crate::frame::OpCode;
use crate::message::{Message, PreparedMessage};
use crate::role::MessageKind;
use bytes::Bytes;

impl Sender<'_> {
    /// Queues an owned message. A server queues a payload of 512 bytes or
    /// more by reference: the `Bytes` goes to the writer as it is, no copy
    /// (see [`Connection::pending_output_chunks`](crate::Connection::pending_output_chunks)).
    /// Clients mask a copy; compressed messages are compressed into the queue.
    ///
    /// ```
    /// use wsmachine::{Config, Connection, Message, Role};
    /// let mut server = Connection::upgraded(Role::Server, Config::default()).unwrap();
    /// server.send(Message::text("hi")).unwrap();
    /// assert_eq!(server.pending_output(), b"\x81\x02hi");
    /// ```
    pub fn send(&mut self, message: Message) -> Result<(), SendError> {
        match message {
            Message::Text(text) => self.send_shared(OpCode::Text, text.into_bytes()),
            Message::Binary(data) => self.send_shared(OpCode::Binary, data),
            Message::Ping(payload) => self.send_ping(&payload),
            Message::Pong(payload) => self.send_pong(&payload),
            Message::Close(Some(frame)) => self.close(frame.code, &frame.reason),
            Message::Close(None) => self.send_close(&[]),
        }
    }

    fn send_shared(&mut self, opcode: OpCode, data: Bytes) -> Result<(), SendError> {
        if self.tx.extensions.compresses_message(data.len()) {
            return self.send_message(opcode, &data);
        }
        self.flush_control();
        self.check_can_send(data.len())?;
        if self.tx.outgoing.is_some() {
            return Err(SendError::FragmentOrder);
        }
        self.tx.write_shared(opcode, 0, data);
        self.queued();
        Ok(())
    }

    /// Queues a message prepared for broadcast: a server sends the shared
    /// payload by reference (compressed once, where this connection's
    /// negotiation allows a message compressed on its own; uncompressed
    /// otherwise); a client masks a copy.
    pub fn send_prepared(&mut self, prepared: &PreparedMessage) -> Result<(), SendError> {
        let opcode = match prepared.kind {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        };
        if self.tx.keys.is_some() {
            return self.send_message(opcode, &prepared.payload);
        }
        #[allow(unused_mut)]
        let mut wire = (0, &prepared.payload);
        #[cfg(feature = "deflate")]
        if let Some(compressed) = &prepared.compressed {
            if self.tx.extensions.accepts_standalone() {
                wire = (crate::frame::RSV1, compressed);
            }
        }
        self.flush_control();
        self.check_can_send(wire.1.len())?;
        if self.tx.outgoing.is_some() {
            return Err(SendError::FragmentOrder);
        }
        self.tx.write_shared(opcode, wire.0, wire.1.clone());
        self.queued();
        Ok(())
    }
}
