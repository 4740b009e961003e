//! Unmasking throughput (RFC 6455 §5.3), in place, one criterion group per
//! payload size so every line of a group can be compared with the others.
//!
//! How the comparison is made fair:
//! - Every contender XORs the same heap buffer in place with the same key,
//!   once per iteration (masking is its own inverse, so the cost does not
//!   depend on how many times the buffer was masked before). The buffer comes
//!   straight from the allocator, i.e. it is 16-byte aligned; each
//!   implementation handles unaligned heads itself.
//! - `wsmachine/apply_mask` is the runtime-dispatched path the connection uses;
//!   `wsmachine/<impl>` pins each `MaskImpl` this CPU can run.
//! - `fastwebsockets/unmask` is `fastwebsockets::unmask`, its public function.
//! - tungstenite: its `apply_mask` lives in the private module
//!   `protocol::frame::mask` and is not re-exported, so it cannot be called.
//!   The in-place algorithm is the same 32-bit-word loop that fastwebsockets
//!   copied from it (fastwebsockets' `mask.rs` says so and links to it; the two
//!   functions are identical), so the fastwebsockets line stands for both.
//!   tungstenite's public masking path (masking while encoding a client frame)
//!   is measured in `benches/encode.rs`.
//! - `memcpy` copies a buffer of the same size into another one: the "limit
//!   line" of a memory-bound pass (it reads and writes every byte once, as
//!   unmasking does).

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use std::hint::black_box;
use wsmachine::mask::{apply_mask, MaskImpl};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

const SIZES: [(usize, &str); 6] = [
    (16, "16B"),
    (125, "125B"),
    (1024, "1KiB"),
    (16 * 1024, "16KiB"),
    (1 << 20, "1MiB"),
    (64 << 20, "64MiB"),
];

fn unmask(c: &mut Criterion) {
    for (size, label) in SIZES {
        let mut group = c.benchmark_group(format!("unmask/{label}"));
        group.throughput(Throughput::Bytes(size as u64));
        if size >= 64 << 20 {
            // ~3-25 ms per iteration: few flat samples keep the run short.
            group.sample_size(10).sampling_mode(SamplingMode::Flat);
        } else if size >= 1 << 20 {
            group.sample_size(30);
        }
        let mut data: Vec<u8> = (0..size).map(|i| i as u8).collect();
        check_agreement(&data);

        group.bench_function("wsmachine/apply_mask", |b| {
            b.iter(|| apply_mask(black_box(&mut data), black_box(KEY), 0))
        });
        for imp in MaskImpl::available() {
            group.bench_function(BenchmarkId::new("wsmachine", format!("{imp:?}")), |b| {
                b.iter(|| imp.apply(black_box(&mut data), black_box(KEY), 0))
            });
        }
        group.bench_function("fastwebsockets/unmask", |b| {
            b.iter(|| fastwebsockets::unmask(black_box(&mut data), black_box(KEY)))
        });
        let source = data.clone();
        group.bench_function("memcpy", |b| {
            b.iter(|| data.copy_from_slice(black_box(&source)))
        });
        group.finish();
    }
}

/// Every contender must produce the scalar reference's bytes.
fn check_agreement(data: &[u8]) {
    let mut expected = data.to_vec();
    wsmachine::mask::apply_mask_scalar(&mut expected, KEY, 0);
    let mut got = data.to_vec();
    apply_mask(&mut got, KEY, 0);
    assert!(got == expected, "apply_mask disagrees");
    for imp in MaskImpl::available() {
        let mut got = data.to_vec();
        imp.apply(&mut got, KEY, 0);
        assert!(got == expected, "{imp:?} disagrees");
    }
    let mut got = data.to_vec();
    fastwebsockets::unmask(&mut got, KEY);
    assert!(got == expected, "fastwebsockets::unmask disagrees");
}

criterion_group!(benches, unmask);
criterion_main!(benches);
