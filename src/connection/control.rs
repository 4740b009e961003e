//! Frames the receive path must send itself (the automatic Pong, the echo
//! of a Close, the Close or HTTP response that a failure calls for). They
//! wait here, unmasked, until the output takes them at a frame boundary: the
//! receive path never writes into the output queue, so it can run while the
//! send path holds it.

use crate::frame::OpCode;
use alloc::vec::Vec;

/// What a queued record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Record<'a> {
    /// A control frame to encode (and mask, for a client).
    Frame(OpCode, &'a [u8]),
    /// Bytes to write as they are (an HTTP response).
    Raw(&'a [u8]),
}

const RAW: u8 = 0xff;

/// Records, each a kind byte, a 4-byte length and the bytes.
#[derive(Debug, Default)]
pub(crate) struct ControlQueue {
    records: Vec<u8>,
}

impl ControlQueue {
    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Bytes waiting (payloads and headers, about what they take on the wire).
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Queues a Pong. An unsent earlier Pong is dropped: §5.5.3 allows
    /// answering only the latest Ping, and a flood cannot grow the queue.
    pub(crate) fn push_pong(&mut self, payload: &[u8]) {
        self.remove(OpCode::Pong.bits());
        self.push(OpCode::Pong.bits(), payload);
    }

    pub(crate) fn push_close(&mut self, payload: &[u8]) {
        self.push(OpCode::Close.bits(), payload);
    }

    pub(crate) fn push_raw(&mut self, bytes: &[u8]) {
        self.push(RAW, bytes);
    }

    fn push(&mut self, kind: u8, payload: &[u8]) {
        self.records.push(kind);
        self.records
            .extend_from_slice(&(payload.len() as u32).to_le_bytes());
        self.records.extend_from_slice(payload);
    }

    fn remove(&mut self, kind: u8) {
        let mut at = 0;
        while let Some((record_kind, len)) = self.header(at) {
            let end = at + 5 + len;
            if record_kind == kind {
                self.records.drain(at..end);
            } else {
                at = end;
            }
        }
    }

    fn header(&self, at: usize) -> Option<(u8, usize)> {
        let kind = *self.records.get(at)?;
        let len = u32::from_le_bytes(*self.records.get(at + 1..)?.first_chunk::<4>()?);
        Some((kind, len as usize))
    }

    /// Hands every record to `emit` in order and empties the queue.
    pub(crate) fn drain(&mut self, mut emit: impl FnMut(Record<'_>)) {
        let mut at = 0;
        while let Some((kind, len)) = self.header(at) {
            let bytes = &self.records[at + 5..at + 5 + len];
            match OpCode::from_bits(kind) {
                Some(opcode) if kind != RAW => emit(Record::Frame(opcode, bytes)),
                _ => emit(Record::Raw(bytes)),
            }
            at += 5 + len;
        }
        self.records.clear();
    }

    /// Drops everything (the connection aborted).
    pub(crate) fn clear(&mut self) {
        self.records = Vec::new();
    }
}

/// The control queue behind a `Cell`, so the receive path can add to it
/// while the send path, holding the output, takes from it at its next
/// frame boundary. Each access moves the queue out and back: no borrow is
/// held across calls, and the `Vec` keeps its capacity.
#[derive(Default)]
pub(crate) struct ControlSlot(core::cell::Cell<ControlQueue>);

impl core::fmt::Debug for ControlSlot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ControlSlot")
            .field("len", &self.len())
            .finish()
    }
}

impl ControlSlot {
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut ControlQueue) -> R) -> R {
        let mut queue = self.0.take();
        let result = f(&mut queue);
        self.0.set(queue);
        result
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.with(|queue| queue.is_empty())
    }

    pub(crate) fn len(&self) -> usize {
        self.with(|queue| queue.len())
    }
}
