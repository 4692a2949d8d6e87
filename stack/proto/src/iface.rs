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
    stats: IfaceStats,
    ident: u16,
}

impl Interface {
    /// A new interface.
    pub fn new(cfg: InterfaceConfig) -> Interface {
        Interface {
            addr: Addressing { mac: EthernetAddress(cfg.mac), ipv4: cfg.ipv4, gateway: cfg.gateway, ttl: cfg.ttl },
            arp: ArpCache::new(cfg.arp_capacity),
            tcp: Tcp::new(cfg.tcp),
            stats: IfaceStats::default(),
            ident: 1,
        }
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

    fn handle_arp(&mut self, now: Instant, payload: &[u8], tx: &mut dyn FrameSink) {
        let Ok(view) = wire::arp::Packet::new_checked(payload) else {
            return self.stats.drop(DropReason::ArpMalformed);
        };
        let Ok(arp) = ArpRepr::parse(&view) else {
            return self.stats.drop(DropReason::ArpMalformed);
        };
        // RFC 826 "Packet Reception": merge the sender into an existing entry first.
        let merged = self.arp.update_if_present(now, arp.source_ip, arp.source_hw.0);
        if !self.addr.is_ours(arp.target_ip) {
            return self.stats.drop(DropReason::ArpNotForUs);
        }
        // "?Am I the target protocol address?" Yes: add the sender if not merged.
        if !merged && arp.source_hw.is_unicast() && !arp.source_ip.is_unspecified() {
            self.arp.insert(now, arp.source_ip, arp.source_hw.0);
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
        let eth = EthernetRepr { src: self.addr.mac, dst: arp.source_hw, vlan: None, ethertype: ethertype::ARP };
        let len = eth.buffer_len(reply.buffer_len());
        let sent = tx.send_frame(len, &mut |buf| {
            let mut f = Frame::new_unchecked(&mut buf[..]);
            eth.emit(&mut f);
            reply.emit(&mut wire::arp::Packet::new_unchecked(f.payload_mut()));
        });
        if sent {
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
                let repr = match TcpRepr::parse(&seg, &src, &dst, ChecksumMode::Full) {
                    Ok(r) => r,
                    Err(Error::BadChecksum) => return self.stats.drop(DropReason::TcpBadChecksum),
                    Err(_) => return self.stats.drop(DropReason::TcpMalformed),
                };
                let mut out = Ipv4Out { addr: &self.addr, arp: &mut self.arp, stats: &mut self.stats, ident: &mut self.ident, tx, now };
                self.tcp.handle_segment(now, src, dst, &repr, &mut out);
            }
            protocol::ICMP => {
                let mut out = Ipv4Out { addr: &self.addr, arp: &mut self.arp, stats: &mut self.stats, ident: &mut self.ident, tx, now };
                icmp::handle_icmpv4(&ip, body, eth.src, &mut out);
            }
            protocol::UDP => {
                let mut out = Ipv4Out { addr: &self.addr, arp: &mut self.arp, stats: &mut self.stats, ident: &mut self.ident, tx, now };
                icmp::refuse_udp(&ip, datagram, body, &mut out);
            }
            _ => {
                let mut out = Ipv4Out { addr: &self.addr, arp: &mut self.arp, stats: &mut self.stats, ident: &mut self.ident, tx, now };
                out.stats.drop(DropReason::IpProtoUnsupported);
                // RFC 1122 §3.2.2.1: protocol unreachable (code 2).
                icmp::send_unreachable(&ip, datagram, 2, &mut out);
            }
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
        let mut out = Ipv4Out { addr: &self.addr, arp: &mut self.arp, stats: &mut self.stats, ident: &mut self.ident, tx, now };
        self.tcp.connect(now, local, remote, &mut out)
    }

    /// Let TCP send what is due (data, ACKs, retransmissions, FIN).
    pub fn poll_transmit(&mut self, now: Instant, tx: &mut dyn FrameSink) {
        let mut out = Ipv4Out { addr: &self.addr, arp: &mut self.arp, stats: &mut self.stats, ident: &mut self.ident, tx, now };
        self.tcp.poll_transmit(now, &mut out);
    }

    /// The earliest instant at which `poll_transmit` has timer work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.tcp.poll_timeout()
    }
}

/// The IPv4 output path: next hop, ARP, Ethernet + IPv4 header, into a TX frame.
pub(crate) struct Ipv4Out<'a> {
    addr: &'a Addressing,
    arp: &'a mut ArpCache,
    pub(crate) stats: &'a mut IfaceStats,
    ident: &'a mut u16,
    tx: &'a mut dyn FrameSink,
    now: Instant,
}

impl Ipv4Out<'_> {
    /// Resolve the MAC of the next hop towards `dst`; on a miss, send an ARP
    /// request (rate-limited) and count the drop.
    fn resolve(&mut self, src: Ipv4Addr, dst: Ipv4Addr) -> Option<EthernetAddress> {
        let Some(hop) = self.addr.next_hop(dst) else {
            self.stats.drop(DropReason::TxNoRoute);
            return None;
        };
        match self.arp.lookup(self.now, hop) {
            Lookup::Found(m) => Some(EthernetAddress(m)),
            Lookup::Pending => {
                self.stats.drop(DropReason::TxNeighbourMiss);
                None
            }
            Lookup::SendRequest => {
                self.stats.drop(DropReason::TxNeighbourMiss);
                let req = ArpRepr {
                    operation: ArpOperation::Request,
                    source_hw: self.addr.mac,
                    source_ip: src,
                    target_hw: EthernetAddress([0; 6]),
                    target_ip: hop,
                };
                let eth = EthernetRepr { src: self.addr.mac, dst: EthernetAddress::BROADCAST, vlan: None, ethertype: ethertype::ARP };
                if self.tx.send_frame(eth.buffer_len(req.buffer_len()), &mut |buf| {
                    let mut f = Frame::new_unchecked(&mut buf[..]);
                    eth.emit(&mut f);
                    req.emit(&mut wire::arp::Packet::new_unchecked(f.payload_mut()));
                }) {
                    self.stats.tx_frames += 1;
                    self.stats.arp_requests += 1;
                }
                None
            }
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
