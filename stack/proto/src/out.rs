//! The output path of an interface: next hop, neighbour resolution (ARP for
//! IPv4, NDP for IPv6), Ethernet and IP headers, fragmentation, into a TX frame.
//! TCP's segments, UDP datagrams, ICMP and NDP messages all leave through
//! [`IpOut`], which borrows the parts of the [`crate::iface::Interface`] it needs.

use crate::arp::{ArpCache, Lookup};
use crate::icmp;
use crate::iface::{Addressing, RateLimit};
use crate::ipv6::Addressing6;
use crate::ndp::{self, NeighbourCache};
use crate::stats::{DropReason, IfaceStats};
use crate::tcp::SegmentSink;
use crate::time::Instant;
use crate::FrameSink;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use wire::arp::{ArpOperation, ArpRepr};
use wire::ethernet::{ethertype, EthernetAddress, EthernetRepr, Frame};
use wire::ip::protocol;
use wire::ipv4::{Ipv4Repr, Packet as Ipv4Packet};
use wire::ipv6::{Ipv6Repr, Packet as Ipv6Packet};
use wire::segment::{self, Ip, L3};
use wire::tcp::{TcpPacket, TcpRepr};
use wire::ChecksumMode;

/// Send one ARP packet from `arp.source_hw` to `dst` in an Ethernet frame.
pub(crate) fn send_arp(tx: &mut dyn FrameSink, dst: EthernetAddress, arp: &ArpRepr) -> bool {
    let eth = EthernetRepr { src: arp.source_hw, dst, vlan: None, ethertype: ethertype::ARP };
    tx.send_frame(eth.buffer_len(arp.buffer_len()), &mut |buf| {
        let mut f = Frame::new_unchecked(&mut buf[..]);
        eth.emit(&mut f);
        arp.emit(&mut wire::arp::Packet::new_unchecked(f.payload_mut()));
    })
}

/// The IPv4 output path: next hop, ARP, Ethernet + IPv4 header, into a TX frame.
pub(crate) struct IpOut<'a> {
    pub(crate) addr: &'a Addressing,
    pub(crate) arp: &'a mut ArpCache,
    pub(crate) addr6: &'a Addressing6,
    pub(crate) nd: &'a mut NeighbourCache,
    pub(crate) ident6: &'a mut u32,
    pub(crate) stats: &'a mut IfaceStats,
    pub(crate) ident: &'a mut u16,
    pub(crate) icmp_limit: &'a mut RateLimit,
    pub(crate) echo: &'a mut icmp::EchoSockets,
    /// A datagram larger than the MTU is written here, then cut into fragments.
    pub(crate) scratch: &'a mut Vec<u8>,
    pub(crate) mtu: usize,
    /// Path MTUs learned from ICMP (RFC 1191, RFC 8201).
    pub(crate) pmtu: &'a mut crate::pmtu::PathMtuCache,
    pub(crate) tx: &'a mut dyn FrameSink,
    pub(crate) now: Instant,
}

/// Largest IPv4 payload: 65535 bytes less a 20-byte header (RFC 791 §3.1); so
/// 65507 bytes of UDP data or ICMP echo data.
pub const MAX_IPV4_PAYLOAD: usize = 65535 - 20;

impl IpOut<'_> {
    /// The instant this output path was lent at.
    pub(crate) fn now(&self) -> Instant {
        self.now
    }

    /// Resolve the MAC of the next hop towards `dst`; on a miss, send an ARP
    /// request (the first of a resolution; `tick` retries) and say which
    /// neighbour to queue for. A FAILED neighbour is counted and refused.
    fn resolve(&mut self, src: Ipv4Addr, dst: Ipv4Addr) -> Next4 {
        let Some(hop) = self.addr.next_hop(dst) else {
            self.stats.drop(DropReason::TxNoRoute);
            return Next4::Fail;
        };
        match self.arp.lookup(self.now, hop) {
            Lookup::Found(m) => Next4::Mac(EthernetAddress(m)),
            Lookup::Refresh(m) => {
                self.send_arp_request(src, hop);
                Next4::Mac(EthernetAddress(m))
            }
            Lookup::Pending => Next4::Queue(hop),
            Lookup::SendRequest => {
                self.send_arp_request(src, hop);
                Next4::Queue(hop)
            }
            Lookup::Failed => {
                self.stats.drop(DropReason::ArpResolveFailed);
                Next4::Fail
            }
        }
    }

    /// Like [`IpOut::resolve`], for packets that are not queued (TCP segments,
    /// which their retransmission timer sends again; fragments): a miss is
    /// counted as a drop.
    fn resolve_now(&mut self, src: Ipv4Addr, dst: Ipv4Addr) -> Option<EthernetAddress> {
        match self.resolve(src, dst) {
            Next4::Mac(m) => Some(m),
            Next4::Queue(_) => {
                self.stats.drop(DropReason::TxNeighbourMiss);
                None
            }
            Next4::Fail => None,
        }
    }

    /// Broadcast an ARP request for `target` from `src` (RFC 826).
    pub(crate) fn send_arp_request(&mut self, src: Ipv4Addr, target: Ipv4Addr) {
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
    /// While the next hop is being resolved the packet waits in the ARP cache
    /// (at most [`crate::arp::QUEUE_PER_NEIGHBOUR`] per neighbour).
    pub(crate) fn send(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        proto: u8,
        payload_len: usize,
        dst_mac: Option<EthernetAddress>,
        fill: &mut dyn FnMut(&mut [u8]),
    ) -> bool {
        self.send_ip(src, dst, proto, payload_len, dst_mac, true, fill)
    }

    #[allow(clippy::too_many_arguments)]
    fn send_ip(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        proto: u8,
        payload_len: usize,
        dst_mac: Option<EthernetAddress>,
        queue: bool,
        fill: &mut dyn FnMut(&mut [u8]),
    ) -> bool {
        let next = match (dst_mac, queue) {
            (Some(m), _) => Next4::Mac(m),
            (None, true) => self.resolve(src, dst),
            (None, false) => match self.resolve_now(src, dst) {
                Some(m) => Next4::Mac(m),
                None => return false,
            },
        };
        self.send_next(next, src, dst, proto, payload_len, fill)
    }

    /// [`IpOut::send_ip`] once the next hop is known.
    fn send_next(&mut self, next: Next4, src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload_len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
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
        match next {
            Next4::Mac(mac) => self.emit(mac, &ip, fill),
            Next4::Fail => false,
            Next4::Queue(hop) => {
                // RFC 1122 §2.3.2.2: keep the packet until the reply comes.
                let mut pkt = vec![0u8; ip.buffer_len()];
                let mut p = Ipv4Packet::new_unchecked(&mut pkt[..]);
                ip.emit(&mut p, ChecksumMode::Full);
                fill(p.payload_mut());
                let dropped = self.arp.enqueue(hop, pkt);
                for _ in 0..dropped {
                    self.stats.drop(DropReason::ArpQueueFull);
                }
                true
            }
        }
    }

    /// A UDP datagram `src:sport → dst:dport` (RFC 768). When it fits the path
    /// MTU and the next hop is resolved, the frame is written in one pass
    /// ([`wire::datagram::write_frame`]); otherwise as [`IpOut::send_datagram`]
    /// sends it (queued while ARP resolves, fragments beyond the MTU). Returns
    /// whether it was sent or queued.
    pub(crate) fn send_udp4(&mut self, src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> bool {
        let len = wire::udp::HEADER_LEN + payload.len();
        let repr = wire::udp::UdpRepr { src_port: sport, dst_port: dport, payload };
        let (s, d) = (IpAddr::V4(src), IpAddr::V4(dst));
        let mut fill = |buf: &mut [u8]| repr.emit(&mut wire::udp::Packet::new_unchecked(&mut buf[..len]), &s, &d, ChecksumMode::Full);
        let mtu = self.pmtu.get(self.now, IpAddr::V4(dst), self.mtu);
        if wire::ipv4::HEADER_LEN + len > mtu {
            return self.send_datagram(src, dst, protocol::UDP, len, None, &mut fill);
        }
        match self.resolve(src, dst) {
            Next4::Mac(mac) => {
                let ident = *self.ident;
                *self.ident = ident.wrapping_add(1);
                let l3 = L3 { dst_mac: mac.0, src_mac: self.addr.mac.0, ip: Ip::V4 { src, dst, ttl: self.addr.ttl, ident } };
                let flen = wire::datagram::frame_len(&l3, payload.len());
                self.emit_frame(flen, &mut |buf| wire::datagram::write_frame(buf, &l3, sport, dport, payload))
            }
            next => self.send_next(next, src, dst, protocol::UDP, len, &mut fill),
        }
    }

    /// Send an IPv4 datagram like [`IpOut::send`], cut into fragments when it
    /// does not fit the MTU (RFC 791 §3.2 "Fragmentation": the same
    /// identification in every fragment, offsets in 8-octet units, MF on all but
    /// the last, DF clear). `fill` writes the whole payload once, into the
    /// scratch buffer; every fragment is a copy of a slice of it. Returns whether
    /// every fragment was queued.
    pub(crate) fn send_datagram(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        proto: u8,
        payload_len: usize,
        dst_mac: Option<EthernetAddress>,
        fill: &mut dyn FnMut(&mut [u8]),
    ) -> bool {
        // RFC 1191 §3: datagrams larger than the path MTU leave in fragments
        // (DF clear); those that fit carry DF.
        let mtu = self.pmtu.get(self.now, IpAddr::V4(dst), self.mtu);
        if wire::ipv4::HEADER_LEN + payload_len <= mtu {
            return self.send(src, dst, proto, payload_len, dst_mac, fill);
        }
        if payload_len > MAX_IPV4_PAYLOAD {
            // The callers refuse these (`MessageTooLong`) before they get here.
            self.stats.drop(DropReason::TxNoRoute);
            return false;
        }
        // While the next hop is being resolved the fragments wait, all together
        // (RFC 1122 §2.3.2.2), and leave on the reply.
        let (mac, mut hold) = match dst_mac.map_or_else(|| self.resolve(src, dst), Next4::Mac) {
            Next4::Mac(m) => (m, None),
            Next4::Queue(hop) => (EthernetAddress::BROADCAST, Some((hop, Vec::new()))),
            Next4::Fail => return false,
        };
        let ident = *self.ident;
        *self.ident = self.ident.wrapping_add(1);
        // One allocation for the life of the interface (the scratch keeps its
        // capacity); nothing per fragment.
        self.scratch.clear();
        self.scratch.resize(payload_len, 0);
        let mut scratch = core::mem::take(self.scratch);
        fill(&mut scratch[..payload_len]);
        // Every fragment but the last carries a multiple of 8 bytes.
        let per = (mtu - wire::ipv4::HEADER_LEN) & !7;
        let mut off = 0;
        let mut ok = true;
        while off < payload_len && ok {
            let n = per.min(payload_len - off);
            let ip = Ipv4Repr {
                src,
                dst,
                protocol: proto,
                payload_len: n,
                ttl: self.addr.ttl,
                ident,
                dont_frag: false,
                more_frags: off + n < payload_len,
                frag_offset: off as u16,
                dscp_ecn: 0,
            };
            let piece = &scratch[off..off + n];
            if let Some((_, held)) = hold.as_mut() {
                let at = held.len();
                held.resize(at + ip.buffer_len(), 0);
                let mut p = Ipv4Packet::new_unchecked(&mut held[at..]);
                ip.emit(&mut p, ChecksumMode::Full);
                p.payload_mut()[..n].copy_from_slice(piece);
            } else {
                ok = self.emit(mac, &ip, &mut |buf| buf[..n].copy_from_slice(piece));
                if ok {
                    self.stats.ipv4_frags_out += 1;
                }
            }
            off += n;
        }
        *self.scratch = scratch;
        if let Some((hop, held)) = hold {
            // Older packets that made room are counted; a datagram too large
            // to wait at all is a neighbour miss, as before resolution (the
            // sender learns `NeighbourUnresolved` and may try again).
            return match self.arp.enqueue_fragments(hop, held) {
                Some(dropped) => {
                    for _ in 0..dropped {
                        self.stats.drop(DropReason::ArpQueueFull);
                    }
                    true
                }
                None => {
                    self.stats.drop(DropReason::TxNeighbourMiss);
                    false
                }
            };
        }
        ok
    }

    /// One frame: Ethernet to `mac`, the IPv4 header `ip`, the payload by `fill`.
    fn emit(&mut self, mac: EthernetAddress, ip: &Ipv4Repr, fill: &mut dyn FnMut(&mut [u8])) -> bool {
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

impl IpOut<'_> {
    /// One TCP frame written in one pass ([`wire::segment::write_frame`]).
    fn emit_segment(&mut self, l3: &L3<'_>, repr: &TcpRepr<'_>) -> bool {
        let len = segment::frame_len(l3, repr);
        self.emit_frame(len, &mut |buf| segment::write_frame(buf, l3, repr, true))
    }

    /// One frame of `len` bytes written by `fill`, counted as sent or dropped.
    fn emit_frame(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        let ok = self.tx.send_frame(len, fill);
        if ok {
            self.stats.tx_frames += 1;
        } else {
            self.stats.drop(DropReason::TxNoFrame);
        }
        ok
    }
}

impl SegmentSink for IpOut<'_> {
    fn send_segment(&mut self, local: IpAddr, remote: IpAddr, repr: &TcpRepr<'_>) -> bool {
        match (local, remote) {
            // Not queued: TCP sends again when the neighbour is resolved.
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let Some(mac) = self.resolve_now(src, dst) else { return false };
                let ident = *self.ident;
                *self.ident = ident.wrapping_add(1);
                let l3 = L3 { dst_mac: mac.0, src_mac: self.addr.mac.0, ip: Ip::V4 { src, dst, ttl: self.addr.ttl, ident } };
                self.emit_segment(&l3, repr)
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let hop_limit = self.addr6.hop_limit;
                match self.resolve6(src, dst) {
                    Next6::Mac(mac) => {
                        let l3 = L3 { dst_mac: mac.0, src_mac: self.addr.mac.0, ip: Ip::V6 { src: &src, dst: &dst, hop_limit } };
                        return self.emit_segment(&l3, repr);
                    }
                    Next6::Fail => return false,
                    Next6::Queue(_) => {}
                }
                // Being resolved (or no route): the segment waits in the
                // neighbour cache like any IPv6 packet (RFC 4861 §7.2.2).
                let len = repr.buffer_len();
                let mut fill = |buf: &mut [u8]| {
                    let mut p = TcpPacket::new_unchecked(&mut buf[..len]);
                    repr.emit(&mut p, &local, &remote, ChecksumMode::Full);
                };
                self.send6(src, dst, protocol::TCP, len, None, hop_limit, &mut fill)
            }
            _ => {
                self.stats.drop(DropReason::TxNoRoute);
                false
            }
        }
    }

    fn path_mtu(&self, remote: IpAddr) -> Option<usize> {
        let link = if remote.is_ipv4() { self.mtu } else { self.mtu6() };
        Some(self.pmtu.get(self.now, remote, link))
    }
}

/// What the IPv4 output path knows about the next hop.
enum Next4 {
    /// Send to this MAC.
    Mac(EthernetAddress),
    /// Resolution in progress for this next hop: queue.
    Queue(Ipv4Addr),
    /// No route or a FAILED neighbour (counted).
    Fail,
}

/// Largest IPv6 payload without a jumbogram (RFC 8200 §3: 16-bit payload length).
pub const MAX_IPV6_PAYLOAD: usize = 65535;

/// What the IPv6 output path knows about the next hop.
enum Next6 {
    /// Send to this MAC.
    Mac(EthernetAddress),
    /// Resolution in progress for this next hop: queue.
    Queue(Ipv6Addr),
    /// No route (counted).
    Fail,
}

impl IpOut<'_> {
    /// The MAC of the next hop towards `dst` (RFC 4861 §5.2): multicast
    /// destinations map to `33:33:xx:xx:xx:xx` (RFC 2464 §7); unicast ones go
    /// through the neighbour cache, which may ask for a solicitation.
    fn resolve6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) -> Next6 {
        if dst.is_multicast() {
            return Next6::Mac(EthernetAddress(wire::ipv6::multicast_mac(&dst)));
        }
        let Some(hop) = self.addr6.next_hop(&dst, self.now) else {
            self.stats.drop(DropReason::TxNoRoute);
            return Next6::Fail;
        };
        match self.nd.lookup(self.now, hop) {
            ndp::Lookup::Found(m) => Next6::Mac(EthernetAddress(m)),
            ndp::Lookup::Solicit => {
                // RFC 4861 §7.2.2: the source of the solicitation is the source
                // of the packet that prompted it, when it is ours.
                let s = if self.addr6.is_ours(&src) { src } else { self.addr6.select_source(&hop).unwrap_or(src) };
                self.send_ns(s, hop, None);
                Next6::Queue(hop)
            }
            ndp::Lookup::Pending => Next6::Queue(hop),
        }
    }

    /// Send an IPv6 packet `src → dst` (no extension headers) whose
    /// `payload_len` bytes `fill` writes. `dst_mac` skips the neighbour lookup;
    /// while the next hop is being resolved the packet waits in the neighbour
    /// cache (RFC 4861 §7.2.2). Returns whether it was sent or queued.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send6(
        &mut self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        next_header: u8,
        payload_len: usize,
        dst_mac: Option<EthernetAddress>,
        hop_limit: u8,
        fill: &mut dyn FnMut(&mut [u8]),
    ) -> bool {
        let ip = Ipv6Repr { src, dst, next_header, payload_len: payload_len as u16, hop_limit, traffic_class: 0, flow_label: 0 };
        let mac = match dst_mac {
            Some(m) => m,
            None => match self.resolve6(src, dst) {
                Next6::Mac(m) => m,
                Next6::Fail => return false,
                Next6::Queue(hop) => {
                    let mut pkt = vec![0u8; wire::ipv6::HEADER_LEN + payload_len];
                    let mut p = Ipv6Packet::new_unchecked(&mut pkt[..]);
                    ip.emit(&mut p);
                    fill(p.payload_mut());
                    if self.nd.enqueue(&hop, pkt) {
                        return true;
                    }
                    self.stats.drop(DropReason::NdpQueueFull);
                    return false;
                }
            },
        };
        self.emit6(mac, &ip, fill)
    }

    /// Send an IPv6 packet like [`IpOut::send6`], in fragments when it does not
    /// fit the link MTU (RFC 8200 §4.5: the unfragmentable part — here the
    /// fixed header — in every fragment, then a fragment header with one
    /// identification for all, offsets in 8-octet units, M on all but the
    /// last). `fill` writes the whole payload once into the scratch buffer.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send_datagram6(
        &mut self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        next_header: u8,
        payload_len: usize,
        dst_mac: Option<EthernetAddress>,
        hop_limit: u8,
        fill: &mut dyn FnMut(&mut [u8]),
    ) -> bool {
        // RFC 8201 §4: fragment at the path MTU (a packet-too-big lowered it).
        let mtu = self.pmtu.get(self.now, IpAddr::V6(dst), self.mtu6());
        if wire::ipv6::HEADER_LEN + payload_len <= mtu {
            return self.send6(src, dst, next_header, payload_len, dst_mac, hop_limit, fill);
        }
        if payload_len > MAX_IPV6_PAYLOAD - wire::ipv6ext::FRAGMENT_HEADER_LEN {
            self.stats.drop(DropReason::TxNoRoute);
            return false;
        }
        // RFC 7739 §5: identifications from a counter are predictable across
        // destinations; ours only need to be unique per (source, destination)
        // within a reassembly lifetime, which a 32-bit counter is.
        *self.ident6 = self.ident6.wrapping_add(1);
        let ident = *self.ident6;
        self.scratch.clear();
        self.scratch.resize(payload_len, 0);
        let mut scratch = core::mem::take(self.scratch);
        fill(&mut scratch[..payload_len]);
        let per = (mtu - wire::ipv6::HEADER_LEN - wire::ipv6ext::FRAGMENT_HEADER_LEN) & !7;
        let mut off = 0;
        let mut ok = true;
        while off < payload_len && ok {
            let n = per.min(payload_len - off);
            let fh = wire::ipv6ext::FragmentRepr { next_header, frag_offset: off as u16, more_frags: off + n < payload_len, ident };
            let piece = &scratch[off..off + n];
            ok = self.send6(src, dst, protocol::IPV6_FRAG, wire::ipv6ext::FRAGMENT_HEADER_LEN + n, dst_mac, hop_limit, &mut |buf| {
                fh.emit(&mut wire::ipv6ext::FragmentHeader::new_unchecked(&mut buf[..wire::ipv6ext::FRAGMENT_HEADER_LEN]));
                buf[wire::ipv6ext::FRAGMENT_HEADER_LEN..wire::ipv6ext::FRAGMENT_HEADER_LEN + n].copy_from_slice(piece);
            });
            if ok {
                self.stats.ipv6_frags_out += 1;
            }
            off += n;
        }
        *self.scratch = scratch;
        ok
    }

    /// The IPv6 link MTU: the interface's, or a smaller one a Router
    /// Advertisement gave (RFC 4861 §6.3.4), never below 1280 (RFC 8200 §5).
    pub(crate) fn mtu6(&self) -> usize {
        self.addr6.link_mtu(self.mtu)
    }

    /// One frame: Ethernet to `mac`, the IPv6 header `ip`, the payload by `fill`.
    fn emit6(&mut self, mac: EthernetAddress, ip: &Ipv6Repr, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        let eth = EthernetRepr { src: self.addr.mac, dst: mac, vlan: None, ethertype: ethertype::IPV6 };
        let len = eth.buffer_len(wire::ipv6::HEADER_LEN + usize::from(ip.payload_len));
        let ok = self.tx.send_frame(len, &mut |buf| {
            let mut f = Frame::new_unchecked(&mut buf[..]);
            eth.emit(&mut f);
            let mut p = Ipv6Packet::new_unchecked(f.payload_mut());
            ip.emit(&mut p);
            fill(p.payload_mut());
        });
        if ok {
            self.stats.tx_frames += 1;
        } else {
            self.stats.drop(DropReason::TxNoFrame);
        }
        ok
    }

    /// Send an ICMPv6 message `repr` from `src` to `dst` (checksum over the
    /// pseudo-header, RFC 4443 §2.3).
    pub(crate) fn send_icmpv6(&mut self, src: Ipv6Addr, dst: Ipv6Addr, repr: &wire::icmpv6::Icmpv6Repr<'_>, dst_mac: Option<EthernetAddress>, hop_limit: u8) -> bool {
        let len = repr.buffer_len();
        self.send_datagram6(src, dst, protocol::ICMPV6, len, dst_mac, hop_limit, &mut |buf| {
            repr.emit(&src, &dst, &mut wire::icmpv6::Packet::new_unchecked(&mut buf[..len]), ChecksumMode::Full);
        })
    }

    /// Send a Neighbor Solicitation for `target` from `src` (RFC 4861 §7.2.2):
    /// to its solicited-node group, or unicast to `unicast` (PROBE, §7.3.3);
    /// with our link-layer address unless `src` is unspecified (DAD, RFC 4862
    /// §5.4.2). Hop limit 255 (RFC 4861 §7.1.1).
    pub(crate) fn send_ns(&mut self, src: Ipv6Addr, target: Ipv6Addr, unicast: Option<[u8; 6]>) {
        let (dst, mac) = match unicast {
            Some(m) => (target, EthernetAddress(m)),
            None => {
                let g = wire::ipv6::solicited_node(&target);
                (g, EthernetAddress(wire::ipv6::multicast_mac(&g)))
            }
        };
        let lladdr = if src.is_unspecified() { None } else { Some(self.addr.mac.0) };
        let ns = wire::icmpv6::Icmpv6Repr::Ndisc(wire::ndp::NdiscRepr::NeighborSolicit { target_addr: target, lladdr, nonce: None });
        if self.send_icmpv6(src, dst, &ns, Some(mac), 255) {
            self.stats.ndp_solicits += 1;
        }
    }
}

/// Send a whole IPv6 packet (queued while its next hop was resolved) from `src` to `mac`.
pub(crate) fn emit_raw6(tx: &mut dyn FrameSink, stats: &mut IfaceStats, src: EthernetAddress, mac: [u8; 6], packet: &[u8]) {
    let eth = EthernetRepr { src, dst: EthernetAddress(mac), vlan: None, ethertype: ethertype::IPV6 };
    let ok = tx.send_frame(eth.buffer_len(packet.len()), &mut |buf| {
        let mut f = Frame::new_unchecked(&mut buf[..]);
        eth.emit(&mut f);
        f.payload_mut()[..packet.len()].copy_from_slice(packet);
    });
    if ok {
        stats.tx_frames += 1;
    } else {
        stats.drop(DropReason::TxNoFrame);
    }
}

/// Send a whole IPv4 packet (queued while its next hop was resolved) from `src` to `mac`.
pub(crate) fn emit_raw4(tx: &mut dyn FrameSink, stats: &mut IfaceStats, src: EthernetAddress, mac: [u8; 6], packet: &[u8]) {
    let eth = EthernetRepr { src, dst: EthernetAddress(mac), vlan: None, ethertype: ethertype::IPV4 };
    let ok = tx.send_frame(eth.buffer_len(packet.len()), &mut |buf| {
        let mut f = Frame::new_unchecked(&mut buf[..]);
        eth.emit(&mut f);
        f.payload_mut()[..packet.len()].copy_from_slice(packet);
    });
    if ok {
        stats.tx_frames += 1;
    } else {
        stats.drop(DropReason::TxNoFrame);
    }
}
