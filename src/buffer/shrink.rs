//! When a buffer that grew for large messages gives its memory back: after
//! a run of rounds that needed no more than the retained size, not after
//! every large message (which would free it and grow it again, page faults
//! and zeroing included, for each one).

use super::RETAIN_CAPACITY;

/// Rounds in a row (a round ends when the buffer empties) that must fit in
/// the retained size before a larger allocation is given back.
const SMALL_ROUNDS: u8 = 16;

/// The largest a buffer got this round, and how many small rounds in a row
/// it has seen.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Shrink {
    /// Saturates at 4 GiB: only its side of the retained size matters.
    peak: u32,
    small_rounds: u8,
}

impl Shrink {
    pub(crate) const fn new() -> Self {
        Shrink {
            peak: 0,
            small_rounds: 0,
        }
    }

    /// The buffer holds `len` bytes now.
    #[inline]
    pub(crate) fn saw(&mut self, len: usize) {
        self.peak = self.peak.max(u32::try_from(len).unwrap_or(u32::MAX));
    }

    /// The round ended (the buffer is empty); true when its `capacity`,
    /// above `limit`, should be given back now.
    pub(crate) fn release(&mut self, capacity: usize, limit: usize) -> bool {
        let peak = core::mem::take(&mut self.peak) as usize;
        if capacity <= limit || peak > RETAIN_CAPACITY {
            self.small_rounds = 0;
            return false;
        }
        self.small_rounds += 1;
        if self.small_rounds < SMALL_ROUNDS {
            return false;
        }
        self.small_rounds = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_rounds_keep_the_buffer_small_rounds_release_it() {
        let mut shrink = Shrink::default();
        let big = 1 << 20;
        for _ in 0..100 {
            shrink.saw(big);
            assert!(!shrink.release(big, RETAIN_CAPACITY), "kept while large");
        }
        for round in 1..=SMALL_ROUNDS {
            shrink.saw(100);
            assert_eq!(shrink.release(big, RETAIN_CAPACITY), round == SMALL_ROUNDS);
        }
        // A large round in between starts the count again.
        for _ in 1..SMALL_ROUNDS {
            shrink.saw(100);
            assert!(!shrink.release(big, RETAIN_CAPACITY));
        }
        shrink.saw(big);
        assert!(!shrink.release(big, RETAIN_CAPACITY));
        shrink.saw(100);
        assert!(!shrink.release(big, RETAIN_CAPACITY));
        // Small buffers are never released by it.
        shrink.saw(100);
        assert!(!shrink.release(RETAIN_CAPACITY, RETAIN_CAPACITY));
    }

    /// A round that reaches the retained size exactly is still small.
    #[test]
    fn a_round_at_the_retained_size_is_small() {
        let mut shrink = Shrink::new();
        let big = 1 << 20;
        for round in 1..=SMALL_ROUNDS {
            shrink.saw(RETAIN_CAPACITY);
            assert_eq!(shrink.release(big, RETAIN_CAPACITY), round == SMALL_ROUNDS);
        }
        for _ in 1..=SMALL_ROUNDS {
            shrink.saw(RETAIN_CAPACITY + 1);
            assert!(!shrink.release(big, RETAIN_CAPACITY));
        }
    }
}
