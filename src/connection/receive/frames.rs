//! Frames in, messages out: headers checked, payloads unmasked, text
//! validated, fragments assembled. Compressed messages continue in
//! `compressed`.

use super::arrival::RESERVE_AFTER;
use super::state::{FrameState, Gathered, Incoming, Payload, Ready, Receiver, Step};
use crate::config::ReceiveMode;
use crate::connection::control;
use crate::error::Error;
use crate::frame::{FrameHeader, OpCode, RSV1};
use crate::mask::apply_mask;
use crate::role::{MessageKind, Role};

/// The most a compressed frame or message may take on the wire when its
/// content is within `limit`. Deflate has no fixed worst case (stored
/// blocks cost 5 bytes each, however small; zlib with a small `memLevel`
/// writes 127-byte blocks), so the wire is allowed twice the limit plus
/// 1 KiB, and what the frame inflates to is held to the limit itself as it
/// inflates. The wire length costs no memory: compressed input is inflated
/// as it arrives, not buffered whole.
pub(crate) fn compressed_bound(limit: usize) -> usize {
    limit.saturating_mul(2).saturating_add(1024)
}

impl Receiver<'_> {
    pub(crate) fn step_frames(&mut self) -> Step {
        let frame = match self.state.frame {
            Some(frame) => frame,
            None => {
                if let Some(ready) = self.whole_frame() {
                    return Step::Event(ready);
                }
                match self.read_frame_header() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => return Step::NeedInput,
                    Err(error) => return Step::Event(self.fail(error)),
                }
            }
        };
        if frame.opcode.is_control() {
            self.step_control(frame)
        } else if self.state.incoming.compressed {
            self.step_compressed(frame)
        } else {
            self.step_data(frame)
        }
    }

    /// The common case in one go: a whole unfragmented, uncompressed data
    /// frame with a short header is buffered and no message is in progress.
    /// Everything else, every error included, takes the general path, which
    /// would reach the same result in several rounds.
    fn whole_frame(&mut self) -> Option<Ready> {
        let config = self.config;
        if config.receive_mode != ReceiveMode::Message
            || self.state.incoming.kind.is_some()
            || self.state.carried != 0
        {
            return None;
        }
        let live = self.input.live_mut();
        let [first, second] = *live.first_chunk::<2>()?;
        let kind = match first {
            0x81 => MessageKind::Text,
            0x82 => MessageKind::Binary,
            _ => return None,
        };
        let masked = second & 0x80 != 0;
        if masked != (self.role == Role::Server) {
            return None;
        }
        let (len, length_bytes) = match second & 0x7f {
            127 => return None,
            126 => {
                let len = u16::from_be_bytes(*live.get(2..)?.first_chunk::<2>()?) as usize;
                if len < 126 {
                    return None;
                }
                (len, 2)
            }
            len => (len as usize, 0),
        };
        if len > config.max_frame_size || len > config.max_message_size {
            return None;
        }
        let key_at = 2 + length_bytes;
        let header_len = key_at + if masked { 4 } else { 0 };
        let (header, rest) = live.split_at_mut_checked(header_len)?;
        let payload = rest.get_mut(..len)?;
        if masked {
            let key = *header.get(key_at..)?.first_chunk::<4>()?;
            let unmasked = core::mem::take(&mut self.state.pre_unmasked) as usize;
            apply_mask(&mut payload[unmasked..], key, unmasked);
        }
        self.input.consume(header_len);
        self.state.release.consume = len;
        Some(match kind {
            MessageKind::Text => Ready::WholeText(len),
            MessageKind::Binary => Ready::Message(kind, Payload::Input(len)),
        })
    }

    /// Parses and checks the next frame header, consuming it from the input.
    fn read_frame_header(&mut self) -> Result<Option<FrameState>, Error> {
        let config = self.config;
        let state = &mut *self.state;
        let carried = state.carried as usize;
        let Some((header, header_len)) = FrameHeader::decode(
            &self.input.live()[carried..],
            config.allow_non_minimal_length,
        )?
        else {
            return Ok(None);
        };
        // Extensions may claim RSV bits on a message's first frame only.
        let first_frame = matches!(header.opcode, OpCode::Text | OpCode::Binary);
        let allowed_rsv = if first_frame {
            state.extensions.allowed_rsv()
        } else {
            0
        };
        if header.rsv & !allowed_rsv != 0 {
            return Err(Error::ReservedBitsSet);
        }
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) if !config.allow_unmasked_client_frames => {
                return Err(Error::UnmaskedFrame)
            }
            (Role::Client, true) => return Err(Error::MaskedFrame),
            _ => {}
        }
        let len = usize::try_from(header.payload_len).unwrap_or(usize::MAX);
        if !header.opcode.is_control() {
            let starts_message = header.opcode != OpCode::Continuation;
            match (starts_message, state.incoming.kind.is_some()) {
                (true, true) => return Err(Error::ExpectedContinuation),
                (false, false) => return Err(Error::UnexpectedContinuation),
                _ => {}
            }
            let compressed = if starts_message {
                header.rsv & RSV1 != 0
            } else {
                state.incoming.compressed
            };
            // The limits bound what the application receives. A compressed
            // frame is checked on the wire against what its content may
            // take, and its content again as it inflates.
            let (frame_limit, message_limit) = if compressed {
                (
                    compressed_bound(config.max_frame_size),
                    compressed_bound(config.max_message_size),
                )
            } else {
                (config.max_frame_size, config.max_message_size)
            };
            if len > frame_limit {
                return Err(Error::FrameTooLarge);
            }
            if config.receive_mode == ReceiveMode::Message
                && state.incoming.declared.saturating_add(len) > message_limit
            {
                return Err(Error::MessageTooLarge);
            }
            if starts_message {
                state.incoming.compressed = compressed;
                state.incoming.kind = Some(if header.opcode == OpCode::Text {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                });
            }
            state.incoming.declared += len;
            state.incoming.frame_progress = 0;
        }
        // Drop the header; in stream mode, glue a carried partial character to
        // the payload that completes it.
        self.input.remove_gap(carried, header_len);
        let frame = FrameState {
            opcode: header.opcode,
            fin: header.fin,
            mask: header.mask,
            remaining: len,
            processed: core::mem::take(&mut state.pre_unmasked) as usize,
            phase: 0,
        };
        state.frame = Some(frame);
        Ok(Some(frame))
    }

    fn step_control(&mut self, frame: FrameState) -> Step {
        let len = frame.remaining;
        let carried = self.state.carried as usize;
        if self.input.len() < carried + len {
            return Step::NeedInput;
        }
        self.state.frame = None;
        if carried > 0 {
            // Stream mode holds a split character in front of this payload:
            // move it behind, so the payload starts the input and the
            // character still precedes the next data frame.
            self.input.live_mut()[..carried + len].rotate_left(carried);
        }
        let payload = &mut self.input.live_mut()[..len];
        if let Some(key) = frame.mask {
            apply_mask(payload, key, 0);
        }
        self.state.release.consume = len;
        match frame.opcode {
            OpCode::Ping => {
                if self.config.auto_pong && !self.link.close_sent() {
                    let payload = &self.input.live()[..len];
                    control::with(self.control, |queue| queue.push_pong(payload));
                }
                Step::Event(Ready::Ping(len))
            }
            OpCode::Pong => Step::Event(Ready::Pong(len)),
            _ => {
                let code = match parse_close_payload(&self.input.live()[..len]) {
                    Ok(code) => code,
                    Err(error) => {
                        self.state.release.consume = 0;
                        return Step::Event(self.fail(error));
                    }
                };
                self.link.set_close_received();
                if !self.link.close_sent() {
                    // The echo carries the peer's code and reason (§5.5.1).
                    let echo = &self.input.live()[..len];
                    control::with(self.control, |queue| queue.push_close(echo));
                    self.link.set_close_sent();
                }
                self.link.set_phase(crate::connection::link::Phase::Closed);
                Step::Event(Ready::Close(code, len))
            }
        }
    }

    pub(crate) fn step_data(&mut self, mut frame: FrameState) -> Step {
        let config = self.config;
        let state = &mut *self.state;
        let carried = state.carried as usize;
        let available = (self.input.len() - carried).min(frame.remaining);
        let kind = state.incoming.kind.unwrap_or(MessageKind::Binary);
        let single_frame = frame.fin && frame.opcode != OpCode::Continuation;
        if single_frame
            && config.receive_mode == ReceiveMode::Message
            && available == frame.remaining
            && frame.remaining == state.incoming.declared
            && state.incoming.frame_progress == 0
        {
            // The whole message is here: unmask what arrival did not and
            // hand it out; text is validated once, by the check that yields it.
            if let Some(key) = frame.mask {
                let fresh = &mut self.input.live_mut()[frame.processed..available];
                apply_mask(fresh, key, frame.processed);
            }
            state.frame = None;
            state.incoming = Incoming::default();
            state.release.consume = available;
            return Step::Event(match kind {
                MessageKind::Text => Ready::WholeText(available),
                MessageKind::Binary => Ready::Message(kind, Payload::Input(available)),
            });
        }
        if kind == MessageKind::Text && config.receive_mode == ReceiveMode::Message {
            // Begun in place, or not begun (nothing of the frame gathered
            // into the text buffer yet) and the caller takes events owned.
            let in_place = state.incoming.frame_progress > 0
                || (state.taking_owned && frame.remaining == state.incoming.declared);
            if single_frame && !state.incoming.compressed && in_place {
                return self.step_text_in_place(frame, available);
            }
            return self.step_text(frame, available);
        }
        if available > frame.processed {
            let fresh = &mut self.input.live_mut()[carried + frame.processed..carried + available];
            if let Some(key) = frame.mask {
                apply_mask(fresh, key, frame.phase as usize + frame.processed);
            }
            if kind == MessageKind::Text && state.incoming.utf8.feed(fresh).is_err() {
                return Step::Event(self.fail(Error::InvalidUtf8));
            }
            frame.processed = available;
        }
        let frame_done = frame.processed == frame.remaining;
        let message_done = frame_done && frame.fin;
        if message_done && !state.incoming.utf8.is_complete() {
            return Step::Event(self.fail(Error::InvalidUtf8));
        }
        match config.receive_mode {
            ReceiveMode::Stream => {
                // The front of the input holds `carried` bytes of a character
                // begun in an earlier frame, then this frame's processed bytes;
                // an unfinished character at the end is held back.
                let unfinished = unfinished_character(&state.incoming, kind);
                let deliver = carried + frame.processed - unfinished;
                // Either nothing completes (deliver == 0) or the carried bytes go too.
                let from_frame = deliver.saturating_sub(carried);
                frame.remaining -= from_frame;
                frame.processed -= from_frame;
                frame.advance_phase(from_frame);
                if frame_done {
                    state.carried = unfinished as u8;
                    state.frame = None;
                } else {
                    state.carried = if deliver == 0 { carried as u8 } else { 0 };
                    state.frame = Some(frame);
                }
                if message_done {
                    state.incoming = Incoming::default();
                }
                if deliver > 0 || message_done {
                    state.release.consume = deliver;
                    return Step::Event(Ready::Chunk {
                        kind,
                        from_message: false,
                        len: deliver,
                        last: message_done,
                    });
                }
                if frame_done {
                    Step::Continue
                } else {
                    Step::NeedInput
                }
            }
            ReceiveMode::Message => {
                if single_frame {
                    // Zero-copy: the whole message is one frame; hand out the input.
                    if !frame_done {
                        state.frame = Some(frame);
                        return Step::NeedInput;
                    }
                    state.frame = None;
                    state.incoming = Incoming::default();
                    state.release.consume = frame.remaining;
                    return Step::Event(Ready::Message(kind, Payload::Input(frame.remaining)));
                }
                // Fragmented: move what is processed into the reassembly buffer.
                let moved = frame.processed;
                state
                    .gathered()
                    .message
                    .extend_from_slice(&self.input.live()[..moved]);
                self.input.consume(moved);
                frame.remaining -= moved;
                frame.processed = 0;
                frame.advance_phase(moved);
                if !frame_done {
                    state.frame = Some(frame);
                    return Step::NeedInput;
                }
                state.frame = None;
                if !message_done {
                    return Step::Continue;
                }
                state.incoming = Incoming::default();
                state.release.clear_message = true;
                Step::Event(Ready::Message(kind, Payload::Message))
            }
        }
    }

    /// A text message of one frame that is not whole at the first look
    /// (message mode): it stays in the input, like a binary one, and each
    /// read's bytes are unmasked and validated (fail-fast) while they are
    /// still in the cache; the finished message is handed out from the
    /// input without a copy and without a second look at the bytes (the
    /// owned event trusts this validation). A character split between
    /// reads waits in the validator.
    fn step_text_in_place(&mut self, mut frame: FrameState, available: usize) -> Step {
        let state = &mut *self.state;
        debug_assert_eq!(state.carried, 0, "message mode carries nothing");
        let piece = &mut self.input.live_mut()[..available];
        if let Some(key) = frame.mask {
            // Arrival may have unmasked the first `processed` bytes.
            let unmasked = frame.processed.min(available);
            apply_mask(&mut piece[unmasked..], key, frame.phase as usize + unmasked);
        }
        frame.processed = available;
        let fresh = &piece[state.incoming.frame_progress..];
        if state.incoming.utf8.feed(fresh).is_err() {
            return Step::Event(self.fail(Error::InvalidUtf8));
        }
        state.incoming.frame_progress = available;
        if frame.remaining > available {
            state.frame = Some(frame);
            return Step::NeedInput;
        }
        if !state.incoming.utf8.is_complete() {
            return Step::Event(self.fail(Error::InvalidUtf8));
        }
        state.frame = None;
        state.incoming = Incoming::default();
        state.release.consume = available;
        Step::Event(Ready::Message(MessageKind::Text, Payload::Input(available)))
    }

    /// Text in message mode that is not one whole frame at the first look,
    /// in several frames or taken as borrowed events: each piece is
    /// unmasked, validated (fail-fast) and moved into the text buffer by the
    /// one check that yields its `&str`, so the finished message needs no
    /// second look. A character split between pieces waits in the
    /// validator.
    fn step_text(&mut self, mut frame: FrameState, available: usize) -> Step {
        let state = &mut *self.state;
        let text = &mut Gathered::made(&mut state.gathered).text;
        if frame.remaining > available && text.len() + available >= RESERVE_AFTER {
            // As for the input: a message that has proven large gets room
            // for the rest of this frame at once.
            text.reserve(frame.remaining);
        }
        let piece = &mut self.input.live_mut()[..available];
        if let Some(key) = frame.mask {
            // Arrival may have unmasked the first `processed` bytes.
            let unmasked = frame.processed.min(available);
            apply_mask(&mut piece[unmasked..], key, frame.phase as usize + unmasked);
        }
        if state.incoming.utf8.feed_into(piece, text).is_err() {
            return Step::Event(self.fail(Error::InvalidUtf8));
        }
        self.input.consume(available);
        frame.remaining -= available;
        frame.processed = 0;
        frame.advance_phase(available);
        if frame.remaining > 0 {
            state.frame = Some(frame);
            return Step::NeedInput;
        }
        state.frame = None;
        if !frame.fin {
            return Step::Continue;
        }
        if !state.incoming.utf8.is_complete() {
            return Step::Event(self.fail(Error::InvalidUtf8));
        }
        state.incoming = Incoming::default();
        state.release.clear_message = true;
        Step::Event(Ready::Message(MessageKind::Text, Payload::Text))
    }
}

/// Bytes at the end of the text so far that start a character not yet
/// complete: stream mode holds them back.
pub(crate) fn unfinished_character(incoming: &Incoming, kind: MessageKind) -> usize {
    match kind {
        MessageKind::Text => incoming.utf8.incomplete_len(),
        MessageKind::Binary => 0,
    }
}

/// Splits and validates a received Close payload into its code. An empty
/// payload means "no status" (`None`). One byte, a code not allowed on the
/// wire, or a reason that is not UTF-8 are errors.
fn parse_close_payload(payload: &[u8]) -> Result<Option<crate::CloseCode>, Error> {
    match payload {
        [] => Ok(None),
        [_] => Err(Error::InvalidClosePayload),
        [hi, lo, reason @ ..] => {
            let code = crate::CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_valid_on_wire() {
                return Err(Error::InvalidCloseCode);
            }
            crate::utf8::validate(reason).map_err(|_| Error::InvalidCloseReason)?;
            Ok(Some(code))
        }
    }
}
