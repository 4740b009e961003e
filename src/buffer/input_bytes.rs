//! The receive buffer over `bytes::BytesMut` (with the `bytes` feature), so a
//! received payload can leave as an owned `Bytes` without a copy: the front
//! of the buffer is split off, and once every such `Bytes` is dropped the
//! allocation is reused in place.
//!
//! The buffer's length is its initialized extent; the filled part is
//! `..tail`, the rest is zeroed room the caller can read into. Room is zeroed
//! once per pass through the allocation, not on every read.

use super::{Shrink, RETAIN_CAPACITY};
use bytes::{Buf as _, Bytes, BytesMut};

/// The receive buffer: live bytes at `..tail`, initialized room after.
#[derive(Debug, Default)]
pub(crate) struct InputBuffer {
    buf: BytesMut,
    tail: usize,
    /// The allocation's size when last grown: `capacity()` only counts
    /// what lies ahead of the consumed front. [`ADOPTED`] for a part of a
    /// reader's allocation (see `adopt`).
    allocated: usize,
    shrink: Shrink,
}

/// Growths of this many bytes or more are made exactly (see `reserve`).
const EXACT_FROM: usize = 64 * 1024;

/// `allocated` of a buffer that is a part of a reader's allocation (kept
/// in that field so the connection does not grow by a flag).
const ADOPTED: usize = usize::MAX;

impl InputBuffer {
    pub(crate) fn new() -> Self {
        InputBuffer {
            buf: BytesMut::new(),
            tail: 0,
            allocated: 0,
            shrink: Shrink::new(),
        }
    }

    /// The bytes received and not yet consumed.
    pub(crate) fn live(&self) -> &[u8] {
        &self.buf[..self.tail]
    }

    pub(crate) fn live_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.tail]
    }

    pub(crate) fn len(&self) -> usize {
        self.tail
    }

    /// Drops `n` bytes (at most all of them) from the front.
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.tail);
        self.buf.advance(n);
        self.tail -= n;
        if self.tail == 0 {
            self.clear();
        }
    }

    /// Hands out the first `n` live bytes as an owned `Bytes`, no copy.
    pub(crate) fn split_front(&mut self, n: usize) -> Bytes {
        let n = n.min(self.tail);
        self.tail -= n;
        let front = self.buf.split_to(n).freeze();
        if self.tail == 0 {
            // The round ends here as it does when the bytes are consumed.
            self.clear();
        }
        front
    }

    pub(crate) fn clear(&mut self) {
        self.buf.advance(self.tail);
        self.tail = 0;
        if self.allocated == ADOPTED {
            // Let the reader's allocation go: an idle connection must not
            // hold a share of it.
            let shrink = self.shrink;
            *self = InputBuffer::new();
            self.shrink = shrink;
            return;
        }
        // A 64 KiB read on top of a partial frame grows the buffer a little
        // past 64 KiB: twice the retained size leaves room for that.
        if self.shrink.release(self.allocated, 2 * RETAIN_CAPACITY) {
            let shrink = self.shrink;
            *self = InputBuffer::new();
            self.shrink = shrink;
        }
    }

    /// Gives memory back entirely when nothing is buffered.
    pub(crate) fn release_if_empty(&mut self) {
        if self.tail == 0 {
            *self = InputBuffer::new();
        }
    }

    /// Releases the allocation if it is empty and larger than what an
    /// empty buffer may keep.
    pub(crate) fn release_if_large(&mut self) {
        // An adopted part is let go as soon as it empties (`clear`).
        if self.holds_large() {
            self.release_if_empty();
        }
    }

    /// At least `min` bytes of room after the filled part.
    pub(crate) fn spare(&mut self, min: usize) -> &mut [u8] {
        // Equivalent mutant: `<=`. Room of exactly `min` (at least 1) is
        // initialized room, which reaches the capacity (it falls short only
        // right after a growth, empty): reserving and resizing do nothing.
        if self.buf.len() - self.tail < min {
            self.reserve(min);
            // Zero the whole allocation's room at once: the next reads use
            // it without zeroing again.
            let room = self.buf.capacity().max(self.tail + min);
            self.buf.resize(room, 0);
        }
        &mut self.buf[self.tail..]
    }

    /// Takes `bytes` as the buffer, in place, when it is empty: a reader
    /// that read them into a part of its own allocation (one shared by
    /// many connections) hands them over without a copy, and payloads split
    /// off share that allocation. The part is let go as soon as it empties;
    /// more room for a frame that continues is an allocation of our own.
    pub(crate) fn adopt(&mut self, bytes: BytesMut) {
        debug_assert_eq!(self.tail, 0, "adopting into a buffer that holds bytes");
        self.tail = bytes.len();
        self.buf = bytes;
        self.allocated = ADOPTED;
        self.shrink.saw(self.tail);
    }

    /// Whether the buffer holds an allocation of its own grown past the
    /// retained size (for large messages, kept a while by the hysteresis).
    pub(crate) fn holds_large(&self) -> bool {
        self.allocated != ADOPTED && self.allocated > RETAIN_CAPACITY
    }

    /// Room for `additional` more bytes after the filled part, moving the
    /// live bytes to the front of an unshared allocation rather than
    /// growing when that is enough.
    pub(crate) fn reserve(&mut self, additional: usize) {
        // Equivalent mutant: `<=`. With exactly enough capacity nothing grows;
        // the room is only cut back to be zeroed again (time, not bytes).
        if self.buf.capacity() - self.tail < additional {
            self.buf.truncate(self.tail);
            if additional < EXACT_FROM || self.buf.try_reclaim(additional) {
                self.buf.reserve(additional);
            } else {
                // Large, and no room to take up again: exactly what is
                // asked, as the Vec build does. `reserve` would double, and
                // a buffer twice a large message takes every other message
                // in its second half: twice the memory through the cache.
                let mut grown = BytesMut::with_capacity(self.tail + additional);
                grown.extend_from_slice(&self.buf);
                self.buf = grown;
            }
            self.allocated = self.buf.capacity();
        }
    }

    /// Marks `n` bytes of the room as received.
    pub(crate) fn commit(&mut self, n: usize) {
        self.tail = (self.tail + n).min(self.buf.len());
        self.shrink.saw(self.tail);
    }

    /// Appends `bytes`.
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.append(bytes, None);
    }

    /// Appends `bytes` unmasked with `key` from payload offset `phase`, in
    /// the same pass as the copy.
    pub(crate) fn extend_masked(&mut self, bytes: &[u8], key: [u8; 4], phase: usize) {
        self.append(bytes, Some((key, phase)));
    }

    /// Appends a frame's `header` as it is and the start of its `payload`
    /// unmasked with `key`: one look for room for both.
    pub(crate) fn extend_header_masked(&mut self, header: &[u8], payload: &[u8], key: [u8; 4]) {
        let total = header.len() + payload.len();
        // Equivalent mutants: `<=` (room of exactly `total` is the whole
        // initialized room, and writing past the end makes the same bytes),
        // and `+ tail`: arrival calls this only on an empty buffer.
        if self.buf.len() - self.tail < total {
            self.reserve(total);
            self.buf.truncate(self.tail);
            self.buf.extend_from_slice(header);
            crate::mask::extend_masked_bytes(&mut self.buf, payload, key, 0);
        } else {
            let room = &mut self.buf[self.tail..self.tail + total];
            let (header_room, payload_room) = room.split_at_mut(header.len());
            header_room.copy_from_slice(header);
            crate::mask::copy_masked(payload_room, payload, key, 0);
        }
        self.tail += total;
        self.shrink.saw(self.tail);
    }

    fn append(&mut self, bytes: &[u8], mask: Option<([u8; 4], usize)>) {
        // Equivalent mutant: `<=`. Room of exactly the length is the whole
        // initialized room: writing past its end makes the same bytes.
        if self.buf.len() - self.tail < bytes.len() {
            self.reserve(bytes.len());
            self.buf.truncate(self.tail);
            // Written at once: no need to zero it first.
            match mask {
                Some((key, phase)) => {
                    crate::mask::extend_masked_bytes(&mut self.buf, bytes, key, phase)
                }
                None => self.buf.extend_from_slice(bytes),
            }
            self.tail += bytes.len();
            self.shrink.saw(self.tail);
            return;
        }
        let room = &mut self.buf[self.tail..self.tail + bytes.len()];
        match mask {
            Some((key, phase)) => crate::mask::copy_masked(room, bytes, key, phase),
            None => room.copy_from_slice(bytes),
        }
        self.tail += bytes.len();
        self.shrink.saw(self.tail);
    }

    /// Removes `n` bytes at offset `at` of the live part by moving the bytes
    /// before them forward (glues a split character to the next payload).
    pub(crate) fn remove_gap(&mut self, at: usize, n: usize) {
        self.buf.copy_within(0..at, n);
        self.buf.advance(n);
        self.tail -= n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty input buffer keeps up to twice the retained size through
    /// any number of small rounds (a large read on top of a partial frame
    /// goes a little past it), and up to the retained size when it is told
    /// to let a large allocation go; above that, it gives the memory back.
    #[test]
    fn empty_buffer_keeps_what_it_may() {
        for (size, kept_through_rounds, kept_if_large) in [
            (RETAIN_CAPACITY, true, true),
            (RETAIN_CAPACITY + 1, true, false),
            (2 * RETAIN_CAPACITY, true, false),
            (2 * RETAIN_CAPACITY + 1, false, false),
        ] {
            let mut input = InputBuffer::new();
            input.reserve(size);
            assert_eq!(input.allocated, size);
            for _ in 0..40 {
                input.extend(&[1; 100]);
                input.consume(100);
            }
            assert_eq!(
                input.allocated == size,
                kept_through_rounds,
                "{size}, rounds"
            );

            let mut input = InputBuffer::new();
            input.reserve(size);
            input.release_if_large();
            assert_eq!(input.allocated == size, kept_if_large, "{size}, if large");
        }
    }

    /// Growing by appends counts too: a buffer that grew past twice the
    /// retained size, a piece at a time, gives it back after small rounds.
    #[test]
    fn appends_grow_the_counted_allocation() {
        let mut input = InputBuffer::new();
        for _ in 0..3 {
            input.extend(&[1; RETAIN_CAPACITY]);
            assert!(input.allocated >= input.len());
        }
        input.consume(input.len());
        for _ in 0..40 {
            input.extend(&[1; 100]);
            input.consume(100);
        }
        assert!(input.buf.capacity() < RETAIN_CAPACITY);
    }

    /// The room offered is at least what was asked for, and no more than
    /// the allocation holds.
    #[test]
    fn room_is_within_the_allocation() {
        let mut input = InputBuffer::new();
        input.extend(&[1; 1000]);
        let room = input.spare(1000).len();
        assert!(room >= 1000);
        assert!(input.len() + room <= input.allocated, "{room}");
    }
}
