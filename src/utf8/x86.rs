//! UTF-8 validation with AVX-512 (F, BW and VBMI): the only `unsafe` of the
//! `utf8` module, held to `core::str::from_utf8` by
//! `tests/utf8_properties.rs` and the `utf8` fuzz target.
//!
//! The method is the lookup one of Keiser and Lemire ("Validating UTF-8 in
//! less than one instruction per byte", 2021): every error a pair of bytes
//! can show is a bit, set by three table lookups (the first byte's high and
//! low nibble, the second byte's high nibble) whose AND leaves the errors
//! the pair has; the third and fourth bytes of a long character are checked
//! by comparing where a continuation must be with where two continuations
//! follow each other. With 64 bytes per step and `vpermb` (the tables are
//! indexed without masking the nibbles first), it takes between half and
//! two thirds of the time of simdutf8's AVX2 pass on mixed text on an
//! Intel Xeon (Emerald Rapids).

use core::arch::x86_64::*;

// One bit per kind of error a pair of bytes (first, second) can show.

/// A lead byte followed by something other than a continuation.
const TOO_SHORT: u8 = 1 << 0;
/// ASCII followed by a continuation.
const TOO_LONG: u8 = 1 << 1;
/// `E0` followed by `80..=9F`: a 3-byte form of a shorter character.
const OVERLONG_3: u8 = 1 << 2;
/// `F4` followed by `90..=BF`, or `F5..=FF` followed by `90..=BF`: past U+10FFFF.
const TOO_LARGE: u8 = 1 << 3;
/// `ED` followed by `A0..=BF`: a surrogate.
const SURROGATE: u8 = 1 << 4;
/// `C0` or `C1` followed by a continuation: a 2-byte form of ASCII.
const OVERLONG_2: u8 = 1 << 5;
/// `F5..=FF` followed by `80..=8F` (past U+10FFFF); shares its bit with
/// [`OVERLONG_4`]: both need a first high nibble of `F` and a second of `8`.
const TOO_LARGE_1000: u8 = 1 << 6;
/// `F0` followed by `80..=8F`: a 4-byte form of a shorter character.
const OVERLONG_4: u8 = 1 << 6;
/// A continuation followed by a continuation: an error unless the second
/// is the third or fourth byte of a character (then it is expected).
const TWO_CONTINUATIONS: u8 = 1 << 7;
/// The errors that do not depend on the first byte's low nibble.
const ANY_LOW: u8 = TOO_SHORT | TOO_LONG | TWO_CONTINUATIONS;

/// By the first byte's high nibble.
const FIRST_HIGH: [u8; 16] = [
    // 0_______: ASCII.
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    // 10______: a continuation.
    TWO_CONTINUATIONS,
    TWO_CONTINUATIONS,
    TWO_CONTINUATIONS,
    TWO_CONTINUATIONS,
    // 1100____: leads C0..CF (C0 and C1 are never valid).
    TOO_SHORT | OVERLONG_2,
    // 1101____
    TOO_SHORT,
    // 1110____: 3-byte leads.
    TOO_SHORT | OVERLONG_3 | SURROGATE,
    // 1111____: 4-byte leads, and F5..FF.
    TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4,
];

/// By the first byte's low nibble.
const FIRST_LOW: [u8; 16] = [
    ANY_LOW | OVERLONG_2 | OVERLONG_3 | OVERLONG_4, // ____0000
    ANY_LOW | OVERLONG_2,                           // ____0001
    ANY_LOW,
    ANY_LOW,
    ANY_LOW | TOO_LARGE, // ____0100
    ANY_LOW | TOO_LARGE | TOO_LARGE_1000,
    ANY_LOW | TOO_LARGE | TOO_LARGE_1000,
    ANY_LOW | TOO_LARGE | TOO_LARGE_1000,
    ANY_LOW | TOO_LARGE | TOO_LARGE_1000,
    ANY_LOW | TOO_LARGE | TOO_LARGE_1000,
    ANY_LOW | TOO_LARGE | TOO_LARGE_1000,
    ANY_LOW | TOO_LARGE | TOO_LARGE_1000,
    ANY_LOW | TOO_LARGE | TOO_LARGE_1000,
    ANY_LOW | TOO_LARGE | TOO_LARGE_1000 | SURROGATE, // ____1101
    ANY_LOW | TOO_LARGE | TOO_LARGE_1000,
    ANY_LOW | TOO_LARGE | TOO_LARGE_1000,
];

/// By the second byte's high nibble.
const SECOND_HIGH: [u8; 16] = [
    // ASCII.
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    // 1000____
    TOO_LONG | TWO_CONTINUATIONS | OVERLONG_2 | OVERLONG_3 | OVERLONG_4,
    // 1001____
    TOO_LONG | TWO_CONTINUATIONS | OVERLONG_2 | OVERLONG_3 | TOO_LARGE,
    // 101_____
    TOO_LONG | TWO_CONTINUATIONS | OVERLONG_2 | SURROGATE | TOO_LARGE,
    TOO_LONG | TWO_CONTINUATIONS | OVERLONG_2 | SURROGATE | TOO_LARGE,
    // 11______: a lead.
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
];

/// A table repeated to 64 entries: `vpermb` reads six bits of the index,
/// and the two above the nibble are then ignored.
const fn repeated(table: [u8; 16]) -> [u8; 64] {
    let mut out = [0; 64];
    let mut i = 0;
    while i < 64 {
        out[i] = table[i % 16];
        i += 1;
    }
    out
}

static FIRST_HIGH_64: [u8; 64] = repeated(FIRST_HIGH);
static FIRST_LOW_64: [u8; 64] = repeated(FIRST_LOW);
static SECOND_HIGH_64: [u8; 64] = repeated(SECOND_HIGH);

/// A block ending in a character that needs more bytes: one of its last
/// three bytes is above this limit.
static LAST_COMPLETE_MAX: [u8; 64] = {
    let mut max = [0xff; 64];
    max[61] = 0xef; // a 4-byte lead three from the end
    max[62] = 0xdf; // a 3- or 4-byte lead two from the end
    max[63] = 0xbf; // any lead at the end
    max
};

/// Whether the CPU has what [`validate`] needs: detected once and cached
/// (with `std`), or known at compile time (without).
pub(super) fn available() -> bool {
    #[cfg(feature = "std")]
    {
        use core::sync::atomic::{AtomicU8, Ordering};
        // 0: not detected yet; 1: no; 2: yes.
        static DETECTED: AtomicU8 = AtomicU8::new(0);
        match DETECTED.load(Ordering::Relaxed) {
            2 => true,
            1 => false,
            _ => {
                let has = std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("avx512vbmi");
                DETECTED.store(1 + has as u8, Ordering::Relaxed);
                has
            }
        }
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(all(
            target_feature = "avx512f",
            target_feature = "avx512bw",
            target_feature = "avx512vbmi"
        ))
    }
}

/// `bytes` as `&str` if they are UTF-8; `None` if the CPU lacks the pass.
pub(super) fn validate(bytes: &[u8]) -> Option<Result<&str, super::InvalidUtf8>> {
    if !available() {
        return None;
    }
    // SAFETY: the CPU has AVX-512 F, BW and VBMI (checked just above).
    if !unsafe { is_utf8(bytes) } {
        return Some(Err(super::InvalidUtf8));
    }
    // SAFETY: `is_utf8` said the bytes are UTF-8; it agrees with
    // `core::str::from_utf8` on every input of `tests/utf8_properties.rs`
    // (every pair of bytes, every 3- and 4-byte shape at the block edges)
    // and of the `utf8` fuzz target.
    Some(Ok(unsafe { core::str::from_utf8_unchecked(bytes) }))
}

/// Bytes `0..n` of a 64-byte load: all of them from 64 on.
fn first(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1 << n) - 1
    }
}

/// Whether `bytes` are UTF-8.
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VBMI.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn is_utf8(bytes: &[u8]) -> bool {
    let len = bytes.len();
    let start = bytes.as_ptr();
    // SAFETY: the CPU has the features (this function's contract). The
    // table loads read 64-byte statics. Every other load reads at most 64
    // bytes from `start + at + offset - k` (k <= 3) and is either a whole
    // one that ends at or before `start + len` (`at + 256 <= len` for the
    // four blocks at offsets 0, 64, 128, 192, `at + 64 <= len` for one, and
    // `at >= 64` when k > 0), or a masked one: those touch only the bytes their mask
    // selects (`first`), which lie in `start + at - k .. start + len`.
    unsafe {
        let first_high = _mm512_loadu_si512(FIRST_HIGH_64.as_ptr().cast());
        let first_low = _mm512_loadu_si512(FIRST_LOW_64.as_ptr().cast());
        let second_high = _mm512_loadu_si512(SECOND_HIGH_64.as_ptr().cast());
        let last_complete_max = _mm512_loadu_si512(LAST_COMPLETE_MAX.as_ptr().cast());
        let third_min = _mm512_set1_epi8(0xe0u8.wrapping_sub(0x80) as i8);
        let fourth_min = _mm512_set1_epi8(0xf0u8.wrapping_sub(0x80) as i8);
        let top_bit = _mm512_set1_epi8(0x80u8 as i8);
        let mut error = _mm512_setzero_si512();
        // Where the last block looked at ends inside a character.
        let mut unfinished = _mm512_setzero_si512();

        // One block: `input`, and the same 64 bytes one, two and three
        // positions earlier (made on demand: an ASCII block needs none).
        macro_rules! block {
            ($input:expr, $prev1:expr, $prev2:expr, $prev3:expr) => {{
                let input = $input;
                if _mm512_movepi8_mask(input) == 0 {
                    // ASCII: fine unless the block before ended early.
                    error = _mm512_or_si512(error, unfinished);
                    unfinished = _mm512_setzero_si512();
                } else {
                    let prev1 = $prev1;
                    // The lookups read the low six bits of the index: the
                    // shifted-in bits above a nibble fall in the repeats.
                    let pair_errors = _mm512_ternarylogic_epi32::<0x80>(
                        _mm512_permutexvar_epi8(_mm512_srli_epi16::<4>(prev1), first_high),
                        _mm512_permutexvar_epi8(prev1, first_low),
                        _mm512_permutexvar_epi8(_mm512_srli_epi16::<4>(input), second_high),
                    );
                    // The top bit where a byte must be a 3rd or 4th byte.
                    let continuation_due = _mm512_ternarylogic_epi32::<0xa8>(
                        _mm512_subs_epu8($prev2, third_min),
                        _mm512_subs_epu8($prev3, fourth_min),
                        top_bit,
                    );
                    // error |= due ^ pair_errors
                    error = _mm512_ternarylogic_epi32::<0xf6>(error, continuation_due, pair_errors);
                    unfinished = _mm512_subs_epu8(input, last_complete_max);
                }
            }};
        }

        // The first block. Past the end of a short input it reads zeros
        // (ASCII): a character cut at the end meets them and is too short.
        let input = _mm512_maskz_loadu_epi8(first(len), start.cast());
        // Lane i of `earlier` is lane i - 1 of the input (zeros for lane 0:
        // what lies before the input is taken as ASCII).
        let earlier = _mm512_alignr_epi64::<6>(input, _mm512_setzero_si512());
        block!(
            input,
            _mm512_alignr_epi8::<15>(input, earlier),
            _mm512_alignr_epi8::<14>(input, earlier),
            _mm512_alignr_epi8::<13>(input, earlier)
        );
        // The others read the earlier bytes from memory (loads, instead of
        // shuffles on the ports the lookups need). Four blocks of ASCII,
        // the usual case in most text, take one test.
        let mut at = 64;
        while at + 256 <= len {
            let here = start.add(at);
            let a = _mm512_loadu_si512(here.cast());
            let b = _mm512_loadu_si512(here.add(64).cast());
            let c = _mm512_loadu_si512(here.add(128).cast());
            let d = _mm512_loadu_si512(here.add(192).cast());
            let any = _mm512_ternarylogic_epi32::<0xfe>(a, b, _mm512_or_si512(c, d));
            if _mm512_movepi8_mask(any) == 0 {
                error = _mm512_or_si512(error, unfinished);
                unfinished = _mm512_setzero_si512();
            } else {
                for (input, offset) in [(a, 0), (b, 64), (c, 128), (d, 192)] {
                    let here = here.add(offset);
                    block!(
                        input,
                        _mm512_loadu_si512(here.sub(1).cast()),
                        _mm512_loadu_si512(here.sub(2).cast()),
                        _mm512_loadu_si512(here.sub(3).cast())
                    );
                }
            }
            at += 256;
        }
        while at + 64 <= len {
            let here = start.add(at);
            block!(
                _mm512_loadu_si512(here.cast()),
                _mm512_loadu_si512(here.sub(1).cast()),
                _mm512_loadu_si512(here.sub(2).cast()),
                _mm512_loadu_si512(here.sub(3).cast())
            );
            at += 64;
        }
        if at < len {
            // The last, padded with zeros like a short input.
            let rest = len - at;
            let here = start.add(at);
            block!(
                _mm512_maskz_loadu_epi8(first(rest), here.cast()),
                _mm512_maskz_loadu_epi8(first(rest + 1), here.sub(1).cast()),
                _mm512_maskz_loadu_epi8(first(rest + 2), here.sub(2).cast()),
                _mm512_maskz_loadu_epi8(first(rest + 3), here.sub(3).cast())
            );
        }
        // A block that ends inside a character, with nothing after it
        // (padding, if any, has already failed it as too short).
        error = _mm512_or_si512(error, unfinished);
        _mm512_test_epi8_mask(error, error) == 0
    }
}
