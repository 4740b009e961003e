#![no_main]
//! Structure-aware workloads against one client: feed peer bytes and frames,
//! send, close, drain output, advance time. See fuzz/src/lib.rs for the
//! invariants checked after every operation.

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsmachine::Role;
use wsmachine_fuzz::{Harness, Op};

#[derive(Arbitrary, Debug)]
struct Input {
    upgraded: bool,
    stream: bool,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let mut harness = if input.upgraded {
        Harness::upgraded(Role::Client, input.stream)
    } else {
        Harness::client(input.stream)
    };
    for op in input.ops.iter().take(64) {
        harness.apply(op);
    }
    harness.finish();
});
