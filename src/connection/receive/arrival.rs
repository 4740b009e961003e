//! Bytes arriving: copied in (or read in place), and unmasked on the way
//! when they continue a payload that needs no other look.

use super::state::Receiver;
use crate::config::ReceiveMode;
use crate::role::MessageKind;

/// Payload bytes a frame must have delivered before the input buffer is
/// grown to its whole declared length at once.
pub(crate) const RESERVE_AFTER: usize = 32 * 1024;

impl<'a> Receiver<'a> {
    /// Takes in bytes read from the transport.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        self.apply_release();
        if !self.reads() {
            return;
        }
        self.reserve_rest_of_frame(bytes.len());
        let bytes = self.unmask_first_frame(bytes);
        let direct = self.unmask_on_arrival(bytes.len());
        let (payload, rest) = bytes.split_at(direct.map_or(0, |(len, _, _)| len));
        if let Some((_, key, phase)) = direct {
            self.input.extend_masked(payload, key, phase);
        }
        if !rest.is_empty() {
            self.input.extend(rest);
        }
    }

    /// Takes in bytes read from the transport into a buffer of their own:
    /// kept where they are when nothing is buffered (payloads are then
    /// unmasked in place when read), copied in otherwise. Also copied into
    /// an allocation grown for large messages: a connection that receives
    /// them keeps reading into it rather than growing a new one (and
    /// zeroing it) for each.
    #[cfg(feature = "bytes")]
    pub(crate) fn feed_buffer(&mut self, bytes: bytes::BytesMut) {
        self.apply_release();
        if !self.reads() {
            return;
        }
        if bytes.is_empty() {
            // Nothing to take, and an empty part would still hold the
            // reader's allocation.
            return;
        }
        if self.input.len() == 0 && !self.input.holds_large() {
            self.input.adopt(bytes);
        } else {
            self.feed(&bytes);
        }
    }

    /// Room to read the transport into, for [`commit`](Self::commit).
    pub(crate) fn into_room(mut self, min: usize) -> &'a mut [u8] {
        self.apply_release();
        self.reserve_rest_of_frame(min);
        let input = self.input;
        input.spare(min.max(1))
    }

    /// `n` bytes were read into the room.
    pub(crate) fn commit(&mut self, n: usize) {
        if self.reads() {
            self.input.commit(n);
        }
    }

    /// Whether received bytes are still taken in.
    fn reads(&self) -> bool {
        !self.link.is_closed() && !self.link.close_received() && !self.state.input_ended
    }

    /// A data frame that has proven large (by delivering
    /// [`RESERVE_AFTER`] bytes, not just by declaring a length) gets room
    /// for the rest of its payload at once, so the buffer is not copied at
    /// every doubling. Its length is within the frame limit, checked with
    /// the header.
    fn reserve_rest_of_frame(&mut self, arriving: usize) {
        let Some(frame) = self.state.frame else {
            return;
        };
        let buffered = self.input.len() - self.state.carried as usize;
        let rest = frame.remaining.saturating_sub(buffered);
        // Equivalent mutant: `rest >= arriving` reserves, when they are equal,
        // what taking in the `arriving` bytes reserves next anyway.
        if !frame.opcode.is_control() && buffered >= RESERVE_AFTER && rest > arriving {
            self.input.reserve(rest);
        }
    }

    /// Bytes that arrive into an empty buffer usually begin with a frame:
    /// when its header is all there and its payload is one that is unmasked
    /// on arrival (as below), the payload is unmasked while it is copied
    /// in too, and the header read later knows (`pre_unmasked`). The header
    /// is only peeked at here; it is checked when it is read. Returns the
    /// bytes not taken in.
    fn unmask_first_frame<'b>(&mut self, bytes: &'b [u8]) -> &'b [u8] {
        let state = &mut *self.state;
        if state.frame.is_some()
            || state.handshake.is_some()
            || self.input.len() != 0
            || !self.link.is_open()
        {
            return bytes;
        }
        let Some((header_len, key, payload_len)) = masked_data_header(bytes) else {
            return bytes;
        };
        let opcode = bytes[0] & 0x0f;
        let compressed = if opcode == 0 {
            state.incoming.compressed
        } else {
            bytes[0] & 0x40 != 0
        };
        let binary =
            opcode == 2 || (opcode == 0 && state.incoming.kind == Some(MessageKind::Binary));
        if !(binary || compressed || self.config.receive_mode == ReceiveMode::Message) {
            return bytes;
        }
        let (header, rest) = bytes.split_at(header_len);
        let here = payload_len.min(rest.len()).min(u32::MAX as usize);
        let (payload, rest) = rest.split_at(here);
        self.input.extend_header_masked(header, payload, key);
        state.pre_unmasked = here as u32;
        rest
    }

    /// How many of `arriving` bytes continue the payload of a masked binary
    /// (or compressed, or message-mode text) frame whose buffered bytes are
    /// all processed, with the key and payload offset to unmask them: those
    /// are unmasked while they are copied in, which saves a second pass over
    /// them, and count as processed at once. Text still gets its validation
    /// pass when the frame is read.
    fn unmask_on_arrival(&mut self, arriving: usize) -> Option<(usize, [u8; 4], usize)> {
        let state = &mut *self.state;
        let frame = state.frame.as_mut()?;
        let key = frame.mask?;
        // Stream-mode text is validated in place, so it must stay masked
        // until then; everything else is unmasked here.
        let plain = state.incoming.kind == Some(MessageKind::Binary)
            || state.incoming.compressed
            || self.config.receive_mode == ReceiveMode::Message;
        // Equivalent mutant: `+ carried`. Only stream-mode text carries
        // bytes, and it is not `plain`, so `buffered` is not looked at then.
        let buffered = self.input.len() - state.carried as usize;
        if frame.opcode.is_control() || !plain || frame.processed != buffered {
            return None;
        }
        let len = frame.remaining.saturating_sub(buffered).min(arriving);
        frame.processed += len;
        Some((len, key, frame.phase as usize + buffered))
    }
}

/// The header length, masking key and payload length of a masked data
/// frame (text, binary or continuation) whose header `bytes` begin with in
/// full; `None` for anything else.
fn masked_data_header(bytes: &[u8]) -> Option<(usize, [u8; 4], usize)> {
    let [first, second, ..] = *bytes else {
        return None;
    };
    if first & 0x0f > 2 || second & 0x80 == 0 {
        return None;
    }
    let (len, length_bytes) = match second & 0x7f {
        126 => (
            u64::from(u16::from_be_bytes(*bytes.get(2..)?.first_chunk()?)),
            2,
        ),
        127 => (u64::from_be_bytes(*bytes.get(2..)?.first_chunk()?), 8),
        len => (u64::from(len), 0),
    };
    let key_at = 2 + length_bytes;
    let key = *bytes.get(key_at..)?.first_chunk::<4>()?;
    Some((key_at + 4, key, usize::try_from(len).ok()?))
}

#[cfg(test)]
mod tests {
    use crate::config::ReceiveMode::{self, Message, Stream};
    use crate::{Config, Connection, Role};

    /// A masked frame (the key is zero, so the payload reads as sent) with
    /// `first` as its first byte and a 100-byte payload.
    fn frame(first: u8) -> Vec<u8> {
        let mut frame = vec![first, 0x80 | 100, 0, 0, 0, 0];
        frame.extend_from_slice(&[b'a'; 100]);
        frame
    }

    /// After `before` (whole frames) was received and read: how many payload
    /// bytes the header and the first 50 of the payload of the frame
    /// starting with `first` get unmasked on arrival (before the header is
    /// read), and how many of the next 30 once it has been read.
    fn unmasked_on_arrival(mode: ReceiveMode, before: &[u8], first: u8) -> (u32, usize) {
        let config = Config::default().with_receive_mode(mode);
        let mut server = Connection::upgraded(Role::Server, config).unwrap();
        server.receive(before);
        while server.next_event().is_some() {}
        assert_eq!(server.input.len(), 0);
        let frame = frame(first);
        server.receive(&frame[..6 + 50]);
        let first_part = server.rx.pre_unmasked;
        while server.next_event().is_some() {}
        let processed = |conn: &Connection| conn.rx.frame.map_or(0, |frame| frame.processed);
        let start = processed(&server);
        server.receive(&frame[6 + 50..6 + 80]);
        (first_part, processed(&server) - start)
    }

    /// The mode, the frames received and read before, the first byte of the
    /// frame, and what `unmasked_on_arrival` gives.
    type Case<'a> = (ReceiveMode, &'a [u8], u8, (u32, usize));

    /// Payload arriving into the empty buffer with its header, or continuing
    /// a frame whose buffered bytes are all read, is unmasked while it is
    /// copied in, unless it is text read as a stream (validated in place,
    /// still masked). RSV1 (compressed) counts as seen in the first look; a
    /// frame with it fails when read here, with no extension agreed.
    #[test]
    fn payload_unmasked_on_arrival() {
        let cases: &[Case] = &[
            (Message, &[], 0x81, (50, 30)),
            (Message, &[], 0x82, (50, 30)),
            (Stream, &[], 0x82, (50, 30)),
            (Stream, &[], 0x81, (0, 0)),
            (Stream, &[], 0xC1, (50, 0)),
            // Continuations: as the message they continue.
            (Stream, &frame(0x02), 0x80, (50, 30)),
            (Stream, &frame(0x01), 0x80, (0, 0)),
        ];
        for &(mode, before, first, expected) in cases {
            assert_eq!(
                unmasked_on_arrival(mode, before, first),
                expected,
                "{mode:?}, {first:#x} after {} bytes",
                before.len()
            );
        }
    }
}
