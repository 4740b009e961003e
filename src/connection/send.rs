//! The send path: messages in, frames queued for the wire.

use crate::buffer::OutputQueue;
use crate::close::{CloseCode, MAX_REASON_LEN};
use crate::config::Config;
use crate::connection::control::{self, ControlQueue, Record};
use crate::connection::link::{Link, Phase};
use crate::error::SendError;
use crate::extensions::SendExtensions;
use crate::frame::{FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, RSV1};
use crate::keys::KeyStream;
use crate::mask::{apply_mask, extend_masked};
use crate::role::MessageKind;
use crate::utf8::Utf8Validator;
use core::cell::Cell;

/// Everything the send path owns.
#[derive(Debug, Default)]
pub(crate) struct SendPath {
    pub(crate) output: OutputQueue,
    /// The kind of the fragmented message we are sending, if one is open.
    pub(crate) outgoing: Option<MessageKind>,
    outgoing_utf8: Utf8Validator,
    /// The fragmented message we are sending is transformed (compressed).
    outgoing_compressed: bool,
    /// Clients' masking keys; `None` for a server.
    pub(crate) keys: Option<alloc::boxed::Box<KeyStream>>,
    pub(crate) extensions: SendExtensions,
    /// Bytes of the frame returned by `send_vectored` that the caller has
    /// not reported written yet; the queue waits behind it.
    pub(crate) vectored: usize,
    /// Our Close is queued: no frame may follow it.
    pub(crate) close_queued: bool,
    /// The handshake's head is queued: once written, its memory goes back
    /// (a connection that then stays idle holds no output buffer).
    pub(crate) head_queued: bool,
    /// Numbers our keepalive Pings, so their Pongs can be told apart.
    pings: u32,
}

impl SendPath {
    /// Encodes one frame into the output; clients mask it.
    pub(crate) fn write_frame(&mut self, opcode: OpCode, fin: bool, rsv: u8, payload: &[u8]) {
        let mask = self.keys.as_mut().map(|keys| keys.mask_key());
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        let mut encoded = [0u8; MAX_HEADER_LEN];
        let header_len = header.encode(&mut encoded);
        self.output.write_with(header_len + payload.len(), |out| {
            out.extend_from_slice(&encoded[..header_len]);
            match mask {
                Some(key) => extend_masked(out, payload, key, 0),
                None => out.extend_from_slice(payload),
            }
        });
        if opcode == OpCode::Close {
            self.close_queued = true;
        }
    }

    /// Server: queues a frame header, then the caller's payload by
    /// reference (large) or copied (small, cheaper than a separate piece).
    #[cfg(feature = "bytes")]
    pub(crate) fn write_shared(&mut self, opcode: OpCode, rsv: u8, payload: bytes::Bytes) {
        /// Below this, a payload is copied into the queue.
        const BY_REFERENCE_FROM: usize = 512;
        if payload.len() < BY_REFERENCE_FROM || self.keys.is_some() {
            return self.write_frame(opcode, true, rsv, &payload);
        }
        let head = FrameHead::new(FrameHeader {
            fin: true,
            rsv,
            opcode,
            mask: None,
            payload_len: payload.len() as u64,
        });
        self.output.extend(&head);
        self.output.push_owned(payload);
    }

    /// Compresses `data` (one message, or one fragment of it) and queues it.
    pub(crate) fn write_compressed(&mut self, opcode: OpCode, fin: bool, rsv: u8, data: &[u8]) {
        let mut extensions = core::mem::take(&mut self.extensions);
        self.write_frame(opcode, fin, rsv, extensions.compress(data, fin));
        self.extensions = extensions;
    }

    /// The keepalive Ping: a fresh 4-byte number, so its Pong is ours.
    pub(crate) fn keepalive_ping(&mut self, link: &Link) {
        self.pings = self.pings.wrapping_add(1);
        let payload = self.pings.to_be_bytes();
        self.write_frame(OpCode::Ping, true, 0, &payload);
        link.ping_sent(&payload);
    }

    /// Moves what the receive path queued (Pongs, a Close echo, an HTTP
    /// error) into the output: called at frame boundaries only, and not
    /// while a vectored frame is being written. An aborted connection drops
    /// its output instead.
    pub(crate) fn flush_control(
        &mut self,
        control: &mut ControlQueue,
        config: &Config,
        link: &Link,
    ) {
        if link.aborted() {
            self.output.clear();
            self.output.release_if_empty();
            self.vectored = 0;
            control.clear();
            return;
        }
        if self.vectored > 0 || control.is_empty() {
            return;
        }
        {
            control.drain(|record| match record {
                Record::Raw(bytes) => self.output.extend(bytes),
                Record::Frame(OpCode::Pong, payload) => {
                    // A peer flooding Pings while we cannot write gets no
                    // more Pongs than the output limit allows.
                    let room = self.output.len() + payload.len() + MAX_HEADER_LEN
                        <= config.max_output_buffer;
                    if !self.close_queued && room {
                        self.write_frame(OpCode::Pong, true, 0, payload);
                    }
                }
                Record::Frame(opcode, payload) => {
                    if !self.close_queued {
                        self.write_frame(opcode, true, 0, payload);
                    }
                }
            })
        }
        self.update_backpressure(config, link);
    }

    /// Re-evaluates backpressure after the output changed.
    pub(crate) fn update_backpressure(&self, config: &Config, link: &Link) {
        let queued = self.output.len();
        if link.backpressured() {
            if queued <= config.output_low_water {
                link.set_backpressured(false);
            }
        } else if queued > config.output_high_water {
            link.set_backpressured(true);
        }
    }
}

/// The send half of a connection: queues messages for the wire.
///
/// Made by [`Connection::split_mut`](crate::Connection::split_mut), beside a
/// [`Receiver`](crate::Receiver), so an event can be answered while it is
/// held. Every `send_*` method of [`Connection`](crate::Connection) is
/// also here.
///
/// ```
/// use wsmachine::{Config, Connection, Event, Role};
/// let mut server = Connection::upgraded(Role::Server, Config::default()).unwrap();
/// // The RFC's masked "Hello" (§5.7), then an echo that borrows it.
/// server.receive(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// let (mut rx, mut tx) = server.split_mut();
/// while let Some(event) = rx.next_event() {
///     if let Event::Text(text) = event {
///         tx.send_text(text).unwrap();
///     }
/// }
/// assert_eq!(server.pending_output(), b"\x81\x05Hello");
/// ```
pub struct Sender<'a> {
    pub(crate) config: &'a Config,
    pub(crate) link: &'a Link,
    pub(crate) tx: &'a mut SendPath,
    /// What the receive half queued: it goes out before our next frame.
    pub(crate) control: &'a Cell<ControlQueue>,
}

impl core::fmt::Debug for Sender<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sender")
            .field("queued", &self.tx.output.len())
            .finish_non_exhaustive()
    }
}

impl Sender<'_> {
    /// Queues a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send_message(OpCode::Text, text.as_bytes())
    }

    /// Queues a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send_message(OpCode::Binary, data)
    }

    pub(crate) fn send_message(&mut self, opcode: OpCode, data: &[u8]) -> Result<(), SendError> {
        self.flush_control();
        self.check_can_send(data.len())?;
        if self.tx.outgoing.is_some() {
            return Err(SendError::FragmentOrder);
        }
        if self.tx.extensions.compresses_message(data.len()) {
            self.tx.write_compressed(opcode, true, RSV1, data);
        } else {
            self.tx.write_frame(opcode, true, 0, data);
        }
        self.queued();
        Ok(())
    }

    /// Sends a whole message without copying it into the output queue: returns
    /// the frame header, which the caller writes followed by `payload` from
    /// its own buffer (one vectored write), reporting both with
    /// [`Connection::consume_output`](crate::Connection::consume_output)
    /// like any output. For a client the payload is masked in place, so
    /// `payload` holds the wire bytes afterwards.
    ///
    /// The output queue must be empty ([`SendError::OutputPending`]
    /// otherwise). Until the frame is reported written, the queue (control
    /// frames included) waits behind it, so nothing lands inside it. The
    /// message is sent uncompressed even when permessage-deflate is on.
    ///
    /// ```
    /// use wsmachine::{Config, Connection, MessageKind, Role};
    /// let mut server = Connection::upgraded(Role::Server, Config::default()).unwrap();
    /// let mut payload = vec![7u8; 1000];
    /// let head = server.send_vectored(MessageKind::Binary, &mut payload).unwrap();
    /// assert_eq!(head.as_ref(), &[0x82, 0x7e, 0x03, 0xe8]);
    /// server.send_ping(b"behind").unwrap();
    /// assert!(server.pending_output().is_empty()); // waits behind the frame
    /// // writev([head, payload]) wrote everything:
    /// server.consume_output(head.len() + payload.len());
    /// assert_eq!(server.pending_output(), b"\x89\x06behind");
    /// ```
    pub fn send_vectored(
        &mut self,
        kind: MessageKind,
        payload: &mut [u8],
    ) -> Result<FrameHead, SendError> {
        self.flush_control();
        if !self.link.can_send() {
            return Err(state_error(self.link));
        }
        if self.tx.outgoing.is_some() {
            return Err(SendError::FragmentOrder);
        }
        if !self.tx.output.is_empty() || self.tx.vectored > 0 {
            return Err(SendError::OutputPending);
        }
        let opcode = match kind {
            MessageKind::Text if crate::utf8::validate(payload).is_err() => {
                return Err(SendError::InvalidUtf8)
            }
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        };
        let mask = self.tx.keys.as_mut().map(|keys| keys.mask_key());
        if let Some(key) = mask {
            apply_mask(payload, key, 0);
        }
        let head = FrameHead::new(FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        });
        self.tx.vectored = head.len() + payload.len();
        Ok(head)
    }

    /// Queues one fragment of a message: the first call starts a message of
    /// `kind`, later calls continue it, and `last` ends it. Control frames
    /// may be sent between fragments; other messages may not. Text fragments
    /// may split a character, but their concatenation must be UTF-8.
    ///
    /// ```
    /// use wsmachine::{Config, Connection, MessageKind, Role};
    /// let mut server = Connection::upgraded(Role::Server, Config::default()).unwrap();
    /// server.send_fragment(MessageKind::Text, b"Hel", false).unwrap();
    /// server.send_fragment(MessageKind::Text, b"lo", true).unwrap();
    /// // RFC 6455 §5.7: a fragmented unmasked text message.
    /// assert_eq!(server.pending_output(), b"\x01\x03Hel\x80\x02lo");
    /// ```
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        last: bool,
    ) -> Result<(), SendError> {
        self.flush_control();
        self.check_can_send(data.len())?;
        let tx = &mut *self.tx;
        let opcode = match tx.outgoing {
            None => match kind {
                MessageKind::Text => OpCode::Text,
                MessageKind::Binary => OpCode::Binary,
            },
            Some(open) if open == kind => OpCode::Continuation,
            Some(_) => return Err(SendError::FragmentOrder),
        };
        if kind == MessageKind::Text {
            let mut validator = if tx.outgoing.is_some() {
                tx.outgoing_utf8
            } else {
                Utf8Validator::new()
            };
            if validator.feed(data).is_err() || (last && !validator.is_complete()) {
                return Err(SendError::InvalidUtf8);
            }
            tx.outgoing_utf8 = validator;
        }
        if tx.outgoing.is_none() {
            tx.outgoing_compressed = tx.extensions.compresses_fragments();
        }
        if tx.outgoing_compressed {
            let rsv = if opcode == OpCode::Continuation {
                0
            } else {
                RSV1
            };
            tx.write_compressed(opcode, last, rsv, data);
        } else {
            tx.write_frame(opcode, last, 0, data);
        }
        tx.outgoing = if last { None } else { Some(kind) };
        self.queued();
        Ok(())
    }

    /// Queues a Ping (payload at most 125 bytes). Its Pong reports the
    /// round-trip time ([`Event::Pong`](crate::Event::Pong)).
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Ping, payload)?;
        self.link.ping_sent(payload);
        Ok(())
    }

    /// Queues an unsolicited Pong, e.g. as a one-way heartbeat (§5.5.3).
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Pong, payload)
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlPayloadTooLong);
        }
        self.flush_control();
        self.check_can_send(payload.len())?;
        self.tx.write_frame(opcode, true, 0, payload);
        self.queued();
        Ok(())
    }

    /// Starts the closing handshake: queues a Close frame with `code` and
    /// `reason` (at most 123 bytes). The connection is
    /// [`ReadyState::Closing`](crate::ReadyState::Closing) until the peer's
    /// Close arrives.
    ///
    /// ```
    /// use wsmachine::{CloseCode, Config, Connection, ReadyState, Role};
    /// let mut server = Connection::upgraded(Role::Server, Config::default()).unwrap();
    /// server.close(CloseCode::NORMAL, "bye").unwrap();
    /// assert_eq!(server.pending_output(), b"\x88\x05\x03\xe8bye");
    /// assert_eq!(server.ready_state(), ReadyState::Closing);
    /// ```
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        if !code.is_valid_on_wire() {
            return Err(SendError::InvalidCloseCode);
        }
        if reason.len() > MAX_REASON_LEN {
            return Err(SendError::ControlPayloadTooLong);
        }
        let mut payload = [0u8; 2 + MAX_REASON_LEN];
        payload[..2].copy_from_slice(&code.0.to_be_bytes());
        payload[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
        self.send_close(&payload[..2 + reason.len()])
    }

    /// Queues a Close with this payload (checked by the caller).
    pub(crate) fn send_close(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.flush_control();
        if !self.link.can_send() {
            return Err(state_error(self.link));
        }
        self.tx.write_frame(OpCode::Close, true, 0, payload);
        self.link.set_close_sent();
        self.queued();
        Ok(())
    }

    /// Bytes queued but not yet written, like the browser's `bufferedAmount`.
    pub fn buffered_amount(&self) -> usize {
        self.tx.output.len() + self.tx.vectored + control::with(self.control, |queue| queue.len())
    }

    /// Whether data may be sent: open, and no Close sent.
    pub fn can_send(&self) -> bool {
        self.link.can_send()
    }

    pub(crate) fn check_can_send(&self, payload_len: usize) -> Result<(), SendError> {
        if !self.link.can_send() {
            return Err(state_error(self.link));
        }
        if self
            .tx
            .output
            .len()
            .saturating_add(payload_len)
            .saturating_add(MAX_HEADER_LEN)
            > self.config.max_output_buffer
        {
            return Err(SendError::OutputFull);
        }
        Ok(())
    }

    /// What the receive half queued goes out now, at this frame boundary,
    /// before the frame about to be sent.
    pub(crate) fn flush_control(&mut self) {
        let (tx, config, link) = (&mut *self.tx, self.config, self.link);
        control::with(self.control, |queue| tx.flush_control(queue, config, link));
    }

    pub(crate) fn queued(&mut self) {
        self.tx.update_backpressure(self.config, self.link);
    }
}

pub(crate) fn state_error(link: &Link) -> SendError {
    match link.phase() {
        Phase::Handshaking => SendError::NotOpen,
        _ => SendError::Closed,
    }
}

/// A frame header returned by [`Sender::send_vectored`]: write it, then
/// the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHead {
    bytes: [u8; MAX_HEADER_LEN],
    len: u8,
}

impl FrameHead {
    pub(crate) fn new(header: FrameHeader) -> Self {
        let mut head = FrameHead {
            bytes: [0; MAX_HEADER_LEN],
            len: 0,
        };
        head.len = header.encode(&mut head.bytes) as u8;
        head
    }
}

impl AsRef<[u8]> for FrameHead {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl core::ops::Deref for FrameHead {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_ref()
    }
}
