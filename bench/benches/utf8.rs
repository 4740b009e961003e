//! UTF-8 validation, the measurement behind the validator wsmachine uses:
//! `core::str::from_utf8` (std), `simdutf8` (basic and compat, the latter
//! reporting where an error is, which the fail-fast incremental validator
//! needs), each of wsmachine's passes (`Utf8Pass`: simdutf8's, and its
//! own AVX-512 one where the CPU has it), and the incremental
//! `Utf8Validator` fed in 4 KiB pieces (what a streaming receive does). Inputs: 16 B and 1 MiB of ASCII,
//! and 1 MiB of mixed text (1- to 4-byte characters).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use wsmachine::utf8::{Utf8Pass, Utf8Validator};

fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    let ascii = |n: usize| {
        "The quick brown fox jumps over the lazy dog. "
            .bytes()
            .cycle()
            .take(n)
            .collect::<Vec<u8>>()
    };
    let mut mixed = String::new();
    while mixed.len() < 1 << 20 {
        mixed.push_str("Grüße, 世界! Ünïcödé 😀 text; ");
    }
    vec![
        ("ascii_16B", ascii(16)),
        ("ascii_1MiB", ascii(1 << 20)),
        ("mixed_1MiB", mixed.into_bytes()),
    ]
}

fn utf8(c: &mut Criterion) {
    for (name, data) in inputs() {
        let mut group = c.benchmark_group(format!("utf8/{name}"));
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(BenchmarkId::new("std", ""), |b| {
            b.iter(|| core::str::from_utf8(black_box(&data)).is_ok())
        });
        group.bench_function(BenchmarkId::new("simdutf8_basic", ""), |b| {
            b.iter(|| simdutf8::basic::from_utf8(black_box(&data)).is_ok())
        });
        group.bench_function(BenchmarkId::new("simdutf8_compat", ""), |b| {
            b.iter(|| simdutf8::compat::from_utf8(black_box(&data)).is_ok())
        });
        for pass in Utf8Pass::available() {
            group.bench_function(BenchmarkId::new("wsmachine", format!("{pass:?}")), |b| {
                b.iter(|| pass.validate(black_box(&data)).is_ok())
            });
        }
        group.bench_function(BenchmarkId::new("wsmachine_incremental_4KiB", ""), |b| {
            b.iter(|| {
                let mut validator = Utf8Validator::new();
                for piece in black_box(&data).chunks(4096) {
                    validator.feed(piece).unwrap();
                }
                validator.is_complete()
            })
        });
        group.finish();
    }
}

criterion_group!(benches, utf8);
criterion_main!(benches);
