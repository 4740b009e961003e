#![no_main]
//! Every masking implementation equals the scalar reference, for every
//! length, phase, key and starting offset.

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsmachine::mask::{apply_mask, apply_mask_scalar, extend_masked, MaskImpl};

#[derive(Arbitrary, Debug)]
struct Input {
    key: [u8; 4],
    phase: u8,
    offset: u8,
    data: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let start = (input.offset as usize).min(input.data.len());
    let phase = input.phase as usize;
    let mut expected = input.data.clone();
    apply_mask_scalar(&mut expected[start..], input.key, phase);
    for imp in MaskImpl::available() {
        let mut got = input.data.clone();
        imp.apply(&mut got[start..], input.key, phase);
        assert_eq!(got, expected, "{imp:?}");
    }
    let mut got = input.data.clone();
    apply_mask(&mut got[start..], input.key, phase);
    assert_eq!(got, expected);
    if phase % 4 == 0 {
        let mut fused = Vec::new();
        extend_masked(&mut fused, &input.data[start..], input.key);
        assert_eq!(fused, expected[start..]);
    }
});
