//! Incremental, fail-fast UTF-8 validation.
//!
//! Text arrives in arbitrary pieces: split across reads, across frames, even in
//! the middle of a code point. The validator keeps the (at most three) bytes of
//! an unfinished code point between calls and rejects a byte the moment no
//! continuation could make it valid, which is what RFC 6455 §8.1 and the
//! Autobahn 6.4.* cases ask for.

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86;

/// `bytes` as `&str` if they are UTF-8: the check every text the
/// connection receives or sends goes through. AVX-512 (with BW and VBMI)
/// where the CPU has it, else simdutf8.
///
/// ```
/// use wsmachine::utf8::validate;
/// assert_eq!(validate("Grüße, 世界".as_bytes()), Ok("Grüße, 世界"));
/// assert!(validate(b"\xED\xA0\x80").is_err()); // a surrogate
/// ```
#[inline]
pub fn validate(bytes: &[u8]) -> Result<&str, InvalidUtf8> {
    #[cfg(target_arch = "x86_64")]
    if let Some(verdict) = x86::validate(bytes) {
        return verdict;
    }
    validate_simdutf8(bytes)
}

fn validate_simdutf8(bytes: &[u8]) -> Result<&str, InvalidUtf8> {
    simdutf8::basic::from_utf8(bytes).map_err(|_| InvalidUtf8)
}

/// The validation passes behind [`validate`], by name, so tests and
/// benches can hold each one to `core::str::from_utf8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Utf8Pass {
    /// simdutf8's (AVX2, SSE4.2, NEON or scalar, as the CPU allows).
    Simdutf8,
    /// Explicit AVX-512 F + BW + VBMI (x86_64 CPUs that have them only).
    Avx512,
}

impl Utf8Pass {
    /// The passes this CPU can run.
    ///
    /// ```
    /// use wsmachine::utf8::Utf8Pass;
    /// for pass in Utf8Pass::available() {
    ///     assert_eq!(pass.validate("zoë".as_bytes()), Ok("zoë"));
    ///     assert!(pass.validate(b"\xC0\xAF").is_err()); // an overlong '/'
    /// }
    /// ```
    pub fn available() -> alloc::vec::Vec<Utf8Pass> {
        #[allow(unused_mut)] // pushed to on x86_64 only
        let mut all = alloc::vec![Utf8Pass::Simdutf8];
        #[cfg(target_arch = "x86_64")]
        if x86::available() {
            all.push(Utf8Pass::Avx512);
        }
        all
    }

    /// Validates with this pass; one the CPU lacks falls back to simdutf8.
    pub fn validate(self, bytes: &[u8]) -> Result<&str, InvalidUtf8> {
        // Equivalent mutant: the Avx512 arm deleted. simdutf8 then gives
        // the same verdicts; only the time differs. (.cargo/mutants.toml
        // excludes it.)
        match self {
            #[cfg(target_arch = "x86_64")]
            Utf8Pass::Avx512 => x86::validate(bytes).unwrap_or_else(|| validate_simdutf8(bytes)),
            _ => validate_simdutf8(bytes),
        }
    }
}

/// Remembers an unfinished code point between calls to [`feed`](Self::feed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    carry: [u8; 4],
    carry_len: u8,
}

/// The input is not UTF-8 and no later bytes can fix it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidUtf8;

/// Bytes a code point with this leading byte needs; 0 for a non-leading byte.
fn sequence_width(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

/// Length of the bytes at the end of `input` that start a character too
/// long to fit: from its leading byte, if that is among the last three.
/// Zero when the input ends on a complete character (or the end is not
/// UTF-8 at all; the full check rejects it then).
fn unfinished_suffix(input: &[u8]) -> usize {
    let last = &input[input.len().saturating_sub(3)..];
    for (from_end, &byte) in last.iter().rev().enumerate() {
        if byte & 0xC0 != 0x80 {
            let present = from_end + 1;
            return if sequence_width(byte) > present {
                present
            } else {
                0
            };
        }
    }
    0
}

/// What std/simdutf8 say about a slice: everything valid, valid except for an
/// unfinished tail of `n` bytes, or invalid for good.
enum Verdict {
    Valid,
    IncompleteTail(usize),
    Invalid,
}

fn check(bytes: &[u8]) -> Verdict {
    // `basic` is the fastest yes/no; only a failure pays for `compat`,
    // which says where and whether more bytes could fix it.
    if validate(bytes).is_ok() {
        return Verdict::Valid;
    }
    match simdutf8::compat::from_utf8(bytes) {
        Ok(_) => Verdict::Valid,
        Err(e) if e.error_len().is_none() => Verdict::IncompleteTail(bytes.len() - e.valid_up_to()),
        Err(_) => Verdict::Invalid,
    }
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub const fn new() -> Self {
        Utf8Validator {
            carry: [0; 4],
            carry_len: 0,
        }
    }

    /// Validates the next piece of text.
    ///
    /// ```
    /// use wsmachine::utf8::Utf8Validator;
    /// let euro = "€".as_bytes(); // e2 82 ac
    /// let mut v = Utf8Validator::new();
    /// v.feed(&euro[..1]).unwrap();
    /// assert_eq!(v.incomplete_len(), 1);
    /// v.feed(&euro[1..]).unwrap();
    /// assert!(v.is_complete());
    /// // 0xC0 can never start a valid sequence: rejected at once.
    /// assert!(Utf8Validator::new().feed(&[b'a', 0xC0]).is_err());
    /// ```
    pub fn feed(&mut self, input: &[u8]) -> Result<(), InvalidUtf8> {
        self.feed_with(input, |_| {})
    }

    /// Validates the next piece of text and appends what it completes to
    /// `out`; an unfinished character at its end is kept until the next
    /// piece. The check that validates a piece is the one that yields its
    /// `&str`, so text reassembled this way is looked at once.
    ///
    /// ```
    /// use wsmachine::utf8::Utf8Validator;
    /// let mut v = Utf8Validator::new();
    /// let mut text = String::new();
    /// let bytes = "price: 12€".as_bytes();
    /// v.feed_into(&bytes[..9], &mut text).unwrap(); // ends inside '€'
    /// assert_eq!(text, "price: 12");
    /// v.feed_into(&bytes[9..], &mut text).unwrap();
    /// assert_eq!(text, "price: 12€");
    /// assert!(v.is_complete());
    /// ```
    pub fn feed_into(
        &mut self,
        input: &[u8],
        out: &mut alloc::string::String,
    ) -> Result<(), InvalidUtf8> {
        self.feed_with(input, |text| out.push_str(text))
    }

    fn feed_with(
        &mut self,
        mut input: &[u8],
        mut emit: impl FnMut(&str),
    ) -> Result<(), InvalidUtf8> {
        if self.carry_len > 0 {
            let width = sequence_width(self.carry[0]);
            while (self.carry_len as usize) < width {
                let Some((&byte, rest)) = input.split_first() else {
                    return Ok(());
                };
                input = rest;
                self.carry[self.carry_len as usize] = byte;
                self.carry_len += 1;
                match check(&self.carry[..self.carry_len as usize]) {
                    Verdict::Invalid => return Err(InvalidUtf8),
                    Verdict::Valid | Verdict::IncompleteTail(_) => {}
                }
            }
            let character = core::str::from_utf8(&self.carry[..width]).map_err(|_| InvalidUtf8)?;
            emit(character);
            self.carry_len = 0;
        }
        // A piece cut at an arbitrary point often ends inside a character.
        // Set those bytes apart first, so the bulk gets the fast yes/no check
        // once instead of failing it and paying for a second, slower look.
        let (body, tail) = input.split_at(input.len() - unfinished_suffix(input));
        emit(validate(body)?);
        match check(tail) {
            Verdict::Valid => Ok(()),
            Verdict::Invalid => Err(InvalidUtf8),
            Verdict::IncompleteTail(n) => {
                self.carry[..n].copy_from_slice(&tail[tail.len() - n..]);
                self.carry_len = n as u8;
                Ok(())
            }
        }
    }

    /// Bytes at the end of the input so far that start a code point not yet finished.
    pub fn incomplete_len(&self) -> usize {
        self.carry_len as usize
    }

    /// True when the input so far ends on a code point boundary.
    pub fn is_complete(&self) -> bool {
        self.carry_len == 0
    }

    /// Forgets all state, ready for the next message.
    pub fn reset(&mut self) {
        self.carry_len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_width_is_the_length_its_lead_byte_announces() {
        for (text, width) in [("a", 1), ("\u{7f}", 1), ("é", 2), ("€", 3), ("😀", 4)] {
            assert_eq!(sequence_width(text.as_bytes()[0]), width, "{text:?}");
        }
        // A continuation byte and bytes no code point starts with.
        for byte in [0x80, 0xBF, 0xC0, 0xC1, 0xF5, 0xFF] {
            assert_eq!(sequence_width(byte), 0, "{byte:#x}");
        }
    }

    #[test]
    fn check_counts_the_bytes_of_an_unfinished_tail() {
        let euro = "€".as_bytes();
        let mut text = b"abc".to_vec();
        text.extend_from_slice(&euro[..2]);
        assert!(matches!(check(&text), Verdict::IncompleteTail(2)));
        assert!(matches!(check(&euro[..1]), Verdict::IncompleteTail(1)));
        assert!(matches!(check("abc€".as_bytes()), Verdict::Valid));
        assert!(matches!(check(b"abc\xC0"), Verdict::Invalid));
    }
}
