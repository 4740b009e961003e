//! Every masking implementation against the scalar reference of RFC 6455 §5.3,
//! for all short lengths, every phase and alignment, and random long inputs.

use proptest::prelude::*;
use wsmachine::mask::{apply_mask, apply_mask_scalar, extend_masked, MaskImpl};

fn reference(data: &[u8], key: [u8; 4], phase: usize) -> Vec<u8> {
    let mut out = data.to_vec();
    apply_mask_scalar(&mut out, key, phase);
    out
}

#[test]
fn every_impl_matches_the_reference_for_all_lengths_phases_and_offsets() {
    let key = [0xA5, 0x3C, 0x0F, 0xF0];
    let source: Vec<u8> = (0..400u32).map(|i| (i * 7 + 3) as u8).collect();
    let impls = MaskImpl::available();
    for len in 0..=300 {
        for start in 0..33 {
            for phase in 0..4 {
                let mut expected = source.clone();
                apply_mask_scalar(&mut expected[start..start + len], key, phase);
                for imp in &impls {
                    let mut got = source.clone();
                    imp.apply(&mut got[start..start + len], key, phase);
                    assert_eq!(
                        got, expected,
                        "{imp:?} len {len} start {start} phase {phase}"
                    );
                }
                let mut got = source.clone();
                apply_mask(&mut got[start..start + len], key, phase);
                assert_eq!(
                    got, expected,
                    "apply_mask len {len} start {start} phase {phase}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

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
    fn fused_copy_and_mask_equals_copy_then_mask(data in proptest::collection::vec(any::<u8>(), 0..3000), key in any::<[u8; 4]>(), prefix in proptest::collection::vec(any::<u8>(), 0..40)) {
        let mut out = prefix.clone();
        extend_masked(&mut out, &data, key);
        let mut expected = prefix;
        expected.extend(reference(&data, key, 0));
        prop_assert_eq!(out, expected);
    }
}
