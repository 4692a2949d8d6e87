//! `echo_async`: an echo server, or a checking echo client, on the engine's async
//! API (per-core executor, `TcpListener` / `TcpStream` with futures-io).
//!
//! ```text
//! echo_async serve  --iface IF --ip 198.18.0.2/24 --port 7
//! echo_async client --iface IF --ip 198.18.0.3/24 --to 198.18.0.2:7 --flows 16 --bytes 1000000
//! ```
//! Needs root (XDP and AF_XDP). The client exits 0 when every flow came back
//! byte-exact.

#[path = "apps/echo.rs"]
mod echo;

use clap::{Parser, Subcommand};
use echo::EchoReport;
use engine::{Stack, StackConfig};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

/// Echo on xdpstack's async API.
#[derive(Parser, Debug)]
struct Args {
    /// Interface to attach to.
    #[arg(long, global = true, default_value = "")]
    iface: String,
    /// Our address, ADDR/LEN.
    #[arg(long, global = true, default_value = "")]
    ip: String,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// Echo every connection on PORT until SIGINT/SIGTERM.
    Serve {
        /// Port.
        #[arg(long, default_value_t = 7)]
        port: u16,
    },
    /// Send FLOWS streams of BYTES each, half-close, check the echo.
    Client {
        /// Server, ADDR:PORT.
        #[arg(long)]
        to: SocketAddr,
        /// Flows over all cores.
        #[arg(long, default_value_t = 4)]
        flows: usize,
        /// Bytes per flow.
        #[arg(long, default_value_t = 100_000)]
        bytes: usize,
    },
}

fn config(a: &Args) -> StackConfig {
    let (addr, len) = a.ip.split_once('/').expect("--ip ADDR/LEN");
    let mut cfg = StackConfig::new(&a.iface);
    cfg.ipv4 = vec![(addr.parse::<Ipv4Addr>().expect("IPv4 address"), len.parse().expect("prefix length"))];
    cfg
}

fn main() {
    let a = Args::parse();
    let cfg = config(&a);
    let fail = |e: engine::StackError| -> ! {
        eprintln!("echo_async: {e}");
        std::process::exit(2)
    };
    match a.mode {
        Mode::Serve { port } => {
            let stack = Stack::start(&cfg, move |_| echo::server(port)).unwrap_or_else(|e| fail(e));
            for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                signal_hook::flag::register(sig, stack.stop_flag()).expect("signal handler");
            }
            println!("ready {} queues={}", a.iface, stack.info().queues.len());
            stack.wait().unwrap_or_else(|e| fail(e));
        }
        Mode::Client { to, flows, bytes } => {
            let report = Arc::new(Mutex::new(EchoReport::default()));
            let running = Arc::new(AtomicUsize::new(0));
            let (r2, run2) = (Arc::clone(&report), Arc::clone(&running));
            let stack = Stack::start(&cfg, move |c| echo::client(to, flows, bytes, c.core, c.cores, Arc::clone(&r2), Arc::clone(&run2))).unwrap_or_else(|e| fail(e));
            stack.wait().unwrap_or_else(|e| fail(e));
            let r = report.lock().unwrap();
            println!("{} of {flows} flows echoed byte-exact", r.ok);
            for f in &r.failed {
                eprintln!("{f}");
            }
            std::process::exit(if r.ok == flows { 0 } else { 1 });
        }
    }
}
