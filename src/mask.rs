//! XOR masking of frame payloads (RFC 6455 §5.3).
//!
//! Masking is its own inverse, so the same functions mask and unmask. Every
//! function takes the payload offset of the first byte (`phase`), so a payload
//! processed in several pieces comes out exactly as if it were done at once.

/// Reference implementation: one byte at a time, straight from §5.3.
///
/// Kept public so tests and fuzzers can compare the fast path against it.
///
/// ```
/// let mut data = *b"Hello";
/// wsmachine::mask::apply_mask_scalar(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
/// assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// ```
pub fn apply_mask_scalar(data: &mut [u8], key: [u8; 4], phase: usize) {
    for (i, byte) in data.iter_mut().enumerate() {
        *byte ^= key[(phase + i) % 4];
    }
}

/// Width of the repeated key pattern. 32 bytes lets LLVM use full vector
/// registers on every target without any `unsafe` here.
const LANES: usize = 32;

/// Fast path: XOR `LANES` bytes at a time with a pre-rotated key pattern.
///
/// Produces exactly the bytes of [`apply_mask_scalar`] for every length,
/// phase and key.
///
/// ```
/// use wsmachine::mask::{apply_mask, apply_mask_scalar};
/// let key = [1, 2, 3, 4];
/// let mut fast: Vec<u8> = (0..100).collect();
/// let mut slow = fast.clone();
/// apply_mask(&mut fast[3..], key, 7);
/// apply_mask_scalar(&mut slow[3..], key, 7);
/// assert_eq!(fast, slow);
/// ```
pub fn apply_mask(data: &mut [u8], key: [u8; 4], phase: usize) {
    if data.len() < LANES {
        apply_mask_scalar(data, key, phase);
        return;
    }
    let mut pattern = [0u8; LANES];
    for (i, slot) in pattern.iter_mut().enumerate() {
        *slot = key[(phase + i) % 4];
    }
    let mut chunks = data.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for (byte, k) in chunk.iter_mut().zip(pattern.iter()) {
            *byte ^= *k;
        }
    }
    // LANES is a multiple of 4, so the tail starts at the same phase.
    apply_mask_scalar(chunks.into_remainder(), key, phase);
}
