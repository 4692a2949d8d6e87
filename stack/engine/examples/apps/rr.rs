//! A request/response load generator on the low-level API: the application a
//! load-generator author starts from (docs/api.md walks through it).
//!
//! One [`RrClient`] runs on every core. Each opens its share of the flows (the
//! engine picks source ports that RSS maps back to that core), and every flow
//! keeps one transaction outstanding: send `size` bytes with `send_nodelay`,
//! read `size` bytes back in place (`recv_with`, no copy), check them against the
//! request (an echo server answers with the same bytes), record the latency,
//! send the next request. After `duration` every core closes its flows, adds its
//! figures to the shared [`RrReport`], and the last core to finish stops the
//! stack. Nothing is allocated per event.

use engine::{App, ConnId, Event, Instant, Io};
use hdrhistogram::Histogram;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What to run.
#[derive(Debug, Clone)]
pub struct RrConfig {
    /// The server.
    pub to: SocketAddr,
    /// Flows over all cores.
    pub flows: usize,
    /// Request (and response) size in bytes.
    pub size: usize,
    /// How long to measure.
    pub duration: Duration,
    /// Check every response byte against the request (for echo servers).
    pub verify: bool,
}

/// The figures of a run, summed over the cores.
#[derive(Debug)]
pub struct RrReport {
    /// Transactions completed.
    pub transactions: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Flows that failed (refused, reset, timed out, wrong bytes).
    pub errors: u64,
    /// Latency of every transaction, in microseconds.
    pub latency_us: Histogram<u64>,
    /// Cores that finished.
    pub cores_done: usize,
    /// Measured time (the longest core's).
    pub elapsed: Duration,
}

impl RrReport {
    /// An empty report.
    pub fn new() -> RrReport {
        RrReport { transactions: 0, bytes: 0, errors: 0, latency_us: Histogram::new(3).expect("3 significant digits"), cores_done: 0, elapsed: Duration::ZERO }
    }
    /// Transactions per second.
    pub fn rate(&self) -> f64 {
        self.transactions as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl Default for RrReport {
    fn default() -> Self {
        RrReport::new()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlowState {
    Connecting,
    Waiting,
    Closing,
    Done,
}

struct Flow {
    conn: Option<ConnId>,
    state: FlowState,
    /// Response bytes received for the outstanding request.
    got: usize,
    /// When the outstanding request was sent.
    sent_at: Instant,
    /// The first byte of the outstanding request (requests differ, so a stale or
    /// misplaced response is caught).
    tag: u8,
}

/// The request/response client of one core.
pub struct RrClient {
    cfg: RrConfig,
    flows: Vec<Flow>,
    request: Vec<u8>,
    report: Arc<Mutex<RrReport>>,
    cores_running: Arc<AtomicUsize>,
    hist: Histogram<u64>,
    transactions: u64,
    bytes: u64,
    errors: u64,
    start: Option<Instant>,
    finished: bool,
}

impl RrClient {
    /// The client of core `core` (of `cores`): it takes every `cores`-th flow.
    /// Every client counts itself in `cores_running` (start it at 0; the engine
    /// builds every core's application before any loop turns), and the last one
    /// to finish stops the stack.
    pub fn new(cfg: RrConfig, core: usize, cores: usize, report: Arc<Mutex<RrReport>>, cores_running: Arc<AtomicUsize>) -> RrClient {
        cores_running.fetch_add(1, Ordering::AcqRel);
        let mine = (0..cfg.flows).filter(|f| f % cores.max(1) == core).count();
        let flows = (0..mine).map(|_| Flow { conn: None, state: FlowState::Connecting, got: 0, sent_at: Instant::ZERO, tag: 0 }).collect();
        let request = (0..cfg.size).map(|i| (i * 7 + 1) as u8).collect();
        RrClient {
            cfg,
            flows,
            request,
            report,
            cores_running,
            hist: Histogram::new(3).expect("3 significant digits"),
            transactions: 0,
            bytes: 0,
            errors: 0,
            start: None,
            finished: false,
        }
    }

    fn flow_of(&self, c: ConnId) -> Option<usize> {
        self.flows.iter().position(|f| f.conn == Some(c))
    }

    fn send_request(&mut self, io: &mut Io<'_>, i: usize) {
        let f = &mut self.flows[i];
        let Some(conn) = f.conn else { return };
        f.tag = f.tag.wrapping_add(1);
        f.got = 0;
        f.sent_at = io.now();
        self.request[0] = f.tag;
        // The send buffer is far larger than one request: it takes it whole.
        match io.send_nodelay(conn, &self.request) {
            Ok(n) if n == self.request.len() => f.state = FlowState::Waiting,
            _ => {
                self.errors += 1;
                f.state = FlowState::Done;
                io.abort(conn);
            }
        }
    }

    fn on_readable(&mut self, io: &mut Io<'_>, i: usize) {
        let Some(conn) = self.flows[i].conn else { return };
        loop {
            let (size, verify) = (self.cfg.size, self.cfg.verify);
            let f = &mut self.flows[i];
            if f.state != FlowState::Waiting {
                // Closing: drain to the end of stream.
                match io.recv_with(conn, |b| b.len()) {
                    Ok(_) => continue,
                    Err(_) => return,
                }
            }
            let (req, got0) = (&self.request, f.got);
            let tag = f.tag;
            let mut bad = false;
            let r = io.recv_with(conn, |b| {
                let n = b.len().min(size - got0);
                if verify {
                    for (k, byte) in b[..n].iter().enumerate() {
                        let want = if got0 + k == 0 { tag } else { req[got0 + k] };
                        bad |= *byte != want;
                    }
                }
                n
            });
            match r {
                Ok(n) => {
                    let f = &mut self.flows[i];
                    f.got += n;
                    self.bytes += n as u64;
                    if bad {
                        self.errors += 1;
                        f.state = FlowState::Done;
                        io.abort(conn);
                        return;
                    }
                    if f.got == size {
                        let now = io.now();
                        let _ = self.hist.record(now.micros().saturating_sub(f.sent_at.micros()).max(1));
                        self.transactions += 1;
                        if self.measuring(now) {
                            self.send_request(io, i);
                        } else {
                            self.flows[i].state = FlowState::Closing;
                            io.close(conn);
                        }
                    }
                }
                Err(_) => return,
            }
        }
    }

    fn measuring(&self, now: Instant) -> bool {
        self.start.is_some_and(|s| now.micros() < s.micros() + self.cfg.duration.as_micros() as u64)
    }

    fn finish(&mut self, io: &mut Io<'_>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let elapsed = match self.start {
            Some(s) => Duration::from_micros(io.now().micros().saturating_sub(s.micros())).min(self.cfg.duration),
            None => Duration::ZERO,
        };
        let mut r = self.report.lock().unwrap_or_else(|e| e.into_inner());
        r.transactions += self.transactions;
        r.bytes += self.bytes;
        r.errors += self.errors;
        let _ = r.latency_us.add(&self.hist);
        r.cores_done += 1;
        r.elapsed = r.elapsed.max(elapsed);
        drop(r);
        if self.cores_running.fetch_sub(1, Ordering::AcqRel) == 1 {
            io.stop_stack();
        }
    }
}

impl App for RrClient {
    fn start(&mut self, io: &mut Io<'_>) {
        self.start = Some(io.now());
        for i in 0..self.flows.len() {
            match io.connect(self.cfg.to) {
                Ok(c) => self.flows[i].conn = Some(c),
                Err(_) => {
                    self.errors += 1;
                    self.flows[i].state = FlowState::Done;
                }
            }
        }
    }

    fn event(&mut self, io: &mut Io<'_>, ev: Event) {
        match ev {
            Event::Connected(c) => {
                if let Some(i) = self.flow_of(c) {
                    self.send_request(io, i);
                }
            }
            Event::Readable(c) => {
                if let Some(i) = self.flow_of(c) {
                    self.on_readable(io, i);
                }
            }
            Event::ConnectFailed { conn, .. } => {
                if let Some(i) = self.flow_of(conn) {
                    self.errors += 1;
                    self.flows[i].state = FlowState::Done;
                }
            }
            Event::Closed { conn, reason } => {
                if let Some(i) = self.flow_of(conn) {
                    if reason != engine::CloseReason::Normal || self.flows[i].state != FlowState::Closing {
                        self.errors += 1;
                    }
                    self.flows[i].state = FlowState::Done;
                }
            }
            _ => {}
        }
    }

    fn poll(&mut self, io: &mut Io<'_>) -> bool {
        if self.finished {
            return false;
        }
        let now = io.now();
        if !self.measuring(now) {
            // Flows still connecting or waiting at the end: close them.
            for f in &mut self.flows {
                if matches!(f.state, FlowState::Connecting | FlowState::Waiting) {
                    if let Some(c) = f.conn {
                        io.close(c);
                    }
                    f.state = FlowState::Closing;
                }
            }
            let grace = self.start.map_or(0, |s| s.micros() + self.cfg.duration.as_micros() as u64 + 2_000_000);
            if self.flows.iter().all(|f| f.state == FlowState::Done) || now.micros() > grace {
                self.finish(io);
                return true;
            }
        } else if let Some(s) = self.start {
            io.wake_at(Instant::from_micros(s.micros() + self.cfg.duration.as_micros() as u64));
        }
        false
    }
}
