//! Frame header decoding and encoding (RFC 6455 §5.2).
//!
//! This layer knows the wire format and the rules that need no connection
//! state (reserved opcodes, control-frame limits, length encoding). Rules that
//! depend on the role or on the message in progress live in `connection`.

use crate::error::Error;

/// Longest possible header: 2 fixed bytes, 8 length bytes, 4 mask bytes.
pub const MAX_HEADER_LEN: usize = 14;

/// Largest payload a control frame may carry (§5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The frame opcodes RFC 6455 defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: a further fragment of the message in progress.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: connection close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// Decodes the low nibble of the first header byte; `None` for the
    /// reserved values 0x3–0x7 and 0xB–0xF.
    pub fn from_bits(bits: u8) -> Option<OpCode> {
        Some(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// The opcode's 4-bit wire value.
    pub fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Close, Ping and Pong are control frames (§5.5).
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// RSV1, the bit permessage-deflate uses to mark a compressed message.
pub const RSV1: u8 = 0b100;

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this frame ends its message.
    pub fin: bool,
    /// RSV1..RSV3 as the low three bits (RSV1 = `0b100`).
    pub rsv: u8,
    /// The frame's opcode.
    pub opcode: OpCode,
    /// The masking key, present on every client-to-server frame.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes, as declared on the wire.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Number of bytes [`encode`](Self::encode) writes for this header.
    pub fn encoded_len(&self) -> usize {
        let length_bytes = match self.payload_len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        };
        2 + length_bytes + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Writes the header with the minimal length encoding and returns its size.
    ///
    /// ```
    /// use wsmachine::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
    /// let header = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Text, mask: None, payload_len: 5 };
    /// let mut buf = [0u8; MAX_HEADER_LEN];
    /// let n = header.encode(&mut buf);
    /// assert_eq!(&buf[..n], &[0x81, 0x05]);
    /// ```
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        // Equivalent mutant: any `|` in this function made `^`. FIN (bit 7),
        // RSV (bits 6-4) and the opcode (bits 3-0) share no bit, nor do the
        // mask bit (bit 7) and a 7-bit length, so OR and XOR make the same
        // byte. (.cargo/mutants.toml excludes them.)
        out[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0b111) << 4) | self.opcode.bits();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut n = 2;
        match self.payload_len {
            len @ 0..=125 => out[1] = mask_bit | len as u8,
            len @ 126..=0xFFFF => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                n = 4;
            }
            len => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&len.to_be_bytes());
                n = 10;
            }
        }
        if let Some(key) = self.mask {
            out[n..n + 4].copy_from_slice(&key);
            n += 4;
        }
        n
    }

    /// Decodes a header from the start of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` holds only part of a header (partial input
    /// is a status, not an error), and `Ok(Some((header, consumed)))` otherwise.
    /// Errors are the rules a header alone can break: reserved opcodes, control
    /// frames that are fragmented or longer than 125 bytes, a 64-bit length with
    /// its top bit set, and (unless `allow_non_minimal_length`) a length not in
    /// its shortest form.
    ///
    /// ```
    /// use wsmachine::frame::{FrameHeader, OpCode};
    /// let (header, used) = FrameHeader::decode(&[0x89, 0x00], false).unwrap().unwrap();
    /// assert_eq!((header.opcode, header.payload_len, used), (OpCode::Ping, 0, 2));
    /// assert_eq!(FrameHeader::decode(&[0x82, 0x7e, 0x01], false).unwrap(), None);
    /// ```
    pub fn decode(
        buf: &[u8],
        allow_non_minimal_length: bool,
    ) -> Result<Option<(FrameHeader, usize)>, Error> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let opcode = OpCode::from_bits(first & 0x0F).ok_or(Error::ReservedOpcode)?;
        let fin = first & 0x80 != 0;
        if opcode.is_control() && !fin {
            return Err(Error::FragmentedControlFrame);
        }
        let Some(&second) = buf.get(1) else {
            return Ok(None);
        };
        let masked = second & 0x80 != 0;
        let short_len = second & 0x7F;
        let (payload_len, mut used) = match short_len {
            126 => {
                let Some(bytes) = buf.get(2..4) else {
                    return Ok(None);
                };
                let len = u16::from_be_bytes([bytes[0], bytes[1]]) as u64;
                if len < 126 && !allow_non_minimal_length {
                    return Err(Error::NonMinimalLength);
                }
                (len, 4)
            }
            127 => {
                let Some(bytes) = buf.get(2..10) else {
                    return Ok(None);
                };
                let mut raw = [0u8; 8];
                raw.copy_from_slice(bytes);
                let len = u64::from_be_bytes(raw);
                if len >> 63 != 0 {
                    return Err(Error::LengthTooLarge);
                }
                if len <= 0xFFFF && !allow_non_minimal_length {
                    return Err(Error::NonMinimalLength);
                }
                (len, 10)
            }
            len => (len as u64, 2),
        };
        if opcode.is_control() && payload_len > MAX_CONTROL_PAYLOAD as u64 {
            return Err(Error::ControlFrameTooLong);
        }
        let mask = if masked {
            let Some(bytes) = buf.get(used..used + 4) else {
                return Ok(None);
            };
            used += 4;
            Some([bytes[0], bytes[1], bytes[2], bytes[3]])
        } else {
            None
        };
        let header = FrameHeader {
            fin,
            rsv: (first >> 4) & 0b111,
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, used)))
    }
}
