//! The TCP load generators (`rr`, `crr`, `bulk`) as one application of the
//! engine's low-level API, one instance per core. Each core opens its share of
//! the flows (flow `f` runs on core `f % cores`; the engine picks source ports
//! whose replies RSS sends back to the opening core).
//!
//! * `rr`: every flow keeps one request of `--size` bytes outstanding
//!   (`send_nodelay`), reads the response of the same size in place (`recv_with`,
//!   no copy), optionally checks it against the request (`--verify`, for echo
//!   servers), records the latency and sends the next request.
//! * `crr`: connect, one request/response, close, and at once the next
//!   connection; the latency is from `connect` to the last response byte.
//! * `bulk`: `--direction send` writes 64 KiB chunks as fast as the window
//!   allows and counts the bytes TCP accepted, ending with a close whose
//!   completion (every byte acknowledged) ends the measurement; `recv` reads and
//!   counts what the server sends.
//!
//! Nothing is allocated per event: the flow table and the connection map are
//! sized at start.

use super::shared::{micros_between, Meter, Shared};
use super::{Direction, Kind};
use engine::{App, CloseReason, ConnId, ConnectFailure, Event, Instant, Io};
use hashbrown::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Bytes per `send` of `bulk --direction send`.
const BULK_CHUNK: usize = 64 * 1024;
/// After the end of the measurement, how long flows may take to close.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlowState {
    /// `crr`: between two connections (or waiting to retry a failed open).
    Idle,
    Connecting,
    /// A request is outstanding.
    Waiting,
    /// `bulk`: moving data.
    Streaming,
    /// We closed it; waiting for `Closed`.
    Closing,
    Done,
}

#[derive(Debug, Clone, Copy)]
struct Flow {
    conn: Option<ConnId>,
    state: FlowState,
    /// Response bytes received for the outstanding request.
    got: usize,
    /// When the outstanding request was sent.
    sent_at: Instant,
    /// When the connection was opened (`crr` latency).
    opened_at: Instant,
    /// The first byte of the outstanding request: requests differ, so a stale or
    /// misplaced response is caught by `--verify`.
    tag: u8,
}

/// The TCP load client of one core.
pub struct TcpLoad {
    shared: Arc<Shared>,
    core: usize,
    kind: Kind,
    flows: Vec<Flow>,
    by_conn: HashMap<ConnId, usize>,
    request: Vec<u8>,
    /// Start, stop, totals, latencies, first error.
    m: Meter,
    /// `crr` connections closed after their response, not yet `Closed`.
    closing: usize,
    finished: bool,
}

impl TcpLoad {
    /// The client of core `core` of `cores`.
    pub fn new(shared: Arc<Shared>, core: usize, cores: usize) -> TcpLoad {
        shared.register();
        let cfg = &shared.cfg;
        let mine = (0..cfg.flows).filter(|f| f % cores.max(1) == core).count();
        let flow = Flow { conn: None, state: FlowState::Idle, got: 0, sent_at: Instant::ZERO, opened_at: Instant::ZERO, tag: 0 };
        let len = if cfg.kind == Kind::Bulk { BULK_CHUNK } else { cfg.size };
        let request = (0..len).map(|i| (i * 7 + 1) as u8).collect();
        TcpLoad {
            kind: cfg.kind,
            flows: vec![flow; mine],
            by_conn: HashMap::with_capacity(mine * 2 + 8),
            request,
            m: Meter::new(),
            closing: 0,
            finished: false,
            core,
            shared,
        }
    }

    /// Open flow `i`'s next connection, if the run still wants one.
    fn open(&mut self, io: &mut Io<'_>, i: usize) {
        let now = io.now();
        if !self.m.measuring(&self.shared.cfg, now) || !self.shared.take_one() {
            self.flows[i].state = FlowState::Done;
            return;
        }
        let to = self.shared.cfg.to;
        match io.connect(to) {
            Ok(c) => {
                self.by_conn.insert(c, i);
                let f = &mut self.flows[i];
                f.conn = Some(c);
                f.state = FlowState::Connecting;
                f.opened_at = now;
            }
            Err(e) => {
                self.m.error(|| format!("connect {to}: {e}"));
                // crr retries on the next turn; the others give the flow up.
                self.flows[i].state = if self.kind == Kind::Crr { FlowState::Idle } else { FlowState::Done };
            }
        }
    }

    fn send_request(&mut self, io: &mut Io<'_>, i: usize) {
        let Some(conn) = self.flows[i].conn else { return };
        let f = &mut self.flows[i];
        f.tag = f.tag.wrapping_add(1);
        f.got = 0;
        f.sent_at = io.now();
        self.request[0] = f.tag;
        // The send buffer is far larger than one request: it takes it whole.
        match io.send_nodelay(conn, &self.request) {
            Ok(n) if n == self.request.len() => self.flows[i].state = FlowState::Waiting,
            r => {
                self.m.error(|| format!("send: {r:?}"));
                self.drop_flow(io, i);
            }
        }
    }

    /// Give flow `i` up: abort its connection.
    fn drop_flow(&mut self, io: &mut Io<'_>, i: usize) {
        if let Some(c) = self.flows[i].conn.take() {
            self.by_conn.remove(&c);
            io.abort(c);
        }
        self.flows[i].state = if self.kind == Kind::Crr { FlowState::Idle } else { FlowState::Done };
    }

    /// Close flow `i`'s connection at the end of its work.
    fn close_flow(&mut self, io: &mut Io<'_>, i: usize) {
        if let Some(c) = self.flows[i].conn {
            io.close(c);
            self.flows[i].state = FlowState::Closing;
        } else {
            self.flows[i].state = FlowState::Done;
        }
    }

    /// The response of flow `i` is complete.
    fn complete(&mut self, io: &mut Io<'_>, i: usize) {
        let now = io.now();
        let f = self.flows[i];
        let since = if self.kind == Kind::Crr { f.opened_at } else { f.sent_at };
        let _ = self.m.hist.record(micros_between(since, now));
        self.m.totals.done += 1;
        self.m.last_done = now;
        match self.kind {
            Kind::Crr => {
                // Close this connection (it ends on its own) and open the next.
                if let Some(c) = self.flows[i].conn.take() {
                    self.by_conn.remove(&c);
                    io.close(c);
                    self.closing += 1;
                }
                self.flows[i].state = FlowState::Idle;
                self.open(io, i);
            }
            _ => {
                if self.m.measuring(&self.shared.cfg, now) && self.shared.take_one() {
                    self.send_request(io, i);
                } else {
                    self.close_flow(io, i);
                }
            }
        }
    }

    fn on_readable(&mut self, io: &mut Io<'_>, i: usize) {
        let Some(conn) = self.flows[i].conn else { return };
        loop {
            match self.flows[i].state {
                FlowState::Waiting => {}
                FlowState::Streaming => {
                    match io.recv_with(conn, |b| b.len()) {
                        Ok(0) => return,
                        Ok(n) => self.m.totals.bytes += n as u64,
                        Err(engine::RecvError::Eof) => {
                            // The server ended the stream.
                            self.m.last_done = io.now();
                            self.close_flow(io, i);
                            return;
                        }
                        Err(_) => return,
                    }
                    continue;
                }
                _ => {
                    // Closing: drain to the end of stream.
                    match io.recv_with(conn, |b| b.len()) {
                        Ok(n) if n > 0 => continue,
                        _ => return,
                    }
                }
            }
            let (size, verify) = (self.shared.cfg.size, self.shared.cfg.verify);
            let (got0, tag) = (self.flows[i].got, self.flows[i].tag);
            let req = &self.request;
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
                    self.flows[i].got += n;
                    self.m.totals.bytes += n as u64;
                    if bad {
                        self.m.error(|| "response differs from the request (--verify)".into());
                        self.drop_flow(io, i);
                        return;
                    }
                    if self.flows[i].got == size {
                        self.complete(io, i);
                        if self.flows[i].conn != Some(conn) {
                            return; // crr: that connection is closed
                        }
                    }
                }
                Err(engine::RecvError::Eof) => {
                    self.m.error(|| "the server closed the connection before answering".into());
                    self.close_flow(io, i);
                    return;
                }
                Err(_) => return,
            }
        }
    }

    /// `bulk --direction send`: write as much as the send buffer takes.
    fn fill(&mut self, io: &mut Io<'_>, i: usize) {
        let Some(conn) = self.flows[i].conn else { return };
        if self.flows[i].state != FlowState::Streaming {
            return;
        }
        if !self.m.measuring(&self.shared.cfg, io.now()) {
            self.close_flow(io, i);
            return;
        }
        loop {
            match io.send(conn, &self.request) {
                Ok(n) => {
                    self.m.totals.bytes += n as u64;
                    if n < self.request.len() {
                        return;
                    }
                }
                Err(e) => {
                    self.m.error(|| format!("send: {e}"));
                    self.drop_flow(io, i);
                    return;
                }
            }
        }
    }

    fn close_reason(reason: CloseReason) -> &'static str {
        match reason {
            CloseReason::Normal => "closed",
            CloseReason::Reset => "reset by the server",
            CloseReason::Refused => "refused",
            CloseReason::Timeout => "timed out",
            CloseReason::Aborted => "aborted",
            CloseReason::Unreachable(_) => "destination unreachable (ICMP)",
            CloseReason::UserTimeout => "aborted by the user timeout",
        }
    }

    /// End the measurement: close what is open.
    fn stop_measuring(&mut self, io: &mut Io<'_>, now: Instant) {
        self.m.stop(&self.shared.cfg, now);
        for i in 0..self.flows.len() {
            match self.flows[i].state {
                FlowState::Connecting | FlowState::Waiting => self.close_flow(io, i),
                FlowState::Streaming if self.shared.cfg.direction == Direction::Recv => {
                    // The server would send forever: reset rather than close.
                    if let Some(c) = self.flows[i].conn.take() {
                        self.by_conn.remove(&c);
                        io.abort(c);
                    }
                    self.flows[i].state = FlowState::Done;
                }
                FlowState::Streaming => self.close_flow(io, i),
                FlowState::Idle => self.flows[i].state = FlowState::Done,
                _ => {}
            }
        }
    }

    fn finish(&mut self, io: &mut Io<'_>) -> bool {
        if self.finished {
            return false;
        }
        self.finished = true;
        let now = io.now();
        let start = self.m.start.unwrap_or(now);
        let end = if self.shared.cfg.count.is_some() {
            self.m.last_done.max(start)
        } else if self.kind == Kind::Bulk && self.shared.cfg.direction == Direction::Send {
            // Sent means acknowledged: the close completed after the last byte.
            now
        } else {
            self.m.stopped_at.unwrap_or(now)
        };
        let elapsed = Duration::from_micros(end.micros().saturating_sub(start.micros()));
        self.shared.publish(self.core, self.m.totals);
        self.shared.finish(self.m.totals, &self.m.hist, elapsed, self.m.first_error.take())
    }
}

impl App for TcpLoad {
    fn start(&mut self, io: &mut Io<'_>) {
        self.m.start = Some(io.now());
        for i in 0..self.flows.len() {
            self.open(io, i);
        }
    }

    fn event(&mut self, io: &mut Io<'_>, ev: Event) {
        match ev {
            Event::Connected(c) => {
                let Some(&i) = self.by_conn.get(&c) else { return };
                match self.kind {
                    Kind::Rr | Kind::Crr => self.send_request(io, i),
                    Kind::Bulk => {
                        self.flows[i].state = FlowState::Streaming;
                        if self.shared.cfg.direction == Direction::Send {
                            self.fill(io, i);
                        }
                    }
                    Kind::Udp => {}
                }
            }
            Event::Readable(c) => {
                if let Some(&i) = self.by_conn.get(&c) {
                    self.on_readable(io, i);
                } else {
                    // A crr connection we closed: read its end of stream.
                    while matches!(io.recv_with(c, |b| b.len()), Ok(n) if n > 0) {}
                }
            }
            Event::Writable(c) => {
                if let Some(&i) = self.by_conn.get(&c) {
                    self.fill(io, i);
                }
            }
            Event::ConnectFailed { conn, error } => {
                let Some(i) = self.by_conn.remove(&conn) else { return };
                let to = self.shared.cfg.to;
                self.m.error(|| match error {
                    ConnectFailure::Refused => format!("connection refused by {to}"),
                    ConnectFailure::Timeout => format!("connection to {to} timed out"),
                    ConnectFailure::Unreachable(k) => format!("connection to {to} failed: {k}"),
                });
                self.flows[i].conn = None;
                self.flows[i].state = if self.kind == Kind::Crr && self.m.measuring(&self.shared.cfg, io.now()) { FlowState::Idle } else { FlowState::Done };
            }
            Event::Closed { conn, reason } => match self.by_conn.remove(&conn) {
                Some(i) => {
                    // Closed by us at the end of its work: a clean close, or an
                    // abort when it had not finished its handshake.
                    let expected = self.flows[i].state == FlowState::Closing && matches!(reason, CloseReason::Normal | CloseReason::Aborted);
                    if !expected {
                        self.m.error(|| format!("connection {}", Self::close_reason(reason)));
                    }
                    self.flows[i].conn = None;
                    self.flows[i].state = if self.kind == Kind::Crr && self.m.measuring(&self.shared.cfg, io.now()) { FlowState::Idle } else { FlowState::Done };
                }
                None => {
                    // A crr connection closed after its response.
                    self.closing = self.closing.saturating_sub(1);
                    if reason != CloseReason::Normal {
                        self.m.error(|| format!("connection {} while closing", Self::close_reason(reason)));
                    }
                }
            },
            _ => {}
        }
    }

    fn poll(&mut self, io: &mut Io<'_>) -> bool {
        if self.finished {
            return false;
        }
        self.shared.publish(self.core, self.m.totals);
        let now = io.now();
        let mut busy = false;
        if self.m.measuring(&self.shared.cfg, now) {
            if self.kind == Kind::Crr {
                for i in 0..self.flows.len() {
                    if self.flows[i].state == FlowState::Idle {
                        self.open(io, i);
                        busy = true;
                    }
                }
            }
            if let Some(d) = self.m.deadline(&self.shared.cfg) {
                io.wake_at(d);
            }
            // Every flow finished (its share of --count, or failed): stop early.
            if !self.flows.iter().all(|f| f.state == FlowState::Done) {
                return busy;
            }
        }
        if self.m.stopped_at.is_none() {
            self.stop_measuring(io, now);
        }
        let stopped = self.m.stopped_at.unwrap_or(now);
        let grace_over = now.micros() > stopped.micros() + CLOSE_GRACE.as_micros() as u64;
        let quiet = self.flows.iter().all(|f| f.state == FlowState::Done) && self.closing == 0;
        if quiet || grace_over {
            if self.finish(io) {
                io.stop_stack();
            }
            return true;
        }
        io.wake_at(Instant::from_micros(stopped.micros() + CLOSE_GRACE.as_micros() as u64 + 1_000));
        busy
    }

    fn stop(&mut self, io: &mut Io<'_>) {
        // Interrupted (SIGINT): report what was measured.
        if self.m.stopped_at.is_none() {
            self.m.stopped_at = Some(io.now());
        }
        self.finish(io);
    }
}
