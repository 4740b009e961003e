#![no_main]
//! Frame header decoding: never reads past what it says it consumed, and what
//! it decodes encodes back to the same header (byte-identical when minimal).

use libfuzzer_sys::fuzz_target;
use wsmachine::frame::{FrameHeader, MAX_HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    for lenient in [false, true] {
        match FrameHeader::decode(data, lenient) {
            Ok(Some((header, used))) => {
                assert!(used <= data.len() && used <= MAX_HEADER_LEN);
                // Only the first `used` bytes matter: decoding just them agrees.
                assert_eq!(FrameHeader::decode(&data[..used], lenient), Ok(Some((header, used))));
                let mut buf = [0u8; MAX_HEADER_LEN];
                let n = header.encode(&mut buf);
                assert_eq!(n, header.encoded_len());
                assert_eq!(FrameHeader::decode(&buf[..n], false), Ok(Some((header, n))));
                if !lenient {
                    assert_eq!(&buf[..n], &data[..used], "strict decode accepts only minimal encodings");
                }
            }
            Ok(None) => {
                // Partial: any prefix is partial too.
                for cut in 0..data.len() {
                    assert!(matches!(FrameHeader::decode(&data[..cut], lenient), Ok(None) | Err(_)));
                }
            }
            Err(_) => {}
        }
    }
});
