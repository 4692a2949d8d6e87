//! One core's run-to-completion loop: the only loop of the engine. Every
//! subcommand, test and embedding program runs its application on it.
//!
//! A turn:
//! 1. applies neighbour updates and frames that other cores handed over;
//! 2. receives a burst of frames in place (UMEM on AF_XDP): a frame of a flow
//!    that another core owns (RSS ownership, [`crate::rss::Steering`]) is copied
//!    to that core's queue, everything else goes to this core's interface;
//! 3. publishes the neighbours it learned; delivers the TCP events to the
//!    application, then calls its `poll`;
//! 4. lets TCP transmit what is due, flushes the device once, wakes the sleeping
//!    cores it queued work for, and every [`crate::stats::PUBLISH_INTERVAL`]
//!    publishes its counters.
//!
//! The clock is read once per busy turn, lazily (at the first frame, or when the
//! application or a timer needs it); an idle turn reads only the rings and
//! queues, and the clock once every [`IDLE_CLOCK_TURNS`] idle turns, to run due
//! timers and to decide when the busy-poll time is over and the loop may sleep
//! in poll(2) (woken by a frame, a timer, or another core's eventfd).
//!
//! An idle turn takes the quiet path when it can: the RX ring and the queues
//! from other cores are empty, the application waits for events
//! ([`App::polls_when_idle`]) and the interface's earliest deadline, learned
//! by the first idle turn after a full one, is still ahead. It then costs a
//! few loads and compares (`idle_turn` in `bench/budgets.toml`).

use crate::app::{event_of, App, Event, Io, Net};
use crate::clock::Clock;
use crate::mesh::{AddressVerdict, CoreLinks, NeighbourUpdate};
use crate::sink::TxSink;
use crate::stats::{CoreSnapshot, Counter, StatsBoard, PUBLISH_INTERVAL};
use crate::steer::{link_control, owner_of, LinkControl};
use proto::time::Instant;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use xsk::{Device, PcapWriter};

/// Frames taken from the RX ring per burst.
pub const RX_BURST: usize = 64;
/// Frames taken from each other core's queue per turn.
pub const HANDOFF_BURST: usize = 256;
/// Idle turns between two clock reads.
pub const IDLE_CLOCK_TURNS: u32 = 64;
/// How long the loop keeps polling after the last work before it sleeps in
/// `poll(2)` (a kernel-bypass loop trades a core's idle time for latency; a
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
    /// Idle turns that took the quiet path (a few checks of the rings,
    /// queues and the earliest deadline; see `Core::quiet`).
    pub quiet_turns: u64,
    /// Sleeps in the device's `wait`.
    pub sleeps: u64,
    /// Connections accepted (events delivered).
    pub accepted: u64,
    /// Active opens connected.
    pub connected: u64,
    /// Connections ended (closed, failed).
    pub closed: u64,
}

/// A pcap file shared by the cores of a stack (`--pcap`; a debugging aid: the
/// lock serialises the cores while it is on).
pub type SharedPcap = Arc<Mutex<PcapWriter>>;

/// One core: its device queue, its protocol state, its application, its links
/// to the other cores.
pub struct Core<D: Device, A: App> {
    dev: D,
    net: Rc<RefCell<Net>>,
    /// The stack's flow ownership (also in `net`; kept here so that a turn need
    /// not clone the `Arc`).
    steering: Arc<crate::rss::Steering>,
    app: A,
    links: CoreLinks,
    clock: Clock,
    queue: u32,
    board: Option<Arc<StatsBoard>>,
    pcap: Option<SharedPcap>,
    busy_poll: Duration,
    stats: LoopStats,
    next_publish: Instant,
    started: bool,
    /// The interface's earliest deadline, learned by the first idle turn after
    /// a full turn (see [`Core::quiet`]); `None`: not known.
    quiet_until: Option<Instant>,
    addr_hook: Option<AddrHook>,
    conflict_hook: Option<ConflictHook>,
}

/// Called with an IPv6 address of the interface that became usable (`true`:
/// DAD done, e.g. formed by SLAAC) or was found duplicate (`false`); the stack
/// steers a new address to itself in the XDP program and logs duplicates.
pub type AddrHook = Box<dyn FnMut(std::net::Ipv6Addr, bool) + Send>;

/// Called with a preferred IPv6 address of the interface that another node
/// (this MAC) advertised: the address is kept (RFC 4862 §5.4.4), the stack
/// warns once per address.
pub type ConflictHook = Box<dyn FnMut(std::net::Ipv6Addr, [u8; 6]) + Send>;

impl<D: Device, A: App> Core<D, A> {
    /// A core over `dev` (serving NIC queue `queue`) with protocol state `net`,
    /// application `app` and its end of the mesh. `clock` must be the stack's
    /// shared clock.
    pub fn new(dev: D, net: Net, app: A, links: CoreLinks, clock: Clock, queue: u32) -> Core<D, A> {
        let steering = Arc::clone(&net.steering);
        Core {
            dev,
            steering,
            net: Rc::new(RefCell::new(net)),
            app,
            links,
            clock,
            queue,
            board: None,
            pcap: None,
            busy_poll: DEFAULT_BUSY_POLL,
            stats: LoopStats::default(),
            next_publish: Instant::ZERO,
            started: false,
            quiet_until: None,
            addr_hook: None,
            conflict_hook: None,
        }
    }

    /// Keep polling this long after the last work before sleeping (`--busy-poll`).
    pub fn set_busy_poll(&mut self, d: Duration) {
        self.busy_poll = d;
    }

    /// Record every frame received and sent (`--pcap`).
    pub fn set_pcap(&mut self, pcap: SharedPcap) {
        self.pcap = Some(pcap);
    }

    /// Install the hook told about IPv6 address changes (see [`AddrHook`]).
    pub fn set_addr_hook(&mut self, hook: AddrHook) {
        self.addr_hook = Some(hook);
    }

    /// Install the hook told about addresses of ours another node advertises
    /// (see [`ConflictHook`]).
    pub fn set_conflict_hook(&mut self, hook: ConflictHook) {
        self.conflict_hook = Some(hook);
    }

    /// Publish counters on `board` (slot = this core's index).
    pub fn set_board(&mut self, board: Arc<StatsBoard>) {
        self.board = Some(board);
    }

    /// The protocol state (interface, TCP) of this core.
    pub fn net(&self) -> std::cell::Ref<'_, Net> {
        self.net.borrow()
    }

    /// The application.
    pub fn app(&self) -> &A {
        &self.app
    }

    /// The application, mutable.
    pub fn app_mut(&mut self) -> &mut A {
        self.quiet_until = None;
        &mut self.app
    }

    /// An [`Io`] handle on this core, for driving the application from outside the
    /// loop (simulation tests).
    pub fn with_io<R>(&mut self, f: impl FnOnce(&mut A, &mut Io<'_>) -> R) -> R {
        self.quiet_until = None;
        let mut io = Io::new(&self.net);
        f(&mut self.app, &mut io)
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.dev
    }

    /// The device, mutable (simulations and benchmarks feed it).
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.dev
    }

    /// The loop's counters.
    pub fn loop_stats(&self) -> LoopStats {
        self.stats
    }

    /// This core's counters now.
    pub fn snapshot(&self) -> CoreSnapshot {
        let mut s = CoreSnapshot::new(self.links.me(), self.queue);
        let d = self.dev.stats();
        let net = self.net.borrow();
        let i = net.iface.stats();
        let l = self.links.stats();
        for (c, v) in [
            (Counter::rx_packets, d.rx_packets),
            (Counter::rx_bytes, d.rx_bytes),
            (Counter::tx_packets, d.tx_packets),
            (Counter::tx_bytes, d.tx_bytes),
            (Counter::tx_no_frame, d.tx_no_frame),
            (Counter::rx_fill_empty, d.rx_fill_empty),
            (Counter::rx_ring_full, d.rx_ring_full),
            (Counter::rx_dropped, d.rx_dropped),
            (Counter::tx_invalid, d.tx_invalid),
            (Counter::tx_kicks, d.tx_kicks),
            (Counter::if_rx_frames, i.rx_frames),
            (Counter::if_tx_frames, i.tx_frames),
            (Counter::arp_replies, i.arp_replies),
            (Counter::arp_requests, i.arp_requests),
            (Counter::arp_announcements, i.arp_announcements),
            (Counter::icmp_echo_replies, i.icmp_echo_replies),
            (Counter::icmp_errors_sent, i.icmp_errors_sent),
            (Counter::rx_csum_partial, i.rx_csum_partial),
            (Counter::ipv4_frags_in, i.ipv4_frags_in),
            (Counter::ipv4_reassembled, i.ipv4_reassembled),
            (Counter::ipv4_frags_out, i.ipv4_frags_out),
            (Counter::ipv6_frags_in, i.ipv6_frags_in),
            (Counter::ipv6_reassembled, i.ipv6_reassembled),
            (Counter::ipv6_frags_out, i.ipv6_frags_out),
            (Counter::ndp_solicits, i.ndp_solicits),
            (Counter::ndp_adverts, i.ndp_adverts),
            (Counter::mld_reports, i.mld_reports),
            (Counter::ndp_redirects, i.ndp_redirects),
            (Counter::icmp_errors_in, i.icmp_errors_in),
            (Counter::pmtu_updates, i.pmtu_updates),
            (Counter::udp_icmp_errors, i.udp_icmp_errors),
            (Counter::udp_datagrams_in, net.iface.udp().stats().datagrams_in),
            (Counter::udp_datagrams_out, net.iface.udp().stats().datagrams_out),
            (Counter::flows, net.iface.tcp().connection_count() as u64),
            (Counter::turns, self.stats.turns),
            (Counter::idle_turns, self.stats.idle_turns),
            (Counter::sleeps, self.stats.sleeps),
            (Counter::wakeups_sent, l.wakeups_sent),
            (Counter::handoff_out, l.handoff_out),
            (Counter::handoff_in, l.handoff_in),
            (Counter::handoff_overflow, l.handoff_overflow),
            (Counter::neigh_published, l.neigh_published),
            (Counter::neigh_applied, l.neigh_applied),
            (Counter::neigh_overflow, l.neigh_overflow),
            (Counter::app_accepted, self.stats.accepted),
            (Counter::app_connected, self.stats.connected),
            (Counter::app_closed, self.stats.closed),
        ] {
            s.set(c, v);
        }
        s.drops = i.drops;
        for (k, (_, v)) in net.iface.tcp().stats().fields().iter().enumerate() {
            s.tcp[k] = *v;
        }
        s
    }

    #[inline]
    fn publish(&mut self, now: Instant) {
        if now >= self.next_publish {
            self.publish_now(now);
        }
    }

    #[cold]
    #[inline(never)]
    fn publish_now(&mut self, now: Instant) {
        self.next_publish = now + PUBLISH_INTERVAL;
        if let Some(b) = self.board.clone() {
            b.publish(&self.snapshot());
        }
    }

    #[inline]
    fn start(&mut self) {
        if !self.started {
            self.start_now();
        }
    }

    #[cold]
    #[inline(never)]
    fn start_now(&mut self) {
        self.started = true;
        self.quiet_until = None;
        let mut sink = TxSink::recording_shared(self.dev.tx(), self.pcap.as_ref());
        if self.links.me() == 0 {
            // RFC 5227 §3: announce our IPv4 addresses once, from one core.
            self.net.borrow_mut().iface.announce_ipv4(&mut sink);
        }
        let mut io = Io::with_tx(&self.net, &mut sink);
        self.app.start(&mut io);
    }

    /// Run until `stop` becomes true (or the application stops the stack), then
    /// call the application's `stop`, flush and publish a last time.
    pub fn run(&mut self, stop: &AtomicBool) -> std::io::Result<()> {
        self.start();
        let mut idle_turns = 0u32;
        let mut idle_since: Option<Instant> = None;
        let clock = self.clock;
        while !stop.load(Ordering::Relaxed) {
            if self.turn_with(|| clock.now())? {
                idle_turns = 0;
                idle_since = None;
                continue;
            }
            idle_turns += 1;
            if !idle_turns.is_multiple_of(IDLE_CLOCK_TURNS) {
                continue;
            }
            // Let another runnable thread of this CPU go first (when loops outnumber
            // CPUs, a busy-polling loop would otherwise hold the CPU for its whole
            // time slice while the loop that has work waits).
            std::thread::yield_now();
            let now = clock.now();
            self.net.borrow_mut().now = now;
            self.publish(now);
            let since = *idle_since.get_or_insert(now);
            if now - since >= self.busy_poll {
                self.sleep(now)?;
                idle_since = None;
            }
        }
        self.finish(clock.now())
    }

    /// The end of a run: the application's `stop`, what it still sends, a last
    /// flush and publish; other cores are woken so that they see the stop too.
    pub fn finish(&mut self, now: Instant) -> std::io::Result<()> {
        self.quiet_until = None;
        self.net.borrow_mut().now = now;
        {
            let mut io = Io::new(&self.net);
            self.app.stop(&mut io);
        }
        self.transmit(now);
        if let Some(p) = &self.pcap {
            let _ = p.lock().unwrap_or_else(|e| e.into_inner()).flush();
        }
        let res = self.dev.flush();
        self.links.wake_all();
        self.next_publish = Instant::ZERO;
        self.publish(now);
        res
    }

    /// One turn at the given instant (simulation tests drive a virtual clock).
    #[inline]
    pub fn turn_at(&mut self, now: Instant) -> std::io::Result<bool> {
        if self.started && self.quiet(now) {
            self.net.borrow_mut().now = now;
            self.publish(now);
            return self.quiet_turn();
        }
        self.turn_at_full(now)
    }

    /// [`Core::turn_at`] past the quiet test (or a first turn).
    #[inline(never)]
    fn turn_at_full(&mut self, now: Instant) -> std::io::Result<bool> {
        self.start();
        let busy = self.full_turn(|| now)?;
        self.net.borrow_mut().now = now;
        self.publish(now);
        Ok(busy)
    }

    /// One turn; `clock` is called at most once, when the turn needs the time.
    #[inline]
    fn turn_with(&mut self, clock: impl FnMut() -> Instant) -> std::io::Result<bool> {
        let now = self.net.borrow().now;
        if self.quiet(now) {
            return self.quiet_turn();
        }
        self.full_turn(clock)
    }

    /// The quiet path: nothing arrived and nothing is due; only the device's
    /// own housekeeping (completions, the fill ring) runs.
    #[inline]
    fn quiet_turn(&mut self) -> std::io::Result<bool> {
        self.stats.turns += 1;
        self.stats.idle_turns += 1;
        self.stats.quiet_turns += 1;
        self.dev.flush()?;
        Ok(false)
    }

    /// Is there certainly nothing for this turn to do? No input from other
    /// cores, an empty RX ring, an application that waits for events, no
    /// event, neighbour or address news, staged datagram or timer due at `now`
    /// (the loop's last clock reading: an idle turn reads no clock).
    ///
    /// The first idle turn after a full one looks at all of the interface
    /// ([`Interface::quiet_until`](proto::iface::Interface::quiet_until)) and
    /// keeps its earliest deadline in `quiet_until`; the idle turns after it compare
    /// the time with that. Only a full turn, or a handle given out of the core
    /// (`with_io`, `app_mut`), can add work, and each clears `quiet_until`.
    #[inline]
    fn quiet(&mut self, now: Instant) -> bool {
        if self.dev.rx_ready() || self.app.polls_when_idle() || self.links.has_input() {
            return false;
        }
        match self.quiet_until {
            Some(t) => now < t,
            None => self.learn_quiet(now),
        }
    }

    /// The first idle turn's full look at the interface (see [`Core::quiet`]).
    #[inline(never)]
    fn learn_quiet(&mut self, now: Instant) -> bool {
        let net = self.net.borrow();
        if net.has_staged_udp() {
            return false;
        }
        self.quiet_until = net.iface.quiet_until(now);
        self.quiet_until.is_some()
    }

    /// A turn past the quiet test: the four steps of the module's summary.
    #[inline]
    fn full_turn(&mut self, mut clock: impl FnMut() -> Instant) -> std::io::Result<bool> {
        self.stats.turns += 1;
        self.quiet_until = None;
        let mut fresh: Option<Instant> = None;
        let mut busy = false;
        {
            let mut guard = self.net.borrow_mut();
            let net = &mut *guard;
            let links = &mut self.links;
            // 1. What other cores sent us.
            if links.has_input() {
                let now = *fresh.get_or_insert_with(&mut clock);
                links.neighbour_updates(|u| {
                    net.iface.learn_neighbour(now, u.ip, u.mac);
                });
                // DAD verdicts reached on another core (core 0 runs the link's
                // DAD; any core may see a conflict): this core's replica of the
                // address follows, before any frame of this turn is answered.
                links.address_verdicts(|v| net.iface.apply_address_verdict(v.addr, v.usable));
                let tx = self.dev.tx();
                links.receive(HANDOFF_BURST, |f| net.iface.handle_frame(now, f, &mut TxSink::recording_shared(tx, self.pcap.as_ref())));
                busy = true;
            }
            // 2. A burst of frames, in place.
            let me = links.me();
            let steering = &*self.steering;
            let multi = steering.cores() > 1;
            let pcap = self.pcap.as_ref();
            let received = self.dev.rx_burst(RX_BURST, |frame, tx| {
                let now = *fresh.get_or_insert_with(&mut clock);
                if let Some(p) = pcap {
                    let _ = p.lock().unwrap_or_else(|e| e.into_inner()).write(std::time::SystemTime::now(), frame);
                }
                if multi {
                    // IPv6 link control: RAs to every core (each learns routers,
                    // prefixes, SLAAC addresses), DAD and MLD traffic to core 0.
                    match link_control(frame) {
                        Some(LinkControl::AllCores) => {
                            for c in (0..steering.cores()).filter(|c| *c != me) {
                                links.forward(c, frame);
                            }
                        }
                        Some(LinkControl::Control) if me != 0 => {
                            links.forward(0, frame);
                            return;
                        }
                        _ => {}
                    }
                    // The flow's owner; for an IPv4 fragment the owner of its
                    // addresses (all fragments of a datagram to one core); for an
                    // echo reply the core whose ping sent the request.
                    if let Some(owner) = owner_of(frame, steering).filter(|o| *o != me) {
                        // Never answered here (no RST from a core that does not
                        // hold the connection): the owner gets a copy.
                        links.forward(owner, frame);
                        return;
                    }
                }
                net.iface.handle_frame(now, frame, &mut TxSink::recording_shared(tx, pcap));
            })?;
            busy |= received > 0;
            // 3a. Neighbours learned here, for the other cores.
            net.iface.drain_learned(|ip, mac| links.publish_neighbour(NeighbourUpdate { ip, mac }));
            // 3b. DAD verdicts reached here: to the other cores, and reported.
            let hook = &mut self.addr_hook;
            net.iface.take_address_events(|addr, usable| {
                links.publish_address(AddressVerdict { addr, usable });
                if let Some(h) = hook.as_mut() {
                    h(addr, usable);
                }
            });
            if let Some(h) = self.conflict_hook.as_mut() {
                net.iface.take_address_conflicts(h);
            }
            if let Some(now) = fresh {
                net.now = now;
            }
        }
        // 3c. Events to the application, then its own work.
        busy |= self.dispatch() > 0;
        {
            let mut sink = TxSink::recording_shared(self.dev.tx(), self.pcap.as_ref());
            let mut io = Io::with_tx(&self.net, &mut sink);
            busy |= self.app.poll(&mut io);
        }
        // 4. Output.
        let now = {
            let mut net = self.net.borrow_mut();
            let now = match fresh {
                Some(t) => t,
                None if busy => {
                    let t = clock();
                    net.now = t;
                    t
                }
                None => net.now,
            };
            let due = net.iface.poll_timeout().is_some_and(|t| t <= now);
            busy |= due;
            now
        };
        if busy {
            self.transmit(now);
        } else {
            self.stats.idle_turns += 1;
        }
        self.dev.flush()?;
        self.links.wake_dirty();
        Ok(busy)
    }

    fn transmit(&mut self, now: Instant) {
        let mut net = self.net.borrow_mut();
        let mut sink = TxSink::recording_shared(self.dev.tx(), self.pcap.as_ref());
        net.flush_udp(now, &mut sink);
        net.iface.poll_transmit(now, &mut sink);
    }

    /// Deliver the TCP and UDP events to the application (which may answer into
    /// this turn's transmit frames); returns how many there were.
    fn dispatch(&mut self) -> usize {
        if !self.net.borrow().iface.has_events() {
            return 0;
        }
        let mut n = 0;
        loop {
            let ev = {
                let mut guard = self.net.borrow_mut();
                let net = &mut *guard;
                match net.iface.tcp_mut().poll_event() {
                    Some(ev) => event_of(ev, &mut net.connecting),
                    None => match net.iface.udp_mut().poll_event() {
                        Some(proto::udp::UdpEvent::Readable(port)) => Event::Datagram { port },
                        None => break,
                    },
                }
            };
            n += 1;
            match ev {
                Event::Accepted { .. } => self.stats.accepted += 1,
                Event::Connected(_) => self.stats.connected += 1,
                Event::Closed { .. } | Event::ConnectFailed { .. } => self.stats.closed += 1,
                _ => {}
            }
            let mut sink = TxSink::recording_shared(self.dev.tx(), self.pcap.as_ref());
            let mut io = Io::with_tx(&self.net, &mut sink);
            self.app.event(&mut io, ev);
        }
        n
    }

    /// Sleep until a frame arrives, a timer is due, the application's wake-up time
    /// comes, or another core wakes us (bounded by `MAX_SLEEP`).
    fn sleep(&mut self, now: Instant) -> std::io::Result<()> {
        let (timer, wake_at) = {
            let net = self.net.borrow();
            (net.iface.poll_timeout(), net.wake_at)
        };
        let mut timeout = MAX_SLEEP;
        for t in [timer, wake_at].into_iter().flatten() {
            timeout = timeout.min(t.saturating_duration_since(now));
        }
        if timeout.is_zero() {
            self.net.borrow_mut().wake_at = None;
            return Ok(());
        }
        if !self.links.prepare_sleep() {
            return Ok(());
        }
        self.stats.sleeps += 1;
        let res = self.dev.wait_or_wake(timeout, self.links.waker());
        self.links.awake();
        // The time moved on while asleep: what the next turn does (an application
        // timestamping a request) must not see the time before the sleep.
        let now = self.clock.now();
        let mut net = self.net.borrow_mut();
        net.now = now;
        if net.wake_at.is_some_and(|w| w <= now) {
            net.wake_at = None;
        }
        res
    }
}
