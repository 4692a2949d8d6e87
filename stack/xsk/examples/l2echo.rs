//! L2 echo on xdpstack's device layer: the Rust side of the device-layer benchmark
//! (`bench/l2echo.sh` runs it against the C libxdp reference `bench/xsk-ref/l2echo.c`).
//!
//! ```text
//! cargo build --release -p xdpstack-xsk --example l2echo
//! target/release/examples/l2echo IFACE [--ip ADDR]... [--queue Q] [--duration S] [--batch N]
//! ```
//! (root). Attaches our XDP program ([`XdpProgram::attach`]) steering the IPv4
//! addresses given with `--ip` (default 198.18.0.2) to one AF_XDP socket
//! ([`XskDevice::open`], copy mode, queue `--queue`, default 0), then busy-polls for
//! `--duration` seconds (default 10; SIGINT/SIGTERM stop it earlier): every frame
//! of an `rx_burst` (up to `--batch`, default 64) is copied into a TX frame with
//! `tx().send`, its Ethernet source/destination MACs and IPv4 source/destination
//! addresses swapped (checksum-neutral), and the batch is submitted with one
//! `flush` per loop. At exit it prints one line of counters: the device's
//! [`xsk::DeviceStats`], the loop's own (iterations, empty polls) and `cpu_wait_ms`,
//! how long it waited for its CPU (run_delay of /proc/self/schedstat: CPU time
//! other work took from it).
//!
//! Same work per frame as the C reference in its `-c` (copy) mode: RX frames go
//! straight back to the fill ring, replies are written into a separate TX pool.

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use xsk::{Device, TxQueue, XdpMode, XdpProgram, XskConfig, XskDevice, ZeroCopy};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

struct Opts {
    iface: String,
    ips: Vec<Ipv4Addr>,
    queue: u32,
    duration: f64,
    batch: usize,
}

fn usage() -> ExitCode {
    eprintln!("usage: l2echo IFACE [--ip ADDR]... [--queue Q] [--duration S] [--batch N]");
    ExitCode::from(2)
}

fn parse() -> Option<Opts> {
    let mut args = std::env::args().skip(1);
    let mut o = Opts {
        iface: args.next()?,
        ips: Vec::new(),
        queue: 0,
        duration: 10.0,
        batch: 64,
    };
    while let Some(flag) = args.next() {
        let val = args.next()?;
        match flag.as_str() {
            "--ip" => o.ips.push(val.parse().ok()?),
            "--queue" => o.queue = val.parse().ok()?,
            "--duration" => o.duration = val.parse().ok()?,
            "--batch" => o.batch = val.parse().ok()?,
            _ => return None,
        }
    }
    if o.ips.is_empty() {
        o.ips.push(Ipv4Addr::new(198, 18, 0, 2));
    }
    let ok = o.duration > 0.0 && o.duration <= 3600.0 && (1..=xsk::MAX_BATCH).contains(&o.batch);
    ok.then_some(o)
}

/// Swap the Ethernet MACs and, for IPv4, the addresses (both checksums unchanged).
fn reflect(p: &mut [u8]) {
    if p.len() < 14 {
        return;
    }
    for i in 0..6 {
        p.swap(i, 6 + i);
    }
    if p.len() >= 34 && p[12] == 0x08 && p[13] == 0x00 {
        for i in 0..4 {
            p.swap(26 + i, 30 + i);
        }
    }
}

/// Nanoseconds this process has spent runnable but waiting for a CPU (run_delay of
/// /proc/self/schedstat; 0 if unavailable): time other work took from us.
fn cpu_wait_ns() -> u64 {
    std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() -> ExitCode {
    let Some(o) = parse() else { return usage() };
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("l2echo: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(o: &Opts) -> Result<(), Box<dyn std::error::Error>> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe); the
        // function pointer has the C ABI signal(2) expects.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
    let prog = XdpProgram::attach(&o.iface, XdpMode::Auto, &o.ips, &[])?;
    let mut cfg = XskConfig::new(&o.iface);
    cfg.queue = o.queue;
    cfg.zero_copy = ZeroCopy::Off;
    let mut dev = XskDevice::open(&cfg, &prog)?;
    println!(
        "ready iface={} queue={} xdp={} bind={} batch={}",
        o.iface,
        o.queue,
        prog.mode(),
        dev.bind_mode(),
        o.batch
    );

    let wait0 = cpu_wait_ns();
    let end = Instant::now() + Duration::from_secs_f64(o.duration);
    let (mut loops, mut empty) = (0u64, 0u64);
    while !STOP.load(Ordering::Relaxed) {
        // Read the clock every 1024 iterations only: bounded, and cheap.
        if loops & 1023 == 0 && Instant::now() >= end {
            break;
        }
        loops += 1;
        let n = dev.rx_burst(o.batch, |frame, tx| {
            tx.send(frame.len(), &mut |buf| {
                buf.copy_from_slice(frame);
                reflect(buf);
            });
        })?;
        if n == 0 {
            empty += 1;
        }
        dev.flush()?;
    }
    let s = dev.stats();
    let cpu_wait_ms = cpu_wait_ns().saturating_sub(wait0) / 1_000_000;
    println!(
        "l2echo-rust: rx {} tx {} tx_no_frame {} loops {loops} empty {empty} tx_kicks {} \
         cpu_wait_ms {cpu_wait_ms} | kernel: rx_dropped {} rx_ring_full {} rx_fill_empty {} tx_invalid {}",
        s.rx_packets,
        s.tx_packets,
        s.tx_no_frame,
        s.tx_kicks,
        s.rx_dropped,
        s.rx_ring_full,
        s.rx_fill_empty,
        s.tx_invalid
    );
    drop(dev);
    prog.detach()?;
    Ok(())
}
