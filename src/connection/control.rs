//! Frames the receive path must send itself (the automatic Pong, the echo
//! of a Close, the Close or HTTP response that a failure calls for). They
//! wait here, unmasked, and join the output at the next frame boundary: the
//! send path's next send, or the next read of the output. The receive path
//! never writes into the output queue, so it can run while the send path
//! holds it; the two halves of `Connection::split_mut` share this queue
//! through a `Cell` made from the connection's `&mut` (so the halves stay on
//! one thread, and the connection itself stays `Sync`).

use crate::frame::OpCode;
use alloc::vec::Vec;
use core::cell::Cell;

/// What a queued record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Record<'a> {
    /// A control frame to encode (and mask, for a client).
    Frame(OpCode, &'a [u8]),
    /// Bytes to write as they are (an HTTP response).
    Raw(&'a [u8]),
}

const RAW: u8 = 0xff;

/// Unsent Pongs (with their record headers) beyond this drop the oldest.
const MAX_PONG_BYTES: usize = 2048;

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

    /// Queues a Pong. Past a few KiB of unsent Pongs the oldest go: §5.5.3
    /// allows answering only the latest Ping, and a flood read in one batch
    /// cannot grow the queue.
    pub(crate) fn push_pong(&mut self, payload: &[u8]) {
        while self.records.len() + 5 + payload.len() > MAX_PONG_BYTES && self.remove_oldest_pong() {
        }
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

    /// Drops the oldest unsent Pong; false if there is none.
    fn remove_oldest_pong(&mut self) -> bool {
        let mut at = 0;
        while let Some((kind, len)) = self.header(at) {
            let end = at + 5 + len;
            if kind == OpCode::Pong.bits() {
                self.records.drain(at..end);
                return true;
            }
            at = end;
        }
        false
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

/// Runs `f` on the queue behind a shared `Cell`: moved out and back, so no
/// borrow is held across calls, and the `Vec` keeps its capacity.
pub(crate) fn with<R>(shared: &Cell<ControlQueue>, f: impl FnOnce(&mut ControlQueue) -> R) -> R {
    let mut queue = shared.take();
    let result = f(&mut queue);
    shared.set(queue);
    result
}
