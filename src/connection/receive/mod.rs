//! The receive path: bytes in, events out.
//!
//! `arrival` takes bytes in (unmasking where it copies anyway), `opening`
//! reads the handshake head, `frames` reads frames and assembles messages,
//! `compressed` inflates, and this module turns what they found into events
//! that borrow the buffers, or owned ones.

mod arrival;
mod compressed;
mod frames;
mod opening;
#[cfg(feature = "bytes")]
mod owned;
mod state;

pub use state::Receiver;
pub(crate) use state::{Handshake, Ready, RxState};

use crate::error::Error;
use crate::event::Event;
use crate::role::MessageKind;
use state::{Failing, Payload, Step};

impl<'a> Receiver<'a> {
    /// The next event, or `None` when more input (or a caller decision) is
    /// needed.
    pub fn next_event(&mut self) -> Option<Event<'_>> {
        self.reborrow().into_event()
    }

    fn reborrow(&mut self) -> Receiver<'_> {
        Receiver {
            config: self.config,
            role: self.role,
            link: self.link,
            input: self.input,
            state: self.state,
            control: self.control,
        }
    }

    /// [`next_event`](Self::next_event) for the whole borrow.
    pub(crate) fn into_event(mut self) -> Option<Event<'a>> {
        let ready = self.next_ready(false)?;
        Some(self.into_materialized(ready))
    }

    /// The event `ready` stands for, borrowing the buffers.
    pub(crate) fn into_materialized(self, ready: Ready) -> Event<'a> {
        match ready {
            Ready::WholeText(len) => self.whole_text(len),
            ready => self.materialize(ready),
        }
    }

    /// Everything before an event borrows the buffers: the previous event's
    /// release, a timeout or backpressure change to report, then a step.
    /// `owned`: the event will be taken owned.
    pub(crate) fn next_ready(&mut self, owned: bool) -> Option<Ready> {
        self.state.taking_owned = owned;
        self.apply_release();
        if let Some(error) = self.state.timed_out.take() {
            return Some(Ready::Failed(error));
        }
        if let Some(high) = self.backpressure_change() {
            return Some(Ready::Backpressure(high));
        }
        if self.state.events_paused || self.between_frames_with_nothing_buffered() {
            return None;
        }
        self.step()
    }

    /// The usual answer when the caller asks again before reading more: an
    /// open connection between frames with no input has no event, and
    /// saying so without a step keeps that call cheap. (A step would reach
    /// `NeedInput` and the same `None`; with the input ended it would fail
    /// the connection, so that case takes the step.)
    fn between_frames_with_nothing_buffered(&self) -> bool {
        self.input.len() == 0
            && self.state.frame.is_none()
            && !self.state.input_ended
            && self.link.is_open()
    }

    /// A text message that arrived as one whole frame is validated here, in
    /// the same pass that yields its `&str`: one look at the bytes instead of
    /// two. The failure path can still run because the text borrows only
    /// the input.
    fn whole_text(self, len: usize) -> Event<'a> {
        let (input, mut failing) = self.split_for_failure();
        match crate::utf8::validate(&input.live()[..len]) {
            Ok(text) => Event::Text(text),
            Err(_) => Event::Failed(failing.fail(Error::InvalidUtf8)),
        }
    }

    fn backpressure_change(&mut self) -> Option<bool> {
        if !self.link.is_open() {
            return None;
        }
        let high = self.link.backpressured();
        if high == self.state.reported_backpressure {
            return None;
        }
        self.state.reported_backpressure = high;
        Some(high)
    }

    pub(crate) fn apply_release(&mut self) {
        let state = &mut *self.state;
        let release = core::mem::take(&mut state.release);
        if release.from_message {
            if let Some(gathered) = state.gathered.as_mut() {
                let message = &mut gathered.message;
                message.drain(..release.consume.min(message.len()));
            }
        } else if release.consume > 0 {
            // Consuming nothing must not end a round of the buffer's
            // hysteresis (a round is a fill that empties): asking again for
            // an event is not a round.
            self.input.consume(release.consume);
        }
        if release.clear_message {
            if let Some(gathered) = state.gathered.as_mut() {
                let (message, text) = (&mut gathered.message, &mut gathered.text);
                state.shrink.saw(message.len().max(text.len()));
                message.clear();
                text.clear();
                let grown = message.capacity().max(text.capacity());
                if state.shrink.release(grown, crate::buffer::RETAIN_CAPACITY) {
                    state.gathered = None;
                }
            }
        }
        if release.drop_handshake {
            state.handshake = None;
            self.input.release_if_empty();
        }
        if self.link.is_closed() {
            self.input.clear();
            self.input.release_if_empty();
            state.gathered = None;
        }
    }

    fn materialize(self, ready: Ready) -> Event<'a> {
        let input = self.input.live();
        let state = &*self.state;
        match ready {
            Ready::HandshakeRequest => match state.handshake.as_deref() {
                Some(Handshake::AwaitingDecision(request)) => Event::HandshakeRequest(request),
                // Not reachable: the event is made only in that state. Checked
                // in debug builds (tests, fuzzing); never a panic in release.
                _ => {
                    debug_assert!(false, "handshake request event without a request");
                    Event::Failed(Error::MalformedRequest)
                }
            },
            Ready::HandshakeAnswered { accepted } => match state.handshake.as_deref() {
                Some(Handshake::Answered(response)) if accepted => Event::Connected(response),
                Some(Handshake::Answered(response)) => Event::HandshakeRejected(response),
                _ => {
                    debug_assert!(false, "handshake response event without a response");
                    Event::Failed(Error::MalformedResponse)
                }
            },
            Ready::Message(kind, payload) => {
                let bytes = match payload {
                    Payload::Input(len) => &input[..len],
                    Payload::Message => state.message(),
                    Payload::Text => return Event::Text(state.text()),
                };
                match kind {
                    MessageKind::Text => Event::Text(validated_str(bytes)),
                    MessageKind::Binary => Event::Binary(bytes),
                }
            }
            Ready::Chunk {
                kind,
                from_message,
                len,
                last,
            } => {
                let data = if from_message {
                    &state.message()[..len]
                } else {
                    &input[..len]
                };
                match kind {
                    MessageKind::Text => Event::TextChunk {
                        data: validated_str(data),
                        last,
                    },
                    MessageKind::Binary => Event::BinaryChunk { data, last },
                }
            }
            Ready::Ping(len) => Event::Ping(&input[..len]),
            Ready::Pong(len) => {
                let payload = &input[..len];
                let rtt = self.link.pong_received(payload);
                Event::Pong { payload, rtt }
            }
            Ready::Close(code, len) => Event::Close {
                code,
                // Validated when the frame was read; the reason follows the code.
                reason: validated_str(input.get(2..len).unwrap_or_default()),
            },
            Ready::Backpressure(high) => Event::WriteBackpressure(high),
            Ready::Failed(error) => Event::Failed(error),
            // `into_event` hands these to `whole_text`; not reachable here.
            Ready::WholeText(_) => {
                debug_assert!(false, "whole text must be validated by whole_text");
                Event::Failed(Error::InvalidUtf8)
            }
        }
    }

    /// Advances the machine as far as the buffered input allows, up to the
    /// next event.
    fn step(&mut self) -> Option<Ready> {
        use crate::connection::link::Phase;
        loop {
            let progress = match self.link.phase() {
                Phase::Closed => return None,
                Phase::Handshaking => self.step_handshake(),
                Phase::Open if self.link.close_received() => return None,
                Phase::Open => self.step_frames(),
            };
            match progress {
                Step::Event(ready) => return Some(ready),
                Step::Continue => continue,
                Step::NeedInput if self.state.input_ended => {
                    return Some(self.fail(Error::AbnormalClosure));
                }
                Step::NeedInput => return None,
            }
        }
    }

    /// Fails the connection: queues the Close frame or HTTP response the
    /// error calls for, and makes the error sticky.
    pub(crate) fn fail(&mut self, error: Error) -> Ready {
        let (input, mut failing) = self.reborrow().split_for_failure();
        failing.fail(error);
        // Nothing received will be handed out any more: free it now.
        input.clear();
        input.release_if_empty();
        Ready::Failed(error)
    }

    /// The input buffer and, apart from it, everything a failure changes:
    /// lets an event borrow the input while the failure path stays open.
    fn split_for_failure(self) -> (&'a mut crate::buffer::InputBuffer, Failing<'a>) {
        let failing = Failing {
            config: self.config,
            role: self.role,
            link: self.link,
            state: self.state,
            control: self.control,
        };
        (self.input, failing)
    }
}

/// The bytes were validated as UTF-8 on the way in.
fn validated_str(bytes: &[u8]) -> &str {
    // Never fails: every text payload passed `Utf8Validator`; the fallback
    // keeps a logic error from becoming a panic. The vector pass makes this
    // second look cost a fraction of std's.
    crate::utf8::validate(bytes).unwrap_or_default()
}
