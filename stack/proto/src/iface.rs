//! The interface of one core: Ethernet in, ARP / IPv4 / ICMP / TCP dispatch, and
//! the IPv4 output path that TCP's segments and the ICMP answers take.
//!
//! `handle_frame` parses in place (the frame is borrowed from the device's receive
//! buffer, a UMEM frame on AF_XDP) and writes any answer straight into a transmit
//! frame via [`FrameSink`]. Every frame it refuses is counted by [`DropReason`].

use crate::arp::{ArpCache, Lookup};
use crate::icmp;
use crate::stats::{DropReason, IfaceStats};
use crate::tcp::{SegmentSink, Tcp, TcpConfig};
use crate::udp::{Udp, UdpConfig, UdpError};
use crate::time::Instant;
use crate::FrameSink;
use core::net::{IpAddr, Ipv4Addr};
use wire::arp::{ArpOperation, ArpRepr};
use wire::ethernet::{ethertype, EthernetAddress, EthernetRepr, Frame};
use wire::ip::protocol;
use wire::ipv4::{Ipv4Repr, Packet as Ipv4Packet};
use wire::tcp::{TcpPacket, TcpRepr};
use wire::{ChecksumMode, Error};

/// Default TTL of packets we originate (RFC 1700 / Linux's default 64).
pub const DEFAULT_TTL: u8 = 64;

/// ICMP error messages we send per second at most (RFC 1812 §4.3.2.8, RFC 1122
/// §3.2.2: errors must be rate-limited; Linux's `icmp_msgs_per_sec` is 1000).
pub const ICMP_ERRORS_PER_SEC: u32 = 1000;
/// Burst of ICMP errors allowed above the rate.
pub const ICMP_ERROR_BURST: u32 = 50;

/// A token bucket: `rate` tokens per second, at most `burst` saved up.
#[derive(Debug, Clone)]
pub struct RateLimit {
    rate: u32,
    burst: u32,
    tokens: u32,
    last: Instant,
}

impl RateLimit {
    /// A full bucket.
    pub fn new(rate: u32, burst: u32) -> RateLimit {
        RateLimit { rate, burst, tokens: burst, last: Instant::ZERO }
    }

    /// Take one token if there is one at `now`.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.micros().saturating_sub(self.last.micros());
        let new = elapsed.saturating_mul(u64::from(self.rate)) / 1_000_000;
        if new > 0 {
            self.tokens = (u64::from(self.tokens) + new).min(u64::from(self.burst)) as u32;
            self.last = now;
        }
        if self.tokens > 0 {
            self.tokens -= 1;
            true
        } else {
            false
        }
    }
}

/// Which TCP and UDP checksums the interface accepts on receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RxChecksum {
    /// Only checksums that verify over pseudo-header, header and data (RFC 9293
    /// §3.1, RFC 768). Right for every link that can corrupt bytes.
    #[default]
    Full,
    /// Also a field holding exactly the pseudo-header sum: the unfinished
    /// CHECKSUM_PARTIAL a Linux peer with its default offloads sends over veth,
    /// which never completes it ([`wire::ChecksumMode::FullOrPartial`]). Such
    /// segments are counted in [`IfaceStats::rx_csum_partial`]. Only for links
    /// that cannot corrupt the bytes (veth).
    AcceptPartial,
}

impl RxChecksum {
    /// The parse mode for TCP and UDP under this policy.
    pub const fn mode(self) -> ChecksumMode {
        match self {
            RxChecksum::Full => ChecksumMode::Full,
            RxChecksum::AcceptPartial => ChecksumMode::FullOrPartial,
        }
    }

    /// `full` or `partial`, as the CLI prints it.
    pub const fn name(self) -> &'static str {
        match self {
            RxChecksum::Full => "full",
            RxChecksum::AcceptPartial => "partial",
        }
    }
}

/// Configuration of an [`Interface`].
#[derive(Debug, Clone)]
pub struct InterfaceConfig {
    /// Our MAC address.
    pub mac: [u8; 6],
    /// Our IPv4 addresses with their prefix lengths.
    pub ipv4: Vec<(Ipv4Addr, u8)>,
    /// Default gateway for destinations off our subnets.
    pub gateway: Option<Ipv4Addr>,
    /// TCP settings.
    pub tcp: TcpConfig,
    /// Most ARP entries kept.
    pub arp_capacity: usize,
    /// TTL of packets we originate.
    pub ttl: u8,
    /// Receive checksum policy for TCP and UDP.
    pub rx_checksum: RxChecksum,
    /// UDP settings.
    pub udp: UdpConfig,
}

impl Default for InterfaceConfig {
    fn default() -> Self {
        InterfaceConfig {
            mac: [0x02, 0, 0, 0, 0, 1],
            ipv4: Vec::new(),
            gateway: None,
            tcp: TcpConfig::default(),
            arp_capacity: 1024,
            ttl: DEFAULT_TTL,
            rx_checksum: RxChecksum::Full,
            udp: UdpConfig::default(),
        }
    }
}

/// The IPv4 addressing of an interface: what is ours, what is on-link.
#[derive(Debug, Clone)]
struct Addressing {
    mac: EthernetAddress,
    ipv4: Vec<(Ipv4Addr, u8)>,
    gateway: Option<Ipv4Addr>,
    ttl: u8,
}

impl Addressing {
    fn is_ours(&self, a: Ipv4Addr) -> bool {
        self.ipv4.iter().any(|(ip, _)| *ip == a)
    }

    /// The next hop towards `dst` (RFC 1122 §3.3.1.1: on-link if it matches one of
    /// our prefixes, else the gateway).
    fn next_hop(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        let on_link = self.ipv4.iter().any(|(ip, len)| {
            let mask = if *len == 0 { 0 } else { u32::MAX << (32 - u32::from(*len)) };
            u32::from(*ip) & mask == u32::from(dst) & mask
        });
        if on_link {
            Some(dst)
        } else {
            self.gateway
        }
    }
}

/// One core's protocol state: addressing, ARP cache, TCP, counters.
#[derive(Debug)]
pub struct Interface {
    addr: Addressing,
    arp: ArpCache,
    tcp: Tcp,
    udp: Udp,
    echo: icmp::EchoSockets,
    stats: IfaceStats,
    ident: u16,
    icmp_limit: RateLimit,
    /// Neighbours learned from ARP since the last [`Interface::drain_learned`].
    learned: Vec<(Ipv4Addr, [u8; 6])>,
    rx_checksum: RxChecksum,
}

/// Most neighbour updates [`Interface`] keeps for [`Interface::drain_learned`]
/// between two drains (more are not kept; each core refreshes its own cache).
pub const MAX_LEARNED: usize = 64;

impl Interface {
    /// A new interface.
    pub fn new(cfg: InterfaceConfig) -> Interface {
        Interface {
            addr: Addressing { mac: EthernetAddress(cfg.mac), ipv4: cfg.ipv4, gateway: cfg.gateway, ttl: cfg.ttl },
            arp: ArpCache::new(cfg.arp_capacity),
            tcp: Tcp::new(cfg.tcp),
            udp: Udp::new(cfg.udp),
            echo: icmp::EchoSockets::default(),
            stats: IfaceStats::default(),
            ident: 1,
            icmp_limit: RateLimit::new(ICMP_ERRORS_PER_SEC, ICMP_ERROR_BURST),
            rx_checksum: cfg.rx_checksum,
            learned: Vec::with_capacity(MAX_LEARNED),
        }
    }

    /// Hand every neighbour learned from ARP since the last call to `f` (the engine
    /// publishes them to the other cores, which apply them with
    /// [`Interface::learn_neighbour`]).
    pub fn drain_learned(&mut self, mut f: impl FnMut(Ipv4Addr, [u8; 6])) {
        for (ip, mac) in self.learned.drain(..) {
            f(ip, mac);
        }
    }

    /// Apply a neighbour learned elsewhere (another core's ARP): refresh or add the
    /// entry, and if it was not resolved here, let the connections waiting for it
    /// go now. Returns whether the entry was not resolved before.
    pub fn learn_neighbour(&mut self, now: Instant, ip: Ipv4Addr, mac: [u8; 6]) -> bool {
        let was_resolved = self.arp.get(now, ip).is_some();
        self.arp.insert(now, ip, mac);
        if !was_resolved {
            self.resolved(ip);
        }
        !was_resolved
    }

    /// `ip` was just resolved: the handshakes whose next hop it is send again.
    fn resolved(&mut self, ip: Ipv4Addr) {
        let addr = &self.addr;
        self.tcp.neighbour_resolved(|remote| match remote {
            IpAddr::V4(r) => addr.next_hop(r) == Some(ip),
            IpAddr::V6(_) => false,
        });
    }

    /// Our IPv4 addresses with their prefix lengths.
    pub fn ipv4_addrs(&self) -> &[(Ipv4Addr, u8)] {
        &self.addr.ipv4
    }

    /// The source address for a packet to `dst` (RFC 1122 §3.3.4.3 / RFC 6724
    /// subset: an address on the destination's subnet, else the first one).
    pub fn select_source(&self, dst: IpAddr) -> Option<IpAddr> {
        match dst {
            IpAddr::V4(d) => {
                let on_link = self.addr.ipv4.iter().find(|(ip, len)| {
                    let mask = if *len == 0 { 0 } else { u32::MAX << (32 - u32::from(*len)) };
                    u32::from(*ip) & mask == u32::from(d) & mask
                });
                on_link.or(self.addr.ipv4.first()).map(|(ip, _)| IpAddr::V4(*ip))
            }
            IpAddr::V6(_) => None,
        }
    }

    /// The receive checksum policy.
    pub fn rx_checksum(&self) -> RxChecksum {
        self.rx_checksum
    }

    /// Counters.
    pub fn stats(&self) -> &IfaceStats {
        &self.stats
    }

    /// The TCP endpoint (listeners, connections, events).
    pub fn tcp(&self) -> &Tcp {
        &self.tcp
    }

    /// The TCP endpoint, mutable (listen, send, recv, close, poll_event).
    pub fn tcp_mut(&mut self) -> &mut Tcp {
        &mut self.tcp
    }

    /// The ARP cache.
    pub fn arp(&self) -> &ArpCache {
        &self.arp
    }

    /// Our MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.addr.mac.0
    }

    /// TCP and the IPv4 output path (borrowing the rest of the interface) at once.
    fn split<'a>(&'a mut self, tx: &'a mut dyn FrameSink, now: Instant) -> (&'a mut Tcp, Ipv4Out<'a>) {
        let out = Ipv4Out { addr: &self.addr, arp: &mut self.arp, stats: &mut self.stats, ident: &mut self.ident, icmp_limit: &mut self.icmp_limit, echo: &mut self.echo, tx, now };
        (&mut self.tcp, out)
    }

    /// Handle one received frame; answers go to `tx`.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8], tx: &mut dyn FrameSink) {
        self.stats.rx_frames += 1;
        let Ok(eth_view) = Frame::new_checked(frame) else {
            return self.stats.drop(DropReason::EthMalformed);
        };
        let eth = match EthernetRepr::parse(&eth_view) {
            Ok(e) => e,
            Err(Error::Unsupported) => return self.stats.drop(DropReason::EthUnsupported),
            Err(_) => return self.stats.drop(DropReason::EthMalformed),
        };
        if eth.dst != self.addr.mac && !eth.dst.is_broadcast() && !eth.dst.is_multicast() {
            return self.stats.drop(DropReason::EthNotForUs);
        }
        let payload = eth_view.payload();
        match eth.ethertype {
            ethertype::ARP => self.handle_arp(now, payload, tx),
            ethertype::IPV4 => self.handle_ipv4(now, &eth, payload, tx),
            ethertype::IPV6 => self.stats.drop(DropReason::Ipv6Unsupported),
            _ => self.stats.drop(DropReason::EthUnsupported),
        }
    }

    fn note_learned(&mut self, ip: Ipv4Addr, mac: [u8; 6]) {
        if self.learned.len() < MAX_LEARNED {
            self.learned.push((ip, mac));
        }
    }

    fn handle_arp(&mut self, now: Instant, payload: &[u8], tx: &mut dyn FrameSink) {
        let Ok(view) = wire::arp::Packet::new_checked(payload) else {
            return self.stats.drop(DropReason::ArpMalformed);
        };
        let Ok(arp) = ArpRepr::parse(&view) else {
            return self.stats.drop(DropReason::ArpMalformed);
        };
        // RFC 826 "Packet Reception": merge the sender into an existing entry first.
        let was_resolved = self.arp.get(now, arp.source_ip).is_some();
        let merged = self.arp.update_if_present(now, arp.source_ip, arp.source_hw.0);
        if merged && !was_resolved {
            // An answer to our request: let the handshakes waiting for it go now.
            self.resolved(arp.source_ip);
        }
        if merged {
            self.note_learned(arp.source_ip, arp.source_hw.0);
        }
        if !self.addr.is_ours(arp.target_ip) {
            return self.stats.drop(DropReason::ArpNotForUs);
        }
        // "?Am I the target protocol address?" Yes: add the sender if not merged.
        if !merged && arp.source_hw.is_unicast() && !arp.source_ip.is_unspecified() {
            self.arp.insert(now, arp.source_ip, arp.source_hw.0);
            self.note_learned(arp.source_ip, arp.source_hw.0);
        }
        if arp.operation != ArpOperation::Request {
            return;
        }
        // "Swap hardware and protocol fields, putting the local hardware and
        // protocol addresses in the sender fields; set ar$op to ares_op$REPLY."
        let reply = ArpRepr {
            operation: ArpOperation::Reply,
            source_hw: self.addr.mac,
            source_ip: arp.target_ip,
            target_hw: arp.source_hw,
            target_ip: arp.source_ip,
        };
        if send_arp(tx, arp.source_hw, &reply) {
            self.stats.tx_frames += 1;
            self.stats.arp_replies += 1;
        } else {
            self.stats.drop(DropReason::TxNoFrame);
        }
    }

    fn handle_ipv4(&mut self, now: Instant, eth: &EthernetRepr, payload: &[u8], tx: &mut dyn FrameSink) {
        let Ok(view) = Ipv4Packet::new_checked(payload) else {
            return self.stats.drop(DropReason::Ipv4Malformed);
        };
        let ip = match Ipv4Repr::parse(&view, ChecksumMode::Full) {
            Ok(r) => r,
            Err(Error::BadChecksum) => return self.stats.drop(DropReason::Ipv4BadChecksum),
            Err(_) => return self.stats.drop(DropReason::Ipv4Malformed),
        };
        if !self.addr.is_ours(ip.dst) {
            return self.stats.drop(DropReason::Ipv4NotForUs);
        }
        // RFC 1122 §3.2.1.3: never accept a broadcast, multicast or "this host"
        // source (and such a packet must never be answered).
        if ip.src.is_broadcast() || ip.src.is_multicast() || ip.src.is_unspecified() {
            return self.stats.drop(DropReason::Ipv4BadSource);
        }
        if ip.more_frags || ip.frag_offset != 0 {
            return self.stats.drop(DropReason::Ipv4Fragment);
        }
        let body = view.payload();
        // The datagram without Ethernet padding, for quoting in ICMP errors.
        let datagram = &payload[..(usize::from(view.header_len()) + body.len()).min(payload.len())];
        match ip.protocol {
            protocol::TCP => {
                let seg = match TcpPacket::new_checked(body) {
                    Ok(v) => v,
                    Err(_) => return self.stats.drop(DropReason::TcpMalformed),
                };
                let (src, dst) = (IpAddr::V4(ip.src), IpAddr::V4(ip.dst));
                let mode = self.rx_checksum.mode();
                let repr = match TcpRepr::parse(&seg, &src, &dst, mode) {
                    Ok(r) => r,
                    Err(Error::BadChecksum) => return self.stats.drop(DropReason::TcpBadChecksum),
                    Err(_) => return self.stats.drop(DropReason::TcpMalformed),
                };
                // Accepted: count it if it was the partial form (a one-word compare;
                // wire checks that form first, too).
                if mode == ChecksumMode::FullOrPartial && seg.checksum_is_partial(&src, &dst) {
                    self.stats.rx_csum_partial += 1;
                }
                let (tcp, mut out) = self.split(tx, now);
                tcp.handle_segment(now, src, dst, &repr, &mut out);
            }
            protocol::ICMP => {
                let (_, mut out) = self.split(tx, now);
                icmp::handle_icmpv4(&ip, body, eth.src, &mut out);
            }
            protocol::UDP => self.handle_udp(now, &ip, datagram, body, tx),
            _ => {
                let (_, mut out) = self.split(tx, now);
                out.stats.drop(DropReason::IpProtoUnsupported);
                // RFC 1122 §3.2.2.1: protocol unreachable (code 2).
                icmp::send_unreachable(&ip, datagram, wire::icmpv4::unreachable::PROTOCOL, &mut out);
            }
        }
    }

    /// RFC 768: a datagram to a bound port is queued for the application, one to an
    /// unbound port gets ICMP port unreachable (RFC 1122 §3.2.2.1, rate-limited).
    fn handle_udp(&mut self, now: Instant, ip: &Ipv4Repr, datagram: &[u8], body: &[u8], tx: &mut dyn FrameSink) {
        let (src, dst) = (IpAddr::V4(ip.src), IpAddr::V4(ip.dst));
        let Ok(view) = wire::udp::Packet::new_checked(body) else {
            return self.stats.drop(DropReason::UdpMalformed);
        };
        let mode = self.rx_checksum.mode();
        let repr = match wire::udp::UdpRepr::parse(&view, &src, &dst, mode) {
            Ok(r) => r,
            Err(Error::BadChecksum) => return self.stats.drop(DropReason::UdpBadChecksum),
            Err(_) => return self.stats.drop(DropReason::UdpMalformed),
        };
        if mode == ChecksumMode::FullOrPartial && view.checksum_is_partial(&src, &dst) {
            self.stats.rx_csum_partial += 1;
        }
        if !self.udp.is_bound(repr.dst_port) {
            let (_, mut out) = self.split(tx, now);
            out.stats.drop(DropReason::UdpNoListener);
            return icmp::send_unreachable(ip, datagram, wire::icmpv4::unreachable::PORT, &mut out);
        }
        if !self.udp.deliver(core::net::SocketAddr::new(src, repr.src_port), core::net::SocketAddr::new(dst, repr.dst_port), repr.payload) {
            self.stats.drop(DropReason::UdpRxQueueFull);
        }
    }

    /// ICMP echo: register identifiers, take replies (ping).
    pub fn echo_mut(&mut self) -> &mut icmp::EchoSockets {
        &mut self.echo
    }

    /// Send an ICMP echo request (RFC 792) with `data` to `dst`, from the source
    /// selected for it; one frame (at most 1472 bytes of data: fragmentation on
    /// send is not done yet). Replies carrying `ident` reach
    /// [`Interface::echo_mut`] once it is registered.
    pub fn send_echo(&mut self, now: Instant, dst: IpAddr, ident: u16, seq: u16, data: &[u8], tx: &mut dyn FrameSink) -> Result<(), UdpError> {
        let IpAddr::V4(d) = dst else { return Err(UdpError::NoRoute) };
        let Some(IpAddr::V4(src)) = self.select_source(dst) else { return Err(UdpError::NoRoute) };
        let req = wire::icmpv4::Icmpv4Repr::EchoRequest { ident, seq_no: seq, data };
        let len = req.buffer_len();
        if len > 1500 - 20 {
            return Err(UdpError::MessageTooLong);
        }
        let misses = self.stats.drops_of(DropReason::TxNeighbourMiss);
        let (_, mut out) = self.split(tx, now);
        let sent = out.send(src, d, protocol::ICMP, len, None, &mut |buf| {
            req.emit(&mut wire::icmpv4::Packet::new_unchecked(&mut buf[..len]), ChecksumMode::Full);
        });
        match sent {
            true => Ok(()),
            false if self.stats.drops_of(DropReason::TxNeighbourMiss) != misses => Err(UdpError::NeighbourUnresolved),
            false => Err(UdpError::NoBuffer),
        }
    }

    /// The UDP sockets (bind, recv_from, events).
    pub fn udp(&self) -> &Udp {
        &self.udp
    }

    /// The UDP sockets, mutable.
    pub fn udp_mut(&mut self) -> &mut Udp {
        &mut self.udp
    }

    /// Send one UDP datagram from `local` (one of our addresses; an unspecified
    /// address picks the source for `remote`) to `remote`: one frame, DF set
    /// (fragmentation on send is not done yet: larger payloads are
    /// `MessageTooLong`). The checksum is always computed (RFC 768; mandatory over
    /// IPv6, RFC 8200 §8.1).
    pub fn send_udp(
        &mut self,
        now: Instant,
        local: core::net::SocketAddr,
        remote: core::net::SocketAddr,
        payload: &[u8],
        tx: &mut dyn FrameSink,
    ) -> Result<(), UdpError> {
        let src_ip = if local.ip().is_unspecified() { self.select_source(remote.ip()).ok_or(UdpError::NoRoute)? } else { local.ip() };
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (src_ip, remote.ip()) else {
            return Err(UdpError::NoRoute);
        };
        if !self.addr.is_ours(src) || remote.port() == 0 || local.port() == 0 {
            return Err(UdpError::NoRoute);
        }
        let repr = wire::udp::UdpRepr { src_port: local.port(), dst_port: remote.port(), payload };
        let len = repr.buffer_len();
        // One Ethernet frame: 1500-byte MTU less the IPv4 header.
        if len > 1500 - 20 {
            return Err(UdpError::MessageTooLong);
        }
        let misses = self.stats.drops_of(DropReason::TxNeighbourMiss);
        let no_route = self.stats.drops_of(DropReason::TxNoRoute);
        let (_, mut out) = self.split(tx, now);
        let (s, d) = (src_ip, remote.ip());
        let sent = out.send(src, dst, protocol::UDP, len, None, &mut |buf| {
            repr.emit(&mut wire::udp::Packet::new_unchecked(&mut buf[..len]), &s, &d, ChecksumMode::Full);
        });
        if sent {
            self.udp.sent(payload.len());
            return Ok(());
        }
        if self.stats.drops_of(DropReason::TxNeighbourMiss) != misses {
            Err(UdpError::NeighbourUnresolved)
        } else if self.stats.drops_of(DropReason::TxNoRoute) != no_route {
            Err(UdpError::NoRoute)
        } else {
            Err(UdpError::NoBuffer)
        }
    }

    /// Open a TCP connection from `local` to `remote` (active open); the SYN goes
    /// out through `tx` (or, if the next hop is not resolved yet, an ARP request
    /// does and retransmission sends the SYN later).
    pub fn connect(
        &mut self,
        now: Instant,
        local: core::net::SocketAddr,
        remote: core::net::SocketAddr,
        tx: &mut dyn FrameSink,
    ) -> Result<crate::tcp::ConnId, crate::tcp::ConnectError> {
        let (tcp, mut out) = self.split(tx, now);
        tcp.connect(now, local, remote, &mut out)
    }

    /// Open a TCP connection whose SYN goes out at the next
    /// [`Interface::poll_transmit`] (see [`Tcp::connect_deferred`]).
    pub fn connect_deferred(
        &mut self,
        now: Instant,
        local: core::net::SocketAddr,
        remote: core::net::SocketAddr,
    ) -> Result<crate::tcp::ConnId, crate::tcp::ConnectError> {
        self.tcp.connect_deferred(now, local, remote)
    }

    /// Let TCP send what is due (data, ACKs, retransmissions, FIN).
    pub fn poll_transmit(&mut self, now: Instant, tx: &mut dyn FrameSink) {
        let (tcp, mut out) = self.split(tx, now);
        tcp.poll_transmit(now, &mut out);
    }

    /// The earliest instant at which `poll_transmit` has timer work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.tcp.poll_timeout()
    }
}

/// Send one ARP packet from `arp.source_hw` to `dst` in an Ethernet frame.
fn send_arp(tx: &mut dyn FrameSink, dst: EthernetAddress, arp: &ArpRepr) -> bool {
    let eth = EthernetRepr { src: arp.source_hw, dst, vlan: None, ethertype: ethertype::ARP };
    tx.send_frame(eth.buffer_len(arp.buffer_len()), &mut |buf| {
        let mut f = Frame::new_unchecked(&mut buf[..]);
        eth.emit(&mut f);
        arp.emit(&mut wire::arp::Packet::new_unchecked(f.payload_mut()));
    })
}

/// The IPv4 output path: next hop, ARP, Ethernet + IPv4 header, into a TX frame.
pub(crate) struct Ipv4Out<'a> {
    addr: &'a Addressing,
    arp: &'a mut ArpCache,
    pub(crate) stats: &'a mut IfaceStats,
    ident: &'a mut u16,
    pub(crate) icmp_limit: &'a mut RateLimit,
    pub(crate) echo: &'a mut icmp::EchoSockets,
    tx: &'a mut dyn FrameSink,
    now: Instant,
}

impl Ipv4Out<'_> {
    /// The instant this output path was lent at.
    pub(crate) fn now(&self) -> Instant {
        self.now
    }

    /// Resolve the MAC of the next hop towards `dst`; on a miss, send an ARP
    /// request (rate-limited) and count the drop.
    fn resolve(&mut self, src: Ipv4Addr, dst: Ipv4Addr) -> Option<EthernetAddress> {
        let Some(hop) = self.addr.next_hop(dst) else {
            self.stats.drop(DropReason::TxNoRoute);
            return None;
        };
        match self.arp.lookup(self.now, hop) {
            Lookup::Found(m) => Some(EthernetAddress(m)),
            Lookup::Refresh(m) => {
                self.send_arp_request(src, hop);
                Some(EthernetAddress(m))
            }
            Lookup::Pending => {
                self.stats.drop(DropReason::TxNeighbourMiss);
                None
            }
            Lookup::SendRequest => {
                self.stats.drop(DropReason::TxNeighbourMiss);
                self.send_arp_request(src, hop);
                None
            }
        }
    }

    /// Broadcast an ARP request for `target` from `src` (RFC 826).
    fn send_arp_request(&mut self, src: Ipv4Addr, target: Ipv4Addr) {
        let req = ArpRepr {
            operation: ArpOperation::Request,
            source_hw: self.addr.mac,
            source_ip: src,
            target_hw: EthernetAddress([0; 6]),
            target_ip: target,
        };
        if send_arp(self.tx, EthernetAddress::BROADCAST, &req) {
            self.stats.tx_frames += 1;
            self.stats.arp_requests += 1;
        }
    }

    /// Send an IPv4 packet `src → dst` with `payload_len` bytes written by `fill`
    /// (which gets the IPv4 payload area). `dst_mac` skips the neighbour lookup
    /// (answers to the frame's own sender). Returns whether it was queued.
    pub(crate) fn send(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        proto: u8,
        payload_len: usize,
        dst_mac: Option<EthernetAddress>,
        fill: &mut dyn FnMut(&mut [u8]),
    ) -> bool {
        let mac = match dst_mac {
            Some(m) => m,
            None => match self.resolve(src, dst) {
                Some(m) => m,
                None => return false,
            },
        };
        let ident = *self.ident;
        *self.ident = self.ident.wrapping_add(1);
        let ip = Ipv4Repr {
            src,
            dst,
            protocol: proto,
            payload_len,
            ttl: self.addr.ttl,
            ident,
            // RFC 1191: we do path MTU discovery, so set DF.
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            dscp_ecn: 0,
        };
        let eth = EthernetRepr { src: self.addr.mac, dst: mac, vlan: None, ethertype: ethertype::IPV4 };
        let len = eth.buffer_len(ip.buffer_len());
        let ok = self.tx.send_frame(len, &mut |buf| {
            let mut f = Frame::new_unchecked(&mut buf[..]);
            eth.emit(&mut f);
            let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
            ip.emit(&mut p, ChecksumMode::Full);
            fill(p.payload_mut());
        });
        if ok {
            self.stats.tx_frames += 1;
        } else {
            self.stats.drop(DropReason::TxNoFrame);
        }
        ok
    }
}

impl SegmentSink for Ipv4Out<'_> {
    fn send_segment(&mut self, local: IpAddr, remote: IpAddr, repr: &TcpRepr<'_>) -> bool {
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (local, remote) else {
            self.stats.drop(DropReason::TxNoRoute);
            return false;
        };
        let len = repr.buffer_len();
        self.send(src, dst, protocol::TCP, len, None, &mut |buf| {
            let mut p = TcpPacket::new_unchecked(&mut buf[..len]);
            repr.emit(&mut p, &local, &remote, ChecksumMode::Full);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::icmpv4::{unreachable, Icmpv4Repr};
    use wire::udp::UdpRepr;

    const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
    const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    /// Collects the frames the interface sends.
    #[derive(Default)]
    struct Frames(Vec<Vec<u8>>);
    impl FrameSink for Frames {
        fn send_frame(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
            let mut b = vec![0u8; len];
            fill(&mut b);
            self.0.push(b);
            true
        }
    }

    fn iface() -> Interface {
        Interface::new(InterfaceConfig { mac: OUR_MAC, ipv4: vec![(US, 24)], ..Default::default() })
    }

    fn eth(dst: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let e = EthernetRepr { src: EthernetAddress(PEER_MAC), dst: EthernetAddress(dst), vlan: None, ethertype };
        let mut b = vec![0u8; e.buffer_len(payload.len())];
        let mut f = Frame::new_unchecked(&mut b[..]);
        e.emit(&mut f);
        f.payload_mut().copy_from_slice(payload);
        b
    }

    fn ipv4(dst: Ipv4Addr, proto: u8, payload: &[u8], more_frags: bool) -> Vec<u8> {
        let r = Ipv4Repr {
            src: PEER,
            dst,
            protocol: proto,
            payload_len: payload.len(),
            ttl: 64,
            ident: 7,
            dont_frag: false,
            more_frags,
            frag_offset: 0,
            dscp_ecn: 0,
        };
        let mut b = vec![0u8; r.buffer_len()];
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        r.emit(&mut p, ChecksumMode::Full);
        p.payload_mut().copy_from_slice(payload);
        eth(OUR_MAC, ethertype::IPV4, &b)
    }

    fn arp_request(target: Ipv4Addr) -> Vec<u8> {
        let a = ArpRepr {
            operation: ArpOperation::Request,
            source_hw: EthernetAddress(PEER_MAC),
            source_ip: PEER,
            target_hw: EthernetAddress([0; 6]),
            target_ip: target,
        };
        let mut b = vec![0u8; a.buffer_len()];
        a.emit(&mut wire::arp::Packet::new_unchecked(&mut b[..]));
        eth([0xff; 6], ethertype::ARP, &b)
    }

    fn icmp(repr: &Icmpv4Repr<'_>) -> Vec<u8> {
        let mut b = vec![0u8; repr.buffer_len()];
        repr.emit(&mut wire::icmpv4::Packet::new_unchecked(&mut b[..]), ChecksumMode::Full);
        b
    }

    /// Parse a frame we sent down to its IPv4 payload, checking every checksum.
    fn sent_ipv4(frame: &[u8]) -> (EthernetRepr, Ipv4Repr, Vec<u8>) {
        let f = Frame::new_checked(frame).unwrap();
        let e = EthernetRepr::parse(&f).unwrap();
        let p = Ipv4Packet::new_checked(f.payload()).unwrap();
        let r = Ipv4Repr::parse(&p, ChecksumMode::Full).unwrap();
        (e, r, p.payload().to_vec())
    }

    #[test]
    fn arp_request_for_us_is_answered_and_learned() {
        let mut i = iface();
        let mut tx = Frames::default();
        i.handle_frame(Instant::ZERO, &arp_request(US), &mut tx);
        assert_eq!(tx.0.len(), 1);
        let f = Frame::new_checked(&tx.0[0][..]).unwrap();
        assert_eq!(f.dst_addr(), EthernetAddress(PEER_MAC));
        let a = ArpRepr::parse(&wire::arp::Packet::new_checked(f.payload()).unwrap()).unwrap();
        assert_eq!(a.operation, ArpOperation::Reply);
        assert_eq!((a.source_hw, a.source_ip, a.target_ip), (EthernetAddress(OUR_MAC), US, PEER));
        assert_eq!(i.arp().get(Instant::ZERO, PEER), Some(PEER_MAC), "RFC 826: sender learned");
        // For another address: not answered, counted, nothing learned anew.
        let mut i2 = iface();
        i2.handle_frame(Instant::ZERO, &arp_request(Ipv4Addr::new(198, 18, 0, 3)), &mut tx);
        assert_eq!(tx.0.len(), 1);
        assert_eq!(i2.stats().drops_of(DropReason::ArpNotForUs), 1);
        assert!(i2.arp().is_empty());
    }

    #[test]
    fn echo_request_gets_echo_reply_with_same_data() {
        let mut i = iface();
        let mut tx = Frames::default();
        let req = icmp(&Icmpv4Repr::EchoRequest { ident: 0x1234, seq_no: 9, data: b"xdpstack ping data" });
        i.handle_frame(Instant::ZERO, &ipv4(US, protocol::ICMP, &req, false), &mut tx);
        assert_eq!(tx.0.len(), 1);
        let (e, ip, body) = sent_ipv4(&tx.0[0]);
        assert_eq!(e.dst, EthernetAddress(PEER_MAC));
        assert_eq!((ip.src, ip.dst, ip.protocol), (US, PEER, protocol::ICMP));
        let r = Icmpv4Repr::parse(&wire::icmpv4::Packet::new_checked(&body[..]).unwrap(), ChecksumMode::Full).unwrap();
        assert_eq!(r, Icmpv4Repr::EchoReply { ident: 0x1234, seq_no: 9, data: b"xdpstack ping data" });
        assert_eq!(i.stats().icmp_echo_replies, 1);
    }

    #[test]
    fn udp_and_unknown_protocols_get_unreachable_after_arp() {
        let mut i = iface();
        let mut tx = Frames::default();
        i.handle_frame(Instant::ZERO, &arp_request(US), &mut tx);
        tx.0.clear();
        let u = UdpRepr { src_port: 5000, dst_port: 9, payload: b"hello" };
        let mut ub = vec![0u8; u.buffer_len()];
        u.emit(&mut wire::udp::Packet::new_unchecked(&mut ub[..]), &IpAddr::V4(PEER), &IpAddr::V4(US), ChecksumMode::Full);
        i.handle_frame(Instant::ZERO, &ipv4(US, protocol::UDP, &ub, false), &mut tx);
        i.handle_frame(Instant::ZERO, &ipv4(US, 132 /* SCTP */, b"whatever", false), &mut tx);
        assert_eq!(i.stats().drops_of(DropReason::UdpNoListener), 1);
        assert_eq!(i.stats().drops_of(DropReason::IpProtoUnsupported), 1);
        assert_eq!(tx.0.len(), 2);
        for (frame, code) in tx.0.iter().zip([unreachable::PORT, unreachable::PROTOCOL]) {
            let (_, ip, body) = sent_ipv4(frame);
            assert_eq!(ip.dst, PEER);
            match Icmpv4Repr::parse(&wire::icmpv4::Packet::new_checked(&body[..]).unwrap(), ChecksumMode::Full).unwrap() {
                Icmpv4Repr::DstUnreachable { code: c, quote, .. } => {
                    assert_eq!(c, code);
                    // RFC 792: the quoted header plus the first 8 bytes of payload.
                    assert_eq!(quote.data.len(), 28);
                }
                other => panic!("expected unreachable, got {other:?}"),
            }
        }
    }

    #[test]
    fn udp_flood_gets_rate_limited_errors() {
        let mut i = iface();
        let mut tx = Frames::default();
        i.handle_frame(Instant::ZERO, &arp_request(US), &mut tx);
        tx.0.clear();
        let u = UdpRepr { src_port: 5000, dst_port: 9, payload: b"flood" };
        let mut ub = vec![0u8; u.buffer_len()];
        u.emit(&mut wire::udp::Packet::new_unchecked(&mut ub[..]), &IpAddr::V4(PEER), &IpAddr::V4(US), ChecksumMode::Full);
        let frame = ipv4(US, protocol::UDP, &ub, false);
        for _ in 0..200 {
            i.handle_frame(Instant::from_millis(1), &frame, &mut tx);
        }
        assert_eq!(tx.0.len(), ICMP_ERROR_BURST as usize);
        assert_eq!(i.stats().drops_of(DropReason::UdpNoListener), 200);
        assert_eq!(i.stats().drops_of(DropReason::IcmpErrorRateLimited), 200 - u64::from(ICMP_ERROR_BURST));
    }

    #[test]
    fn bad_frames_are_dropped_and_counted_by_reason() {
        let mut i = iface();
        let mut tx = Frames::default();
        let now = Instant::ZERO;
        // Truncated Ethernet.
        i.handle_frame(now, &[0u8; 10], &mut tx);
        // Unicast for another MAC.
        i.handle_frame(now, &eth([0x02, 9, 9, 9, 9, 9], ethertype::IPV4, &[0; 40]), &mut tx);
        // Unknown EtherType.
        i.handle_frame(now, &eth(OUR_MAC, 0x88b5, &[0; 40]), &mut tx);
        // IPv4 not for us.
        i.handle_frame(now, &ipv4(Ipv4Addr::new(198, 18, 0, 9), protocol::TCP, &[0; 20], false), &mut tx);
        // IPv4 with a corrupted header checksum.
        let mut bad = ipv4(US, protocol::TCP, &[0; 20], false);
        bad[14 + 10] ^= 0xff;
        i.handle_frame(now, &bad, &mut tx);
        // IPv4 with total length beyond the frame.
        let mut long = ipv4(US, protocol::TCP, &[0; 20], false);
        long[14 + 2] = 0x05;
        i.handle_frame(now, &long, &mut tx);
        // A fragment.
        i.handle_frame(now, &ipv4(US, protocol::UDP, &[0; 16], true), &mut tx);
        // TCP shorter than its header, and TCP with a bad checksum.
        i.handle_frame(now, &ipv4(US, protocol::TCP, &[0; 12], false), &mut tx);
        let mut seg = [0u8; 20];
        seg[0..2].copy_from_slice(&1234u16.to_be_bytes());
        seg[2..4].copy_from_slice(&7u16.to_be_bytes());
        seg[12] = 5 << 4;
        i.handle_frame(now, &ipv4(US, protocol::TCP, &seg, false), &mut tx);
        // ICMP with a bad checksum.
        let mut req = icmp(&Icmpv4Repr::EchoRequest { ident: 1, seq_no: 1, data: b"abcd" });
        req[2] ^= 0x55;
        i.handle_frame(now, &ipv4(US, protocol::ICMP, &req, false), &mut tx);
        // IPv6 (not on this path yet).
        i.handle_frame(now, &eth(OUR_MAC, ethertype::IPV6, &[0x60; 40]), &mut tx);
        let s = i.stats();
        for (reason, n) in [
            (DropReason::EthMalformed, 1),
            (DropReason::EthNotForUs, 1),
            (DropReason::EthUnsupported, 1),
            (DropReason::Ipv4NotForUs, 1),
            (DropReason::Ipv4BadChecksum, 1),
            (DropReason::Ipv4Malformed, 1),
            (DropReason::Ipv4Fragment, 1),
            (DropReason::TcpMalformed, 1),
            (DropReason::TcpBadChecksum, 1),
            (DropReason::IcmpBadChecksum, 1),
            (DropReason::Ipv6Unsupported, 1),
        ] {
            assert_eq!(s.drops_of(reason), n, "{}", reason.name());
        }
        assert_eq!(s.total_drops(), 11);
        assert!(tx.0.is_empty(), "nothing answered to bad input");
    }

    /// IPv4 packets Linux sent with its default offloads over veth, from
    /// testdata/v4-partial.pcap (frames 2 and 7; `bash testdata/capture-partial.sh`):
    /// 198.18.0.1 → 198.18.0.2, TCP and UDP checksum fields holding only the
    /// pseudo-header sum (0x8c56, 0x8c55), as `__tcp_v4_send_check` / `udp4_hwcsum`
    /// leave them for a device that veth never has.
    const PARTIAL_SYN: &str = "4500003c995e400040061536c6120001c6120002bc64138d3b76ed1d00000000a002faf08c560000020405b40402080a35c78da2000000000103030a";
    const PARTIAL_UDP: &str = "4500003067c84000401146cdc6120001c61200029c42138e001c8c557061727469616c20636865636b73756d20756470";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn iface_with(rx_checksum: RxChecksum) -> Interface {
        Interface::new(InterfaceConfig { mac: OUR_MAC, ipv4: vec![(US, 24)], rx_checksum, ..Default::default() })
    }

    #[test]
    fn partial_checksum_syn_dropped_under_full_answered_under_accept_partial() {
        for policy in [RxChecksum::Full, RxChecksum::AcceptPartial] {
            let mut i = iface_with(policy);
            i.tcp_mut().listen(5005).unwrap();
            let mut tx = Frames::default();
            i.handle_frame(Instant::ZERO, &arp_request(US), &mut tx);
            tx.0.clear();
            let syn = unhex(PARTIAL_SYN);
            i.handle_frame(Instant::ZERO, &eth(OUR_MAC, ethertype::IPV4, &syn), &mut tx);
            let s = i.stats();
            match policy {
                RxChecksum::Full => {
                    assert!(tx.0.is_empty(), "a partial checksum is a bad one under Full");
                    assert_eq!(s.drops_of(DropReason::TcpBadChecksum), 1);
                    assert_eq!(s.rx_csum_partial, 0);
                }
                RxChecksum::AcceptPartial => {
                    assert_eq!(s.total_drops(), 0, "{:?}", s.nonzero_drops().collect::<Vec<_>>());
                    assert_eq!(s.rx_csum_partial, 1);
                    assert_eq!(tx.0.len(), 1, "SYN-ACK");
                    let (_, ip, body) = sent_ipv4(&tx.0[0]);
                    // Our answer carries a full checksum (Full parse of it succeeds).
                    let t = TcpPacket::new_checked(&body[..]).unwrap();
                    let r = TcpRepr::parse(&t, &IpAddr::V4(ip.src), &IpAddr::V4(ip.dst), ChecksumMode::Full).unwrap();
                    assert_eq!(r.flags, wire::tcp::TcpFlags::SYN | wire::tcp::TcpFlags::ACK);
                    assert_eq!((r.src_port, r.dst_port, ip.dst), (5005, 48228, PEER));
                    assert_eq!(r.ack, 0x3b76_ed1d + 1, "acknowledges the captured SYN's ISN");
                }
            }
        }
    }

    #[test]
    fn partial_checksum_udp_refused_only_under_accept_partial() {
        for policy in [RxChecksum::Full, RxChecksum::AcceptPartial] {
            let mut i = iface_with(policy);
            let mut tx = Frames::default();
            i.handle_frame(Instant::ZERO, &arp_request(US), &mut tx);
            tx.0.clear();
            i.handle_frame(Instant::ZERO, &eth(OUR_MAC, ethertype::IPV4, &unhex(PARTIAL_UDP)), &mut tx);
            let s = i.stats();
            if policy == RxChecksum::Full {
                assert_eq!(s.drops_of(DropReason::UdpBadChecksum), 1);
                assert!(tx.0.is_empty());
            } else {
                assert_eq!((s.drops_of(DropReason::UdpNoListener), s.rx_csum_partial), (1, 1));
                let (_, ip, body) = sent_ipv4(&tx.0[0]);
                assert_eq!(ip.dst, PEER);
                let m = Icmpv4Repr::parse(&wire::icmpv4::Packet::new_checked(&body[..]).unwrap(), ChecksumMode::Full).unwrap();
                assert!(matches!(m, Icmpv4Repr::DstUnreachable { code: unreachable::PORT, .. }), "{m:?}");
            }
        }
    }

    #[test]
    fn accept_partial_still_verifies_full_checksums() {
        // A full checksum is accepted (not counted as partial); a corrupted field is
        // neither form and is dropped.
        let mut i = iface_with(RxChecksum::AcceptPartial);
        let mut tx = Frames::default();
        i.handle_frame(Instant::ZERO, &arp_request(US), &mut tx);
        tx.0.clear();
        let mut syn = unhex(PARTIAL_SYN);
        let seg = &mut syn[20..];
        TcpPacket::new_unchecked(&mut seg[..]).fill_checksum(&IpAddr::V4(PEER), &IpAddr::V4(US));
        i.handle_frame(Instant::ZERO, &eth(OUR_MAC, ethertype::IPV4, &syn), &mut tx);
        assert_eq!(tx.0.len(), 1, "RST for the closed port");
        assert_eq!(i.stats().rx_csum_partial, 0);
        let mut bad = unhex(PARTIAL_SYN);
        bad[20 + 17] ^= 0x01;
        i.handle_frame(Instant::ZERO, &eth(OUR_MAC, ethertype::IPV4, &bad), &mut tx);
        assert_eq!(tx.0.len(), 1);
        assert_eq!(i.stats().drops_of(DropReason::TcpBadChecksum), 1);
        assert_eq!(i.rx_checksum(), RxChecksum::AcceptPartial);
        assert_eq!((RxChecksum::default(), RxChecksum::Full.name(), RxChecksum::AcceptPartial.name()), (RxChecksum::Full, "full", "partial"));
    }

    #[test]
    fn syn_to_closed_port_gets_rst_once_peer_is_resolved() {
        let mut i = iface();
        let mut tx = Frames::default();
        i.handle_frame(Instant::ZERO, &arp_request(US), &mut tx);
        tx.0.clear();
        let syn = TcpRepr {
            src_port: 40000,
            dst_port: 7,
            seq: 1000,
            ack: 0,
            flags: wire::tcp::TcpFlags::SYN,
            window: 64240,
            urgent: 0,
            options: Default::default(),
            payload: &[],
        };
        let mut b = vec![0u8; syn.buffer_len()];
        syn.emit(&mut TcpPacket::new_unchecked(&mut b[..]), &IpAddr::V4(PEER), &IpAddr::V4(US), ChecksumMode::Full);
        i.handle_frame(Instant::ZERO, &ipv4(US, protocol::TCP, &b, false), &mut tx);
        assert_eq!(tx.0.len(), 1);
        let (_, ip, body) = sent_ipv4(&tx.0[0]);
        let t = TcpPacket::new_checked(&body[..]).unwrap();
        let r = TcpRepr::parse(&t, &IpAddr::V4(ip.src), &IpAddr::V4(ip.dst), ChecksumMode::Full).unwrap();
        // RFC 9293 §3.10.7.1: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
        assert!(r.flags.contains(wire::tcp::TcpFlags::RST) && r.flags.contains(wire::tcp::TcpFlags::ACK));
        assert_eq!((r.seq, r.ack, r.src_port, r.dst_port), (0, 1001, 7, 40000));
    }

    /// RFC 768: a datagram to a bound port is queued (no ICMP), read back with its
    /// addresses; `send_udp` answers with a valid datagram to the sender.
    #[test]
    fn udp_to_a_bound_port_is_queued_and_answered() {
        let mut i = iface();
        let mut tx = Frames::default();
        i.handle_frame(Instant::ZERO, &arp_request(US), &mut tx);
        tx.0.clear();
        i.udp_mut().bind(9).unwrap();
        let u = UdpRepr { src_port: 5000, dst_port: 9, payload: b"datagram" };
        let mut ub = vec![0u8; u.buffer_len()];
        u.emit(&mut wire::udp::Packet::new_unchecked(&mut ub[..]), &IpAddr::V4(PEER), &IpAddr::V4(US), ChecksumMode::Full);
        i.handle_frame(Instant::ZERO, &ipv4(US, protocol::UDP, &ub, false), &mut tx);
        assert!(tx.0.is_empty(), "no port unreachable for a bound port");
        assert_eq!(i.udp_mut().poll_event(), Some(crate::udp::UdpEvent::Readable(9)));
        let mut b = [0u8; 64];
        let d = i.udp_mut().recv_from(9, &mut b).unwrap();
        assert_eq!(&b[..d.len], b"datagram");
        assert_eq!((d.src, d.dst), (core::net::SocketAddr::from((PEER, 5000)), core::net::SocketAddr::from((US, 9))));
        i.send_udp(Instant::ZERO, d.dst, d.src, &b[..d.len], &mut tx).unwrap();
        assert_eq!(tx.0.len(), 1);
        let (e, ip, body) = sent_ipv4(&tx.0[0]);
        assert_eq!((e.dst, ip.src, ip.dst, ip.protocol), (EthernetAddress(PEER_MAC), US, PEER, protocol::UDP));
        let r = UdpRepr::parse(&wire::udp::Packet::new_checked(&body[..]).unwrap(), &IpAddr::V4(US), &IpAddr::V4(PEER), ChecksumMode::Full).unwrap();
        assert_eq!((r.src_port, r.dst_port, r.payload), (9, 5000, &b"datagram"[..]));
        assert_eq!(i.udp().stats().datagrams_out, 1);
        // Too large for one frame, and to an unresolved neighbour.
        assert_eq!(i.send_udp(Instant::ZERO, d.dst, d.src, &[0; 1473], &mut tx), Err(UdpError::MessageTooLong));
        let other = core::net::SocketAddr::from((Ipv4Addr::new(198, 18, 0, 99), 1));
        assert_eq!(i.send_udp(Instant::ZERO, d.dst, other, b"x", &mut tx), Err(UdpError::NeighbourUnresolved));
    }

    #[test]
    fn udp_queue_full_is_counted() {
        let mut i = Interface::new(InterfaceConfig {
            mac: OUR_MAC,
            ipv4: vec![(US, 24)],
            udp: crate::udp::UdpConfig { rx_queue: 200, max_sockets: 4 },
            ..Default::default()
        });
        let mut tx = Frames::default();
        i.udp_mut().bind(9).unwrap();
        let u = UdpRepr { src_port: 5000, dst_port: 9, payload: &[7; 100] };
        let mut ub = vec![0u8; u.buffer_len()];
        u.emit(&mut wire::udp::Packet::new_unchecked(&mut ub[..]), &IpAddr::V4(PEER), &IpAddr::V4(US), ChecksumMode::Full);
        for _ in 0..3 {
            i.handle_frame(Instant::ZERO, &ipv4(US, protocol::UDP, &ub, false), &mut tx);
        }
        assert_eq!(i.udp().queued(9), 1);
        assert_eq!(i.stats().drops_of(DropReason::UdpRxQueueFull), 2);
    }

    /// ping: an echo request goes out with our identifier; the peer's reply (RFC
    /// 792: same identifier, sequence number and data) is queued for a registered
    /// identifier only.
    #[test]
    fn echo_request_out_and_reply_back_for_registered_ident() {
        let mut i = iface();
        let mut tx = Frames::default();
        i.handle_frame(Instant::ZERO, &arp_request(US), &mut tx);
        tx.0.clear();
        i.echo_mut().register(0x4242);
        i.send_echo(Instant::ZERO, IpAddr::V4(PEER), 0x4242, 3, b"ping data", &mut tx).unwrap();
        let (_, ip, body) = sent_ipv4(&tx.0[0]);
        assert_eq!((ip.src, ip.dst, ip.protocol), (US, PEER, protocol::ICMP));
        let r = Icmpv4Repr::parse(&wire::icmpv4::Packet::new_checked(&body[..]).unwrap(), ChecksumMode::Full).unwrap();
        assert_eq!(r, Icmpv4Repr::EchoRequest { ident: 0x4242, seq_no: 3, data: b"ping data" });
        let reply = icmp(&Icmpv4Repr::EchoReply { ident: 0x4242, seq_no: 3, data: b"ping data" });
        i.handle_frame(Instant::ZERO, &ipv4(US, protocol::ICMP, &reply, false), &mut tx);
        let other = icmp(&Icmpv4Repr::EchoReply { ident: 0x1111, seq_no: 3, data: b"x" });
        i.handle_frame(Instant::ZERO, &ipv4(US, protocol::ICMP, &other, false), &mut tx);
        let got = i.echo_mut().take().unwrap();
        assert_eq!((got.from, got.ident, got.seq, got.len, got.ttl), (IpAddr::V4(PEER), 0x4242, 3, 9, 64));
        assert_eq!(&got.head[..9], b"ping data");
        assert_eq!(i.echo_mut().take(), None, "the reply for an unregistered identifier is not kept");
        assert_eq!(i.stats().drops_of(DropReason::IcmpIgnored), 1);
        assert_eq!(i.send_echo(Instant::ZERO, IpAddr::V4(PEER), 1, 1, &[0; 1473], &mut tx), Err(UdpError::MessageTooLong));
    }

    fn arp_reply_from(ip: Ipv4Addr, mac: [u8; 6]) -> Vec<u8> {
        let a = ArpRepr {
            operation: ArpOperation::Reply,
            source_hw: EthernetAddress(mac),
            source_ip: ip,
            target_hw: EthernetAddress(OUR_MAC),
            target_ip: US,
        };
        let mut b = vec![0u8; a.buffer_len()];
        a.emit(&mut wire::arp::Packet::new_unchecked(&mut b[..]));
        eth(OUR_MAC, ethertype::ARP, &b)
    }

    /// The SYN-ACK of a passive open whose peer is not in the ARP cache is lost to
    /// the miss; the ARP reply must release it at once (it waited for the 1 s RTO),
    /// and an ARP reply from another host must not make it go again.
    #[test]
    fn syn_ack_lost_to_an_arp_miss_goes_when_the_reply_arrives() {
        let mut i = iface();
        i.tcp_mut().listen(7).unwrap();
        let mut tx = Frames::default();
        let syn = TcpRepr {
            src_port: 40000,
            dst_port: 7,
            seq: 1000,
            ack: 0,
            flags: wire::tcp::TcpFlags::SYN,
            window: 64240,
            urgent: 0,
            options: Default::default(),
            payload: &[],
        };
        let mut b = vec![0u8; syn.buffer_len()];
        syn.emit(&mut TcpPacket::new_unchecked(&mut b[..]), &IpAddr::V4(PEER), &IpAddr::V4(US), ChecksumMode::Full);
        let t = Instant::from_millis(10);
        i.handle_frame(t, &ipv4(US, protocol::TCP, &b, false), &mut tx);
        // Only an ARP request went out; the SYN-ACK was dropped for the miss.
        assert_eq!(tx.0.len(), 1);
        assert_eq!(u16::from_be_bytes([tx.0[0][12], tx.0[0][13]]), ethertype::ARP);
        assert_eq!(i.stats().drops_of(DropReason::TxNeighbourMiss), 1);
        tx.0.clear();
        // Another host's reply changes nothing.
        i.handle_frame(t, &arp_reply_from(Ipv4Addr::new(198, 18, 0, 77), [2, 0, 0, 0, 0, 0x77]), &mut tx);
        i.poll_transmit(t, &mut tx);
        assert!(tx.0.is_empty(), "no SYN-ACK for a reply from another neighbour");
        // The peer's reply: the SYN-ACK goes at the next transmit, same instant.
        i.handle_frame(t, &arp_reply_from(PEER, PEER_MAC), &mut tx);
        i.poll_transmit(t, &mut tx);
        assert_eq!(tx.0.len(), 1, "the SYN-ACK left with the ARP reply, not after the RTO");
        let (e, ip, body) = sent_ipv4(&tx.0[0]);
        assert_eq!((e.dst, ip.dst), (EthernetAddress(PEER_MAC), PEER));
        let seg = TcpPacket::new_checked(&body[..]).unwrap();
        let r = TcpRepr::parse(&seg, &IpAddr::V4(ip.src), &IpAddr::V4(ip.dst), ChecksumMode::Full).unwrap();
        assert!(r.flags.contains(wire::tcp::TcpFlags::SYN) && r.flags.contains(wire::tcp::TcpFlags::ACK));
        assert_eq!(r.ack, 1001);
    }
}

#[cfg(test)]
mod rate_tests {
    use super::*;

    #[test]
    fn token_bucket_allows_burst_then_rate() {
        let mut r = RateLimit::new(1000, 50);
        let t = Instant::from_millis(10);
        assert_eq!((0..100).filter(|_| r.allow(t)).count(), 50, "burst");
        // 10 ms later: 10 more tokens at 1000/s.
        let t2 = Instant::from_millis(20);
        assert_eq!((0..100).filter(|_| r.allow(t2)).count(), 10);
        // A long pause refills only up to the burst.
        let t3 = Instant::from_millis(60_000);
        assert_eq!((0..100).filter(|_| r.allow(t3)).count(), 50);
    }
}
