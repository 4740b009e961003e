//! The receive path's state, and how it fails.

use crate::buffer::InputBuffer;
use crate::close::MAX_REASON_LEN;
use crate::config::Config;
use crate::connection::control::{self, ControlQueue};
use crate::connection::link::{Link, Phase};
use crate::error::Error;
use crate::extensions::{ExtensionParams, ReceiveExtensions};
use crate::frame::OpCode;
use crate::handshake::{
    write_error_response, ClientHandshake, HandshakeRequest, HandshakeResponse,
};
use crate::role::{MessageKind, Role};
use crate::utf8::Utf8Validator;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::Cell;

/// Where the opening handshake stands. Boxed inside the connection so an
/// open connection does not carry it.
#[derive(Debug)]
pub(crate) enum Handshake {
    /// Server reading the request head; `scanned` bytes searched so far.
    ReadingRequest { scanned: usize },
    /// Server waiting for the caller to accept or reject.
    AwaitingDecision(HandshakeRequest),
    /// Client waiting for the response head.
    ReadingResponse {
        scanned: usize,
        handshake: ClientHandshake,
    },
    /// Client read the response; kept until the caller has seen it.
    Answered(HandshakeResponse),
}

/// The data or control frame being received.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameState {
    pub(crate) opcode: OpCode,
    pub(crate) fin: bool,
    pub(crate) mask: Option<[u8; 4]>,
    /// Payload bytes not yet consumed from the input.
    pub(crate) remaining: usize,
    /// Of those, how many are already unmasked and validated.
    pub(crate) processed: usize,
    /// Payload offset of the first unconsumed byte, modulo 4: all the
    /// masking needs.
    pub(crate) phase: u8,
}

impl FrameState {
    pub(crate) fn advance_phase(&mut self, consumed: usize) {
        self.phase = ((self.phase as usize + consumed) % 4) as u8;
    }
}

/// The data message being received.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Incoming {
    pub(crate) kind: Option<MessageKind>,
    /// The message was sent transformed by an extension (RSV1).
    pub(crate) compressed: bool,
    pub(crate) utf8: Utf8Validator,
    /// Bytes announced so far by the message's frame headers.
    pub(crate) declared: usize,
    /// How far the current frame has come, in the one sense its kind
    /// needs (one field for both keeps every connection 8 bytes smaller):
    /// for a compressed message, bytes inflated from the frame; for a text
    /// message of one uncompressed frame kept in the input (message mode,
    /// longer than one read), payload bytes validated so far (see
    /// `step_text_in_place`).
    pub(crate) frame_progress: usize,
}

/// Where the payload of a ready event lives.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Payload {
    /// `len` bytes at the front of the input.
    Input(usize),
    /// The reassembly buffer.
    Message,
    /// The text reassembly buffer, validated as it was filled.
    Text,
}

/// An event found by `step`, before it borrows the buffers.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ready {
    HandshakeRequest,
    HandshakeAnswered {
        accepted: bool,
    },
    Message(MessageKind, Payload),
    /// A text message that is one whole frame at the front of the input,
    /// unmasked but not yet validated: the check that yields its `&str` is
    /// the one validation it gets.
    WholeText(usize),
    Chunk {
        kind: MessageKind,
        from_message: bool,
        len: usize,
        last: bool,
    },
    Ping(usize),
    Pong(usize),
    Close(Option<crate::close::CloseCode>, usize),
    Backpressure(bool),
    Failed(Error),
}

/// Outcome of one round of `step`.
pub(crate) enum Step {
    Event(Ready),
    Continue,
    NeedInput,
}

/// Work left over from the previous event, done before the next call reads
/// the buffers (the event borrowed them until then).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Release {
    /// Bytes handed out from the front of the input, or (with
    /// `from_message`) of the message buffer, which stream mode with an
    /// extension hands out from.
    pub(crate) consume: usize,
    pub(crate) from_message: bool,
    pub(crate) clear_message: bool,
    pub(crate) drop_handshake: bool,
}

/// Everything the receive path owns apart from the input buffer (kept apart
/// so an event can borrow the input while a failure changes the rest).
#[derive(Debug, Default)]
pub(crate) struct RxState {
    pub(crate) handshake: Option<Box<Handshake>>,
    /// The buffers messages are gathered in, made when the first one is
    /// needed: most connections never receive a fragmented or compressed
    /// message, and each one carries 8 bytes for them instead of 48.
    pub(crate) gathered: Option<Box<Gathered>>,
    pub(crate) frame: Option<FrameState>,
    pub(crate) incoming: Incoming,
    /// Stream mode: bytes of a split character kept at the front of the input
    /// across a frame boundary (at most 3).
    pub(crate) carried: u8,
    pub(crate) release: Release,
    pub(crate) extensions: ReceiveExtensions,
    /// Client: what the server agreed to, for the coordinator to take
    /// (the send side's extensions, the protocol).
    pub(crate) agreed: Option<Box<(Option<Box<str>>, ExtensionParams)>>,
    pub(crate) input_ended: bool,
    pub(crate) events_paused: bool,
    /// A failure found by `handle_timeout`, reported by the next `next_event`.
    pub(crate) timed_out: Option<Error>,
    /// Why the connection failed, once it has.
    pub(crate) error: Option<Error>,
    /// The output's backpressure state as last reported.
    pub(crate) reported_backpressure: bool,
    /// The caller's last call asked for an owned event: a text frame longer
    /// than one read then stays in the input to leave it without a copy
    /// (`step_text_in_place`); a borrowed one is gathered into the text
    /// buffer, whose `&str` costs no second look.
    pub(crate) taking_owned: bool,
    /// When the reassembly buffers give back what they grew to.
    pub(crate) shrink: crate::buffer::Shrink,
    /// Payload bytes of the frame at the front of the input that arrival
    /// unmasked before its header was read.
    pub(crate) pre_unmasked: u32,
}

/// Messages that are not handed out from the input: gathered from their
/// fragments, or inflated.
#[derive(Debug, Default)]
pub(crate) struct Gathered {
    /// A fragmented message being reassembled, or inflated.
    pub(crate) message: Vec<u8>,
    /// A text message being reassembled, validated piece by piece on the
    /// way in (message mode, uncompressed).
    pub(crate) text: String,
}

impl Gathered {
    /// The buffers in `slot`, made if there are none. Takes the field, not
    /// the whole state, so callers can hold the buffers beside other fields.
    pub(crate) fn made(slot: &mut Option<Box<Gathered>>) -> &mut Gathered {
        slot.get_or_insert_with(Box::default)
    }
}

impl RxState {
    /// The gathering buffers, made if there are none.
    pub(crate) fn gathered(&mut self) -> &mut Gathered {
        Gathered::made(&mut self.gathered)
    }

    /// The message gathered so far (empty if there are no buffers).
    pub(crate) fn message(&self) -> &[u8] {
        self.gathered.as_ref().map_or(&[], |g| &g.message)
    }

    /// The text gathered so far (empty if there are no buffers).
    pub(crate) fn text(&self) -> &str {
        self.gathered.as_ref().map_or("", |g| &g.text)
    }

    /// Bytes held in the gathering buffers.
    pub(crate) fn gathered_len(&self) -> usize {
        self.message().len() + self.text().len()
    }
}

/// The receive half of a connection: hands out what the peer sent.
///
/// Made by [`Connection::split_mut`](crate::Connection::split_mut), beside
/// a [`Sender`](crate::Sender) that borrows the rest of the connection.
/// What the receive path must send itself (the automatic Pong, the echo of
/// a Close) waits in a small control queue that goes out at the next frame
/// boundary, when the output is next read.
pub struct Receiver<'a> {
    pub(crate) config: &'a Config,
    pub(crate) role: Role,
    pub(crate) link: &'a Link,
    pub(crate) input: &'a mut InputBuffer,
    pub(crate) state: &'a mut RxState,
    pub(crate) control: &'a Cell<ControlQueue>,
}

impl core::fmt::Debug for Receiver<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Receiver")
            .field("role", &self.role)
            .field("buffered", &self.input.len())
            .finish_non_exhaustive()
    }
}

/// The parts of the receive path a failure changes: all but the input.
pub(crate) struct Failing<'a> {
    pub(crate) config: &'a Config,
    pub(crate) role: Role,
    pub(crate) link: &'a Link,
    pub(crate) state: &'a mut RxState,
    pub(crate) control: &'a Cell<ControlQueue>,
}

impl Failing<'_> {
    /// Failures after which the peer is presumed gone.
    fn is_abort(&self, error: Error) -> bool {
        match error {
            Error::KeepaliveTimeout => self.config.abort_on_keepalive_timeout,
            Error::CloseTimeout | Error::AbnormalClosure => true,
            _ => false,
        }
    }

    /// Queues the Close frame or HTTP response the error calls for and makes
    /// the error sticky. The input is left to the caller: the machine frees
    /// it once closed, at the latest on the next call. Returns the error.
    pub(crate) fn fail(&mut self, error: Error) -> Error {
        let link = self.link;
        if link.phase() == Phase::Handshaking && self.role == Role::Server {
            if error.http_status().is_some() {
                let mut response = Vec::new();
                write_error_response(&mut response, error);
                control::with(self.control, |queue| queue.push_raw(&response));
            }
        } else if self.is_abort(error) {
            // Nobody will read what is queued: let the caller drop the transport now.
            link.set_aborted();
            control::with(self.control, ControlQueue::clear);
        } else if link.is_open() && !link.close_sent() {
            if let Some(code) = error.close_code() {
                let reason = error.description().as_bytes();
                let mut payload = [0u8; 2 + MAX_REASON_LEN];
                payload[..2].copy_from_slice(&code.0.to_be_bytes());
                payload[2..2 + reason.len()].copy_from_slice(reason);
                control::with(self.control, |queue| {
                    queue.push_close(&payload[..2 + reason.len()])
                });
                link.set_close_sent();
            }
        }
        self.state.error = Some(error);
        link.set_phase(Phase::Closed);
        let state = &mut *self.state;
        state.gathered = None;
        state.frame = None;
        state.incoming = Incoming::default();
        state.carried = 0;
        state.release = Release {
            drop_handshake: true,
            ..Release::default()
        };
        error
    }
}
