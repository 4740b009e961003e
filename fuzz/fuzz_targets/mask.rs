#![no_main]
//! Every masking implementation, in place and fused with a copy, equals the
//! scalar reference, for every length, phase, key and starting offset.

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsmachine::mask::{apply_mask, apply_mask_scalar, copy_masked, extend_masked, MaskImpl};

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
    // The fused copy-and-mask paths: from a source at `start`, into a Vec
    // that already holds `offset % 7` bytes and into a slice.
    let prefix = vec![0xA5; input.offset as usize % 7];
    let mut fused = prefix.clone();
    extend_masked(&mut fused, &input.data[start..], input.key, phase);
    assert_eq!(&fused[..prefix.len()], &prefix[..]);
    assert_eq!(&fused[prefix.len()..], &expected[start..]);
    for imp in MaskImpl::available() {
        let mut copied = vec![0u8; input.data.len() - start];
        imp.copy(&mut copied, &input.data[start..], input.key, phase);
        assert_eq!(copied, expected[start..], "{imp:?} copy");
    }
    let mut copied = vec![0u8; input.data.len() - start];
    copy_masked(&mut copied, &input.data[start..], input.key, phase);
    assert_eq!(copied, expected[start..]);
});
