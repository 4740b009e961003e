//! Test helpers shared by the property, model, echo and allocation tests.
#![allow(dead_code)]

pub mod traffic;
pub mod wire;

use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence};
use std::fmt;
use wsmachine::{Accept, ClientRequest, Config, Connection, Event};

/// `n`, or `WSMACHINE_MAX_CASES` when that is smaller: the mutation runs
/// (`.cargo/mutants.toml`) cap every property so that testing one mutant
/// takes seconds. Plain `cargo test` runs the full count.
pub fn case_count(n: u32) -> u32 {
    std::env::var("WSMACHINE_MAX_CASES")
        .ok()
        .and_then(|cap| cap.parse().ok())
        .map_or(n, |cap: u32| n.min(cap))
}

/// `n` cases per property (see [`case_count`]); failing inputs are saved
/// (and replayed first) in `file`, under `proptest-regressions/`.
pub fn cases(n: u32, file: &'static str) -> ProptestConfig {
    ProptestConfig {
        cases: case_count(n),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(file))),
        ..ProptestConfig::default()
    }
}

/// SplitMix64: deterministic chunk sizes, masking keys and filler bytes.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A chunk size in `1..=max`.
    pub fn chunk(&mut self, max: usize) -> usize {
        1 + (self.next() % max.max(1) as u64) as usize
    }

    pub fn key(&mut self) -> [u8; 4] {
        let b = self.next().to_le_bytes();
        [b[0], b[1], b[2], b[3]]
    }
}

/// Bytes with a short `Debug`, so a failing 70 KiB case stays readable.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Blob(pub Vec<u8>);

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 48;
        let shown = &self.0[..self.0.len().min(SHOWN)];
        write!(f, "b\"{}\"", shown.escape_ascii())?;
        if self.0.len() > SHOWN {
            write!(f, "...({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

impl From<&[u8]> for Blob {
    fn from(bytes: &[u8]) -> Self {
        Blob(bytes.to_vec())
    }
}

/// `len` bytes of noise from `seed`.
pub fn filled(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    (0..len).map(|_| rng.next() as u8).collect()
}

/// `unit` repeated until the text is at least `min_len` bytes long.
pub fn repeat_to(unit: Vec<char>, min_len: usize) -> String {
    let unit: String = unit.into_iter().collect();
    let mut s = String::with_capacity(min_len + unit.len());
    while s.len() < min_len {
        s.push_str(&unit);
    }
    s
}

/// Moves everything `from` has queued into `to`, a `pending_output()`
/// piece at a time; returns the bytes.
pub fn pump(from: &mut Connection, to: &mut Connection) -> Vec<u8> {
    let mut bytes = Vec::new();
    loop {
        let piece = from.pending_output();
        if piece.is_empty() {
            return bytes;
        }
        to.receive(piece);
        bytes.extend_from_slice(piece);
        let n = piece.len();
        from.consume_output(n);
    }
}

/// A client and a server that went through the opening handshake in
/// memory, each with its configuration (what they offer and accept).
pub fn handshake(client: Config, server: Config) -> (Connection, Connection) {
    let mut client = Connection::client(ClientRequest::new("a", "/"), client).unwrap();
    let mut server = Connection::server(server);
    pump(&mut client, &mut server);
    assert!(matches!(
        server.next_event(),
        Some(Event::HandshakeRequest(_))
    ));
    server.accept(Accept::new()).unwrap();
    pump(&mut server, &mut client);
    assert!(matches!(client.next_event(), Some(Event::Connected(_))));
    (client, server)
}
