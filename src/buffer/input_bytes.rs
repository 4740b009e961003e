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
    /// what lies ahead of the consumed front.
    allocated: usize,
    shrink: Shrink,
}

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
        if self.allocated > RETAIN_CAPACITY {
            self.release_if_empty();
        }
    }

    /// At least `min` bytes of room after the filled part.
    pub(crate) fn spare(&mut self, min: usize) -> &mut [u8] {
        if self.buf.len() - self.tail < min {
            self.reserve(min);
            // Zero the whole allocation's room at once: the next reads use
            // it without zeroing again.
            let room = self.buf.capacity().max(self.tail + min);
            self.buf.resize(room, 0);
        }
        &mut self.buf[self.tail..]
    }

    /// Room for `additional` more bytes after the filled part, moving the
    /// live bytes to the front of an unshared allocation rather than
    /// growing when that is enough.
    pub(crate) fn reserve(&mut self, additional: usize) {
        if self.buf.capacity() - self.tail < additional {
            self.buf.truncate(self.tail);
            self.buf.reserve(additional);
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
