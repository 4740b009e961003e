#![no_main]
//! permessage-deflate on an open connection: arbitrary frames (RSV1 set or
//! not, payloads that are or are not valid deflate data) and operations.
//! Inflation stays within the limits; bad data fails with 1007, too much with
//! 1009; the harness's invariants hold after every step.

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsmachine::{DeflateConfig, Role};
use wsmachine_fuzz::{Harness, Op};

#[derive(Arbitrary, Debug)]
struct Input {
    client: bool,
    stream: bool,
    no_takeover: bool,
    window: u8,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let deflate = DeflateConfig {
        server_no_context_takeover: input.no_takeover,
        client_no_context_takeover: input.no_takeover,
        server_max_window_bits: 8 + input.window % 8,
        client_max_window_bits: 8 + input.window % 8,
        ..DeflateConfig::default()
    };
    let role = if input.client { Role::Client } else { Role::Server };
    let mut harness = Harness::compressed(role, input.stream, deflate);
    for op in input.ops.iter().take(64) {
        harness.apply(op);
    }
    harness.finish();
});
