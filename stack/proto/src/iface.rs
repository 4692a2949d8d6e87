//! The interface of one core: Ethernet in, ARP / IPv4 / ICMP / UDP / TCP
//! dispatch (IPv6 input is in `input6.rs`, the output path in `out.rs`).
//!
//! `handle_frame` parses in place (the frame is borrowed from the device's receive
//! buffer, a UMEM frame on AF_XDP) and writes any answer straight into a transmit
//! frame via [`FrameSink`]. Every frame it refuses is counted by [`DropReason`].

use crate::arp::ArpCache;
use crate::frag::{FragConfig, FragInput, FragKey, Reassembler};
use crate::icmp;
use crate::ipv6::Addressing6;
use crate::ndp::NeighbourCache;
use crate::out::{send_arp, IpOut};
use crate::stats::{DropReason, IfaceStats};
use crate::tcp::{Tcp, TcpConfig};
use crate::udp::{Udp, UdpConfig, UdpError};
use crate::time::Instant;
use crate::FrameSink;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use wire::arp::{ArpOperation, ArpRepr};
use wire::ethernet::{ethertype, EthernetAddress, EthernetRepr, Frame};
use wire::ip::protocol;
use wire::ipv4::{Ipv4Repr, Packet as Ipv4Packet};
use wire::tcp::{TcpPacket, TcpRepr};
use wire::{ChecksumMode, Error};

pub use crate::out::{MAX_IPV4_PAYLOAD, MAX_IPV6_PAYLOAD};

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
    /// Our IPv6 addresses with their prefix lengths (`--ip6`).
    pub ipv6: Vec<(Ipv6Addr, u8)>,
    /// IPv6 default router (`--gw` of the IPv6 family).
    pub gateway6: Option<Ipv6Addr>,
    /// Form addresses from Router Advertisements (RFC 4862, `--slaac`), with a
    /// link-local address from the MAC.
    pub slaac: bool,
    /// This interface runs the link's IPv6 control duties (Duplicate Address
    /// Detection, router solicitations, MLD reports): one core of a stack does.
    pub ipv6_control: bool,
    /// Most neighbour cache entries (RFC 6583 §7.1).
    pub nd_capacity: usize,
    /// TCP settings.
    pub tcp: TcpConfig,
    /// Most ARP entries kept.
    pub arp_capacity: usize,
    /// Static ARP entries (see [`Interface::add_static_arp`]).
    pub static_arp: Vec<(Ipv4Addr, [u8; 6])>,
    /// TTL of packets we originate.
    pub ttl: u8,
    /// Receive checksum policy for TCP and UDP.
    pub rx_checksum: RxChecksum,
    /// UDP settings.
    pub udp: UdpConfig,
    /// Reassembly bounds (time limit, memory, datagrams in progress), for IPv4
    /// and again for IPv6.
    pub frag: FragConfig,
    /// Largest IPv4 packet sent in one frame (the link MTU); larger UDP datagrams
    /// and ICMP echo messages leave as fragments.
    pub mtu: usize,
}

impl Default for InterfaceConfig {
    fn default() -> Self {
        InterfaceConfig {
            mac: [0x02, 0, 0, 0, 0, 1],
            ipv4: Vec::new(),
            gateway: None,
            ipv6: Vec::new(),
            gateway6: None,
            slaac: false,
            ipv6_control: true,
            nd_capacity: 1024,
            tcp: TcpConfig::default(),
            arp_capacity: 1024,
            static_arp: Vec::new(),
            ttl: DEFAULT_TTL,
            rx_checksum: RxChecksum::Full,
            udp: UdpConfig::default(),
            frag: FragConfig::default(),
            mtu: DEFAULT_MTU,
        }
    }
}

/// The Ethernet MTU (RFC 894).
pub const DEFAULT_MTU: usize = 1500;

/// Whether this core owns the TCP flow of a received segment (remote address,
/// local address, remote port, local port). The engine installs one on stacks
/// with several cores: a TCP segment reassembled here from fragments (which are
/// steered by addresses only) is dropped if another core owns its connection.
pub type TcpOwnerFn = Box<dyn Fn(IpAddr, IpAddr, u16, u16) -> bool + Send>;

pub(crate) struct TcpOwner(pub(crate) TcpOwnerFn);

impl core::fmt::Debug for TcpOwner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TcpOwner")
    }
}

/// The IPv4 addressing of an interface: what is ours, what is on-link.
#[derive(Debug, Clone)]
pub(crate) struct Addressing {
    pub(crate) mac: EthernetAddress,
    pub(crate) ipv4: Vec<(Ipv4Addr, u8)>,
    pub(crate) gateway: Option<Ipv4Addr>,
    pub(crate) ttl: u8,
}

impl Addressing {
    pub(crate) fn is_ours(&self, a: Ipv4Addr) -> bool {
        self.ipv4.iter().any(|(ip, _)| *ip == a)
    }

    /// The next hop towards `dst` (RFC 1122 §3.3.1.1: on-link if it matches one of
    /// our prefixes, else the gateway).
    pub(crate) fn next_hop(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
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

/// The output path over an interface's fields (a macro, so that the caller
/// can borrow the other fields — TCP, a reassembler — at the same time).
macro_rules! ip_out {
    ($i:ident, $tx:expr, $now:expr) => {
        IpOut {
            addr: &$i.addr,
            arp: &mut $i.arp,
            addr6: &$i.addr6,
            nd: &mut $i.nd,
            ident6: &mut $i.ident6,
            stats: &mut $i.stats,
            ident: &mut $i.ident,
            icmp_limit: &mut $i.icmp_limit,
            echo: &mut $i.echo,
            scratch: &mut $i.tx_scratch,
            mtu: $i.mtu,
            pmtu: &mut $i.pmtu,
            tx: $tx,
            now: $now,
        }
    };
}

/// One core's protocol state: addressing, ARP cache, TCP, counters.
#[derive(Debug)]
pub struct Interface {
    pub(crate) addr: Addressing,
    pub(crate) arp: ArpCache,
    pub(crate) addr6: Addressing6,
    pub(crate) nd: NeighbourCache,
    pub(crate) tcp: Tcp,
    pub(crate) udp: Udp,
    pub(crate) echo: icmp::EchoSockets,
    pub(crate) stats: IfaceStats,
    ident: u16,
    ident6: u32,
    pub(crate) icmp_limit: RateLimit,
    /// Neighbours learned from ARP and NDP since the last [`Interface::drain_learned`].
    learned: Vec<(IpAddr, [u8; 6])>,
    pub(crate) rx_checksum: RxChecksum,
    frag: Reassembler,
    pub(crate) frag6: Reassembler,
    /// A reassembled datagram, between the reassembler and its delivery.
    pub(crate) reasm_out: Vec<u8>,
    /// A datagram larger than the MTU, before it is cut into fragments.
    tx_scratch: Vec<u8>,
    pub(crate) mtu: usize,
    /// Path MTUs learned from ICMP errors (RFC 1191, RFC 8201).
    pub(crate) pmtu: crate::pmtu::PathMtuCache,
    pub(crate) tcp_owner: Option<TcpOwner>,
    pub(crate) v6ctl: crate::slaac::Control,
}

/// Most neighbour updates [`Interface`] keeps for [`Interface::drain_learned`]
/// between two drains (more are not kept; each core refreshes its own cache).
pub const MAX_LEARNED: usize = 64;

impl Interface {
    /// A new interface.
    pub fn new(cfg: InterfaceConfig) -> Interface {
        let mut v6ctl = crate::slaac::Control::new(cfg.slaac, cfg.ipv6_control);
        let mut addr6 = Addressing6::new(&cfg.ipv6, cfg.gateway6);
        v6ctl.init(&mut addr6, cfg.mac);
        let mut arp = ArpCache::new(cfg.arp_capacity);
        for (ip, mac) in &cfg.static_arp {
            arp.add_static(*ip, *mac);
        }
        Interface {
            addr: Addressing { mac: EthernetAddress(cfg.mac), ipv4: cfg.ipv4, gateway: cfg.gateway, ttl: cfg.ttl },
            arp,
            addr6,
            nd: NeighbourCache::new(cfg.nd_capacity),
            ident6: 0x5a5a_0001,
            frag6: Reassembler::new_v6(cfg.frag),
            v6ctl,
            tcp: Tcp::new(cfg.tcp),
            udp: Udp::new(cfg.udp),
            echo: icmp::EchoSockets::default(),
            stats: IfaceStats::default(),
            ident: 1,
            icmp_limit: RateLimit::new(ICMP_ERRORS_PER_SEC, ICMP_ERROR_BURST),
            rx_checksum: cfg.rx_checksum,
            learned: Vec::with_capacity(MAX_LEARNED),
            frag: Reassembler::new(cfg.frag),
            reasm_out: Vec::with_capacity(crate::frag::MAX_DATAGRAM_V6),
            tx_scratch: Vec::new(),
            mtu: cfg.mtu.clamp(68, 65535),
            pmtu: crate::pmtu::PathMtuCache::new(),
            tcp_owner: None,
        }
    }

    /// Install the test of TCP flow ownership for reassembled segments (see
    /// [`TcpOwnerFn`]).
    pub fn set_tcp_owner(&mut self, owns: TcpOwnerFn) {
        self.tcp_owner = Some(TcpOwner(owns));
    }

    /// The IPv4 reassembler (datagrams in progress, memory held).
    pub fn reassembler(&self) -> &Reassembler {
        &self.frag
    }

    /// Hand every neighbour learned from ARP or NDP since the last call to `f`
    /// (the engine publishes them to the other cores, which apply them with
    /// [`Interface::learn_neighbour`]).
    #[inline]
    pub fn drain_learned(&mut self, mut f: impl FnMut(IpAddr, [u8; 6])) {
        if self.learned.is_empty() {
            return;
        }
        for (ip, mac) in self.learned.drain(..) {
            f(ip, mac);
        }
    }

    /// Apply a neighbour learned elsewhere (another core's ARP or NDP): refresh or
    /// add the entry, and if it was not resolved here, let the packets and
    /// connections waiting for it go (the packets at the next
    /// [`Interface::poll_transmit`]). Returns whether the entry was not resolved
    /// before.
    pub fn learn_neighbour(&mut self, now: Instant, ip: IpAddr, mac: [u8; 6]) -> bool {
        match ip {
            IpAddr::V4(ip) => {
                let was_resolved = self.arp.get(now, ip).is_some();
                self.arp.insert(now, ip, mac);
                if !was_resolved {
                    self.resolved(now, IpAddr::V4(ip));
                }
                !was_resolved
            }
            IpAddr::V6(ip) => {
                let was_resolved = self.nd.get(&ip).is_some();
                self.nd.learn(now, ip, mac);
                if !was_resolved {
                    self.resolved(now, IpAddr::V6(ip));
                }
                !was_resolved
            }
        }
    }

    /// `ip` was just resolved: the handshakes whose next hop it is send again.
    pub(crate) fn resolved(&mut self, now: Instant, ip: IpAddr) {
        let (addr, addr6) = (&self.addr, &self.addr6);
        self.tcp.neighbour_resolved(|remote| match (remote, ip) {
            (IpAddr::V4(r), IpAddr::V4(ip)) => addr.next_hop(r) == Some(ip),
            (IpAddr::V6(r), IpAddr::V6(ip)) => addr6.next_hop(&r, now) == Some(ip),
            _ => false,
        });
    }

    /// The IPv6 addressing (addresses and their DAD state, prefixes, routers).
    pub fn ipv6(&self) -> &Addressing6 {
        &self.addr6
    }

    /// The IPv6 neighbour cache.
    pub fn neighbours6(&self) -> &NeighbourCache {
        &self.nd
    }

    /// The IPv6 reassembler.
    pub fn reassembler6(&self) -> &Reassembler {
        &self.frag6
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
            IpAddr::V6(d) => self.addr6.select_source(&d).map(IpAddr::V6),
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

    /// Is a TCP or UDP event waiting for the application?
    #[inline]
    pub fn has_events(&self) -> bool {
        self.tcp.has_events() || self.udp.has_events()
    }

    /// Until when has the interface nothing for its driver? `None` when it
    /// has something at `now` (events, neighbours learned or address verdicts
    /// to hand on, timer work due); else its earliest deadline
    /// ([`Interface::poll_timeout`]), the last instant when it has none. A
    /// loop's idle turns skip the rest of the turn until then.
    pub fn quiet_until(&self, now: Instant) -> Option<Instant> {
        if self.has_events() || !self.learned.is_empty() || self.v6ctl.has_news() {
            return None;
        }
        match self.poll_timeout() {
            Some(t) if t <= now => None,
            Some(t) => Some(t),
            None => Some(Instant::from_micros(u64::MAX)),
        }
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

    /// TCP and the output path (borrowing the rest of the interface) at once.
    pub(crate) fn split<'a>(&'a mut self, tx: &'a mut dyn FrameSink, now: Instant) -> (&'a mut Tcp, IpOut<'a>) {
        let out = ip_out!(self, tx, now);
        (&mut self.tcp, out)
    }

    /// A reassembler (`v6`: the IPv6 one) and the output path at once.
    pub(crate) fn split_frag<'a>(&'a mut self, tx: &'a mut dyn FrameSink, now: Instant, v6: bool) -> (&'a mut Reassembler, IpOut<'a>) {
        let out = ip_out!(self, tx, now);
        (if v6 { &mut self.frag6 } else { &mut self.frag }, out)
    }

    /// Handle one received frame; answers go to `tx`.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8], tx: &mut dyn FrameSink) {
        self.stats.rx_frames += 1;
        if self.fast_tcp4(now, frame, tx) || self.fast_udp4(frame) {
            return;
        }
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
            ethertype::ARP => {
                self.handle_arp(now, payload, tx);
                self.flush_arp(tx);
            }
            ethertype::IPV4 => self.handle_ipv4(now, &eth, payload, tx),
            ethertype::IPV6 if self.addr6.enabled() => self.handle_ipv6(now, &eth, payload, tx),
            ethertype::IPV6 => self.stats.drop(DropReason::Ipv6NotForUs),
            _ => self.stats.drop(DropReason::EthUnsupported),
        }
    }

    /// The receive fast path: a TCP/IPv4 segment to our MAC in the common
    /// shape ([`wire::segment::parse_v4`]: one pass over the frame, the same
    /// checks as the layered path) goes straight to TCP. Returns `false` for
    /// anything else, which the layered path then handles (and counts, if it
    /// drops it).
    #[inline]
    fn fast_tcp4(&mut self, now: Instant, frame: &[u8], tx: &mut dyn FrameSink) -> bool {
        let mode = self.rx_checksum.mode();
        let Some(rx) = wire::segment::parse_v4(frame, mode) else { return false };
        // RFC 1122 §3.2.1.3: no broadcast, multicast or "this host" source.
        if rx.dst_mac != self.addr.mac.0 || !self.addr.is_ours(rx.dst) || rx.src.is_broadcast() || rx.src.is_multicast() || rx.src.is_unspecified() {
            return false;
        }
        if rx.partial {
            self.stats.rx_csum_partial += 1;
        }
        let (tcp, mut out) = self.split(tx, now);
        tcp.handle_segment(now, IpAddr::V4(rx.src), IpAddr::V4(rx.dst), &rx.tcp, &mut out);
        true
    }

    /// The receive fast path of UDP: a datagram to a bound port of ours in the
    /// common shape ([`wire::datagram::parse_v4`]: one pass, the same checks as
    /// the layered path) is queued for the application. Returns `false` for
    /// anything else (an unbound port included: the layered path answers it
    /// with port unreachable).
    #[inline]
    fn fast_udp4(&mut self, frame: &[u8]) -> bool {
        let Some(rx) = wire::datagram::parse_v4(frame, self.rx_checksum.mode()) else { return false };
        // RFC 1122 §3.2.1.3: no broadcast, multicast or "this host" source.
        if rx.dst_mac != self.addr.mac.0 || !self.addr.is_ours(rx.dst) || rx.src.is_broadcast() || rx.src.is_multicast() || rx.src.is_unspecified() {
            return false;
        }
        if !self.udp.is_bound(rx.dst_port) {
            return false;
        }
        if rx.partial {
            self.stats.rx_csum_partial += 1;
        }
        let (src, dst) = (core::net::SocketAddr::new(IpAddr::V4(rx.src), rx.src_port), core::net::SocketAddr::new(IpAddr::V4(rx.dst), rx.dst_port));
        if !self.udp.deliver(src, dst, rx.payload) {
            self.stats.drop(DropReason::UdpRxQueueFull);
        }
        true
    }

    pub(crate) fn note_learned(&mut self, ip: IpAddr, mac: [u8; 6]) {
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
            self.resolved(now, IpAddr::V4(arp.source_ip));
        }
        if merged {
            self.note_learned(IpAddr::V4(arp.source_ip), arp.source_hw.0);
        }
        if arp.source_ip == arp.target_ip && !self.addr.is_ours(arp.target_ip) {
            // An announcement (RFC 5227 §3): merged above, nothing to answer.
            return;
        }
        if !self.addr.is_ours(arp.target_ip) {
            return self.stats.drop(DropReason::ArpNotForUs);
        }
        // "?Am I the target protocol address?" Yes: add the sender if not merged.
        if !merged && arp.source_hw.is_unicast() && !arp.source_ip.is_unspecified() {
            self.arp.insert(now, arp.source_ip, arp.source_hw.0);
            self.note_learned(IpAddr::V4(arp.source_ip), arp.source_hw.0);
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
            Err(_) if self.addr.is_ours(view.dst_addr()) && crate::frag::reaches_past_65535(&view) => {
                return self.fragment_too_big(&view);
            }
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
            return self.handle_fragment(now, eth, &view, &ip, tx);
        }
        // The datagram without Ethernet padding, for quoting in ICMP errors.
        let datagram = &payload[..(usize::from(view.header_len()) + view.payload().len()).min(payload.len())];
        self.deliver_ipv4(now, eth, &ip, datagram, false, tx);
    }

    /// A fragment for us (RFC 791 §3.2): expire what is due, then reassemble; a
    /// complete datagram is delivered like an unfragmented one.
    fn handle_fragment(&mut self, now: Instant, eth: &EthernetRepr, view: &Ipv4Packet<&[u8]>, ip: &Ipv4Repr, tx: &mut dyn FrameSink) {
        self.stats.ipv4_frags_in += 1;
        self.expire_fragments(now, tx);
        let header = &view.as_ref()[..usize::from(view.header_len())];
        let mut out = core::mem::take(&mut self.reasm_out);
        match self.frag.input(now, header, ip, view.payload(), &mut out) {
            FragInput::Held => {}
            FragInput::Dropped(reason) => self.stats.drop(reason),
            FragInput::Complete => {
                self.stats.ipv4_reassembled += 1;
                match Ipv4Repr::parse(&Ipv4Packet::new_unchecked(&out[..]), ChecksumMode::Full) {
                    Ok(whole) => self.deliver_ipv4(now, eth, &whole, &out, true, tx),
                    Err(_) => self.stats.drop(DropReason::Ipv4FragTooBig),
                }
            }
        }
        self.reasm_out = out;
    }

    /// A fragment that would make its datagram longer than 65535 bytes (RFC 791
    /// §3.1): counted, and its datagram dropped if in reassembly.
    fn fragment_too_big(&mut self, view: &Ipv4Packet<&[u8]>) {
        let key = FragKey { src: IpAddr::V4(view.src_addr()), dst: IpAddr::V4(view.dst_addr()), protocol: view.protocol(), ident: u32::from(view.ident()) };
        self.frag.discard(&key);
        self.stats.drop(DropReason::Ipv4FragTooBig);
    }

    /// Drop the datagrams in reassembly whose time is up; ICMP time exceeded,
    /// code 1 (RFC 792), for those whose first fragment had arrived (RFC 1122
    /// §3.2.1.4), rate-limited like every ICMP error.
    fn expire_fragments(&mut self, now: Instant, tx: &mut dyn FrameSink) {
        if self.frag.poll_timeout().is_none_or(|t| t > now) {
            return;
        }
        let (frag, mut out) = self.split_frag(tx, now, false);
        frag.expire(now, |quote| {
            out.stats.drop(DropReason::Ipv4FragTimeout);
            if let Some(q) = quote {
                icmp::send_reassembly_timeout(q, &mut out);
            }
        });
    }

    /// An IPv4 datagram for us, whole (received so, or `reassembled`): to ICMP,
    /// UDP or TCP. `datagram` is the header and payload.
    fn deliver_ipv4(&mut self, now: Instant, eth: &EthernetRepr, ip: &Ipv4Repr, datagram: &[u8], reassembled: bool, tx: &mut dyn FrameSink) {
        let body = &datagram[datagram.len() - ip.payload_len..];
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
                // Fragments are steered by addresses only: a reassembled segment of
                // a connection another core owns is not ours to answer.
                if reassembled && self.tcp_owner.as_ref().is_some_and(|o| !(o.0)(src, dst, repr.src_port, repr.dst_port)) {
                    return self.stats.drop(DropReason::Ipv4FragTcpOtherCore);
                }
                let (tcp, mut out) = self.split(tx, now);
                tcp.handle_segment(now, src, dst, &repr, &mut out);
            }
            protocol::ICMP => {
                let (_, mut out) = self.split(tx, now);
                if let Some((report, quoted)) = icmp::handle_icmpv4(ip, body, eth.src, &mut out) {
                    self.handle_icmp_error(now, report, quoted, tx);
                }
            }
            protocol::UDP => self.handle_udp(now, ip, datagram, body, tx),
            _ => {
                let (_, mut out) = self.split(tx, now);
                out.stats.drop(DropReason::IpProtoUnsupported);
                // RFC 1122 §3.2.2.1: protocol unreachable (code 2).
                icmp::send_unreachable(ip, datagram, wire::icmpv4::unreachable::PROTOCOL, &mut out);
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
    /// selected for it: at most 65507 bytes of data, in fragments when the
    /// message does not fit the MTU. Replies carrying `ident` reach
    /// [`Interface::echo_mut`] once it is registered.
    pub fn send_echo(&mut self, now: Instant, dst: IpAddr, ident: u16, seq: u16, data: &[u8], tx: &mut dyn FrameSink) -> Result<(), UdpError> {
        let d = match dst {
            IpAddr::V4(d) => d,
            IpAddr::V6(d) => return self.send_echo6(now, d, ident, seq, data, tx),
        };
        let Some(IpAddr::V4(src)) = self.select_source(dst) else { return Err(UdpError::NoRoute) };
        let req = wire::icmpv4::Icmpv4Repr::EchoRequest { ident, seq_no: seq, data };
        let len = req.buffer_len();
        if len > MAX_IPV4_PAYLOAD {
            return Err(UdpError::MessageTooLong);
        }
        let misses = self.stats.drops_of(DropReason::TxNeighbourMiss);
        let failed = self.stats.drops_of(DropReason::ArpResolveFailed);
        let (_, mut out) = self.split(tx, now);
        let sent = out.send_datagram(src, d, protocol::ICMP, len, None, &mut |buf| {
            req.emit(&mut wire::icmpv4::Packet::new_unchecked(&mut buf[..len]), ChecksumMode::Full);
        });
        match sent {
            true => Ok(()),
            false if self.stats.drops_of(DropReason::TxNeighbourMiss) != misses => Err(UdpError::NeighbourUnresolved),
            false if self.stats.drops_of(DropReason::ArpResolveFailed) != failed => Err(UdpError::HostUnreachable),
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
    /// address picks the source for `remote`) to `remote`: at most 65507 bytes of
    /// payload; one frame with DF set when it fits the MTU, else fragments (RFC
    /// 791 §3.2, DF clear). The checksum is always computed (RFC 768; mandatory
    /// over IPv6, RFC 8200 §8.1).
    pub fn send_udp(
        &mut self,
        now: Instant,
        local: core::net::SocketAddr,
        remote: core::net::SocketAddr,
        payload: &[u8],
        tx: &mut dyn FrameSink,
    ) -> Result<(), UdpError> {
        let src_ip = if local.ip().is_unspecified() { self.select_source(remote.ip()).ok_or(UdpError::NoRoute)? } else { local.ip() };
        if remote.port() == 0 || local.port() == 0 {
            return Err(UdpError::NoRoute);
        }
        let (src, dst) = match (src_ip, remote.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => (s, d),
            (IpAddr::V6(s), IpAddr::V6(d)) => return self.send_udp6(now, s, d, local.port(), remote.port(), payload, tx),
            _ => return Err(UdpError::NoRoute),
        };
        if !self.addr.is_ours(src) {
            return Err(UdpError::NoRoute);
        }
        // RFC 791 §3.1: the whole datagram fits the 16-bit total length.
        if wire::udp::HEADER_LEN + payload.len() > MAX_IPV4_PAYLOAD {
            return Err(UdpError::MessageTooLong);
        }
        let misses = self.stats.drops_of(DropReason::TxNeighbourMiss);
        let no_route = self.stats.drops_of(DropReason::TxNoRoute);
        let failed = self.stats.drops_of(DropReason::ArpResolveFailed);
        let (_, mut out) = self.split(tx, now);
        let sent = out.send_udp4(src, dst, local.port(), remote.port(), payload);
        if sent {
            self.udp.sent(payload.len());
            return Ok(());
        }
        if self.stats.drops_of(DropReason::TxNeighbourMiss) != misses {
            Err(UdpError::NeighbourUnresolved)
        } else if self.stats.drops_of(DropReason::ArpResolveFailed) != failed {
            Err(UdpError::HostUnreachable)
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

    /// Let TCP send what is due (data, ACKs, retransmissions, FIN), drop the
    /// datagrams in reassembly whose time is up, and run the IPv6 timers
    /// (neighbour cache, DAD, router solicitations, MLD reports) and send the
    /// packets whose neighbour was resolved.
    pub fn poll_transmit(&mut self, now: Instant, tx: &mut dyn FrameSink) {
        self.expire_fragments(now, tx);
        if self.addr6.enabled() {
            self.poll_ipv6(now, tx);
        }
        self.arp_timers(now, tx);
        let (tcp, mut out) = self.split(tx, now);
        tcp.poll_transmit(now, &mut out);
    }

    /// The earliest instant at which `poll_transmit` has timer work (TCP, a
    /// reassembly deadline, an IPv6 timer or packets waiting to go).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let v4 = earliest(earliest(self.tcp.poll_timeout(), self.frag.poll_timeout()), self.arp.poll_timeout());
        if !self.addr6.enabled() {
            return v4;
        }
        let v6 = earliest(earliest(self.frag6.poll_timeout(), self.nd.poll_timeout()), earliest(self.v6ctl.poll_timeout(), self.dad_timeout()));
        earliest(v4, v6)
    }
}

/// The earlier of two optional deadlines.
#[inline]
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

#[cfg(test)]
#[path = "iface_tests.rs"]
mod tests;
