//! What waits to be written: frames encoded into one byte queue, and, with
//! the `bytes` feature, payloads the caller handed over as `Bytes`, kept by
//! reference between the queued bytes that come before and after them.

use super::{Shrink, RETAIN_CAPACITY};
use alloc::vec::Vec;

/// A `Vec` with a read position. Consumed bytes are dropped lazily (by
/// moving the live part to the front) so consuming is O(1) and moving is
/// amortised; a queue that grew for one large message gives its memory back
/// once it is empty.
#[derive(Debug, Default)]
pub(crate) struct ByteQueue {
    buf: Vec<u8>,
    head: usize,
    shrink: Shrink,
}

impl ByteQueue {
    /// The bytes not yet consumed.
    pub(crate) fn live(&self) -> &[u8] {
        &self.buf[self.head..]
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.head
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops `n` bytes (at most all of them) from the front.
    pub(crate) fn consume(&mut self, n: usize) {
        self.head += n.min(self.len());
        if self.head == self.buf.len() {
            self.clear();
        }
    }

    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.head = 0;
        if self.shrink.release(self.buf.capacity(), RETAIN_CAPACITY) {
            self.buf = Vec::new();
        }
    }

    /// Gives memory back entirely when nothing is queued.
    pub(crate) fn release_if_empty(&mut self) {
        if self.is_empty() {
            self.buf = Vec::new();
            self.head = 0;
        }
    }

    fn release_if_large(&mut self) {
        if self.buf.capacity() > RETAIN_CAPACITY {
            self.release_if_empty();
        }
    }

    /// Makes room for `additional` bytes at the end, moving the live bytes to
    /// the front first when that avoids growing.
    fn reserve(&mut self, additional: usize) {
        // Equivalent mutant: `self.head >= 0` moves the bytes onto
        // themselves when nothing was consumed; only the time differs.
        if self.head > 0
            && (self.buf.capacity() - self.buf.len() < additional || self.head >= self.len())
        {
            self.buf.copy_within(self.head.., 0);
            self.buf.truncate(self.buf.len() - self.head);
            self.head = 0;
        }
        self.buf.reserve(additional);
    }

    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        self.buf.extend_from_slice(bytes);
        self.shrink.saw(self.len());
    }

    /// Appends bytes through a closure that writes into the underlying `Vec`.
    pub(crate) fn write_with(&mut self, additional: usize, write: impl FnOnce(&mut Vec<u8>)) {
        self.reserve(additional);
        write(&mut self.buf);
        self.shrink.saw(self.len());
    }
}

/// A caller's payload waiting in the queue, after `before` queued bytes
/// (counted from the previous payload or the front).
#[cfg(feature = "bytes")]
#[derive(Debug)]
struct Owned {
    before: usize,
    payload: bytes::Bytes,
}

/// The caller's payloads in the queue, with what the queue needs to place
/// them: boxed, so a connection that never queues one carries a pointer.
#[cfg(feature = "bytes")]
#[derive(Debug, Default)]
struct OwnedPayloads {
    payloads: alloc::collections::VecDeque<Owned>,
    /// Queued bytes that come before the last owned payload.
    placed: usize,
    /// Bytes in the owned payloads.
    len: usize,
}

/// The output queue: encoded bytes, interleaved with owned payloads.
#[derive(Debug, Default)]
pub(crate) struct OutputQueue {
    bytes: ByteQueue,
    #[cfg(feature = "bytes")]
    owned: Option<alloc::boxed::Box<OwnedPayloads>>,
}

impl OutputQueue {
    pub(crate) fn len(&self) -> usize {
        #[cfg(feature = "bytes")]
        return self.bytes.len() + self.owned.as_ref().map_or(0, |owned| owned.len);
        #[cfg(not(feature = "bytes"))]
        self.bytes.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first contiguous piece of the output.
    pub(crate) fn first_chunk(&self) -> &[u8] {
        #[cfg(feature = "bytes")]
        if let Some(front) = self.owned.as_ref().and_then(|owned| owned.payloads.front()) {
            return if front.before > 0 {
                &self.bytes.live()[..front.before]
            } else {
                &front.payload
            };
        }
        self.bytes.live()
    }

    /// Fills `out` with the output's pieces in order; returns how many.
    pub(crate) fn chunks<'a>(&'a self, out: &mut [&'a [u8]]) -> usize {
        self.each_chunk(out.len(), |i, piece| out[i] = piece)
    }

    /// Hands the output's pieces in order to `put` (with their index), at
    /// most `max` of them; returns how many.
    pub(crate) fn each_chunk<'a>(
        &'a self,
        max: usize,
        mut put: impl FnMut(usize, &'a [u8]),
    ) -> usize {
        let mut filled = 0;
        #[allow(unused_mut)]
        let mut queued = self.bytes.live();
        #[cfg(feature = "bytes")]
        for owned in self.owned.iter().flat_map(|owned| &owned.payloads) {
            for piece in [&queued[..owned.before], &owned.payload[..]] {
                if filled == max {
                    return filled;
                }
                if !piece.is_empty() {
                    put(filled, piece);
                    filled += 1;
                }
            }
            queued = &queued[owned.before..];
        }
        if filled < max && !queued.is_empty() {
            put(filled, queued);
            filled += 1;
        }
        filled
    }

    /// Drops the first `n` bytes of the output.
    #[cfg_attr(not(feature = "bytes"), allow(unused_mut))]
    pub(crate) fn consume(&mut self, mut n: usize) {
        #[cfg(feature = "bytes")]
        if let Some(owned) = self.owned.as_deref_mut() {
            while n > 0 {
                let Some(front) = owned.payloads.front_mut() else {
                    break;
                };
                if front.before > 0 {
                    let step = n.min(front.before);
                    self.bytes.consume(step);
                    front.before -= step;
                    owned.placed -= step;
                    n -= step;
                } else {
                    let step = n.min(front.payload.len());
                    bytes::Buf::advance(&mut front.payload, step);
                    owned.len -= step;
                    n -= step;
                    if front.payload.is_empty() {
                        owned.payloads.pop_front();
                    }
                }
            }
        }
        self.bytes.consume(n);
    }

    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        #[cfg(feature = "bytes")]
        if let Some(owned) = self.owned.as_deref_mut() {
            owned.payloads.clear();
            owned.placed = 0;
            owned.len = 0;
        }
    }

    /// Gives memory back entirely when nothing is queued.
    /// Releases the byte queue's allocation if nothing is queued and it is
    /// larger than what an empty queue may keep.
    pub(crate) fn release_if_large(&mut self) {
        if self.is_empty() {
            self.bytes.release_if_large();
        }
    }

    pub(crate) fn release_if_empty(&mut self) {
        if self.is_empty() {
            self.bytes.release_if_empty();
            #[cfg(feature = "bytes")]
            {
                self.owned = None;
            }
        }
    }

    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.bytes.extend(bytes);
    }

    pub(crate) fn write_with(&mut self, additional: usize, write: impl FnOnce(&mut Vec<u8>)) {
        self.bytes.write_with(additional, write);
    }

    /// Queues the caller's payload by reference, after everything queued.
    #[cfg(feature = "bytes")]
    pub(crate) fn push_owned(&mut self, payload: bytes::Bytes) {
        let owned = self.owned.get_or_insert_with(Default::default);
        let before = self.bytes.len() - owned.placed;
        owned.placed += before;
        owned.len += payload.len();
        owned.payloads.push_back(Owned { before, payload });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty output queue keeps up to 64 KiB through any number of
    /// small rounds; above that, it gives the memory back.
    #[test]
    fn empty_buffers_keep_up_to_64_kib() {
        for (size, kept) in [
            (40 * 1024, true),
            (RETAIN_CAPACITY, true),
            (100 * 1024, false),
        ] {
            let mut queue = OutputQueue::default();
            queue.write_with(size, |buf| buf.resize(size, 1));
            queue.consume(size);
            for _ in 0..40 {
                queue.extend(&[2; 100]);
                queue.consume(100);
            }
            queue.release_if_large();
            let capacity = queue.bytes.buf.capacity();
            assert_eq!(capacity >= size, kept, "{capacity} left of {size}");
        }
    }

    /// A queue whose front was consumed moves its live bytes to the front
    /// rather than grow, when that makes the room.
    #[test]
    fn room_comes_from_the_consumed_front_before_growing() {
        let mut queue = ByteQueue::default();
        queue.extend(&[1; 1000]);
        assert!(!queue.is_empty());
        let capacity = queue.buf.capacity();
        queue.consume(900);
        assert_eq!((queue.head, queue.len()), (900, 100));
        // Fits only once the 900 consumed bytes are gone.
        let more = capacity - 100;
        queue.extend(&alloc::vec![2; more]);
        assert_eq!(queue.buf.capacity(), capacity, "grew instead of moving");
        assert_eq!(queue.head, 0);
        assert_eq!(queue.len(), 100 + more);
        assert!(queue.live()[..100].iter().all(|&b| b == 1));
        assert!(queue.live()[100..].iter().all(|&b| b == 2));
    }

    /// Without room at the end, the live bytes move even when the consumed
    /// front is smaller than they are; with exactly the room needed, they
    /// stay.
    #[test]
    fn live_bytes_move_when_the_room_falls_short() {
        let mut queue = ByteQueue::default();
        queue.extend(&[1; 1000]);
        let capacity = queue.buf.capacity();
        queue.consume(400);
        // The room left at the end, exactly: nothing moves.
        queue.extend(&alloc::vec![2; capacity - 1000]);
        assert_eq!((queue.head, queue.buf.capacity()), (400, capacity));
        // One byte more than the end has: the 600 + fill live bytes move
        // forward into the 400 consumed ones, and nothing grows.
        queue.extend(&[3]);
        assert_eq!((queue.head, queue.buf.capacity()), (0, capacity));
        assert_eq!(queue.len(), capacity - 400 + 1);
        assert!(queue.live()[..600].iter().all(|&b| b == 1));
        assert_eq!(queue.live().last(), Some(&3));
    }

    /// "head", then an owned "payload", then "tail".
    #[cfg(feature = "bytes")]
    fn head_payload_tail() -> OutputQueue {
        let mut queue = OutputQueue::default();
        queue.extend(b"head");
        queue.push_owned(bytes::Bytes::from_static(b"payload"));
        queue.extend(b"tail");
        queue
    }

    /// Bytes queued before an owned payload come out before it, and the
    /// length counts what is left of each piece as it is written.
    #[cfg(feature = "bytes")]
    #[test]
    fn the_first_chunk_is_what_was_queued_first() {
        let mut queue = head_payload_tail();
        assert_eq!(queue.first_chunk(), b"head");
        queue.consume(4);
        assert_eq!(queue.first_chunk(), b"payload");
        assert_eq!(queue.len(), 11);
        queue.consume(3);
        assert_eq!(queue.first_chunk(), b"load");
        assert_eq!(queue.len(), 8);
        queue.consume(4);
        assert_eq!(queue.first_chunk(), b"tail");
        assert_eq!(queue.len(), 4);
    }

    /// A slice too short for every piece gets the first pieces, in order,
    /// and no more.
    #[cfg(feature = "bytes")]
    #[test]
    fn chunks_fill_at_most_the_slice_given() {
        let queue = head_payload_tail();
        for (room, expected) in [
            (1, &[&b"head"[..]][..]),
            (2, &[&b"head"[..], &b"payload"[..]][..]),
            (3, &[&b"head"[..], &b"payload"[..], &b"tail"[..]][..]),
        ] {
            let mut out: alloc::vec::Vec<&[u8]> = alloc::vec![&[]; room];
            assert_eq!(queue.chunks(&mut out), expected.len(), "room {room}");
            assert_eq!(&out[..], expected, "room {room}");
        }
    }

    /// Every piece of the output in order, as one vectored write takes it.
    #[cfg(feature = "bytes")]
    fn all_pieces(queue: &OutputQueue) -> alloc::vec::Vec<u8> {
        let mut out: alloc::vec::Vec<&[u8]> = alloc::vec![&[]; 16];
        let count = queue.chunks(&mut out);
        out[..count].concat()
    }

    /// A second owned payload queued after part of what came before the
    /// first was written still comes after the bytes queued between them:
    /// the count of bytes placed before owned payloads follows what is
    /// written.
    #[cfg(feature = "bytes")]
    #[test]
    fn bytes_written_before_an_owned_payload_leave_later_ones_in_place() {
        for written in [1, 4, 9] {
            let mut queue = OutputQueue::default();
            queue.extend(b"0123456789");
            queue.push_owned(bytes::Bytes::from_static(b"first"));
            queue.consume(written);
            queue.extend(b"between");
            queue.push_owned(bytes::Bytes::from_static(b"second"));
            queue.extend(b"after");
            let expected = [&b"0123456789"[written..], b"firstbetweensecondafter"].concat();
            assert_eq!(all_pieces(&queue), expected, "{written} written");
            assert_eq!(queue.len(), expected.len(), "{written} written");
        }
    }

    /// With room at the end, the live bytes move only when the consumed
    /// front is at least as large as they are: moving less than it frees.
    #[test]
    fn live_bytes_move_when_the_consumed_front_outweighs_them() {
        for (consumed, moves) in [(1000, false), (2047, false), (2048, true), (3000, true)] {
            let mut queue = ByteQueue::default();
            queue.extend(&[1; 4096]);
            queue.buf.reserve(4096);
            queue.consume(consumed);
            let live = queue.len();
            queue.extend(&[2; 10]);
            assert_eq!(queue.head == 0, moves, "{consumed} consumed");
            assert_eq!(queue.len(), live + 10);
            assert!(queue.live()[..live].iter().all(|&b| b == 1));
            assert_eq!(&queue.live()[live..], &[2; 10]);
        }
    }
}
