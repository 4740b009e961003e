//! Frames encoded and parsed here, independently of the crate's `frame`
//! module, so the tests do not share its mistakes.

use super::Blob;

/// Encodes a frame with the minimal length form; masks it when `mask` is given.
pub fn encode_frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut out = vec![first];
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A frame parsed back from a machine's output: first header byte, mask
/// bit, unmasked payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireFrame {
    pub first: u8,
    pub masked: bool,
    pub payload: Blob,
}

impl WireFrame {
    pub fn opcode(&self) -> u8 {
        self.first & 0x0F
    }
}

/// Decodes a sequence of complete frames (the machine's own output).
pub fn parse_frames(bytes: &[u8]) -> Vec<WireFrame> {
    let (frames, rest) = parse_complete_frames(bytes);
    assert!(rest.is_empty(), "a truncated frame in the output: {rest:?}");
    frames
}

/// Decodes the complete frames at the start of `bytes`; returns them and
/// the bytes of an unfinished last frame.
pub fn parse_complete_frames(mut bytes: &[u8]) -> (Vec<WireFrame>, &[u8]) {
    let mut frames = Vec::new();
    while let Some(&[first, second]) = bytes.get(..2) {
        let (len, mut at) = match second & 0x7F {
            126 if bytes.len() >= 4 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 if bytes.len() >= 10 => (
                u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize,
                10,
            ),
            126 | 127 => break,
            n => (n as usize, 2),
        };
        let masked = second & 0x80 != 0;
        if bytes.len() < at + if masked { 4 } else { 0 } + len {
            break;
        }
        let key = masked.then(|| {
            let key: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
            at += 4;
            key
        });
        let mut payload = bytes[at..at + len].to_vec();
        if let Some(key) = key {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        frames.push(WireFrame {
            first,
            masked,
            payload: Blob(payload),
        });
        bytes = &bytes[at + len..];
    }
    (frames, bytes)
}
