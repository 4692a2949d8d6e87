//! One run-to-completion loop: one device queue, one interface, its services.

use crate::clock::Clock;
use crate::service::{pump, Service, ServiceKind};
use crate::sink::TxSink;
use hashbrown::HashMap;
use proto::iface::Interface;
use proto::tcp::{ConnId, TcpEvent};
use proto::time::Instant;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use xsk::{Device, PcapWriter};

/// Frames taken from the RX ring per burst.
pub const RX_BURST: usize = 64;
/// How long the loop keeps polling the rings after the last work before it sleeps
/// in `poll(2)` (a kernel-bypass loop trades a core's idle time for latency; a
/// wake-up from `poll` costs tens of microseconds).
pub const DEFAULT_BUSY_POLL: Duration = Duration::from_millis(20);
/// Longest sleep when no timer is due sooner.
const MAX_SLEEP: Duration = Duration::from_millis(10);

/// Counters of the loop itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoopStats {
    /// Turns of the loop.
    pub turns: u64,
    /// Turns that found nothing to do.
    pub idle_turns: u64,
    /// Sleeps in the device's `wait`.
    pub sleeps: u64,
    /// Connections accepted by services.
    pub accepted: u64,
    /// Connections closed.
    pub closed: u64,
}

/// A core's loop over device `D`.
pub struct CoreLoop<D: Device> {
    dev: D,
    iface: Interface,
    clock: Clock,
    services: HashMap<u16, ServiceKind>,
    conns: HashMap<ConnId, ServiceKind>,
    scratch: Box<[u8]>,
    stats: LoopStats,
    pcap: Option<PcapWriter>,
    busy_poll: Duration,
}

impl<D: Device> CoreLoop<D> {
    /// A loop over `dev` and `iface`, serving `services` (each port starts listening).
    pub fn new(dev: D, mut iface: Interface, services: &[Service]) -> Result<CoreLoop<D>, String> {
        let mut map = HashMap::new();
        for s in services {
            iface.tcp_mut().listen(s.port).map_err(|e| format!("listen on port {}: {e:?}", s.port))?;
            map.insert(s.port, s.kind);
        }
        Ok(CoreLoop {
            dev,
            iface,
            clock: Clock::new(),
            services: map,
            conns: HashMap::with_capacity(1024),
            scratch: vec![0u8; 64 * 1024].into_boxed_slice(),
            stats: LoopStats::default(),
            pcap: None,
            busy_poll: DEFAULT_BUSY_POLL,
        })
    }

    /// Keep polling this long after the last work before sleeping (`--busy-poll`).
    pub fn set_busy_poll(&mut self, d: Duration) {
        self.busy_poll = d;
    }

    /// Record every frame received and sent into `pcap` (`--pcap FILE`).
    pub fn set_pcap(&mut self, pcap: PcapWriter) {
        self.pcap = Some(pcap);
    }

    /// The interface (counters, ARP cache, TCP).
    pub fn iface(&self) -> &Interface {
        &self.iface
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.dev
    }

    /// The loop's own counters.
    pub fn stats(&self) -> LoopStats {
        self.stats
    }

    /// Run until `stop` becomes true.
    pub fn run(&mut self, stop: &AtomicBool) -> std::io::Result<()> {
        let mut last_work = std::time::Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if self.turn()? {
                last_work = std::time::Instant::now();
            } else if last_work.elapsed() >= self.busy_poll {
                self.sleep()?;
                last_work = std::time::Instant::now();
            }
        }
        if let Some(p) = self.pcap.as_mut() {
            let _ = p.flush();
        }
        self.dev.flush()
    }

    /// One turn: RX burst, events to services, transmit what is due, flush.
    /// Returns whether anything happened.
    pub fn turn(&mut self) -> std::io::Result<bool> {
        let now = self.clock.now();
        self.turn_at(now)
    }

    /// One turn at the given instant (simulation tests drive a virtual clock).
    pub fn turn_at(&mut self, now: Instant) -> std::io::Result<bool> {
        self.stats.turns += 1;
        let iface = &mut self.iface;
        let pcap = &mut self.pcap;
        let received = self.dev.rx_burst(RX_BURST, |frame, tx| {
            if let Some(p) = pcap.as_mut() {
                let _ = p.write(std::time::SystemTime::now(), frame);
            }
            iface.handle_frame(now, frame, &mut TxSink::recording(tx, pcap.as_mut()));
        })?;
        let events = self.dispatch_events();
        let sent_before = self.iface.stats().tx_frames;
        self.iface.poll_transmit(now, &mut TxSink::recording(self.dev.tx(), self.pcap.as_mut()));
        let sent = self.iface.stats().tx_frames != sent_before;
        self.dev.flush()?;
        let busy = received > 0 || events > 0 || sent;
        if !busy {
            self.stats.idle_turns += 1;
        }
        Ok(busy)
    }

    /// Deliver TCP events to the services; returns how many there were.
    fn dispatch_events(&mut self) -> usize {
        let mut n = 0;
        while let Some(ev) = self.iface.tcp_mut().poll_event() {
            n += 1;
            match ev {
                TcpEvent::Accepted { conn, port } => {
                    if let Some(kind) = self.services.get(&port) {
                        self.conns.insert(conn, *kind);
                        self.stats.accepted += 1;
                        pump(*kind, self.iface.tcp_mut(), conn, &mut self.scratch);
                    }
                }
                TcpEvent::Readable(conn) | TcpEvent::Writable(conn) => {
                    if let Some(kind) = self.conns.get(&conn) {
                        pump(*kind, self.iface.tcp_mut(), conn, &mut self.scratch);
                    }
                }
                TcpEvent::Connected(_) => {}
                TcpEvent::Closed { conn, .. } => {
                    if self.conns.remove(&conn).is_some() {
                        self.stats.closed += 1;
                    }
                }
            }
        }
        n
    }

    /// Sleep until a frame arrives or the next timer is due (bounded).
    fn sleep(&mut self) -> std::io::Result<()> {
        let now = self.clock.now();
        let timeout = match self.iface.poll_timeout() {
            Some(t) => t.saturating_duration_since(now).min(MAX_SLEEP),
            None => MAX_SLEEP,
        };
        if timeout.is_zero() {
            return Ok(());
        }
        self.stats.sleeps += 1;
        self.dev.wait(timeout)
    }
}
