//! The Internet checksum: the wide-accumulator `checksum::data` against the
//! byte-pair reference `checksum::naive` (RFC 1071 §4.1) on a small packet, an
//! Ethernet MTU and a jumbo frame.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wire::checksum;

fn bench_checksum(c: &mut Criterion) {
    let mut g = c.benchmark_group("checksum");
    for &len in &[64usize, 1500, 9000] {
        // Deterministic, non-trivial bytes.
        let buf: Vec<u8> = (0..len).map(|i| (i.wrapping_mul(131) ^ (i >> 3)) as u8).collect();
        assert_eq!(checksum::data(&buf), checksum::naive(&buf));
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_with_input(BenchmarkId::new("data", len), &buf, |b, buf| {
            b.iter(|| checksum::data(black_box(buf)))
        });
        g.bench_with_input(BenchmarkId::new("naive", len), &buf, |b, buf| {
            b.iter(|| checksum::naive(black_box(buf)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_checksum);
criterion_main!(benches);
