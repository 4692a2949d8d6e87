//! `kernel-load`: the kernel-socket counterparts of `xdpstack load crr` and
//! `xdpstack load udp`, for side-by-side benchmarks (`bench/bench.sh`).
//!
//! ```text
//! kernel-load crr --to ADDR:PORT [--flows N] [--size B] [--duration S] [--json]
//! kernel-load udp --to ADDR:PORT [--flows N] [--size B] [--duration S] [--json]
//! kernel-load udp-echo --to ADDR:PORT [--duration S]     (a server)
//! ```
//!
//! * `crr`: each of `--flows` threads loops connect, write `--size` bytes
//!   (TCP_NODELAY), read them back, close; a connection is counted when its
//!   response is complete, its latency from `connect` to the last byte. The
//!   kernel's TIME-WAIT holds one ephemeral port per connection for 60 s: set
//!   `net.ipv4.tcp_tw_reuse=1` in the client's namespace for runs longer than
//!   the port range allows (bench.sh does).
//! * `udp`: each thread owns `--flows / threads` sockets with one datagram
//!   outstanding each (sent, then every answer awaited in turn, 200 ms timeout:
//!   a missing answer is an error).
//! * `udp-echo`: a one-thread UDP echo server bound to `--to`, for `--duration`
//!   seconds (the kernel side of the UDP benchmark).
//!
//! Output: one line (with `--json`:
//! `{"kind":…,"rate":…,"unit":…,"bytes":…,"errors":…,"p50_us":…,"p99_us":…,"p999_us":…}`).
#![deny(missing_docs)]

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// Connect, request, response, close.
    Crr,
    /// UDP datagrams answered per second.
    Udp,
    /// A UDP echo server on `--to`.
    UdpEcho,
}

/// Command line of `kernel-load`.
#[derive(Parser, Debug)]
#[command(name = "kernel-load", about = "crr and udp load clients on kernel sockets")]
struct Args {
    /// crr or udp.
    #[arg(value_enum)]
    kind: Kind,
    /// Server, ADDR:PORT.
    #[arg(long)]
    to: SocketAddr,
    /// crr: threads (one connection at a time each); udp: sockets.
    #[arg(long, default_value_t = 1)]
    flows: usize,
    /// Request / datagram size in bytes.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// udp: threads the sockets are spread over.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// One JSON line.
    #[arg(long)]
    json: bool,
}

struct Result1 {
    hist: Histogram<u64>,
    done: u64,
    bytes: u64,
    errors: u64,
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("histogram bounds")
}

fn crr_thread(to: SocketAddr, size: usize, end: Instant) -> Result1 {
    let mut r = Result1 { hist: hist(), done: 0, bytes: 0, errors: 0 };
    let req: Vec<u8> = (0..size).map(|i| (i * 7 + 1) as u8).collect();
    let mut resp = vec![0u8; size];
    while Instant::now() < end {
        let t0 = Instant::now();
        let ok = (|| -> std::io::Result<()> {
            let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(2))?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.write_all(&req)?;
            s.read_exact(&mut resp)?;
            Ok(())
        })();
        match ok {
            Ok(()) if resp == req => {
                let _ = r.hist.record((t0.elapsed().as_micros() as u64).max(1));
                r.done += 1;
                r.bytes += size as u64;
            }
            _ => {
                r.errors += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    r
}

fn udp_thread(to: SocketAddr, sockets: usize, size: usize, end: Instant) -> Result1 {
    let mut r = Result1 { hist: hist(), done: 0, bytes: 0, errors: 0 };
    let bind: SocketAddr = if to.is_ipv4() { "0.0.0.0:0".parse().unwrap() } else { "[::]:0".parse().unwrap() };
    let socks: Vec<UdpSocket> = (0..sockets)
        .map(|_| {
            let s = UdpSocket::bind(bind).expect("bind a UDP socket");
            s.connect(to).expect("connect the UDP socket");
            s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
            s
        })
        .collect();
    let mut msg = vec![0u8; size];
    let mut buf = vec![0u8; size + 1];
    let mut seq = 0u32;
    let mut sent_at = vec![Instant::now(); sockets];
    while Instant::now() < end {
        // One datagram outstanding per socket: send all, then await each answer.
        for (i, s) in socks.iter().enumerate() {
            seq = seq.wrapping_add(1);
            let n = size.min(4);
            msg[..n].copy_from_slice(&seq.to_be_bytes()[4 - n..]);
            sent_at[i] = Instant::now();
            if s.send(&msg).is_err() {
                r.errors += 1;
            }
        }
        for (i, s) in socks.iter().enumerate() {
            match s.recv(&mut buf) {
                Ok(n) if n == size => {
                    let _ = r.hist.record((sent_at[i].elapsed().as_micros() as u64).max(1));
                    r.done += 1;
                    r.bytes += n as u64;
                }
                _ => r.errors += 1,
            }
        }
    }
    r
}

fn main() -> ExitCode {
    let a = Args::parse();
    if a.flows == 0 || a.size == 0 || a.threads == 0 || a.duration <= 0.0 {
        eprintln!("kernel-load: --flows, --size, --threads and --duration must be above 0");
        return ExitCode::from(2);
    }
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(a.duration);
    if a.kind == Kind::UdpEcho {
        let s = UdpSocket::bind(a.to).expect("bind the UDP echo socket");
        s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let mut buf = vec![0u8; 65536];
        while Instant::now() < end {
            if let Ok((n, from)) = s.recv_from(&mut buf) {
                let _ = s.send_to(&buf[..n], from);
            }
        }
        return ExitCode::SUCCESS;
    }
    let handles: Vec<_> = match a.kind {
        Kind::Crr => (0..a.flows).map(|_| std::thread::spawn(move || crr_thread(a.to, a.size, end))).collect(),
        Kind::UdpEcho => unreachable!("served above"),
        Kind::Udp => {
            let threads = a.threads.min(a.flows);
            (0..threads)
                .map(|t| {
                    let mine = (0..a.flows).filter(|f| f % threads == t).count();
                    std::thread::spawn(move || udp_thread(a.to, mine, a.size, end))
                })
                .collect()
        }
    };
    let mut total = Result1 { hist: hist(), done: 0, bytes: 0, errors: 0 };
    for h in handles {
        let r = h.join().expect("load thread");
        total.done += r.done;
        total.bytes += r.bytes;
        total.errors += r.errors;
        let _ = total.hist.add(&r.hist);
    }
    let secs = start.elapsed().as_secs_f64();
    let rate = total.done as f64 / secs;
    let (kind, unit) = match a.kind {
        Kind::Crr => ("crr", "conn/s"),
        Kind::Udp | Kind::UdpEcho => ("udp", "pkt/s"),
    };
    let q = |p: f64| if total.hist.is_empty() { 0 } else { total.hist.value_at_quantile(p) };
    if a.json {
        println!(
            "{{\"kind\":\"{kind}\",\"rate\":{rate:.2},\"unit\":\"{unit}\",\"bytes\":{},\"errors\":{},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{}}}",
            total.bytes,
            total.errors,
            q(0.5),
            q(0.99),
            q(0.999)
        );
    } else {
        println!("{kind} to={} flows={}: {rate:.0} {unit} errors={} p50={} us p99={} us p999={} us", a.to, a.flows, total.errors, q(0.5), q(0.99), q(0.999));
    }
    if total.done == 0 {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
