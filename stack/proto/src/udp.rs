//! UDP (RFC 768) sockets of one core: bound ports, a bounded receive queue per
//! port, and readable events. Sans-IO like the rest: datagrams come in through
//! the interface ([`crate::iface::Interface::handle_frame`]) and go out through
//! [`crate::iface::Interface::send_udp`].
//!
//! A received datagram's bytes are copied into its port's byte ring and its
//! source, the address it was sent to and its length into a typed record
//! beside it; the frame it came in is given back to the device with the rest
//! of the batch. A full queue drops the datagram and counts it
//! (`udp_rx_queue_full`), as a socket's receive buffer does: the bytes of the
//! datagrams plus [`RECORD`] bytes each are bounded by
//! [`UdpConfig::rx_queue`], and the count of datagrams by
//! [`UdpConfig::rx_queue`] / [`MIN_TRUESIZE`] (as Linux charges every
//! datagram at least its buffer's truesize against `SO_RCVBUF`). Both are
//! allocated when the port is bound: receiving allocates nothing.

use crate::tcp::buffer::RingBuffer;
use core::net::{IpAddr, SocketAddr};
use hashbrown::HashMap;
use std::collections::VecDeque;

/// Bytes of datagrams (and their 38-byte records) a bound port holds by default.
pub const DEFAULT_RX_QUEUE: usize = 256 * 1024;
/// Most ports bound at once on one core by default.
pub const DEFAULT_MAX_SOCKETS: usize = 1024;
/// Bytes each queued datagram costs against [`UdpConfig::rx_queue`] besides
/// its data (its record: length, source, destination).
pub const RECORD: usize = 38;
/// The queue holds at most [`UdpConfig::rx_queue`] / `MIN_TRUESIZE` datagrams
/// (at least 16), however short they are: 1024 for the default queue.
pub const MIN_TRUESIZE: usize = 256;

/// Configuration of the UDP sockets of one core.
#[derive(Debug, Clone)]
pub struct UdpConfig {
    /// Receive queue per bound port, bytes (datagrams plus 38 bytes each).
    pub rx_queue: usize,
    /// Most bound ports.
    pub max_sockets: usize,
}

impl Default for UdpConfig {
    fn default() -> Self {
        UdpConfig { rx_queue: DEFAULT_RX_QUEUE, max_sockets: DEFAULT_MAX_SOCKETS }
    }
}

/// A received datagram, as [`Udp::recv_from`] returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    /// Bytes copied into the caller's buffer.
    pub len: usize,
    /// The datagram was longer than the buffer: the rest is discarded (as
    /// `recvfrom(2)` does without `MSG_PEEK`).
    pub truncated: bool,
    /// Who sent it.
    pub src: SocketAddr,
    /// The address and port it was sent to (ours).
    pub dst: SocketAddr,
}

/// Errors of the UDP calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpError {
    /// Port 0.
    InvalidPort,
    /// The port is already bound (on this core).
    AddrInUse,
    /// The port is not bound.
    NotBound,
    /// Every socket slot is taken.
    TooManySockets,
    /// Nothing queued.
    WouldBlock,
    /// The datagram does not fit an IPv4 datagram (more than 65507 bytes of UDP
    /// data or ICMP echo data).
    MessageTooLong,
    /// No route to the destination, or no address of its family.
    NoRoute,
    /// The next hop's link-layer address is not known yet (an ARP request went out;
    /// try again).
    NeighbourUnresolved,
    /// No transmit frame was free.
    NoBuffer,
    /// The next hop did not answer ARP (RFC 1122 §2.3.2.1): it is FAILED for a
    /// while ([`crate::arp::FAILED_HOLD`]).
    HostUnreachable,
}

/// What the application must learn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpEvent {
    /// Datagrams wait on this port (once until the queue is read empty).
    Readable(u16),
}

/// Counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UdpStats {
    /// Datagrams queued for a bound port.
    pub datagrams_in: u64,
    /// Datagrams sent.
    pub datagrams_out: u64,
    /// Datagram bytes received.
    pub bytes_in: u64,
    /// Datagram bytes sent.
    pub bytes_out: u64,
}

/// Where a queued datagram came from and went to; its bytes are in the ring.
#[derive(Debug, Clone, Copy)]
struct Record {
    len: u16,
    src: SocketAddr,
    dst: IpAddr,
}

#[derive(Debug)]
struct Socket {
    /// The bytes of the queued datagrams, in order.
    rx: RingBuffer,
    /// One record per queued datagram, in order; its capacity is the bound on
    /// their count (never grown).
    records: VecDeque<Record>,
    /// Bytes charged against the queue: data plus [`RECORD`] per datagram.
    charged: usize,
    readable_pending: bool,
}

/// The UDP sockets of one core.
#[derive(Debug)]
pub struct Udp {
    cfg: UdpConfig,
    sockets: HashMap<u16, Socket>,
    events: VecDeque<UdpEvent>,
    stats: UdpStats,
}

impl Udp {
    /// No socket bound yet.
    pub fn new(cfg: UdpConfig) -> Udp {
        Udp { sockets: HashMap::with_capacity(cfg.max_sockets.min(64)), events: VecDeque::with_capacity(64), stats: UdpStats::default(), cfg }
    }

    /// Receive datagrams sent to `port` (on every address of the interface).
    /// Allocates the port's receive queue.
    pub fn bind(&mut self, port: u16) -> Result<(), UdpError> {
        if port == 0 {
            return Err(UdpError::InvalidPort);
        }
        if self.sockets.contains_key(&port) {
            return Err(UdpError::AddrInUse);
        }
        if self.sockets.len() >= self.cfg.max_sockets {
            return Err(UdpError::TooManySockets);
        }
        let cap = self.cfg.rx_queue.max(RECORD + 1);
        let records = VecDeque::with_capacity((cap / MIN_TRUESIZE).max(16));
        self.sockets.insert(port, Socket { rx: RingBuffer::new(cap), records, charged: 0, readable_pending: false });
        Ok(())
    }

    /// Stop receiving on `port`; queued datagrams are dropped.
    pub fn unbind(&mut self, port: u16) {
        self.sockets.remove(&port);
    }

    /// Is `port` bound?
    #[inline]
    pub fn is_bound(&self, port: u16) -> bool {
        self.sockets.contains_key(&port)
    }

    /// Datagrams queued on `port`.
    pub fn queued(&self, port: u16) -> usize {
        self.sockets.get(&port).map_or(0, |s| s.records.len())
    }

    /// Counters.
    pub fn stats(&self) -> &UdpStats {
        &self.stats
    }

    /// Count a datagram sent.
    pub(crate) fn sent(&mut self, len: usize) {
        self.stats.datagrams_out += 1;
        self.stats.bytes_out += len as u64;
    }

    /// Queue a datagram for bound `port`. `false`: the queue is full (the caller
    /// counts the drop).
    pub(crate) fn deliver(&mut self, src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> bool {
        let Some(s) = self.sockets.get_mut(&dst.port()) else { return false };
        let need = RECORD + payload.len();
        if s.charged + need > s.rx.capacity() || s.records.len() == s.records.capacity() || payload.len() > usize::from(u16::MAX) {
            return false;
        }
        s.rx.push(payload);
        s.records.push_back(Record { len: payload.len() as u16, src, dst: dst.ip() });
        s.charged += need;
        self.stats.datagrams_in += 1;
        self.stats.bytes_in += payload.len() as u64;
        if !s.readable_pending {
            s.readable_pending = true;
            self.events.push_back(UdpEvent::Readable(dst.port()));
        }
        true
    }

    /// Take the oldest datagram queued on `port`, copying it into `buf`.
    pub fn recv_from(&mut self, port: u16, buf: &mut [u8]) -> Result<Datagram, UdpError> {
        let s = self.sockets.get_mut(&port).ok_or(UdpError::NotBound)?;
        s.readable_pending = false;
        let Some(rec) = s.records.pop_front() else {
            return Err(UdpError::WouldBlock);
        };
        let len = usize::from(rec.len);
        let (src, dst) = (rec.src, SocketAddr::new(rec.dst, port));
        let n = len.min(buf.len());
        s.rx.pop(&mut buf[..n]);
        s.rx.consume(len - n);
        s.charged -= RECORD + len;
        Ok(Datagram { len: n, truncated: n < len, src, dst })
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<UdpEvent> {
        self.events.pop_front()
    }

    /// Is an event waiting for [`Udp::poll_event`]?
    #[inline]
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn bind_deliver_recv_in_order_with_addresses() {
        let mut u = Udp::new(UdpConfig::default());
        assert_eq!(u.bind(0), Err(UdpError::InvalidPort));
        u.bind(7).unwrap();
        assert_eq!(u.bind(7), Err(UdpError::AddrInUse));
        assert!(u.deliver(sa("198.18.0.1:5000"), sa("198.18.0.2:7"), b"one"));
        assert!(u.deliver(sa("[2001:db8::1]:6000"), sa("[2001:db8::2]:7"), b"two!"));
        assert_eq!(u.poll_event(), Some(UdpEvent::Readable(7)));
        assert_eq!(u.poll_event(), None, "one event until read");
        let mut b = [0u8; 64];
        let d = u.recv_from(7, &mut b).unwrap();
        assert_eq!((d.len, d.truncated, d.src, d.dst), (3, false, sa("198.18.0.1:5000"), sa("198.18.0.2:7")));
        assert_eq!(&b[..3], b"one");
        let d = u.recv_from(7, &mut b).unwrap();
        assert_eq!((d.len, d.src, d.dst), (4, sa("[2001:db8::1]:6000"), sa("[2001:db8::2]:7")));
        assert_eq!(&b[..4], b"two!");
        assert_eq!(u.recv_from(7, &mut b), Err(UdpError::WouldBlock));
        assert_eq!(u.recv_from(8, &mut b), Err(UdpError::NotBound));
        assert_eq!(u.stats().datagrams_in, 2);
    }

    #[test]
    fn truncation_discards_the_rest_and_a_full_queue_refuses() {
        let mut u = Udp::new(UdpConfig { rx_queue: 2 * (RECORD + 100), max_sockets: 4 });
        u.bind(9).unwrap();
        assert!(u.deliver(sa("198.18.0.1:1"), sa("198.18.0.2:9"), &[1; 100]));
        assert!(u.deliver(sa("198.18.0.1:1"), sa("198.18.0.2:9"), &[2; 100]));
        assert!(!u.deliver(sa("198.18.0.1:1"), sa("198.18.0.2:9"), &[3; 1]), "queue full");
        let mut small = [0u8; 10];
        let d = u.recv_from(9, &mut small).unwrap();
        assert_eq!((d.len, d.truncated), (10, true));
        assert_eq!(small, [1; 10]);
        let mut b = [0u8; 200];
        let d = u.recv_from(9, &mut b).unwrap();
        assert_eq!((d.len, d.truncated), (100, false));
        assert!(b[..100].iter().all(|x| *x == 2), "the next record starts after the discarded rest");
        // Room again, and zero-length datagrams are datagrams.
        assert!(u.deliver(sa("198.18.0.1:1"), sa("198.18.0.2:9"), &[]));
        assert_eq!(u.recv_from(9, &mut b).unwrap().len, 0);
        u.unbind(9);
        assert!(!u.is_bound(9));
    }
}
