//! The explicit vector passes: the only `unsafe` in the crate.

use super::rotate_key;
use core::arch::x86_64::*;

/// The widest vector unit the CPU has that a pass is written for, best
/// last (so `>=` means "has").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Level {
    /// No AVX2: the portable loop only.
    Baseline,
    Avx2,
    Avx512,
}

/// The CPU's [`Level`], detected once and cached (with `std`), or known
/// at compile time (without).
#[inline]
pub(super) fn level() -> Level {
    #[cfg(feature = "std")]
    {
        use core::sync::atomic::{AtomicU8, Ordering};
        // 0: not detected yet; else 1 + the level.
        static DETECTED: AtomicU8 = AtomicU8::new(0);
        // Equivalent mutants: any of the three cached arms deleted. That
        // level is then detected again on each call, with the same answer;
        // the cache only saves the detection's time. (.cargo/mutants.toml
        // excludes them.)
        match DETECTED.load(Ordering::Relaxed) {
            3 => Level::Avx512,
            2 => Level::Avx2,
            1 => Level::Baseline,
            _ => {
                let avx2 = std::is_x86_feature_detected!("avx2");
                // Equivalent mutant: `&&` made `||`. Every CPU with
                // AVX-512F has AVX2, so the two agree on every CPU there
                // is. (.cargo/mutants.toml excludes it.)
                let level = if avx2 && std::is_x86_feature_detected!("avx512f") {
                    Level::Avx512
                } else if avx2 {
                    Level::Avx2
                } else {
                    Level::Baseline
                };
                DETECTED.store(1 + level as u8, Ordering::Relaxed);
                level
            }
        }
    }
    #[cfg(not(feature = "std"))]
    {
        if cfg!(all(target_feature = "avx2", target_feature = "avx512f")) {
            Level::Avx512
        } else if cfg!(target_feature = "avx2") {
            Level::Avx2
        } else {
            Level::Baseline
        }
    }
}

/// Below these many bytes the inlined portable loop is as fast as the
/// pass (a call, a feature check, and on a 16-byte aligned buffer the
/// vectors straddle cache lines). Zen 5, one call each: AVX-512 at 256 B
/// 5.2 ns vs portable 5.2 ns, at 384 B 5.6 ns vs 6.6 ns; AVX2 at 384 B
/// 7.3 ns vs 6.6 ns, at 512 B 7.1 ns vs 7.8 ns.
pub(super) const AVX512_FROM: usize = 384;
const AVX2_FROM: usize = 512;

/// Masks with the widest pass the CPU supports, if `data` is long enough
/// for it to pay ([`AVX512_FROM`], [`AVX2_FROM`]), and returns true; else
/// returns false (nothing done).
#[inline]
pub(super) fn apply_mask_widest(data: &mut [u8], key: [u8; 4], phase: usize) -> bool {
    apply_mask_at(level(), data, key, phase)
}

/// [`apply_mask_widest`] with a given level, capped at the CPU's (so a
/// test can take the AVX2 arm on an AVX-512 CPU too).
#[inline]
fn apply_mask_at(level: Level, data: &mut [u8], key: [u8; 4], phase: usize) -> bool {
    match level.min(self::level()) {
        // SAFETY: capped at `level()`, which detected AVX-512F and AVX2 (or
        // they are enabled at compile time), what `mask_avx512` is built for.
        Level::Avx512 if data.len() >= AVX512_FROM => unsafe { mask_avx512(data, key, phase) },
        // SAFETY: as above, for AVX2 and `mask_avx2`.
        Level::Avx2 if data.len() >= AVX2_FROM => unsafe { mask_avx2(data, key, phase) },
        _ => return false,
    }
    true
}

/// The AVX-512 pass, or `false` (nothing done) if the CPU lacks it.
pub(super) fn try_avx512(data: &mut [u8], key: [u8; 4], phase: usize) -> bool {
    let has = level() >= Level::Avx512;
    if has {
        // SAFETY: the CPU has AVX-512F and AVX2, checked just above.
        unsafe { mask_avx512(data, key, phase) }
    }
    has
}

/// The AVX2 pass, or `false` (nothing done) if the CPU lacks it.
pub(super) fn try_avx2(data: &mut [u8], key: [u8; 4], phase: usize) -> bool {
    let has = level() >= Level::Avx2;
    if has {
        // SAFETY: the CPU has AVX2, checked just above (every AVX-512
        // CPU has it too).
        unsafe { mask_avx2(data, key, phase) }
    }
    has
}

/// The rotated key as the 32-bit lane value the passes broadcast.
#[inline(always)]
fn key_lane(key: [u8; 4], phase: usize) -> i32 {
    i32::from_ne_bytes(rotate_key(key, phase))
}

/// From this many bytes on, a pass aligns its body to the vector width:
/// unaligned vectors that straddle cache lines cost more once there are
/// a few of them; below it, masking a head on its own costs more than it
/// saves. Zen 5, AVX-512 on a buffer at 48 mod 64, aligning from 512 B
/// vs from 1 KiB: 512 B 6.8 ns vs 7.8 ns, 768 B 7.5 ns vs 10.1 ns;
/// aligning from 256 B instead: 256 B 6.3 ns vs 5.2 ns.
const ALIGN_FROM: usize = 512;

/// Fewer than 32 bytes: one 16-byte vector if they fit, then
/// [`mask_tiny`]. A pass masks its head and tail (each shorter than its
/// vector) with these narrower pieces, which do not overlap each other or
/// the body. (One unaligned vector overlapping the body for each would be
/// fewer instructions, but then a later load that straddles two of those
/// stores cannot take its bytes from them and waits until they reach the
/// cache, which shows whenever a buffer is masked again soon after.)
///
/// # Safety
/// The CPU must support SSE2.
#[target_feature(enable = "sse2")]
#[inline]
unsafe fn mask_short_sse2(data: &mut [u8], key: [u8; 4], phase: usize) {
    debug_assert!(data.len() < 32);
    if data.len() >= 16 {
        // SAFETY: SSE2 is available (this function's contract); the 16
        // bytes accessed (unaligned) are in `data`, borrowed exclusively.
        unsafe {
            let at = data.as_mut_ptr().cast::<__m128i>();
            let lane = _mm_set1_epi32(key_lane(key, phase));
            _mm_storeu_si128(at, _mm_xor_si128(_mm_loadu_si128(at), lane));
        }
        mask_tiny(&mut data[16..], key, phase);
        return;
    }
    mask_tiny(data, key, phase);
}

/// Fewer than 16 bytes: at most one 8-byte word, one 4-byte word and
/// three bytes, straight-line. The portable loop's set-up alone costs
/// more: with it for heads and tails, AVX-512 on 1 KiB at 5 mod 64 took
/// 15 ns, with this 8.3 ns.
#[inline(always)]
fn mask_tiny(data: &mut [u8], key: [u8; 4], phase: usize) {
    debug_assert!(data.len() < 16);
    let lane = rotate_key(key, phase);
    let mut rest = data;
    if rest.len() >= 8 {
        let (word, tail) = rest.split_at_mut(8);
        let value = u64::from_ne_bytes(word.try_into().unwrap_or([0; 8]))
            ^ u64::from_ne_bytes([
                lane[0], lane[1], lane[2], lane[3], lane[0], lane[1], lane[2], lane[3],
            ]);
        word.copy_from_slice(&value.to_ne_bytes());
        rest = tail;
    }
    if rest.len() >= 4 {
        let (word, tail) = rest.split_at_mut(4);
        let value =
            u32::from_ne_bytes(word.try_into().unwrap_or([0; 4])) ^ u32::from_ne_bytes(lane);
        word.copy_from_slice(&value.to_ne_bytes());
        rest = tail;
    }
    // Whole words above: the rotation is unchanged.
    for (byte, k) in rest.iter_mut().zip(lane) {
        *byte ^= k;
    }
}

/// Fewer than 64 bytes: one 32-byte vector if they fit, then
/// [`mask_short_sse2`].
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn mask_short_avx2(data: &mut [u8], key: [u8; 4], phase: usize) {
    debug_assert!(data.len() < 64);
    if data.len() >= 32 {
        // SAFETY: AVX2 is available (this function's contract); the 32
        // bytes accessed (unaligned) are in `data`, borrowed exclusively.
        unsafe {
            let at = data.as_mut_ptr().cast::<__m256i>();
            let lane = _mm256_set1_epi32(key_lane(key, phase));
            _mm256_storeu_si256(at, _mm256_xor_si256(_mm256_loadu_si256(at), lane));
        }
        // SAFETY: AVX2 implies SSE2.
        unsafe { mask_short_sse2(&mut data[32..], key, phase) };
        return;
    }
    // SAFETY: AVX2 implies SSE2.
    unsafe { mask_short_sse2(data, key, phase) };
}

/// One vector pass, the same for every width: the head up to the first
/// vector boundary (for inputs of [`ALIGN_FROM`] bytes or more; else no
/// head), then whole vectors, four per step and then one, then the tail;
/// head and tail with `$short`. The body uses unaligned accesses: as fast
/// as aligned ones where the address is aligned, and below `ALIGN_FROM`
/// it may not be.
macro_rules! vector_pass {
    (
        $(#[$attr:meta])*
        fn $name:ident($vector:ty, $set1:ident, $loadu:ident, $storeu:ident, $xor:ident, $short:ident)
    ) => {
        $(#[$attr])*
        unsafe fn $name(data: &mut [u8], key: [u8; 4], phase: usize) {
            const WIDTH: usize = core::mem::size_of::<$vector>();
            let head = if data.len() >= ALIGN_FROM {
                (data.as_ptr() as usize).wrapping_neg() & (WIDTH - 1)
            } else {
                0
            };
            let (head_bytes, rest) = data.split_at_mut(head);
            let body_len = rest.len() / WIDTH * WIDTH;
            let (body, tail) = rest.split_at_mut(body_len);
            // SAFETY (all three blocks): the CPU has the pass's target
            // feature (this function's contract), which implies the
            // narrower ones `$short` needs.
            unsafe { $short(head_bytes, key, phase) };
            let start = body.as_mut_ptr();
            let mut offset = 0;
            // SAFETY: as above; every access is an unaligned one of WIDTH
            // bytes at `offset`, and the loops run only while it ends at or
            // before `body_len`, inside `body` (borrowed exclusively).
            unsafe {
                let key = $set1(key_lane(key, phase + head));
                while offset + 4 * WIDTH <= body_len {
                    let at = start.add(offset).cast::<$vector>();
                    let a = $xor($loadu(at), key);
                    let b = $xor($loadu(at.add(1)), key);
                    let c = $xor($loadu(at.add(2)), key);
                    let d = $xor($loadu(at.add(3)), key);
                    $storeu(at, a);
                    $storeu(at.add(1), b);
                    $storeu(at.add(2), c);
                    $storeu(at.add(3), d);
                    offset += 4 * WIDTH;
                }
                while offset < body_len {
                    let at = start.add(offset).cast::<$vector>();
                    $storeu(at, $xor($loadu(at), key));
                    offset += WIDTH;
                }
            }
            // SAFETY: as for the head.
            unsafe { $short(tail, key, phase + head + body_len) };
        }
    };
}

vector_pass! {
    /// # Safety
    /// The CPU must support AVX-512F (which implies AVX2).
    #[target_feature(enable = "avx512f")]
    fn mask_avx512(__m512i, _mm512_set1_epi32, _mm512_loadu_si512, _mm512_storeu_si512, _mm512_xor_si512, mask_short_avx2)
}

vector_pass! {
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    fn mask_avx2(__m256i, _mm256_set1_epi32, _mm256_loadu_si256, _mm256_storeu_si256, _mm256_xor_si256, mask_short_sse2)
}

/// From this many bytes the fused copy-and-mask passes beat a memcpy
/// followed by the portable loop.
pub(super) const COPY_FROM: usize = 64;

/// Copies and masks with the widest pass the CPU has and returns true,
/// or returns false (nothing done) without AVX2. `dst` and `src` have
/// the same length.
#[inline]
pub(super) fn copy_masked_widest(dst: &mut [u8], src: &[u8], key: [u8; 4], phase: usize) -> bool {
    copy_masked_at(level(), dst, src, key, phase)
}

/// [`copy_masked_widest`] with a given level (for `MaskImpl`).
#[inline]
pub(super) fn copy_masked_at(
    level: Level,
    dst: &mut [u8],
    src: &[u8],
    key: [u8; 4],
    phase: usize,
) -> bool {
    let len = dst.len().min(src.len());
    let out = dst.as_mut_ptr();
    match level.min(self::level()) {
        // SAFETY: the CPU has the pass's features (`level()`), and `out`
        // is valid for `len` bytes of writes: it is `dst`, borrowed
        // exclusively, at least that long; `src` is at least `len` long.
        Level::Avx512 => unsafe { copy_avx512(out, &src[..len], key, phase) },
        // SAFETY: as above, for AVX2.
        Level::Avx2 => unsafe { copy_avx2(out, &src[..len], key, phase) },
        Level::Baseline => return false,
    }
    true
}

/// A growable byte buffer whose spare capacity a pass can write.
///
/// # Safety
/// `spare_ptr` must point at the first byte after the buffer's length,
/// valid for writes up to its capacity; `set_len` must be the type's
/// own (the bytes up to the new length written).
pub(super) unsafe trait Spare {
    fn reserve_more(&mut self, additional: usize);
    fn length(&self) -> usize;
    fn spare_ptr(&mut self) -> *mut u8;
    /// # Safety
    /// Every byte up to `len` must be initialized, within capacity.
    unsafe fn set_length(&mut self, len: usize);
}

/// `Spare` for a buffer type with Vec-like `reserve`, `len`,
/// `spare_capacity_mut` and `set_len`.
macro_rules! spare_impl {
    ($buffer:ty) => {
        // SAFETY: `spare_capacity_mut` starts right after the length, and
        // `set_len` is the type's own.
        unsafe impl Spare for $buffer {
            fn reserve_more(&mut self, additional: usize) {
                self.reserve(additional);
            }
            fn length(&self) -> usize {
                self.len()
            }
            fn spare_ptr(&mut self) -> *mut u8 {
                self.spare_capacity_mut().as_mut_ptr().cast()
            }
            unsafe fn set_length(&mut self, len: usize) {
                // SAFETY: the caller's contract is the type's `set_len`'s.
                unsafe { self.set_len(len) }
            }
        }
    };
}

spare_impl!(alloc::vec::Vec<u8>);
#[cfg(feature = "bytes")]
spare_impl!(bytes::BytesMut);

/// Appends `src` masked to `dst` through its spare capacity, one pass,
/// and returns true; or returns false (nothing done) without AVX2.
#[inline]
pub(super) fn extend_masked_widest(
    dst: &mut impl Spare,
    src: &[u8],
    key: [u8; 4],
    phase: usize,
) -> bool {
    let level = level();
    if level == Level::Baseline {
        return false;
    }
    dst.reserve_more(src.len());
    let start = dst.length();
    // SAFETY: `reserve_more` made room for `src.len()` more bytes, so
    // `out` is valid for that many writes (spare capacity, not yet part
    // of the buffer); the CPU has the pass's features (`level()`).
    unsafe {
        let out = dst.spare_ptr();
        // Equivalent mutant: the AVX-512 arm deleted. The AVX2 pass then
        // writes the same bytes, more slowly. (.cargo/mutants.toml
        // excludes it.)
        match level {
            Level::Avx512 => copy_avx512(out, src, key, phase),
            _ => copy_avx2(out, src, key, phase),
        }
    }
    // SAFETY: the pass above wrote every one of the `src.len()` bytes
    // after `start` (it stores each byte of `src`, masked, exactly
    // once), and they lie within the capacity reserved above.
    unsafe { dst.set_length(start + src.len()) };
    true
}

/// Fewer than 32 bytes from `src` to `out`, masked: one 16-byte vector
/// if they fit, then byte by byte.
///
/// # Safety
/// The CPU must support SSE2; `out` must be valid for `src.len()` writes.
#[target_feature(enable = "sse2")]
#[inline]
unsafe fn copy_short_sse2(out: *mut u8, src: &[u8], key: [u8; 4], phase: usize) {
    debug_assert!(src.len() < 32);
    let mut done = 0;
    if src.len() >= 16 {
        // SAFETY: SSE2 is available; 16 bytes are read from `src` (at
        // least 16 long) and written to `out` (valid for src.len()).
        unsafe {
            let lane = _mm_set1_epi32(key_lane(key, phase));
            let value = _mm_loadu_si128(src.as_ptr().cast::<__m128i>());
            _mm_storeu_si128(out.cast::<__m128i>(), _mm_xor_si128(value, lane));
        }
        done = 16;
    }
    let lane = rotate_key(key, phase);
    for (i, byte) in src.iter().enumerate().skip(done) {
        // SAFETY: i < src.len(), and `out` is valid for that many writes.
        unsafe { out.add(i).write(byte ^ lane[i % 4]) };
    }
}

/// Fewer than 64 bytes: one 32-byte vector if they fit, then
/// [`copy_short_sse2`].
///
/// # Safety
/// The CPU must support AVX2; `out` must be valid for `src.len()` writes.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn copy_short_avx2(out: *mut u8, src: &[u8], key: [u8; 4], phase: usize) {
    debug_assert!(src.len() < 64);
    if src.len() >= 32 {
        // SAFETY: AVX2 is available; 32 bytes are read from `src` (at
        // least 32 long) and written to `out` (valid for src.len()).
        unsafe {
            let lane = _mm256_set1_epi32(key_lane(key, phase));
            let value = _mm256_loadu_si256(src.as_ptr().cast::<__m256i>());
            _mm256_storeu_si256(out.cast::<__m256i>(), _mm256_xor_si256(value, lane));
        }
        // SAFETY: AVX2 implies SSE2; `out + 32` is valid for the
        // remaining `src.len() - 32` writes.
        unsafe { copy_short_sse2(out.add(32), &src[32..], key, phase) };
        return;
    }
    // SAFETY: AVX2 implies SSE2; same `out` and length.
    unsafe { copy_short_sse2(out, src, key, phase) };
}

/// One fused copy-and-mask pass, the same for every width: whole
/// vectors, four per step and then one, loaded from `src`, masked and
/// stored to `out`; the tail with `$short`. Each byte of `out` is
/// written exactly once, so `out` may be uninitialized memory.
macro_rules! copy_pass {
    (
        $(#[$attr:meta])*
        fn $name:ident($vector:ty, $set1:ident, $loadu:ident, $storeu:ident, $xor:ident, $short:ident)
    ) => {
        $(#[$attr])*
        unsafe fn $name(out: *mut u8, src: &[u8], key: [u8; 4], phase: usize) {
            const WIDTH: usize = core::mem::size_of::<$vector>();
            let body_len = src.len() / WIDTH * WIDTH;
            let from = src.as_ptr();
            let mut offset = 0;
            // SAFETY: the CPU has the pass's target feature (this
            // function's contract); every access is an unaligned one of
            // WIDTH bytes at `offset`, and the loops run only while it
            // ends at or before `body_len` <= `src.len()`: inside `src`
            // for the loads, and inside the `src.len()` bytes `out` is
            // valid for (the contract) for the stores.
            unsafe {
                let key = $set1(key_lane(key, phase));
                while offset + 4 * WIDTH <= body_len {
                    let at = from.add(offset).cast::<$vector>();
                    let to = out.add(offset).cast::<$vector>();
                    let a = $xor($loadu(at), key);
                    let b = $xor($loadu(at.add(1)), key);
                    let c = $xor($loadu(at.add(2)), key);
                    let d = $xor($loadu(at.add(3)), key);
                    $storeu(to, a);
                    $storeu(to.add(1), b);
                    $storeu(to.add(2), c);
                    $storeu(to.add(3), d);
                    offset += 4 * WIDTH;
                }
                while offset < body_len {
                    let at = from.add(offset).cast::<$vector>();
                    $storeu(out.add(offset).cast::<$vector>(), $xor($loadu(at), key));
                    offset += WIDTH;
                }
            }
            // SAFETY: the pass's feature implies the narrower ones
            // `$short` needs; `out + body_len` is valid for the
            // remaining `src.len() - body_len` writes. Whole vectors
            // above keep the key's rotation.
            unsafe { $short(out.add(body_len), &src[body_len..], key, phase) };
        }
    };
}

copy_pass! {
    /// # Safety
    /// The CPU must support AVX-512F (which implies AVX2); `out` must be
    /// valid for `src.len()` writes.
    #[target_feature(enable = "avx512f")]
    fn copy_avx512(__m512i, _mm512_set1_epi32, _mm512_loadu_si512, _mm512_storeu_si512, _mm512_xor_si512, copy_short_avx2)
}

copy_pass! {
    /// # Safety
    /// The CPU must support AVX2; `out` must be valid for `src.len()`
    /// writes.
    #[target_feature(enable = "avx2")]
    fn copy_avx2(__m256i, _mm256_set1_epi32, _mm256_loadu_si256, _mm256_storeu_si256, _mm256_xor_si256, copy_short_sse2)
}

/// Which pass each entry point picks, on the CPU the tests run on: the
/// bytes alone cannot tell (every pass makes the same ones), so these ask
/// the dispatch itself. Each pass's bytes are checked against the scalar
/// reference in tests/mask_properties.rs.
#[cfg(test)]
#[cfg(feature = "std")] // the CPU detection needs std
mod tests {
    use super::*;
    use alloc::vec::Vec;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn cpu_level() -> Level {
        if std::is_x86_feature_detected!("avx512f") {
            Level::Avx512
        } else if std::is_x86_feature_detected!("avx2") {
            Level::Avx2
        } else {
            Level::Baseline
        }
    }

    fn masked(data: &[u8], phase: usize) -> Vec<u8> {
        let mut out = data.to_vec();
        super::super::apply_mask_scalar(&mut out, KEY, phase);
        out
    }

    #[test]
    fn level_is_the_cpus_on_every_call() {
        // The first call detects and caches, the later ones read the cache.
        for _ in 0..3 {
            assert_eq!(level(), cpu_level());
        }
    }

    #[test]
    fn each_vector_pass_takes_what_reaches_its_threshold() {
        let cpu = cpu_level();
        for (level, from) in [(Level::Avx512, AVX512_FROM), (Level::Avx2, AVX2_FROM)] {
            if cpu < level {
                continue;
            }
            // The AVX-512 threshold is where apply_mask starts asking.
            for len in [AVX512_FROM, from - 1, from, from + 1] {
                let source: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
                let mut data = source.clone();
                let done = apply_mask_at(level, &mut data, KEY, 3);
                assert_eq!(done, len >= from, "{level:?} len {len}");
                let expected = if done {
                    masked(&source, 3)
                } else {
                    source.clone()
                };
                assert_eq!(data, expected, "{level:?} len {len}");
                if level == cpu {
                    let mut widest = source.clone();
                    assert_eq!(apply_mask_widest(&mut widest, KEY, 3), done, "len {len}");
                    assert_eq!(widest, expected, "widest, len {len}");
                }
            }
        }
    }

    #[test]
    fn each_pass_runs_where_the_cpu_has_it() {
        let source: Vec<u8> = (0..700).map(|i| (i * 13) as u8).collect();
        for (has, pass) in [
            (
                cpu_level() >= Level::Avx512,
                try_avx512 as fn(&mut [u8], [u8; 4], usize) -> bool,
            ),
            (cpu_level() >= Level::Avx2, try_avx2),
        ] {
            let mut data = source.clone();
            assert_eq!(pass(&mut data, KEY, 1), has);
            let expected = if has {
                masked(&source, 1)
            } else {
                source.clone()
            };
            assert_eq!(data, expected);
        }
    }

    #[test]
    fn the_fused_copies_run_where_the_cpu_has_avx2() {
        let has = cpu_level() >= Level::Avx2;
        let source: Vec<u8> = (0..300).map(|i| (i * 5) as u8).collect();
        let mut copy = alloc::vec![0u8; source.len()];
        assert_eq!(copy_masked_widest(&mut copy, &source, KEY, 2), has);
        let mut extended = alloc::vec![9u8];
        assert_eq!(extend_masked_widest(&mut extended, &source, KEY, 2), has);
        if has {
            assert_eq!(copy, masked(&source, 2));
            assert_eq!(extended[0], 9);
            assert_eq!(extended[1..], masked(&source, 2));
        } else {
            assert_eq!(extended, [9]);
        }
    }
}
