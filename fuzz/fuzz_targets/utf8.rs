#![no_main]
//! Every UTF-8 validation pass, and the incremental validator fed in two
//! pieces, agree with `core::str::from_utf8` on any bytes at any alignment.

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsmachine::utf8::{validate, Utf8Pass, Utf8Validator};

#[derive(Arbitrary, Debug)]
struct Input {
    offset: u8,
    cut: u16,
    data: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let start = (input.offset as usize % 64).min(input.data.len());
    let bytes = &input.data[start..];
    let expected = core::str::from_utf8(bytes).is_ok();
    for pass in Utf8Pass::available() {
        match pass.validate(bytes) {
            Ok(text) => {
                assert!(expected, "{pass:?} accepted what from_utf8 refuses");
                assert_eq!(text.as_bytes(), bytes);
            }
            Err(_) => assert!(!expected, "{pass:?} refused what from_utf8 accepts"),
        }
    }
    assert_eq!(validate(bytes).is_ok(), expected);
    let cut = input.cut as usize % (bytes.len() + 1);
    let mut validator = Utf8Validator::new();
    let pieces = validator
        .feed(&bytes[..cut])
        .and_then(|()| validator.feed(&bytes[cut..]))
        .is_ok();
    assert_eq!(pieces && validator.is_complete(), expected);
});
