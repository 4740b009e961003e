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

/// Width of the repeated key pattern: one AVX2 register, two SSE2/NEON ones.
const LANES: usize = 32;

/// The key repeated over `LANES` bytes, rotated so byte 0 lines up with `phase`.
fn key_pattern(key: [u8; 4], phase: usize) -> [u8; LANES] {
    let mut pattern = [0u8; LANES];
    for (i, slot) in pattern.iter_mut().enumerate() {
        *slot = key[(phase + i) % 4];
    }
    pattern
}

/// Fast path: picks the widest implementation this CPU has (AVX2, then SSE2
/// on x86_64; a portable loop that LLVM vectorizes elsewhere).
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
#[inline]
pub fn apply_mask(data: &mut [u8], key: [u8; 4], phase: usize) {
    if data.len() < LANES {
        apply_mask_scalar(data, key, phase);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if x86::has_avx2() {
            x86::apply_mask_avx2(data, key, phase);
            return;
        }
        x86::apply_mask_sse2(data, key, phase);
    }
    #[cfg(not(target_arch = "x86_64"))]
    apply_mask_portable(data, key, phase);
}

/// Portable wide path: 32 bytes per step in plain Rust, which LLVM turns into
/// vector instructions on every target (NEON on aarch64).
pub fn apply_mask_portable(data: &mut [u8], key: [u8; 4], phase: usize) {
    let pattern = key_pattern(key, phase);
    let mut chunks = data.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for (byte, k) in chunk.iter_mut().zip(pattern.iter()) {
            *byte ^= *k;
        }
    }
    // LANES is a multiple of 4, so the tail starts at the same phase.
    apply_mask_scalar(chunks.into_remainder(), key, phase);
}

/// Copies `src` into `dst` and masks it on the way (the client send path):
/// one pass over the bytes instead of a copy followed by a mask.
///
/// ```
/// let mut out = Vec::new();
/// wsmachine::mask::extend_masked(&mut out, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
/// assert_eq!(out, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// ```
pub fn extend_masked(dst: &mut alloc::vec::Vec<u8>, src: &[u8], key: [u8; 4]) {
    let pattern = key_pattern(key, 0);
    dst.reserve(src.len());
    let mut chunks = src.chunks_exact(LANES);
    for chunk in &mut chunks {
        let mut block = [0u8; LANES];
        for ((out, byte), k) in block.iter_mut().zip(chunk).zip(pattern.iter()) {
            *out = byte ^ k;
        }
        dst.extend_from_slice(&block);
    }
    let tail = chunks.remainder();
    let start = dst.len();
    dst.extend_from_slice(tail);
    apply_mask_scalar(&mut dst[start..], key, 0);
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    //! Explicit SSE2 and AVX2 loops. The only `unsafe` in the crate.

    use super::{apply_mask_scalar, key_pattern, LANES};
    use core::arch::x86_64::*;

    /// Whether AVX2 can be used, detected once and cached (with `std`), or
    /// known at compile time (without).
    pub(super) fn has_avx2() -> bool {
        #[cfg(feature = "std")]
        {
            use core::sync::atomic::{AtomicU8, Ordering};
            static DETECTED: AtomicU8 = AtomicU8::new(0); // 0 unknown, 1 no, 2 yes
            match DETECTED.load(Ordering::Relaxed) {
                0 => {
                    let yes = std::is_x86_feature_detected!("avx2");
                    DETECTED.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
                    yes
                }
                state => state == 2,
            }
        }
        #[cfg(not(feature = "std"))]
        {
            cfg!(target_feature = "avx2")
        }
    }

    /// Splits `data` into a scalar head up to `align`, a body of whole
    /// `LANES`-byte blocks, and a scalar tail; returns the body's range.
    fn split_for_blocks(
        data: &mut [u8],
        key: [u8; 4],
        phase: usize,
        align: usize,
    ) -> (usize, usize) {
        let head = data.as_ptr().align_offset(align).min(data.len());
        apply_mask_scalar(&mut data[..head], key, phase);
        let body = (data.len() - head) / LANES * LANES;
        let end = head + body;
        apply_mask_scalar(&mut data[end..], key, phase + end);
        (head, end)
    }

    pub(super) fn apply_mask_avx2(data: &mut [u8], key: [u8; 4], phase: usize) {
        let (start, end) = split_for_blocks(data, key, phase, 32);
        let pattern = key_pattern(key, phase + start);
        // SAFETY: `has_avx2()` returned true before this was called, so the
        // CPU supports the instructions `xor_blocks_avx2` is compiled with.
        unsafe { xor_blocks_avx2(&mut data[start..end], &pattern) }
    }

    /// # Safety
    /// The CPU must support AVX2; `blocks.len()` must be a multiple of 32 and
    /// `blocks` must start 32-byte aligned.
    #[target_feature(enable = "avx2")]
    unsafe fn xor_blocks_avx2(blocks: &mut [u8], pattern: &[u8; LANES]) {
        // SAFETY: `pattern` is 32 readable bytes; loadu has no alignment need.
        let key = unsafe { _mm256_loadu_si256(pattern.as_ptr().cast()) };
        let ptr = blocks.as_mut_ptr();
        let mut offset = 0;
        while offset + 4 * LANES <= blocks.len() {
            // SAFETY: offset + 128 <= len keeps all four 32-byte accesses in
            // bounds; the caller guarantees 32-byte alignment of `ptr`, and
            // every offset is a multiple of 32.
            unsafe {
                let p = ptr.add(offset).cast::<__m256i>();
                let a = _mm256_xor_si256(_mm256_load_si256(p), key);
                let b = _mm256_xor_si256(_mm256_load_si256(p.add(1)), key);
                let c = _mm256_xor_si256(_mm256_load_si256(p.add(2)), key);
                let d = _mm256_xor_si256(_mm256_load_si256(p.add(3)), key);
                _mm256_store_si256(p, a);
                _mm256_store_si256(p.add(1), b);
                _mm256_store_si256(p.add(2), c);
                _mm256_store_si256(p.add(3), d);
            }
            offset += 4 * LANES;
        }
        while offset < blocks.len() {
            // SAFETY: `blocks.len()` is a multiple of 32, so a whole aligned
            // 32-byte block remains at `offset`.
            unsafe {
                let p = ptr.add(offset).cast::<__m256i>();
                _mm256_store_si256(p, _mm256_xor_si256(_mm256_load_si256(p), key));
            }
            offset += LANES;
        }
    }

    pub(super) fn apply_mask_sse2(data: &mut [u8], key: [u8; 4], phase: usize) {
        let (start, end) = split_for_blocks(data, key, phase, 16);
        let pattern = key_pattern(key, phase + start);
        let blocks = &mut data[start..end];
        // SSE2 is part of the x86_64 baseline: no detection needed.
        // SAFETY: pattern holds 32 bytes, so both 16-byte loads are in bounds.
        let key = unsafe { _mm_loadu_si128(pattern.as_ptr().cast()) };
        let ptr = blocks.as_mut_ptr();
        let mut offset = 0;
        while offset < blocks.len() {
            // SAFETY: `blocks.len()` is a multiple of 32 and `ptr` is 16-byte
            // aligned (split_for_blocks), so both aligned 16-byte halves of
            // the block at `offset` are in bounds. The pattern repeats every
            // 4 bytes, so its first 16 bytes fit both halves.
            unsafe {
                let p = ptr.add(offset).cast::<__m128i>();
                _mm_store_si128(p, _mm_xor_si128(_mm_load_si128(p), key));
                _mm_store_si128(p.add(1), _mm_xor_si128(_mm_load_si128(p.add(1)), key));
            }
            offset += LANES;
        }
    }

    /// The SSE2 path, public to the crate's tests through `apply_mask_with`.
    pub(super) fn sse2(data: &mut [u8], key: [u8; 4], phase: usize) {
        apply_mask_sse2(data, key, phase)
    }
}

/// The implementations behind [`apply_mask`], by name, so tests and benches
/// can pin each one to the scalar reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskImpl {
    /// [`apply_mask_scalar`].
    Scalar,
    /// [`apply_mask_portable`].
    Portable,
    /// Explicit SSE2 (x86_64 only).
    Sse2,
    /// Explicit AVX2 (x86_64 with AVX2 only).
    Avx2,
}

impl MaskImpl {
    /// The implementations this CPU can run.
    pub fn available() -> alloc::vec::Vec<MaskImpl> {
        let mut all = alloc::vec![MaskImpl::Scalar, MaskImpl::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            all.push(MaskImpl::Sse2);
            if x86::has_avx2() {
                all.push(MaskImpl::Avx2);
            }
        }
        all
    }

    /// Masks with this implementation. An implementation the CPU lacks falls
    /// back to the scalar one rather than fault.
    pub fn apply(self, data: &mut [u8], key: [u8; 4], phase: usize) {
        match self {
            MaskImpl::Scalar => apply_mask_scalar(data, key, phase),
            MaskImpl::Portable => apply_mask_portable(data, key, phase),
            #[cfg(target_arch = "x86_64")]
            MaskImpl::Sse2 => x86::sse2(data, key, phase),
            #[cfg(target_arch = "x86_64")]
            MaskImpl::Avx2 if x86::has_avx2() => x86::apply_mask_avx2(data, key, phase),
            _ => apply_mask_scalar(data, key, phase),
        }
    }
}
