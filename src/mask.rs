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

/// The key rotated so that its byte 0 applies to payload offset `phase`.
#[inline]
fn rotate_key(key: [u8; 4], phase: usize) -> [u8; 4] {
    // A rotate instruction; `<[u8]>::rotate_left` is a generic out-of-line loop.
    let bits = 8 * (phase % 4) as u32;
    u32::from_le_bytes(key).rotate_right(bits).to_le_bytes()
}

/// Below this many bytes the portable loop is as fast as AVX2 (measured:
/// 125 B 3.9 ns vs 6.7 ns, 1 KiB 11.7 ns vs 9.6 ns on Zen 5).
const SIMD_THRESHOLD: usize = 512;

/// Fast path: AVX2 on x86_64 CPUs that have it (detected at run time, cached),
/// else the portable word loop, which LLVM compiles to SSE2 on every x86_64
/// and NEON on aarch64. An explicit SSE2 loop measured slower than that.
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
    #[cfg(target_arch = "x86_64")]
    if data.len() >= SIMD_THRESHOLD && x86::has_avx2() {
        x86::apply_mask_avx2(data, key, phase);
        return;
    }
    apply_mask_portable(data, key, phase);
}

/// Portable wide path: XOR 8 bytes at a time with the key repeated in a
/// `u64` (LLVM turns the 32-byte blocks into vector code, NEON on aarch64),
/// then the last bytes one by one.
#[inline]
pub fn apply_mask_portable(data: &mut [u8], key: [u8; 4], phase: usize) {
    let rotated = rotate_key(key, phase);
    let word = u64::from_ne_bytes([
        rotated[0], rotated[1], rotated[2], rotated[3], rotated[0], rotated[1], rotated[2],
        rotated[3],
    ]);
    let mut blocks = data.chunks_exact_mut(32);
    for block in &mut blocks {
        for lane in block.chunks_exact_mut(8) {
            let value = u64::from_ne_bytes(lane.try_into().unwrap_or([0; 8])) ^ word;
            lane.copy_from_slice(&value.to_ne_bytes());
        }
    }
    let rest = blocks.into_remainder();
    let mut words = rest.chunks_exact_mut(8);
    for lane in &mut words {
        let value = u64::from_ne_bytes(lane.try_into().unwrap_or([0; 8])) ^ word;
        lane.copy_from_slice(&value.to_ne_bytes());
    }
    // Every block and word above is a multiple of 4 bytes: same rotation.
    for (i, byte) in words.into_remainder().iter_mut().enumerate() {
        *byte ^= rotated[i % 4];
    }
}

/// Copies `src` onto the end of `dst` and masks the copy (the client send
/// path): a memcpy, then the fast in-place mask while the bytes are in cache.
///
/// ```
/// let mut out = Vec::new();
/// wsmachine::mask::extend_masked(&mut out, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
/// assert_eq!(out, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// ```
pub fn extend_masked(dst: &mut alloc::vec::Vec<u8>, src: &[u8], key: [u8; 4]) {
    let start = dst.len();
    dst.extend_from_slice(src);
    apply_mask(&mut dst[start..], key, 0);
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    //! The explicit AVX2 loop: the only `unsafe` in the crate.

    use super::{apply_mask_portable, rotate_key};
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

    /// The rotated key as the 32-bit lane value both loops broadcast.
    #[inline(always)]
    fn key_lane(key: [u8; 4], phase: usize) -> i32 {
        i32::from_ne_bytes(rotate_key(key, phase))
    }

    /// Splits `data` into a head up to the first `align`-byte boundary, a
    /// body of whole `block`-byte blocks and a tail; masks head and tail with
    /// the portable loop and returns the body with the key lane for it.
    #[inline(always)]
    fn split_aligned(
        data: &mut [u8],
        key: [u8; 4],
        phase: usize,
        align: usize,
    ) -> (&mut [u8], i32) {
        // Bytes to the next `align` boundary (a power of two): a mask, not
        // the division `align_offset` does with a run-time alignment.
        let head = ((data.as_ptr() as usize).wrapping_neg() & (align - 1)).min(data.len());
        let (head_bytes, rest) = data.split_at_mut(head);
        apply_mask_portable(head_bytes, key, phase);
        let body = rest.len() / align * align;
        let (body_bytes, tail) = rest.split_at_mut(body);
        apply_mask_portable(tail, key, phase + head + body);
        (body_bytes, key_lane(key, phase + head))
    }

    /// AVX2: aligned 32-byte blocks, four per step; head and tail portable.
    pub(super) fn apply_mask_avx2(data: &mut [u8], key: [u8; 4], phase: usize) {
        // SAFETY: only called after `has_avx2()` returned true, so the CPU
        // supports the instructions `mask_avx2` is compiled with.
        unsafe { mask_avx2(data, key, phase) }
    }

    /// The whole AVX2 pass in one function compiled for AVX2, so the head
    /// and tail loops inline into it (one call, no feature boundary).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    unsafe fn mask_avx2(data: &mut [u8], key: [u8; 4], phase: usize) {
        let (body, lane) = split_aligned(data, key, phase, 32);
        // SAFETY: AVX2 is available (this function's contract); `body` is
        // 32-byte aligned and a multiple of 32 long (split_aligned).
        unsafe { xor_avx2(body, lane) }
    }

    /// # Safety
    /// The CPU must support AVX2; `blocks` must start 32-byte aligned and be
    /// a multiple of 32 bytes long.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn xor_avx2(blocks: &mut [u8], lane: i32) {
        let key = _mm256_set1_epi32(lane);
        let ptr = blocks.as_mut_ptr();
        let len = blocks.len();
        let mut offset = 0;
        while offset + 128 <= len {
            // SAFETY: offset + 128 <= len keeps the four 32-byte accesses in
            // bounds, and every offset is a multiple of 32 from an aligned start.
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
            offset += 128;
        }
        while offset < len {
            // SAFETY: len is a multiple of 32, so a whole aligned 32-byte
            // block remains at `offset`.
            unsafe {
                let p = ptr.add(offset).cast::<__m256i>();
                _mm256_store_si256(p, _mm256_xor_si256(_mm256_load_si256(p), key));
            }
            offset += 32;
        }
    }
}

/// The implementations behind [`apply_mask`], by name, so tests and benches
/// can pin each one to the scalar reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskImpl {
    /// [`apply_mask_scalar`].
    Scalar,
    /// [`apply_mask_portable`]: 64-bit words (SSE2/NEON after LLVM).
    Portable,
    /// Explicit AVX2 (x86_64 with AVX2 only).
    Avx2,
}

impl MaskImpl {
    /// The implementations this CPU can run.
    pub fn available() -> alloc::vec::Vec<MaskImpl> {
        let mut all = alloc::vec![MaskImpl::Scalar, MaskImpl::Portable];
        #[cfg(target_arch = "x86_64")]
        if x86::has_avx2() {
            all.push(MaskImpl::Avx2);
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
            MaskImpl::Avx2 if x86::has_avx2() => x86::apply_mask_avx2(data, key, phase),
            _ => apply_mask_scalar(data, key, phase),
        }
    }
}
