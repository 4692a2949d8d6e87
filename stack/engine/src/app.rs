//! The low-level application API: an [`App`] object per core that the loop calls
//! with [`Event`]s, and the [`Io`] handle it acts through.
//!
//! Everything runs on the core's own thread, in the loop, between two batches of
//! frames: an event handler reads, writes, accepts or connects, and its output
//! goes out with the rest of the batch. Nothing is allocated per event; handles
//! are plain [`ConnId`]s (index + generation; a stale handle gets `InvalidConn`).
//!
//! Connections are owned by the core whose loop accepted or opened them: every
//! core runs its own instance of the application (the factory given to
//! [`crate::Stack::start`] builds one per core), listens on its own ports, and
//! sees only its own connections. Data accepted by `send` is never lost while the
//! connection lives.

use crate::error::{ConnectError, ConnectFailure, ListenError, RecvError, SendError, SpliceError, UdpError};
pub use proto::udp::Datagram;
use crate::rss::{Steering, DYNAMIC_PORTS, TCP_EPHEMERAL_PORTS};
use proto::iface::Interface;
use proto::tcp::{CloseReason, ConnId, TcpEvent};
use proto::time::{Duration, Instant};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What the loop tells an application. Non-exhaustive: new kinds of events (IPv6
/// neighbours, ICMP errors) may come; match them with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A connection to one of our listeners completed its handshake.
    Accepted {
        /// The new connection.
        conn: ConnId,
        /// The listening port.
        port: u16,
    },
    /// An active open ([`Io::connect`]) completed.
    Connected(ConnId),
    /// An active open failed; the handle is invalid from now on.
    ConnectFailed {
        /// The connection.
        conn: ConnId,
        /// Refused (RST) or timed out.
        error: ConnectFailure,
    },
    /// Data (or the peer's FIN) can be read. Comes once until the application
    /// reads (a `recv` that leaves data behind gets no new event: read until
    /// `WouldBlock`).
    Readable(ConnId),
    /// Send-buffer space was freed after a short or filling `send`.
    Writable(ConnId),
    /// Datagrams wait on a bound UDP port (once until `recv_from` empties it).
    Datagram {
        /// The port.
        port: u16,
    },
    /// The connection is gone; the handle is invalid from now on.
    Closed {
        /// The connection.
        conn: ConnId,
        /// Why: both FINs exchanged (`Normal`), reset, timed out, aborted.
        reason: CloseReason,
    },
}

/// An application running in a core's loop. One instance per core.
pub trait App {
    /// Called once on the core's thread before the first turn: listen, connect.
    fn start(&mut self, io: &mut Io<'_>) {
        let _ = io;
    }

    /// One event. Called for every event of the turn, in order.
    fn event(&mut self, io: &mut Io<'_>, ev: Event);

    /// Called once per turn after the events, busy or idle: work that does not
    /// come from the network (input from another thread, an executor's ready
    /// tasks). Returns whether it did anything (an idle loop goes to sleep after
    /// its busy-poll time; see [`Io::wake_at`] to be called again by a deadline).
    fn poll(&mut self, io: &mut Io<'_>) -> bool {
        let _ = io;
        false
    }

    /// Whether [`App::poll`] must run on turns where nothing else happened
    /// (default `true`). An application whose work comes only from events
    /// returns `false`: its idle turns then skip `poll` and cost a few checks of
    /// the rings, queues and timers (the loop's quiet path), and its `poll` runs
    /// on busy turns only.
    fn polls_when_idle(&self) -> bool {
        true
    }

    /// Called once when the stack stops, before the loop exits.
    fn stop(&mut self, io: &mut Io<'_>) {
        let _ = io;
    }
}

/// The part of a core that applications act on: its protocol state and what it
/// needs to open connections. Shared (`Rc<RefCell<_>>`, one thread) by the loop,
/// the [`Io`] handles and the async streams of that core.
pub struct Net {
    pub(crate) iface: Interface,
    pub(crate) core: usize,
    pub(crate) steering: Arc<Steering>,
    pub(crate) now: Instant,
    pub(crate) next_port: u16,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) wake_at: Option<Instant>,
    /// Active opens not yet connected (a timeout of one is a failed connect).
    pub(crate) connecting: hashbrown::HashSet<ConnId>,
    /// Datagrams sent from outside an event handler (async tasks), sent with the
    /// turn's output; allocated on first use.
    pub(crate) udp_out: Option<proto::tcp::buffer::RingBuffer>,
    /// One staged datagram on its way out (allocated with `udp_out`).
    udp_buf: Vec<u8>,
}

/// Most UDP data in one datagram over IPv4 (65535 less the IPv4 and UDP
/// headers); larger ones leave as fragments.
pub const MAX_UDP_PAYLOAD: usize = 65507;

/// Bytes of datagrams (and 23-byte records) that can wait for the turn's output.
pub const UDP_STAGING: usize = 256 * 1024;
const UDP_REC: usize = 23;

impl Net {
    /// Stage one datagram (copied) for the turn's output.
    fn stage_udp(&mut self, sport: u16, dst: SocketAddr, data: &[u8]) -> Result<(), UdpError> {
        if data.len() > MAX_UDP_PAYLOAD {
            return Err(UdpError::MessageTooLong);
        }
        let ring = self.udp_out.get_or_insert_with(|| proto::tcp::buffer::RingBuffer::new(UDP_STAGING));
        if ring.free() < UDP_REC + data.len() {
            return Err(UdpError::WouldBlock);
        }
        let mut rec = [0u8; UDP_REC];
        rec[0..2].copy_from_slice(&(data.len() as u16).to_be_bytes());
        match dst.ip() {
            std::net::IpAddr::V4(a) => {
                rec[2] = 4;
                rec[3..7].copy_from_slice(&a.octets());
            }
            std::net::IpAddr::V6(a) => {
                rec[2] = 6;
                rec[3..19].copy_from_slice(&a.octets());
            }
        }
        rec[19..21].copy_from_slice(&dst.port().to_be_bytes());
        rec[21..23].copy_from_slice(&sport.to_be_bytes());
        ring.push(&rec);
        ring.push(data);
        Ok(())
    }

    /// Send every staged datagram (failures are counted by the interface).
    /// Datagrams staged for the turn's output?
    #[inline]
    pub(crate) fn has_staged_udp(&self) -> bool {
        self.udp_out.as_ref().is_some_and(|r| !r.is_empty())
    }

    pub(crate) fn flush_udp(&mut self, now: Instant, tx: &mut dyn proto::FrameSink) {
        if !self.has_staged_udp() {
            return;
        }
        let Some(mut ring) = self.udp_out.take() else { return };
        // `send_to` stages at most MAX_UDP_PAYLOAD bytes per datagram; the buffer
        // is allocated once.
        let mut buf = core::mem::take(&mut self.udp_buf);
        buf.resize(MAX_UDP_PAYLOAD, 0);
        while ring.len() >= UDP_REC {
            let mut rec = [0u8; UDP_REC];
            ring.pop(&mut rec);
            let len = usize::from(u16::from_be_bytes([rec[0], rec[1]]));
            let n = ring.pop(&mut buf[..len.min(MAX_UDP_PAYLOAD)]);
            ring.consume(len - n);
            let ip = if rec[2] == 4 {
                std::net::IpAddr::from([rec[3], rec[4], rec[5], rec[6]])
            } else {
                let mut o = [0u8; 16];
                o.copy_from_slice(&rec[3..19]);
                std::net::IpAddr::from(o)
            };
            let dst = SocketAddr::new(ip, u16::from_be_bytes([rec[19], rec[20]]));
            let local = SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), u16::from_be_bytes([rec[21], rec[22]]));
            let _ = self.iface.send_udp(now, local, dst, &buf[..n], tx);
        }
        self.udp_buf = buf;
        self.udp_out = Some(ring);
    }
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Net").field("core", &self.core).field("now", &self.now).finish()
    }
}

impl Net {
    /// The state of core `core`. On a stack with several cores the interface
    /// learns which TCP flows are this core's: fragments are steered by their
    /// addresses only, so a TCP segment reassembled here may belong to another
    /// core, and is then dropped (`ipv4_frag_tcp_other_core`).
    pub fn new(mut iface: Interface, core: usize, steering: Arc<Steering>, stop: Arc<AtomicBool>, port_seed: u16) -> Net {
        let connecting = hashbrown::HashSet::with_capacity(iface.tcp().config().max_connections.min(4096));
        if steering.cores() > 1 {
            let s = Arc::clone(&steering);
            iface.set_tcp_owner(Box::new(move |src, dst, sport, dport| s.owner(src, dst, sport, dport) == core));
        }
        Net { iface, core, steering, now: Instant::ZERO, next_port: port_seed, stop, wake_at: None, connecting, udp_out: None, udp_buf: Vec::new() }
    }

    /// The interface (counters, neighbour cache, TCP).
    pub fn iface(&self) -> &Interface {
        &self.iface
    }
}

/// The handle an application acts through: listen, connect, read, write, close.
/// Lent by the loop for one call (low level) or held by async streams. Each method
/// borrows the core's state for its own duration only.
pub struct Io<'a> {
    net: &'a Rc<RefCell<Net>>,
    /// The device's transmit queue, when the loop lends it (event handlers):
    /// datagrams then go straight into a transmit frame.
    tx: Option<&'a mut dyn proto::FrameSink>,
}

impl<'a> Io<'a> {
    /// A handle on `net`.
    pub fn new(net: &'a Rc<RefCell<Net>>) -> Io<'a> {
        Io { net, tx: None }
    }

    /// A handle on `net` that may write frames into `tx` directly.
    pub fn with_tx(net: &'a Rc<RefCell<Net>>, tx: &'a mut dyn proto::FrameSink) -> Io<'a> {
        Io { net, tx: Some(tx) }
    }

    /// The shared state behind this handle (for the async layer).
    pub fn shared(&self) -> Rc<RefCell<Net>> {
        Rc::clone(self.net)
    }

    /// This core's index (0-based).
    pub fn core(&self) -> usize {
        self.net.borrow().core
    }

    /// Number of cores of the stack.
    pub fn cores(&self) -> usize {
        self.net.borrow().steering.cores()
    }

    /// The loop's time (read once per busy turn).
    pub fn now(&self) -> Instant {
        self.net.borrow().now
    }

    /// Accept connections on `port` (on every address of the stack). Every core
    /// listens on its own: call it from each core's `start`. The accept backlog
    /// is `TcpConfig::accept_backlog` (see [`Io::listen_backlog`]).
    pub fn listen(&mut self, port: u16) -> Result<(), ListenError> {
        let backlog = self.net.borrow().iface.tcp().config().accept_backlog;
        self.listen_backlog(port, backlog)
    }

    /// As [`Io::listen`], with an accept backlog of `backlog` (at least 1) on this
    /// core: at most that many connections established on `port` and not yet
    /// taken by the application. A connection is taken when its `Accepted` event
    /// is delivered, unless the application puts it back with
    /// [`Io::hold_accepted`] (the async `TcpListener` does, until `accept()`).
    /// While the queue is full new handshakes are not completed (SYNs and the
    /// handshake's last ACK are dropped, as Linux does; the client retries) and
    /// the drops are counted in `tcp_accept_queue_full`.
    pub fn listen_backlog(&mut self, port: u16, backlog: usize) -> Result<(), ListenError> {
        self.net.borrow_mut().iface.tcp_mut().listen_backlog(port, backlog).map_err(|e| match e {
            proto::tcp::ListenError::AlreadyListening => ListenError::AlreadyListening(port),
            proto::tcp::ListenError::InvalidPort => ListenError::InvalidPort,
        })
    }

    /// Keep counting `conn` (just delivered by `Accepted`) against its listener's
    /// accept backlog, for an application that queues accepted connections
    /// before serving them; [`Io::take_accepted`] ends it (so does the
    /// connection's end). Returns `false` for a stale handle, an active open or a
    /// connection already held.
    pub fn hold_accepted(&mut self, conn: ConnId) -> bool {
        self.net.borrow_mut().iface.tcp_mut().hold_accepted(conn)
    }

    /// The application now serves `conn` (held with [`Io::hold_accepted`]): it
    /// leaves the accept queue. Returns whether it was held.
    pub fn take_accepted(&mut self, conn: ConnId) -> bool {
        self.net.borrow_mut().iface.tcp_mut().take_accepted(conn)
    }

    /// The SYN and accept queues of this core's listener on `port`.
    pub fn listener_queues(&self, port: u16) -> Option<proto::tcp::ListenerQueues> {
        self.net.borrow().iface.tcp().listener_queues(port)
    }

    /// Stop accepting on `port` (established connections stay).
    pub fn unlisten(&mut self, port: u16) {
        self.net.borrow_mut().iface.tcp_mut().unlisten(port);
    }

    /// Open a connection to `remote` (seed 001's `create_connection`). The engine
    /// picks the local address (on the destination's subnet, else the first) and
    /// an ephemeral port (1024–65535, none a listener of ours has) whose replies
    /// the NIC's RSS hash sends to this core.
    /// `Connected` or `ConnectFailed{Refused|Timeout}` follows; the SYN leaves
    /// with this turn's batch.
    pub fn connect(&mut self, remote: SocketAddr) -> Result<ConnId, ConnectError> {
        let mut net = self.net.borrow_mut();
        let n = &mut *net;
        let local_ip = n.iface.select_source(remote.ip()).ok_or(ConnectError::NoSourceAddress(remote))?;
        let tcp = n.iface.tcp();
        let now = n.now;
        let port = n
            .steering
            .pick_local_port(n.core, remote, local_ip, TCP_EPHEMERAL_PORTS, n.next_port, |p| tcp.is_listening(p) || !tcp.can_connect(now, SocketAddr::new(local_ip, p), remote))
            .ok_or(ConnectError::NoPortAvailable(remote))?;
        // The next search starts after this port.
        n.next_port = port.wrapping_add(1);
        let conn = n.iface.connect_deferred(now, SocketAddr::new(local_ip, port), remote).map_err(|e| match e {
            proto::tcp::ConnectError::AddrInUse => ConnectError::NoPortAvailable(remote),
            proto::tcp::ConnectError::TooManyConnections => ConnectError::TooManyConnections,
            proto::tcp::ConnectError::OutOfMemory => ConnectError::OutOfMemory,
            proto::tcp::ConnectError::InvalidAddress => ConnectError::InvalidAddress(remote),
        })?;
        n.connecting.insert(conn);
        Ok(conn)
    }

    /// Copy received bytes into `buf`: `Ok(n)` with `n > 0` (`Ok(0)` only for an
    /// empty `buf`), `Err(WouldBlock)` nothing yet, `Err(Eof)` the peer closed and
    /// everything was read (seed 001's `read → data | Eof | error`).
    pub fn recv(&mut self, conn: ConnId, buf: &mut [u8]) -> Result<usize, RecvError> {
        Ok(self.net.borrow_mut().iface.tcp_mut().recv(conn, buf)?)
    }

    /// Read in place, without a copy: `f` borrows the longest contiguous run of
    /// received bytes in the receive buffer (at most the rest of one 4 KiB buffer
    /// chunk) and returns how many it consumed; a further call gives what follows. `f` must not call this
    /// `Io` (the core's state is borrowed while it runs).
    pub fn recv_with(&mut self, conn: ConnId, f: impl FnOnce(&[u8]) -> usize) -> Result<usize, RecvError> {
        Ok(self.net.borrow_mut().iface.tcp_mut().recv_with(conn, f)?)
    }

    /// Has the peer closed its side (FIN received)? Once the buffered bytes are
    /// read, `recv` reports `Eof`.
    pub fn peer_closed(&self, conn: ConnId) -> bool {
        self.net.borrow().iface.tcp().peer_closed(conn)
    }

    /// Bytes `recv` could return now.
    pub fn recv_queue(&self, conn: ConnId) -> usize {
        self.net.borrow().iface.tcp().recv_queue(conn)
    }

    /// Queue `data` for sending: `Ok(n)` bytes taken (fewer, even 0, when the
    /// send buffer is full: `Writable` follows). Nagle's algorithm applies unless
    /// the connection has nodelay set.
    pub fn send(&mut self, conn: ConnId, data: &[u8]) -> Result<usize, SendError> {
        Ok(self.net.borrow_mut().iface.tcp_mut().send(conn, data)?)
    }

    /// As [`Io::send`], but these bytes go without waiting for Nagle (seed 001's
    /// `write_nodelay`, a per-write choice).
    pub fn send_nodelay(&mut self, conn: ConnId, data: &[u8]) -> Result<usize, SendError> {
        Ok(self.net.borrow_mut().iface.tcp_mut().send_nodelay(conn, data)?)
    }

    /// Queue several buffers, in order, as one write (seed 001's `writev`; with
    /// `nodelay`, `writev_nodelay`). Returns the bytes taken: a prefix of the
    /// concatenation.
    pub fn send_vectored(&mut self, conn: ConnId, bufs: &[&[u8]], nodelay: bool) -> Result<usize, SendError> {
        let mut net = self.net.borrow_mut();
        let tcp = net.iface.tcp_mut();
        let mut total = 0;
        for (i, b) in bufs.iter().enumerate() {
            let last = i + 1 == bufs.len();
            let n = if nodelay && last { tcp.send_nodelay(conn, b)? } else { tcp.send(conn, b)? };
            total += n;
            if n < b.len() {
                if nodelay && !last {
                    // Mark what was taken as pushed.
                    tcp.send_nodelay(conn, &[])?;
                }
                break;
            }
        }
        Ok(total)
    }

    /// Free space in the send buffer.
    pub fn send_capacity(&self, conn: ConnId) -> usize {
        self.net.borrow().iface.tcp().send_capacity(conn)
    }

    /// Move up to `max` received bytes of `from` into the send buffer of `to` with
    /// one copy (`from == to` echoes). `Ok(0)` when `to` is full (`Writable`
    /// follows); `Err(Recv(WouldBlock | Eof))` when `from` has nothing.
    pub fn splice(&mut self, from: ConnId, to: ConnId, max: usize) -> Result<usize, SpliceError> {
        self.net.borrow_mut().iface.tcp_mut().splice(from, to, max).map_err(|e| match e {
            proto::tcp::SpliceError::Recv(r) => SpliceError::Recv(r.into()),
            proto::tcp::SpliceError::Send(s) => SpliceError::Send(s.into()),
        })
    }

    /// Half-close: FIN after everything queued (seed 001's `close`). Reading goes
    /// on until `Eof`; `Closed` comes when both sides are done.
    pub fn close(&mut self, conn: ConnId) {
        let _ = self.net.borrow_mut().iface.tcp_mut().close(conn);
    }

    /// Reset the connection now (RST with this turn's batch); `Closed{Aborted}`
    /// follows.
    pub fn abort(&mut self, conn: ConnId) {
        self.net.borrow_mut().iface.tcp_mut().abort_deferred(conn);
    }

    /// Disable (`true`) or enable Nagle's algorithm on `conn`.
    pub fn set_nodelay(&mut self, conn: ConnId, nodelay: bool) {
        self.net.borrow_mut().iface.tcp_mut().set_nodelay(conn, nodelay);
    }

    /// Set the user timeout of `conn` (RFC 9293 §3.8.3, RFC 5482): when data it
    /// sent stays unacknowledged this long (or its zero-window probes go
    /// unanswered), the connection is aborted with a RST and
    /// `Closed { reason: CloseReason::UserTimeout }` follows. `None` turns it
    /// off; new connections take `TcpConfig::user_timeout`. At most 24 days.
    pub fn set_user_timeout(&mut self, conn: ConnId, timeout: Option<Duration>) {
        self.net.borrow_mut().iface.tcp_mut().set_user_timeout(conn, timeout);
    }

    /// The user timeout of `conn` (`None` when off or for a stale handle).
    pub fn user_timeout(&self, conn: ConnId) -> Option<Duration> {
        self.net.borrow().iface.tcp().user_timeout(conn)
    }

    /// The peer's address and port (seed 001's `get_dest`).
    pub fn peer(&self, conn: ConnId) -> Option<SocketAddr> {
        self.net.borrow().iface.tcp().remote(conn)
    }

    /// Our address and port.
    pub fn local(&self, conn: ConnId) -> Option<SocketAddr> {
        self.net.borrow().iface.tcp().local(conn)
    }

    /// Receive the datagrams sent to UDP `port` (on every address of the stack).
    /// Every core binds its own: call it from each core's `start`. A datagram to a
    /// port nobody bound gets ICMP port unreachable.
    pub fn udp_bind(&mut self, port: u16) -> Result<(), UdpError> {
        Ok(self.net.borrow_mut().iface.udp_mut().bind(port)?)
    }

    /// Stop receiving on UDP `port`.
    pub fn udp_unbind(&mut self, port: u16) {
        self.net.borrow_mut().iface.udp_mut().unbind(port);
    }

    /// Bind an ephemeral UDP port (49152–65535) whose datagrams from `remote` the
    /// NIC's RSS hash sends to this core, as [`Io::connect`] picks TCP ports: the
    /// port to send to `remote` from and receive its answers on, on this core
    /// only. Release it with [`Io::udp_unbind`].
    pub fn udp_bind_ephemeral(&mut self, remote: SocketAddr) -> Result<u16, UdpError> {
        let mut net = self.net.borrow_mut();
        let n = &mut *net;
        let local_ip = n.iface.select_source(remote.ip()).ok_or(UdpError::NoRoute)?;
        let udp = n.iface.udp();
        let port = n.steering.pick_local_port(n.core, remote, local_ip, DYNAMIC_PORTS, n.next_port, |p| udp.is_bound(p)).ok_or(UdpError::NoPortAvailable)?;
        n.next_port = port.wrapping_add(1);
        n.iface.udp_mut().bind(port)?;
        Ok(port)
    }

    /// Take the oldest datagram queued on `port` into `buf` (truncated if `buf` is
    /// smaller): its length, sender and destination. `Err(WouldBlock)` when none.
    pub fn recv_from(&mut self, port: u16, buf: &mut [u8]) -> Result<Datagram, UdpError> {
        Ok(self.net.borrow_mut().iface.udp_mut().recv_from(port, buf)?)
    }

    /// Send `data` from UDP port `port` (bound or not) to `dst`: at most 65507
    /// bytes, in IPv4 fragments when it does not fit one frame (MTU 1500: above
    /// 1472 bytes). From an event handler it goes into transmit frames at once;
    /// elsewhere (async tasks) it is copied and sent with the turn's output.
    pub fn send_to(&mut self, port: u16, dst: SocketAddr, data: &[u8]) -> Result<(), UdpError> {
        let mut net = self.net.borrow_mut();
        if data.len() > MAX_UDP_PAYLOAD {
            return Err(UdpError::MessageTooLong);
        }
        match self.tx.as_deref_mut() {
            Some(tx) => {
                let now = net.now;
                let local = SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), port);
                Ok(net.iface.send_udp(now, local, dst, data, tx)?)
            }
            None => net.stage_udp(port, dst, data),
        }
    }

    /// Receive the ICMP echo replies carrying `ident` on this core (take them with
    /// [`Io::take_echo_reply`]). On a stack with several cores the replies are
    /// steered to core `ident % cores`: pick an identifier that maps to this core
    /// ([`Io::echo_ident`]).
    pub fn echo_register(&mut self, ident: u16) {
        self.net.borrow_mut().iface.echo_mut().register(ident);
    }

    /// The core that receives the fragments from `remote` to this stack (they are
    /// steered by addresses only): a ping whose replies may come back fragmented
    /// runs there, with an identifier for that core ([`Io::echo_ident`]).
    pub fn fragment_core(&self, remote: std::net::IpAddr) -> usize {
        let n = self.net.borrow();
        match n.iface.select_source(remote) {
            Some(local) => n.steering.owner_addrs(remote, local),
            None => 0,
        }
    }

    /// An echo identifier near `seed` whose replies come to this core.
    pub fn echo_ident(&self, seed: u16) -> u16 {
        let n = self.net.borrow();
        let cores = n.steering.cores().max(1) as u16;
        let base = seed - seed % cores;
        base.wrapping_add(n.core as u16)
    }

    /// Send an ICMP echo request (ping) to `dst`: at most 65507 bytes of data, in
    /// IPv4 fragments above 1472. Only from `start`, `event` or `poll` (it goes
    /// straight into transmit frames): elsewhere `Err(NoBuffer)`.
    pub fn send_echo(&mut self, dst: std::net::IpAddr, ident: u16, seq: u16, data: &[u8]) -> Result<(), UdpError> {
        let mut net = self.net.borrow_mut();
        let now = net.now;
        match self.tx.as_deref_mut() {
            Some(tx) => Ok(net.iface.send_echo(now, dst, ident, seq, data, tx)?),
            None => Err(UdpError::NoBuffer),
        }
    }

    /// The oldest echo reply received for a registered identifier.
    pub fn take_echo_reply(&mut self) -> Option<proto::icmp::EchoReply> {
        self.net.borrow_mut().iface.echo_mut().take()
    }

    /// Have `poll` called no later than `at`, even if the loop is idle (the loop
    /// sleeps at most until then).
    pub fn wake_at(&mut self, at: Instant) {
        let mut n = self.net.borrow_mut();
        n.wake_at = Some(n.wake_at.map_or(at, |w| w.min(at)));
    }

    /// Ask every core of the stack to stop (the loops finish their turn, call
    /// `App::stop` and exit).
    pub fn stop_stack(&mut self) {
        self.net.borrow().stop.store(true, Ordering::SeqCst);
    }
}

/// The engine's event for a TCP event (`connecting`: the active opens not yet
/// connected; updated here).
pub(crate) fn event_of(ev: TcpEvent, connecting: &mut hashbrown::HashSet<ConnId>) -> Event {
    match ev {
        TcpEvent::Accepted { conn, port } => Event::Accepted { conn, port },
        TcpEvent::Connected(c) => {
            connecting.remove(&c);
            Event::Connected(c)
        }
        TcpEvent::Readable(c) => Event::Readable(c),
        TcpEvent::Writable(c) => Event::Writable(c),
        TcpEvent::Closed { conn, reason } => {
            let was_connecting = connecting.remove(&conn);
            match reason {
                CloseReason::Refused => Event::ConnectFailed { conn, error: ConnectFailure::Refused },
                CloseReason::Timeout if was_connecting => Event::ConnectFailed { conn, error: ConnectFailure::Timeout },
                CloseReason::Unreachable(k) if was_connecting => Event::ConnectFailed { conn, error: ConnectFailure::Unreachable(k) },
                _ => Event::Closed { conn, reason },
            }
        }
    }
}
