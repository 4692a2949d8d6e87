//! `load udp`: datagrams per second against a UDP echo server, on the engine's
//! low-level API, one instance per core.
//!
//! Every flow binds its own ephemeral port (one whose replies RSS sends to this
//! core, [`Io::udp_bind_ephemeral`]) and keeps one datagram of `--size` bytes
//! outstanding: the first 4 bytes carry a sequence number, so a late answer to an
//! earlier datagram is not taken for the current one. An answer that does not
//! come within [`LOSS_TIMEOUT`] counts as an error (lost) and the flow sends
//! the next datagram. Datagrams that cannot leave yet (the next hop not resolved,
//! no transmit frame) are sent on the next turn.

use super::shared::{micros_between, Meter, Shared};
use engine::{App, Event, Instant, Io, UdpError};
use std::sync::Arc;
use std::time::Duration;

/// An answer later than this is counted lost.
pub const LOSS_TIMEOUT: Duration = Duration::from_millis(200);
/// Where ephemeral UDP ports start (the engine picks them in its dynamic range).
const PORT_BASE: u16 = engine::rss::DYNAMIC_PORTS.first;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The next datagram must be sent.
    Pending,
    Waiting,
    Done,
}

#[derive(Debug, Clone, Copy)]
struct Flow {
    port: u16,
    seq: u32,
    sent_at: Instant,
    state: State,
}

/// The UDP load client of one core.
pub struct UdpLoad {
    shared: Arc<Shared>,
    core: usize,
    flows: Vec<Flow>,
    /// Flow index by local port − 49152 (`u32::MAX`: none).
    by_port: Vec<u32>,
    payload: Vec<u8>,
    rx: Vec<u8>,
    /// Start, stop, totals, latencies, first error.
    m: Meter,
    pending: usize,
    next_scan: Instant,
    finished: bool,
}

impl UdpLoad {
    /// The client of core `core` of `cores`.
    pub fn new(shared: Arc<Shared>, core: usize, cores: usize) -> UdpLoad {
        shared.register();
        let cfg = &shared.cfg;
        let mine = (0..cfg.flows).filter(|f| f % cores.max(1) == core).count();
        let payload = (0..cfg.size).map(|i| (i * 7 + 1) as u8).collect();
        let rx = vec![0u8; cfg.size.max(1) + 1];
        UdpLoad {
            flows: vec![Flow { port: 0, seq: 0, sent_at: Instant::ZERO, state: State::Done }; mine],
            by_port: vec![u32::MAX; usize::from(u16::MAX - PORT_BASE) + 1],
            payload,
            rx,
            m: Meter::new(),
            pending: 0,
            next_scan: Instant::ZERO,
            finished: false,
            core,
            shared,
        }
    }

    /// The sequence number in a datagram's first bytes (the whole of a shorter one).
    fn stamp(buf: &mut [u8], seq: u32) {
        let b = seq.to_be_bytes();
        let n = buf.len().min(4);
        buf[..n].copy_from_slice(&b[4 - n..]);
    }

    /// Begin flow `i`'s next datagram if the run wants one.
    fn next(&mut self, io: &mut Io<'_>, i: usize) {
        if !self.m.measuring(&self.shared.cfg, io.now()) || !self.shared.take_one() {
            self.flows[i].state = State::Done;
            return;
        }
        self.flows[i].seq = self.flows[i].seq.wrapping_add(1);
        self.flows[i].state = State::Pending;
        self.pending += 1;
        self.send(io, i);
    }

    /// Send flow `i`'s pending datagram (it stays pending when it cannot leave yet).
    fn send(&mut self, io: &mut Io<'_>, i: usize) {
        let f = self.flows[i];
        if f.state != State::Pending {
            return;
        }
        Self::stamp(&mut self.payload, f.seq);
        match io.send_to(f.port, self.shared.cfg.to, &self.payload) {
            Ok(()) => {
                self.flows[i].state = State::Waiting;
                self.flows[i].sent_at = io.now();
                self.pending -= 1;
            }
            Err(UdpError::NeighbourUnresolved | UdpError::NoBuffer | UdpError::WouldBlock) => {}
            Err(e) => {
                let to = self.shared.cfg.to;
                self.m.error(|| format!("send to {to}: {e}"));
                self.flows[i].state = State::Done;
                self.pending -= 1;
            }
        }
    }

    fn on_datagrams(&mut self, io: &mut Io<'_>, port: u16) {
        let Some(&idx) = self.by_port.get(usize::from(port.wrapping_sub(PORT_BASE))) else { return };
        if idx == u32::MAX {
            return;
        }
        let i = idx as usize;
        loop {
            let d = match io.recv_from(port, &mut self.rx) {
                Ok(d) => d,
                Err(_) => return,
            };
            let f = self.flows[i];
            let size = self.shared.cfg.size;
            if f.state != State::Waiting || d.src != self.shared.cfg.to || d.len != size {
                continue; // late, stray or of another length
            }
            let mut want = [0u8; 4];
            Self::stamp(&mut want[..size.min(4)], f.seq);
            if self.rx[..size.min(4)] != want[..size.min(4)] {
                continue; // the answer to an earlier datagram
            }
            if self.shared.cfg.verify && size > 4 && self.rx[4..size] != self.payload[4..size] {
                self.m.error(|| "answer differs from the datagram (--verify)".into());
            }
            let now = io.now();
            let _ = self.m.hist.record(micros_between(f.sent_at, now));
            self.m.totals.done += 1;
            self.m.totals.bytes += d.len as u64;
            self.m.last_done = now;
            self.next(io, i);
        }
    }

    fn finish(&mut self, io: &mut Io<'_>) -> bool {
        if self.finished {
            return false;
        }
        self.finished = true;
        for f in &self.flows {
            if f.port != 0 {
                io.udp_unbind(f.port);
            }
        }
        let now = io.now();
        let start = self.m.start.unwrap_or(now);
        let end = if self.shared.cfg.count.is_some() { self.m.last_done.max(start) } else { self.m.stopped_at.unwrap_or(now) };
        let elapsed = Duration::from_micros(end.micros().saturating_sub(start.micros()));
        self.shared.publish(self.core, self.m.totals);
        self.shared.finish(self.m.totals, &self.m.hist, elapsed, self.m.first_error.take())
    }
}

impl App for UdpLoad {
    fn start(&mut self, io: &mut Io<'_>) {
        self.m.start = Some(io.now());
        let to = self.shared.cfg.to;
        for i in 0..self.flows.len() {
            match io.udp_bind_ephemeral(to) {
                Ok(port) => {
                    self.flows[i].port = port;
                    self.by_port[usize::from(port - PORT_BASE)] = i as u32;
                    self.next(io, i);
                }
                Err(e) => self.m.error(|| format!("bind a UDP port: {e}")),
            }
        }
    }

    fn event(&mut self, io: &mut Io<'_>, ev: Event) {
        if let Event::Datagram { port } = ev {
            self.on_datagrams(io, port);
        }
    }

    fn poll(&mut self, io: &mut Io<'_>) -> bool {
        if self.finished {
            return false;
        }
        self.shared.publish(self.core, self.m.totals);
        let now = io.now();
        let mut busy = false;
        if self.pending > 0 {
            for i in 0..self.flows.len() {
                self.send(io, i);
            }
            busy = true;
        }
        if self.m.measuring(&self.shared.cfg, now) {
            // Lost datagrams: every few milliseconds, not every turn.
            if now >= self.next_scan {
                self.next_scan = Instant::from_micros(now.micros() + 5_000);
                let lost_before = Instant::from_micros(now.micros().saturating_sub(LOSS_TIMEOUT.as_micros() as u64));
                for i in 0..self.flows.len() {
                    if self.flows[i].state == State::Waiting && self.flows[i].sent_at < lost_before {
                        self.m.error(|| "datagrams lost (no answer within 200 ms)".into());
                        self.next(io, i);
                        busy = true;
                    }
                }
            }
            io.wake_at(self.next_scan);
            if self.flows.iter().any(|f| f.state != State::Done) {
                return busy;
            }
        }
        if self.m.stopped_at.is_none() {
            self.m.stop(&self.shared.cfg, now);
        }
        let stopped = self.m.stopped_at.unwrap_or(now);
        // Answers still on their way may come within the loss timeout.
        let waiting = self.flows.iter().any(|f| f.state == State::Waiting);
        if !waiting || now.micros() > stopped.micros() + LOSS_TIMEOUT.as_micros() as u64 {
            if self.finish(io) {
                io.stop_stack();
            }
            return true;
        }
        io.wake_at(Instant::from_micros(stopped.micros() + LOSS_TIMEOUT.as_micros() as u64 + 1_000));
        busy
    }

    fn stop(&mut self, io: &mut Io<'_>) {
        if self.m.stopped_at.is_none() {
            self.m.stopped_at = Some(io.now());
        }
        self.finish(io);
    }
}
