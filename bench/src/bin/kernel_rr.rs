//! `kernel-rr`: a request/response load client on kernel TCP sockets, like netperf's
//! TCP_RR.
//!
//! ```text
//! kernel-rr --to ADDR:PORT [--flows N] [--size B] [--duration S] [--warmup S]
//!           [--threads T] [--connect-timeout S] [--json]
//! ```
//!
//! Every flow is one TCP connection (TCP_NODELAY on) that keeps exactly one
//! transaction outstanding: write `--size` bytes, read `--size` bytes back (checked
//! against what was sent), repeat. All flows are connected first; then the flows run
//! for `--warmup` seconds (default 1) unrecorded, then for `--duration` seconds
//! (default 5) during which every transaction that both starts and ends inside the
//! window is counted and its latency (first byte written to last byte read) goes
//! into an HDR histogram (1 ns .. 60 s, 3 significant digits).
//!
//! One thread runs an epoll event loop (mio, edge-triggered) over all its flows;
//! `--threads T` spreads the flows round-robin over T such threads (default 1).
//!
//! Output: one line with trans/s, p50/p99/p99.9 latency in µs and errors; with
//! `--json` instead one line
//! `{"kind":"rr","rate":…,"unit":"trans/s","flows":…,"size":…,"p50_us":…,"p99_us":…,"p999_us":…,"errors":…}`.
//! `errors` counts flows that failed (connection reset or closed by the server, or
//! an echo that differs from the request); a failed flow is not restarted.
//!
//! Exit status: 0; 1 if a connection could not be made, no transaction completed
//! in the window, or any flow failed (the report is printed first); 2 for bad flags.
#![deny(missing_docs)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// Command line of `kernel-rr`.
#[derive(Parser, Debug)]
#[command(name = "kernel-rr", about = "TCP request/response load client on kernel sockets (like netperf TCP_RR)")]
struct Args {
    /// Server to load, ADDR:PORT.
    #[arg(long, value_name = "ADDR:PORT")]
    to: SocketAddr,
    /// Concurrent connections, each with one transaction outstanding.
    #[arg(long, default_value_t = 1)]
    flows: usize,
    /// Request (and response) size in bytes.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Seconds to measure.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds to run before measuring (not recorded).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Event-loop threads the flows are spread over.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seconds to wait for each connection to be established.
    #[arg(long = "connect-timeout", default_value_t = 5.0)]
    connect_timeout: f64,
    /// Print one JSON line instead of the text summary.
    #[arg(long)]
    json: bool,
}

/// Latencies are recorded in ns between these bounds.
const HIST_MAX_NS: u64 = 60_000_000_000;

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_NS, 3).expect("valid histogram bounds")
}

/// What one event-loop thread measured.
struct ThreadResult {
    hist: Histogram<u64>,
    /// Transactions that started and ended inside the measurement window.
    measured: u64,
    /// Flows that failed.
    errors: u64,
    /// First failure, for the message.
    first_error: Option<String>,
}

/// One connection and its single outstanding transaction.
struct Flow {
    sock: TcpStream,
    req: Vec<u8>,
    resp: Vec<u8>,
    wrote: usize,
    got: usize,
    seq: u64,
    id: u64,
    started: Instant,
    alive: bool,
}

impl Flow {
    /// Fill the next request: flow id and sequence number spread over the bytes, so
    /// that a response from another transaction or flow does not compare equal.
    fn next_request(&mut self, now: Instant) {
        self.seq += 1;
        let tag = (self.id << 40) ^ self.seq;
        let tag = tag.to_le_bytes();
        for (i, b) in self.req.iter_mut().enumerate() {
            *b = tag[i % 8].wrapping_add((i / 8) as u8);
        }
        self.wrote = 0;
        self.got = 0;
        self.started = now;
    }

    /// Make as much progress as the socket allows without blocking: finish the
    /// write, read the response, and start the next transaction whenever one
    /// completes. Returns the first error that kills the flow.
    fn drive(&mut self, win: &Window, hist: &mut Histogram<u64>, measured: &mut u64) -> Result<(), String> {
        loop {
            if self.wrote < self.req.len() {
                match self.sock.write(&self.req[self.wrote..]) {
                    Ok(0) => return Err("write returned 0".into()),
                    Ok(n) => self.wrote += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("write: {e}")),
                }
                continue;
            }
            let size = self.req.len();
            match self.sock.read(&mut self.resp[self.got..size]) {
                Ok(0) => return Err("server closed the connection".into()),
                Ok(n) => {
                    self.got += n;
                    if self.got == size {
                        let now = Instant::now();
                        if self.resp != self.req {
                            return Err("response differs from the request".into());
                        }
                        if self.started >= win.measure && now <= win.end {
                            let ns = now.duration_since(self.started).as_nanos().min(HIST_MAX_NS as u128) as u64;
                            hist.saturating_record(ns.max(1));
                            *measured += 1;
                        }
                        if now >= win.end {
                            return Ok(());
                        }
                        self.next_request(now);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }
}

/// The time line shared by all threads.
#[derive(Clone, Copy)]
struct Window {
    /// Transactions starting from here on are recorded.
    measure: Instant,
    /// End of the run.
    end: Instant,
}

/// Run one event loop over `socks` until `win.end` (or until every flow failed).
fn run_flows(socks: Vec<(u64, StdStream)>, size: usize, win: Window) -> io::Result<ThreadResult> {
    let mut poll = Poll::new()?;
    let mut flows = Vec::with_capacity(socks.len());
    let now = Instant::now();
    for (i, (id, s)) in socks.into_iter().enumerate() {
        let mut sock = TcpStream::from_std(s);
        poll.registry().register(&mut sock, Token(i), Interest::READABLE | Interest::WRITABLE)?;
        let mut f = Flow {
            sock,
            req: vec![0; size],
            resp: vec![0; size],
            wrote: 0,
            got: 0,
            seq: 0,
            id,
            started: now,
            alive: true,
        };
        f.next_request(now);
        flows.push(f);
    }
    let mut res = ThreadResult { hist: new_hist(), measured: 0, errors: 0, first_error: None };
    let mut alive = flows.len();
    let fail = |f: &mut Flow, e: String, res: &mut ThreadResult, poll: &Poll| {
        f.alive = false;
        let _ = poll.registry().deregister(&mut f.sock);
        let _ = f.sock.shutdown(std::net::Shutdown::Both);
        res.errors += 1;
        res.first_error.get_or_insert(e);
    };
    // Start every flow's first transaction (writes go out right away).
    for f in flows.iter_mut() {
        if let Err(e) = f.drive(&win, &mut res.hist, &mut res.measured) {
            fail(f, e, &mut res, &poll);
            alive -= 1;
        }
    }
    let mut events = Events::with_capacity(1024);
    loop {
        let now = Instant::now();
        if now >= win.end || alive == 0 {
            break;
        }
        // Bounded: never waits past the end of the run.
        match poll.poll(&mut events, Some(win.end - now)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            let f = &mut flows[ev.token().0];
            if !f.alive {
                continue;
            }
            if let Err(e) = f.drive(&win, &mut res.hist, &mut res.measured) {
                fail(f, e, &mut res, &poll);
                alive -= 1;
            }
        }
    }
    Ok(res)
}

/// Connect one flow (blocking, bounded by `timeout`), then make it nonblocking.
fn connect(to: SocketAddr, timeout: Duration) -> io::Result<StdStream> {
    let s = StdStream::connect_timeout(&to, timeout)?;
    s.set_nodelay(true)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let bad = |m: &str| {
        eprintln!("kernel-rr: {m}");
        ExitCode::from(2)
    };
    if args.flows == 0 || args.size == 0 || args.threads == 0 {
        return bad("--flows, --size and --threads must be at least 1");
    }
    let duration_ok = args.duration > 0.0 && args.duration <= 3600.0;
    if !(duration_ok && (0.0..=600.0).contains(&args.warmup)) {
        return bad("--duration must be in (0, 3600] s and --warmup in [0, 600] s");
    }
    if !(args.connect_timeout > 0.0 && args.connect_timeout <= 600.0) {
        return bad("--connect-timeout must be in (0, 600] s");
    }
    let threads = args.threads.min(args.flows);

    // Connect every flow before any traffic.
    let mut per_thread: Vec<Vec<(u64, StdStream)>> = (0..threads).map(|_| Vec::new()).collect();
    for i in 0..args.flows {
        match connect(args.to, Duration::from_secs_f64(args.connect_timeout)) {
            Ok(s) => per_thread[i % threads].push((i as u64, s)),
            Err(e) => {
                eprintln!("kernel-rr: connecting flow {i} to {}: {e}", args.to);
                return ExitCode::from(1);
            }
        }
    }

    let start = Instant::now();
    let measure = start + Duration::from_secs_f64(args.warmup);
    let win = Window { measure, end: measure + Duration::from_secs_f64(args.duration) };
    let size = args.size;
    let handles: Vec<_> = per_thread
        .into_iter()
        .map(|socks| std::thread::spawn(move || run_flows(socks, size, win)))
        .collect();

    let mut hist = new_hist();
    let mut measured = 0u64;
    let mut errors = 0u64;
    let mut first_error = None;
    for h in handles {
        match h.join() {
            Ok(Ok(r)) => {
                hist.add(&r.hist).expect("histograms with the same bounds");
                measured += r.measured;
                errors += r.errors;
                if first_error.is_none() {
                    first_error = r.first_error;
                }
            }
            Ok(Err(e)) => {
                eprintln!("kernel-rr: event loop: {e}");
                return ExitCode::from(1);
            }
            Err(_) => {
                eprintln!("kernel-rr: an event-loop thread panicked");
                return ExitCode::from(1);
            }
        }
    }

    let rate = measured as f64 / args.duration;
    let us = |q: f64| if measured == 0 { 0.0 } else { hist.value_at_quantile(q) as f64 / 1000.0 };
    let (p50, p99, p999) = (us(0.5), us(0.99), us(0.999));
    if args.json {
        println!(
            "{{\"kind\":\"rr\",\"rate\":{rate:.1},\"unit\":\"trans/s\",\"flows\":{},\"size\":{},\"p50_us\":{p50:.2},\"p99_us\":{p99:.2},\"p999_us\":{p999:.2},\"errors\":{errors}}}",
            args.flows, args.size
        );
    } else {
        println!(
            "rr {}: {rate:.1} trans/s  flows {} size {} B threads {threads}  latency p50 {p50:.2} us  p99 {p99:.2} us  p99.9 {p999:.2} us  errors {errors}  ({measured} transactions in {} s)",
            args.to, args.flows, args.size, args.duration
        );
    }
    if let Some(e) = first_error {
        eprintln!("kernel-rr: {errors} flow(s) failed; first: {e}");
    }
    if measured == 0 {
        eprintln!("kernel-rr: no transaction completed in the measurement window (server at {} not answering?)", args.to);
        return ExitCode::from(1);
    }
    if errors > 0 {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
