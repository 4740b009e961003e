//! The edges of the wire rules that the mutation pass (`cargo mutants`,
//! README "Reliability") found unchecked: a boundary, a bit or a public
//! helper that the other suites pass either way. Each test names what it
//! pins down.

use wsmachine::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use wsmachine::utf8::Utf8Validator;
use wsmachine::CloseCode;

/// Lengths at both ends of each of the three length forms (§5.2).
const LENGTHS: [u64; 9] = [
    0,
    1,
    125,
    126,
    127,
    0xFFFF,
    0x1_0000,
    u32::MAX as u64 + 1,
    (1 << 63) - 1,
];

fn encode(header: &FrameHeader) -> Vec<u8> {
    let mut buf = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut buf);
    buf[..n].to_vec()
}

/// `encoded_len` is the size `encode` writes: 2 bytes, plus 2 or 8 for the
/// 16- and 64-bit length forms, plus 4 for a masking key.
#[test]
fn encoded_len_is_what_encode_writes() {
    for payload_len in LENGTHS {
        for mask in [None, Some([0x37, 0xfa, 0x21, 0x3d])] {
            let header = FrameHeader {
                fin: true,
                rsv: 0,
                opcode: OpCode::Binary,
                mask,
                payload_len,
            };
            let length_bytes = match payload_len {
                0..=125 => 0,
                126..=0xFFFF => 2,
                _ => 8,
            };
            let expected = 2 + length_bytes + if mask.is_some() { 4 } else { 0 };
            let bytes = encode(&header);
            assert_eq!(bytes.len(), expected, "{header:?}");
            assert_eq!(header.encoded_len(), expected, "{header:?}");
            assert_eq!(
                FrameHeader::decode(&bytes, false),
                Ok(Some((header, expected)))
            );
        }
    }
}

/// FIN is bit 7 of the first byte, RSV1..RSV3 bits 6..4, the opcode bits
/// 3..0 (§5.2); bits of `rsv` above the three are not written.
#[test]
fn fin_and_every_rsv_bit_are_written_and_read_where_the_rfc_puts_them() {
    for fin in [false, true] {
        for rsv in 0..8u8 {
            let header = FrameHeader {
                fin,
                rsv,
                opcode: OpCode::Text,
                mask: None,
                payload_len: 3,
            };
            let bytes = encode(&header);
            assert_eq!(bytes, [(u8::from(fin) << 7) | (rsv << 4) | 0x1, 3]);
            assert_eq!(FrameHeader::decode(&bytes, false), Ok(Some((header, 2))));
        }
    }
    let header = FrameHeader {
        fin: true,
        rsv: 0b1101,
        opcode: OpCode::Binary,
        mask: None,
        payload_len: 0,
    };
    assert_eq!(encode(&header), [0x80 | 0b101 << 4 | 0x2, 0]);
}

#[test]
fn close_codes_convert_to_and_from_their_number() {
    for number in [0, 1000, 1001, 1011, 3000, 4999, u16::MAX] {
        assert_eq!(u16::from(CloseCode(number)), number);
        assert_eq!(CloseCode::from(number), CloseCode(number));
    }
    assert_eq!(u16::from(CloseCode::GOING_AWAY), 1001);
}

/// `reset` forgets an unfinished character: what follows starts afresh.
#[test]
fn utf8_validator_reset_forgets_an_unfinished_character() {
    let mut validator = Utf8Validator::new();
    validator.feed(&"€".as_bytes()[..2]).unwrap();
    assert_eq!(validator.incomplete_len(), 2);
    validator.reset();
    assert!(validator.is_complete());
    assert_eq!(validator.incomplete_len(), 0);
    // Without the reset, 'a' would be a broken continuation of the euro sign.
    validator.feed(b"a").unwrap();
    assert!(validator.is_complete());
}
