//! Every masking implementation against the scalar reference of RFC 6455 §5.3,
//! for all short lengths, every phase and alignment, and random long inputs.

mod testkit;

use proptest::prelude::*;
use wsmachine::mask::{apply_mask, apply_mask_scalar, copy_masked, extend_masked, MaskImpl};

fn reference(data: &[u8], key: [u8; 4], phase: usize) -> Vec<u8> {
    let mut out = data.to_vec();
    apply_mask_scalar(&mut out, key, phase);
    out
}

/// Masks `source[start..start + len]` with every implementation and with
/// `apply_mask`, and compares each whole buffer (so a write outside the range
/// shows too) with the scalar reference.
fn check_all(source: &[u8], key: [u8; 4], len: usize, start: usize, phase: usize) {
    let mut expected = source.to_vec();
    apply_mask_scalar(&mut expected[start..start + len], key, phase);
    for imp in MaskImpl::available() {
        let mut got = source.to_vec();
        imp.apply(&mut got[start..start + len], key, phase);
        assert!(
            got == expected,
            "{imp:?} len {len} start {start} phase {phase}"
        );
    }
    let mut got = source.to_vec();
    apply_mask(&mut got[start..start + len], key, phase);
    assert!(
        got == expected,
        "apply_mask len {len} start {start} phase {phase}"
    );
}

/// Copies `source[start..start + len]` masked into a destination at offset
/// `at` with every implementation's fused copy, with `copy_masked` and with
/// `extend_masked` and `extend_masked_bytes` (onto `at` bytes already in
/// the buffer), and compares each
/// whole destination (so a write outside the range shows too).
fn check_copies(source: &[u8], key: [u8; 4], len: usize, start: usize, at: usize, phase: usize) {
    let src = &source[start..start + len];
    let filler = vec![0xEEu8; at + len + 8];
    let mut expected = filler.clone();
    expected[at..at + len].copy_from_slice(src);
    apply_mask_scalar(&mut expected[at..at + len], key, phase);
    for imp in MaskImpl::available() {
        let mut got = filler.clone();
        imp.copy(&mut got[at..at + len], src, key, phase);
        assert!(
            got == expected,
            "{imp:?} copy len {len} start {start} at {at} phase {phase}"
        );
    }
    let mut got = filler.clone();
    copy_masked(&mut got[at..at + len], src, key, phase);
    assert!(
        got == expected,
        "copy_masked len {len} start {start} at {at} phase {phase}"
    );
    let mut grown = filler[..at].to_vec();
    extend_masked(&mut grown, src, key, phase);
    assert!(
        grown == expected[..at + len],
        "extend_masked len {len} start {start} phase {phase}"
    );
    // The same onto a BytesMut, from empty and with spare room already
    // there (the receive buffer's two cases).
    for spare in [0, len + 64] {
        let mut grown = bytes::BytesMut::with_capacity(at + spare);
        grown.extend_from_slice(&filler[..at]);
        wsmachine::mask::extend_masked_bytes(&mut grown, src, key, phase);
        assert!(
            grown[..] == expected[..at + len],
            "extend_masked_bytes len {len} start {start} spare {spare} phase {phase}"
        );
    }
}

#[test]
fn every_fused_copy_matches_the_reference_for_all_lengths_phases_and_offsets() {
    let key = [0x5A, 0xC3, 0xF0, 0x0F];
    let source: Vec<u8> = (0..1400u32).map(|i| (i * 11 + 1) as u8).collect();
    let lengths = (0..=300).chain([511, 512, 513, 1000, 1024, 1031]);
    for len in lengths {
        for (start, at) in [(0, 0), (1, 3), (5, 0), (0, 7), (13, 17), (31, 33), (64, 1)] {
            for phase in 0..4 {
                check_copies(&source, key, len, start, at, phase);
            }
        }
    }
}

#[test]
fn every_impl_matches_the_reference_for_all_lengths_phases_and_offsets() {
    let key = [0xA5, 0x3C, 0x0F, 0xF0];
    let source: Vec<u8> = (0..400u32).map(|i| (i * 7 + 3) as u8).collect();
    for len in 0..=300 {
        for start in 0..33 {
            for phase in 0..4 {
                check_all(&source, key, len, start, phase);
            }
        }
    }
}

/// From 1 KiB on the vector passes align their body and mask a head of up to
/// one vector (64 bytes) on its own: every head (start offset) and every tail
/// (length) around there, and some lengths far past it.
#[test]
fn every_impl_matches_the_reference_on_aligned_passes() {
    let key = [0x12, 0x9E, 0x7B, 0xC4];
    let source: Vec<u8> = (0..5000u32).map(|i| (i * 13 + 5) as u8).collect();
    let lengths = (1000..=1100).chain([2047, 2048, 2049, 4095, 4096, 4097, 4931]);
    for len in lengths {
        for start in 0..65 {
            for phase in 0..4 {
                check_all(&source, key, len, start, phase);
            }
        }
    }
}

/// The bench and the tests run what `available` lists: it must list every
/// explicit pass this CPU can run.
#[test]
#[cfg(target_arch = "x86_64")]
fn available_lists_every_pass_this_cpu_has() {
    let all = MaskImpl::available();
    assert_eq!(
        all.contains(&MaskImpl::Avx2),
        std::is_x86_feature_detected!("avx2")
    );
    assert_eq!(
        all.contains(&MaskImpl::Avx512),
        std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx2")
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: testkit::case_count(256), ..ProptestConfig::default() })]

    #[test]
    fn fast_equals_scalar_on_random_input(
        data in proptest::collection::vec(any::<u8>(), 0..5000),
        key in any::<[u8; 4]>(),
        phase in 0usize..16,
        start in 0usize..64,
    ) {
        let start = start.min(data.len());
        let expected = reference(&data[start..], key, phase);
        for imp in MaskImpl::available() {
            let mut got = data.clone();
            imp.apply(&mut got[start..], key, phase);
            prop_assert_eq!(&got[start..], &expected[..], "{:?}", imp);
        }
    }

    #[test]
    fn masking_twice_is_identity(data in proptest::collection::vec(any::<u8>(), 0..3000), key in any::<[u8; 4]>(), phase in 0usize..8) {
        let mut twice = data.clone();
        apply_mask(&mut twice, key, phase);
        apply_mask(&mut twice, key, phase);
        prop_assert_eq!(twice, data);
    }

    #[test]
    fn masking_in_pieces_equals_masking_at_once(
        data in proptest::collection::vec(any::<u8>(), 0..3000),
        key in any::<[u8; 4]>(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let expected = reference(&data, key, 0);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
        points.push(0);
        points.push(data.len());
        points.sort_unstable();
        let mut got = data.clone();
        for pair in points.windows(2) {
            apply_mask(&mut got[pair[0]..pair[1]], key, pair[0]);
        }
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn fused_copy_and_mask_equals_copy_then_mask(data in proptest::collection::vec(any::<u8>(), 0..3000), key in any::<[u8; 4]>(), prefix in proptest::collection::vec(any::<u8>(), 0..40), phase in 0usize..8) {
        let mut out = prefix.clone();
        extend_masked(&mut out, &data, key, phase);
        let mut expected = prefix;
        expected.extend(reference(&data, key, phase));
        prop_assert_eq!(out, expected);
        let mut copied = vec![0u8; data.len()];
        copy_masked(&mut copied, &data, key, phase);
        prop_assert_eq!(copied, reference(&data, key, phase));
    }
}
