//! `rr_client`: a request/response load generator on the engine's low-level API
//! (the program docs/api.md explains). One loop per queue of IF; every loop runs
//! its share of the flows against a server (an echo service), one transaction
//! outstanding per flow, and prints rate and latency at the end.
//!
//! ```text
//! rr_client --iface IF --ip 198.18.0.3/24 --to 198.18.0.2:7 --flows 16 --size 64 --duration 5
//! ```
//! Needs root (XDP and AF_XDP).

#[path = "apps/rr.rs"]
mod rr;

use clap::Parser;
use engine::{Queues, Stack, StackConfig};
use rr::{RrClient, RrConfig, RrReport};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Request/response load on xdpstack's low-level API.
#[derive(Parser, Debug)]
struct Args {
    /// Interface to attach to.
    #[arg(long)]
    iface: String,
    /// Our address, ADDR/LEN.
    #[arg(long)]
    ip: String,
    /// Server, ADDR:PORT.
    #[arg(long)]
    to: SocketAddr,
    /// Flows over all cores.
    #[arg(long, default_value_t = 1)]
    flows: usize,
    /// Request size in bytes.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Seconds to measure.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Queues to bind (default: all).
    #[arg(long)]
    queues: Option<u32>,
    /// Print one JSON line.
    #[arg(long)]
    json: bool,
}

fn main() {
    let a = Args::parse();
    let (addr, len) = a.ip.split_once('/').expect("--ip ADDR/LEN");
    let mut cfg = StackConfig::new(&a.iface);
    cfg.ipv4 = vec![(addr.parse::<Ipv4Addr>().expect("IPv4 address"), len.parse().expect("prefix length"))];
    if let Some(q) = a.queues {
        cfg.queues = Queues::Count(q);
    }
    let rr = RrConfig { to: a.to, flows: a.flows, size: a.size.max(1), duration: Duration::from_secs_f64(a.duration), verify: true };
    let report = Arc::new(Mutex::new(RrReport::new()));
    let running = Arc::new(AtomicUsize::new(0));
    let (r2, run2) = (Arc::clone(&report), Arc::clone(&running));
    // The factory runs on each loop's own thread and builds that core's client.
    let stack = Stack::start(&cfg, move |core| RrClient::new(rr.clone(), core.core, core.cores, Arc::clone(&r2), Arc::clone(&run2)))
        .unwrap_or_else(|e| {
            eprintln!("rr_client: {e}");
            std::process::exit(2)
        });
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stack.stop_flag()).expect("signal handler");
    }
    if let Err(e) = stack.wait() {
        eprintln!("rr_client: {e}");
        std::process::exit(1);
    }
    let r = report.lock().unwrap();
    let (p50, p99, p999) = (r.latency_us.value_at_quantile(0.5), r.latency_us.value_at_quantile(0.99), r.latency_us.value_at_quantile(0.999));
    if a.json {
        println!(
            "{}",
            serde_json::json!({"kind": "rr", "rate": r.rate(), "unit": "trans/s", "bytes": r.bytes, "errors": r.errors, "p50_us": p50, "p99_us": p99, "p999_us": p999})
        );
    } else {
        println!("{:.0} trans/s over {:.2} s, {} errors, latency p50 {p50} µs p99 {p99} µs p99.9 {p999} µs", r.rate(), r.elapsed.as_secs_f64(), r.errors);
    }
}
