//! What the good clients send: every message carries the connection's id,
//! a sequence number, the time it was sent and a CRC-32 over all of it, so
//! that the receiver counts loss, duplication, reordering and corruption
//! instead of guessing.
//!
//! Layout (little-endian): `id: u32`, `seq: u64`, `sent: u64` (nanoseconds
//! since [`epoch`]), `len: u32`, `len` bytes of filler derived from
//! `(id, seq)`, then `crc32` of everything before it.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Bytes around the filler.
pub const OVERHEAD: usize = 4 + 8 + 8 + 4 + 4;

/// A fixed instant in this process that the send times count from.
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// Encodes message `seq` of connection `id` with `filler` bytes of payload.
pub fn encode(id: u32, seq: u64, filler: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(OVERHEAD + filler);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&now_ns().to_le_bytes());
    out.extend_from_slice(&(filler as u32).to_le_bytes());
    let mut x = (u64::from(id) << 32 ^ seq).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    out.extend((0..filler).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }));
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// What a received message says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub id: u32,
    pub seq: u64,
    /// Time from its sending until now.
    pub age: Duration,
}

/// Decodes a message; `None` if it is not one [`encode`] made, intact.
pub fn decode(bytes: &[u8]) -> Option<Stamp> {
    if bytes.len() < OVERHEAD {
        return None;
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32(body).to_le_bytes() != crc {
        return None;
    }
    let u32_at = |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().unwrap());
    if u32_at(20) as usize != bytes.len() - OVERHEAD {
        return None;
    }
    Some(Stamp {
        id: u32_at(0),
        seq: u64_at(4),
        age: Duration::from_nanos(now_ns().saturating_sub(u64_at(12))),
    })
}

/// CRC-32 (IEEE 802.3, reflected, as zlib and Ethernet compute it).
pub fn crc32(bytes: &[u8]) -> u32 {
    static TABLE: OnceLock<[u32; 256]> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = [0u32; 256];
        for (n, entry) in table.iter_mut().enumerate() {
            let mut c = n as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *entry = c;
        }
        table
    });
    !bytes.iter().fold(!0u32, |c, &b| {
        table[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn a_message_round_trips_and_any_flipped_bit_is_caught() {
        let message = encode(7, 42, 100);
        let stamp = decode(&message).unwrap();
        assert_eq!((stamp.id, stamp.seq), (7, 42));
        for at in 0..message.len() {
            let mut bad = message.clone();
            bad[at] ^= 0x10;
            assert_eq!(decode(&bad), None, "flip at {at}");
        }
        assert_eq!(decode(&message[..message.len() - 1]), None);
    }
}
