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
            // RAW is no opcode's bits, so it reads as no opcode.
            match OpCode::from_bits(kind) {
                Some(opcode) => emit(Record::Frame(opcode, bytes)),
                None => emit(Record::Raw(bytes)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// What `drain` hands out: the opcode (`None` for raw bytes) and bytes.
    fn drained(queue: &mut ControlQueue) -> Vec<(Option<OpCode>, Vec<u8>)> {
        let mut out = Vec::new();
        queue.drain(|record| {
            out.push(match record {
                Record::Frame(opcode, bytes) => (Some(opcode), bytes.to_vec()),
                Record::Raw(bytes) => (None, bytes.to_vec()),
            })
        });
        out
    }

    #[test]
    fn records_come_out_in_order_and_leave_the_queue_empty() {
        let mut queue = ControlQueue::default();
        assert!(queue.is_empty());
        assert_eq!(queue.len(), 0);
        queue.push_raw(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        queue.push_pong(b"ping 1");
        queue.push_close(&[0x03, 0xe8]);
        queue.push_pong(b"");
        assert!(!queue.is_empty());
        // A 5-byte record header each, and the bytes.
        assert_eq!(queue.len(), 4 * 5 + 28 + 6 + 2);
        assert_eq!(
            drained(&mut queue),
            vec![
                (None, b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()),
                (Some(OpCode::Pong), b"ping 1".to_vec()),
                (Some(OpCode::Close), vec![0x03, 0xe8]),
                (Some(OpCode::Pong), vec![]),
            ]
        );
        assert!(queue.is_empty());
        assert_eq!(queue.len(), 0);
        assert_eq!(drained(&mut queue), vec![]);
    }

    #[test]
    fn pongs_past_the_bound_drop_the_oldest_pong_and_nothing_else() {
        let mut queue = ControlQueue::default();
        queue.push_close(&[0x03, 0xe8]);
        // 16 Pongs of 120 bytes (125 with their headers): 7 + 2000 bytes.
        for i in 0..16u8 {
            queue.push_pong(&[i; 120]);
        }
        assert_eq!(queue.len(), 2007);
        // Exactly up to the bound: kept, nothing dropped.
        queue.push_pong(&[0xaa; 36]);
        assert_eq!(queue.len(), MAX_PONG_BYTES);
        // One more byte past it: the oldest Pong goes, the Close stays.
        queue.push_pong(b"");
        assert_eq!(queue.len(), MAX_PONG_BYTES - 125 + 5);
        let mut expected = vec![(Some(OpCode::Close), vec![0x03, 0xe8])];
        expected.extend((1..16u8).map(|i| (Some(OpCode::Pong), vec![i; 120])));
        expected.push((Some(OpCode::Pong), vec![0xaa; 36]));
        expected.push((Some(OpCode::Pong), vec![]));
        assert_eq!(drained(&mut queue), expected);
    }

    #[test]
    fn a_large_pong_drops_as_many_old_ones_as_it_needs() {
        let mut queue = ControlQueue::default();
        queue.push_raw(&[b'x'; 1900]);
        // 23 one-byte Pongs (6 bytes each): 1905 + 138 bytes.
        for i in 0..23u8 {
            queue.push_pong(&[i]);
        }
        assert_eq!(queue.len(), 2043);
        // 45 more bytes fit once 2043 is down to 2003: seven Pongs go.
        queue.push_pong(&[0xaa; 40]);
        assert_eq!(queue.len(), 2043 - 7 * 6 + 45);
        let mut expected = vec![(None, vec![b'x'; 1900])];
        expected.extend((7..23u8).map(|i| (Some(OpCode::Pong), vec![i])));
        expected.push((Some(OpCode::Pong), vec![0xaa; 40]));
        assert_eq!(drained(&mut queue), expected);
    }

    #[test]
    fn the_raw_kind_is_no_opcode() {
        assert_eq!(OpCode::from_bits(RAW), None);
    }

    #[test]
    fn clear_drops_everything() {
        let mut queue = ControlQueue::default();
        queue.push_pong(b"a");
        queue.push_close(b"");
        queue.clear();
        assert!(queue.is_empty());
        assert_eq!(drained(&mut queue), vec![]);
    }

    #[test]
    fn with_runs_on_the_shared_queue_and_puts_it_back() {
        let shared = Cell::new(ControlQueue::default());
        let len = with(&shared, |queue| {
            queue.push_pong(b"abc");
            queue.len()
        });
        assert_eq!(len, 8);
        let mut queue = shared.take();
        assert_eq!(
            drained(&mut queue),
            vec![(Some(OpCode::Pong), b"abc".to_vec())]
        );
    }
}
