//! The engine's cost per unit of work, on the stack side, with the device taken
//! out: every unit of `xdpstack_bench::units` (`rr_64B`, `segment_rx_1448`,
//! `segment_tx_1448`, `crr`, `udp_echo_64B`, `idle_turn`; what each one is,
//! is described there), timed by criterion.
//!
//! `cargo bench -p xdpstack-bench --bench engine`
//!
//! Instruction counts of the same units, which do not drift with machine
//! noise, are what `make perf-budget` measures (`perf-budget check`, limits in
//! `bench/budgets.toml`); one unit by hand:
//!
//! ```text
//! cargo build --release -p xdpstack-bench --bin perf-budget
//! valgrind --tool=callgrind --toggle-collect='*perf_unit_measured*' \
//!     --callgrind-out-file=/tmp/cg.rr target/release/perf-budget run rr_64B --steps 2000
//! callgrind_annotate /tmp/cg.rr | head -40     # divide the total by "units N"
//! ```

use criterion::{criterion_group, criterion_main, Criterion};
use xdpstack_bench::units::{unit, UNITS};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine");
    for name in UNITS {
        let mut u = unit(name).expect("unit");
        g.bench_function(*name, |b| b.iter(|| u.step(true)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
