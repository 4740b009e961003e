//! Every UTF-8 validation pass against `core::str::from_utf8`: every pair
//! of bytes, every lead with every second byte and the boundary values of a
//! third (a continuation first is the pairs' case), every 4-byte lead with boundary values after it, each placed
//! where the vector passes change blocks, and random text with random
//! damage at every alignment.

use proptest::prelude::*;
use wsmachine::utf8::{validate, Utf8Pass, Utf8Validator};

/// The values where some rule of UTF-8 changes (ASCII, continuation
/// ranges, leads, bytes never valid).
const EDGES: [u8; 17] = [
    0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4,
    0xF5,
];

/// Offsets around the ends of the 64-byte blocks the vector pass reads
/// (after the first, it reads 256 bytes at a time while it can: from 64 to
/// 320, then 320 to 576 in a buffer that long).
const PLACES: [usize; 6] = [0, 61, 62, 63, 318, 319];

/// `bytes` at `at` in ASCII filler, cut right after them and with filler
/// after them, checked with every pass.
fn check_placed(bytes: &[u8], at: usize) {
    let mut buffer = vec![b'x'; at + bytes.len() + 9];
    buffer[at..at + bytes.len()].copy_from_slice(bytes);
    for end in [at + bytes.len(), buffer.len()] {
        check(&buffer[..end]);
    }
}

fn check(input: &[u8]) {
    let expected = core::str::from_utf8(input).is_ok();
    for pass in Utf8Pass::available() {
        let got = pass.validate(input);
        assert_eq!(got.is_ok(), expected, "{pass:?} on {input:02x?}");
        if let Ok(text) = got {
            assert_eq!(text.as_bytes(), input);
        }
    }
}

#[test]
fn the_avx512_pass_runs_where_the_cpu_has_it() {
    let has = cfg!(target_arch = "x86_64") && {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512bw")
                && std::is_x86_feature_detected!("avx512vbmi")
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    };
    assert_eq!(Utf8Pass::available().contains(&Utf8Pass::Avx512), has);
    eprintln!("UTF-8 passes checked here: {:?}", Utf8Pass::available());
}

#[test]
fn every_pair_of_bytes_near_block_edges() {
    for first in 0..=255u8 {
        for second in 0..=255u8 {
            for at in [0, 62, 63, 127, 319] {
                check_placed(&[first, second], at);
            }
        }
    }
}

#[test]
fn every_lead_then_every_byte_then_edge_values() {
    for first in 0xC0..=0xFFu8 {
        for second in 0..=255u8 {
            for third in EDGES {
                for at in [61, 62, 318] {
                    check_placed(&[first, second, third], at);
                }
            }
        }
    }
}

#[test]
fn four_byte_leads_then_edge_values() {
    for first in 0xF0..=0xFFu8 {
        for second in EDGES {
            for third in EDGES {
                for fourth in EDGES {
                    for at in PLACES {
                        check_placed(&[first, second, third, fourth], at);
                    }
                }
            }
        }
    }
}

/// Mostly multi-byte text, so most blocks take the full check.
fn sample() -> Vec<u8> {
    "Grüße, 世界! Ünïcödé 😀 text; ascii runs of some length, then more. "
        .repeat(40)
        .into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_text_with_random_damage(
        start in 0usize..300,
        len in 0usize..700,
        damage in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
    ) {
        let text = sample();
        let start = start.min(text.len());
        let end = (start + len).min(text.len());
        let mut input = text[start..end].to_vec();
        for (at, byte) in damage {
            if !input.is_empty() {
                let at = at % input.len();
                input[at] = byte;
            }
        }
        check(&input);
        prop_assert_eq!(validate(&input).is_ok(), core::str::from_utf8(&input).is_ok());
    }

    /// The incremental validator, fed in pieces cut anywhere, reaches the
    /// verdict `from_utf8` reaches on the whole.
    #[test]
    fn pieces_reach_the_verdict_of_the_whole(
        start in 0usize..300,
        len in 0usize..700,
        damage in proptest::option::of((any::<usize>(), any::<u8>())),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let text = sample();
        let start = start.min(text.len());
        let end = (start + len).min(text.len());
        let mut input = text[start..end].to_vec();
        if let (Some((at, byte)), false) = (damage, input.is_empty()) {
            let at = at % input.len();
            input[at] = byte;
        }
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut validator = Utf8Validator::new();
        let mut from = 0;
        let mut ok = true;
        for cut in cuts.into_iter().chain([input.len()]) {
            if validator.feed(&input[from..cut]).is_err() {
                ok = false;
                break;
            }
            from = cut;
        }
        let whole = core::str::from_utf8(&input).is_ok();
        prop_assert_eq!(ok && validator.is_complete(), whole);
    }
}
