//! Frames of a compressed message: unmasked, inflated into the message
//! buffer within the limits, the inflated text validated as it comes.

use super::frames::unfinished_character;
use super::state::{FrameState, Gathered, Incoming, Payload, Ready, Receiver, Step};
use crate::config::ReceiveMode;
use crate::error::Error;
use crate::extensions::INFLATE_STEP;
use crate::mask::apply_mask;
use crate::role::MessageKind;

impl Receiver<'_> {
    pub(crate) fn step_compressed(&mut self, mut frame: FrameState) -> Step {
        let config = self.config;
        let state = &mut *self.state;
        let kind = state.incoming.kind.unwrap_or(MessageKind::Binary);
        let available = self.input.len().min(frame.remaining);
        if available > frame.processed {
            if let Some(key) = frame.mask {
                let fresh = &mut self.input.live_mut()[frame.processed..available];
                apply_mask(fresh, key, frame.phase as usize + frame.processed);
            }
            frame.processed = available;
        }
        let stream = config.receive_mode == ReceiveMode::Stream;
        let message = &mut Gathered::made(&mut state.gathered).message;
        // One byte over a limit is enough to know it is exceeded.
        let frame_budget =
            (config.max_frame_size + 1).saturating_sub(state.incoming.frame_progress);
        let budget = if stream {
            INFLATE_STEP.min(frame_budget)
        } else {
            let message_budget = (config.max_message_size + 1).saturating_sub(message.len());
            message_budget.min(frame_budget)
        };
        let before = message.len();
        let inflated =
            match state
                .extensions
                .inflate(&self.input.live()[..frame.processed], message, budget)
            {
                Ok(inflated) => inflated,
                Err(error) => return Step::Event(self.fail(error)),
            };
        self.input.consume(inflated.used);
        frame.remaining -= inflated.used;
        frame.processed -= inflated.used;
        frame.advance_phase(inflated.used);
        let frame_done = frame.remaining == 0;
        let mut message_done = false;
        if frame_done && frame.fin && !inflated.full {
            let budget = budget.saturating_sub(message.len() - before);
            match state.extensions.finish_message(message, budget) {
                Ok(done) => message_done = done,
                Err(error) => return Step::Event(self.fail(error)),
            }
        }
        let produced = message.len() - before;
        state.incoming.frame_progress += produced;
        if state.incoming.frame_progress > config.max_frame_size {
            return Step::Event(self.fail(Error::FrameTooLarge));
        }
        if !stream && message.len() > config.max_message_size {
            return Step::Event(self.fail(Error::MessageTooLarge));
        }
        if kind == MessageKind::Text
            && (state.incoming.utf8.feed(&message[before..]).is_err()
                || (message_done && !state.incoming.utf8.is_complete()))
        {
            return Step::Event(self.fail(Error::InvalidUtf8));
        }
        let more_output = inflated.full || (frame_done && frame.fin && !message_done);
        state.frame = if frame_done && !more_output {
            None
        } else {
            Some(frame)
        };
        if message_done {
            state.incoming = Incoming::default();
        }
        if stream {
            let deliver = message.len() - unfinished_character(&state.incoming, kind);
            if deliver > 0 || message_done {
                state.release.consume = deliver;
                state.release.from_message = true;
                return Step::Event(Ready::Chunk {
                    kind,
                    from_message: true,
                    len: deliver,
                    last: message_done,
                });
            }
        } else if message_done {
            state.release.clear_message = true;
            return Step::Event(Ready::Message(kind, Payload::Message));
        }
        if more_output || frame_done {
            Step::Continue
        } else {
            Step::NeedInput
        }
    }
}
