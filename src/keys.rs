//! Masking keys and handshake nonces for clients: SipHash over a counter,
//! keyed with randomness, so the keys seen on the wire do not reveal the next
//! ones (RFC 6455 §10.3).

/// A stream of unpredictable values.
#[derive(Clone, Debug)]
pub(crate) struct KeyStream {
    keys: (u64, u64),
    /// Even: the next key needs a fresh hash. Odd: `spare` holds it.
    counter: u64,
    spare: u32,
}

impl KeyStream {
    /// Seeded for tests (`Config::mask_seed`), or from the OS; `None` when
    /// no seed was given and there is no OS randomness (`no_std`).
    pub(crate) fn new(seed: Option<u64>) -> Option<KeyStream> {
        let keys = match seed {
            Some(seed) => (seed, seed.rotate_left(32) ^ 0x9E37_79B9_7F4A_7C15),
            None => os_random_keys()?,
        };
        Some(KeyStream {
            keys,
            counter: 0,
            spare: 0,
        })
    }

    fn hash(&self, input: u64) -> u64 {
        use core::hash::Hasher as _;
        #[allow(deprecated)] // SipHasher is the PRF we want; core has no other keyed hash.
        let mut hasher = core::hash::SipHasher::new_with_keys(self.keys.0, self.keys.1);
        hasher.write_u64(input);
        hasher.finish()
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        // Skip a pending spare half: every hash input is used once.
        self.counter = (self.counter + 1) & !1;
        let value = self.hash(self.counter);
        self.counter += 2;
        value
    }

    /// One 64-bit hash makes two masking keys.
    pub(crate) fn mask_key(&mut self) -> [u8; 4] {
        if self.counter & 1 == 1 {
            self.counter += 1;
            return self.spare.to_le_bytes();
        }
        let value = self.hash(self.counter);
        self.counter += 1;
        self.spare = (value >> 32) as u32;
        (value as u32).to_le_bytes()
    }

    /// A `Sec-WebSocket-Key`: 16 unpredictable bytes in base64.
    pub(crate) fn handshake_key(&mut self) -> alloc::string::String {
        use base64::Engine as _;
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        nonce[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        base64::engine::general_purpose::STANDARD.encode(nonce)
    }
}

#[cfg(feature = "std")]
fn os_random_keys() -> Option<(u64, u64)> {
    use std::hash::BuildHasher as _;
    // RandomState is seeded from the OS; its hashes are unpredictable 64-bit values.
    let state = std::collections::hash_map::RandomState::new();
    Some((state.hash_one(0x5753_u64), state.hash_one(0x4d41_u64)))
}

// Not mutated: compiled only without `std`, and every test build has it.
#[cfg(not(feature = "std"))]
#[cfg_attr(mutants, mutants::skip)]
fn os_random_keys() -> Option<(u64, u64)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    /// Each hash input is used once: a hash makes two masking keys (low
    /// half first), and a 64-bit value skips a pending half.
    #[test]
    fn keys_come_from_each_hash_once_in_order() {
        let mut keys = KeyStream::new(Some(42)).unwrap();
        let hashes: [u64; 6] = core::array::from_fn(|i| keys.hash(2 * i as u64));
        for (i, a) in hashes.iter().enumerate() {
            assert!(hashes[i + 1..].iter().all(|b| b != a), "{hashes:x?}");
        }
        let low = |h: u64| (h as u32).to_le_bytes();
        let high = |h: u64| ((h >> 32) as u32).to_le_bytes();
        assert_eq!(keys.mask_key(), low(hashes[0]));
        assert_eq!(keys.mask_key(), high(hashes[0]));
        assert_eq!(keys.mask_key(), low(hashes[1]));
        assert_eq!(keys.next_u64(), hashes[2]);
        assert_eq!(keys.next_u64(), hashes[3]);
        assert_eq!(keys.mask_key(), low(hashes[4]));
        assert_eq!(keys.mask_key(), high(hashes[4]));
        let nonce = base64::engine::general_purpose::STANDARD
            .decode(keys.handshake_key())
            .unwrap();
        let mut expected = hashes[5].to_le_bytes().to_vec();
        expected.extend_from_slice(&keys.hash(12).to_le_bytes());
        assert_eq!(nonce, expected);
    }

    #[test]
    fn the_seed_keys_the_hash() {
        let one = KeyStream::new(Some(1)).unwrap();
        let two = KeyStream::new(Some(2)).unwrap();
        assert_ne!(one.hash(0), two.hash(0));
        assert_eq!(one.hash(0), KeyStream::new(Some(1)).unwrap().hash(0));
    }

    #[cfg(feature = "std")]
    #[test]
    fn without_a_seed_every_stream_is_keyed_afresh() {
        assert_ne!(os_random_keys(), os_random_keys());
        let a = KeyStream::new(None).unwrap();
        let b = KeyStream::new(None).unwrap();
        assert_ne!(a.hash(0), b.hash(0));
    }
}
