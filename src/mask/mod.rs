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

/// Fast path. On x86_64 CPUs with AVX-512 (from 384 bytes) or AVX2 (from
/// 512 bytes), an explicit vector pass (features detected at run time and
/// cached; without `std`, those enabled at compile time). Everything else
/// takes the portable word loop, which LLVM turns into SSE2 or NEON code: an
/// explicit SSE2 pass measured 3-10% slower than it at every size.
///
/// Produces exactly the bytes of [`apply_mask_scalar`] for every length,
/// phase and key.
///
/// ```
/// use wsmachine::mask::{apply_mask, apply_mask_scalar};
/// let key = [1, 2, 3, 4];
/// let mut fast: Vec<u8> = (0..1000).map(|i| i as u8).collect();
/// let mut slow = fast.clone();
/// apply_mask(&mut fast[3..], key, 7);
/// apply_mask_scalar(&mut slow[3..], key, 7);
/// assert_eq!(fast, slow);
/// ```
#[inline]
pub fn apply_mask(data: &mut [u8], key: [u8; 4], phase: usize) {
    // Equivalent mutant: `>=` made `<`. The threshold is checked again in
    // `apply_mask_widest`, which leaves shorter data alone and returns
    // false, so every length still ends up masked by one path or the other;
    // the check here only saves a call. (.cargo/mutants.toml excludes it.)
    #[cfg(target_arch = "x86_64")]
    if data.len() >= x86::AVX512_FROM && x86::apply_mask_widest(data, key, phase) {
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

/// Copies `src` into `dst` and masks the copy in the same pass (the receive
/// path: a payload read from the transport is unmasked as it is stored).
/// Copies `min(dst.len(), src.len())` bytes.
///
/// ```
/// let mut out = [0u8; 5];
/// wsmachine::mask::copy_masked(&mut out, b"Hello", [0x37, 0xfa, 0x21, 0x3d], 0);
/// assert_eq!(out, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// ```
#[inline]
pub fn copy_masked(dst: &mut [u8], src: &[u8], key: [u8; 4], phase: usize) {
    let len = dst.len().min(src.len());
    let (dst, src) = (&mut dst[..len], &src[..len]);
    // Equivalent mutant: `>=` made `<`. The fused pass and copy-then-mask
    // write the same bytes at every length (tests/mask_properties.rs); the
    // threshold only picks the faster one. (.cargo/mutants.toml excludes it.)
    #[cfg(target_arch = "x86_64")]
    if len >= x86::COPY_FROM && x86::copy_masked_widest(dst, src, key, phase) {
        return;
    }
    dst.copy_from_slice(src);
    apply_mask_portable(dst, key, phase);
}

/// Appending masked bytes, for each buffer type that has spare capacity
/// a vector pass can write (and a portable fallback for the rest).
macro_rules! extend_masked_fn {
    ($(#[$attr:meta])* $name:ident($buffer:ty)) => {
        $(#[$attr])*
        #[inline]
        pub fn $name(dst: &mut $buffer, src: &[u8], key: [u8; 4], phase: usize) {
            #[cfg(target_arch = "x86_64")]
            if src.len() >= x86::COPY_FROM && x86::extend_masked_widest(dst, src, key, phase) {
                return;
            }
            let start = dst.len();
            dst.extend_from_slice(src);
            apply_mask_portable(&mut dst[start..], key, phase);
        }
    };
}

extend_masked_fn! {
    /// Appends `src` to `dst`, masked from payload offset `phase`: one pass
    /// into the `Vec`'s spare capacity where a vector unit allows it (the
    /// client send path, and the receive path when the input buffer grows).
    ///
    /// ```
    /// let mut out = Vec::new();
    /// wsmachine::mask::extend_masked(&mut out, b"Hello", [0x37, 0xfa, 0x21, 0x3d], 0);
    /// assert_eq!(out, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    /// ```
    extend_masked(alloc::vec::Vec<u8>)
}

#[cfg(feature = "bytes")]
extend_masked_fn! {
    /// [`extend_masked`] onto a `BytesMut` (feature `bytes`): one pass into
    /// its spare capacity, so the receive buffer never zero-fills room that
    /// the payload overwrites at once.
    ///
    /// ```
    /// let mut out = bytes::BytesMut::new();
    /// wsmachine::mask::extend_masked_bytes(&mut out, b"Hello", [0x37, 0xfa, 0x21, 0x3d], 0);
    /// assert_eq!(&out[..], [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    /// ```
    extend_masked_bytes(bytes::BytesMut)
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86;

/// The implementations behind [`apply_mask`], by name, so tests and benches
/// can pin each one to the scalar reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MaskImpl {
    /// [`apply_mask_scalar`].
    Scalar,
    /// [`apply_mask_portable`]: 64-bit words (SSE2/NEON after LLVM).
    Portable,
    /// Explicit AVX2 (x86_64 CPUs with AVX2 only).
    Avx2,
    /// Explicit AVX-512 (x86_64 CPUs with AVX-512F only).
    Avx512,
}

impl MaskImpl {
    /// The implementations this CPU can run.
    pub fn available() -> alloc::vec::Vec<MaskImpl> {
        #[allow(unused_mut)] // pushed to on x86_64 only
        let mut all = alloc::vec![MaskImpl::Scalar, MaskImpl::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            let level = x86::level();
            if level >= x86::Level::Avx2 {
                all.push(MaskImpl::Avx2);
            }
            if level >= x86::Level::Avx512 {
                all.push(MaskImpl::Avx512);
            }
        }
        all
    }

    /// Masks with this implementation, whatever the length. An
    /// implementation the CPU lacks falls back to the scalar one rather than
    /// fault.
    pub fn apply(self, data: &mut [u8], key: [u8; 4], phase: usize) {
        match self {
            MaskImpl::Scalar => apply_mask_scalar(data, key, phase),
            MaskImpl::Portable => apply_mask_portable(data, key, phase),
            #[cfg(target_arch = "x86_64")]
            MaskImpl::Avx2 => {
                if !x86::try_avx2(data, key, phase) {
                    apply_mask_scalar(data, key, phase);
                }
            }
            #[cfg(target_arch = "x86_64")]
            MaskImpl::Avx512 => {
                if !x86::try_avx512(data, key, phase) {
                    apply_mask_scalar(data, key, phase);
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => apply_mask_scalar(data, key, phase),
        }
    }

    /// Copies `src` into `dst` masked, like [`copy_masked`], with this
    /// implementation whatever the length (the reference ones copy, then
    /// mask in place). Falls back to the scalar one if the CPU lacks it.
    pub fn copy(self, dst: &mut [u8], src: &[u8], key: [u8; 4], phase: usize) {
        let len = dst.len().min(src.len());
        let (dst, src) = (&mut dst[..len], &src[..len]);
        // Equivalent mutants: either arm below deleted, or `>=` made `<`.
        // The pass is then skipped for the scalar copy further down, the
        // fallback for a CPU without it, which writes the same bytes; only
        // the time differs. (.cargo/mutants.toml excludes them.)
        #[cfg(target_arch = "x86_64")]
        {
            let level = match self {
                MaskImpl::Avx2 => x86::Level::Avx2,
                MaskImpl::Avx512 => x86::Level::Avx512,
                _ => x86::Level::Baseline,
            };
            if level != x86::Level::Baseline && x86::level() >= level {
                x86::copy_masked_at(level, dst, src, key, phase);
                return;
            }
        }
        dst.copy_from_slice(src);
        // Equivalent mutant: the Portable arm deleted. The scalar loop then
        // masks the copy, to the same bytes (the portable loop's own are
        // checked through `apply`). (.cargo/mutants.toml excludes it.)
        match self {
            MaskImpl::Portable => apply_mask_portable(dst, key, phase),
            _ => apply_mask_scalar(dst, key, phase),
        }
    }
}
