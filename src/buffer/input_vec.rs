//! The receive buffer over a plain `Vec` (without the `bytes` feature).
//!
//! Unlike the output queue its `Vec` stays initialized past the filled part,
//! so the caller can read the transport straight into it (`spare`, then
//! `commit`) without a copy and without zero-filling on every read: each byte
//! of capacity is zeroed once, when it is first needed.

use super::{Shrink, RETAIN_CAPACITY};
use alloc::vec::Vec;

/// The receive buffer: live bytes at `head..tail`, initialized room after.
#[derive(Debug, Default)]
pub(crate) struct InputBuffer {
    buf: Vec<u8>,
    head: usize,
    /// End of the filled part; `buf[tail..]` is initialized spare room.
    tail: usize,
    shrink: Shrink,
}

impl InputBuffer {
    pub(crate) const fn new() -> Self {
        InputBuffer {
            buf: Vec::new(),
            head: 0,
            tail: 0,
            shrink: Shrink::new(),
        }
    }

    /// The bytes received and not yet consumed.
    pub(crate) fn live(&self) -> &[u8] {
        &self.buf[self.head..self.tail]
    }

    pub(crate) fn live_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.head..self.tail]
    }

    pub(crate) fn len(&self) -> usize {
        self.tail - self.head
    }

    /// Drops `n` bytes (at most all of them) from the front.
    pub(crate) fn consume(&mut self, n: usize) {
        self.head += n.min(self.len());
        if self.head == self.tail {
            self.clear();
        }
    }

    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.tail = 0;
        // A 64 KiB read on top of a partial frame grows the buffer a little
        // past 64 KiB: twice the retained size leaves room for that.
        if self
            .shrink
            .release(self.buf.capacity(), 2 * RETAIN_CAPACITY)
        {
            self.buf = Vec::new();
        }
    }

    /// Gives memory back entirely when nothing is buffered.
    pub(crate) fn release_if_empty(&mut self) {
        if self.len() == 0 {
            *self = InputBuffer::new();
        }
    }

    /// Releases the allocation if it is empty and larger than what an
    /// empty buffer may keep.
    pub(crate) fn release_if_large(&mut self) {
        if self.buf.capacity() > RETAIN_CAPACITY {
            self.release_if_empty();
        }
    }

    /// At least `min` bytes of room after the filled part, moving the live
    /// bytes to the front first when that avoids growing.
    pub(crate) fn spare(&mut self, min: usize) -> &mut [u8] {
        self.compact_for(min);
        if self.buf.len() - self.tail < min {
            self.buf.resize(self.tail + min, 0);
        }
        &mut self.buf[self.tail..]
    }

    /// Moves the live bytes to the front when the room after them is short
    /// of `min`, so growing is the last resort.
    fn compact_for(&mut self, min: usize) {
        if self.buf.capacity() - self.tail < min && self.head > 0 {
            self.buf.copy_within(self.head..self.tail, 0);
            self.tail -= self.head;
            self.head = 0;
        }
    }

    /// Room for `additional` more bytes in one allocation, when it is known
    /// they will come: growing by doubling would copy the live bytes several
    /// times over.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.compact_for(additional);
        if self.buf.capacity() - self.tail < additional {
            self.buf.truncate(self.tail);
            self.buf.reserve_exact(additional);
        }
    }

    /// Marks `n` bytes of the spare room as received.
    pub(crate) fn commit(&mut self, n: usize) {
        self.tail = (self.tail + n).min(self.buf.len());
        self.shrink.saw(self.tail - self.head);
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
        self.compact_for(total);
        if let Some(room) = self.buf.get_mut(self.tail..self.tail + total) {
            let (header_room, payload_room) = room.split_at_mut(header.len());
            header_room.copy_from_slice(header);
            crate::mask::copy_masked(payload_room, payload, key, 0);
        } else {
            self.buf.truncate(self.tail);
            self.buf.extend_from_slice(header);
            crate::mask::extend_masked(&mut self.buf, payload, key, 0);
        }
        self.tail += total;
        self.shrink.saw(self.tail - self.head);
    }

    /// Copies into the spare room when there is enough; otherwise appends to
    /// the `Vec` itself, so growing never zero-fills what is written at once.
    fn append(&mut self, bytes: &[u8], mask: Option<([u8; 4], usize)>) {
        self.compact_for(bytes.len());
        if let Some(room) = self.buf.get_mut(self.tail..self.tail + bytes.len()) {
            match mask {
                Some((key, phase)) => crate::mask::copy_masked(room, bytes, key, phase),
                None => room.copy_from_slice(bytes),
            }
        } else {
            self.buf.truncate(self.tail);
            match mask {
                Some((key, phase)) => crate::mask::extend_masked(&mut self.buf, bytes, key, phase),
                None => self.buf.extend_from_slice(bytes),
            }
        }
        self.tail += bytes.len();
        self.shrink.saw(self.tail - self.head);
    }

    /// Removes `n` bytes at offset `at` of the live part by moving the bytes
    /// before them forward (glues a split character to the next payload).
    pub(crate) fn remove_gap(&mut self, at: usize, n: usize) {
        let start = self.head;
        self.buf.copy_within(start..start + at, start + n);
        self.head += n;
    }
}
