//! IPv6 input (RFC 8200) of an interface: fixed header checks, destination
//! (our addresses and groups), the extension-header walk (§4.1), fragments
//! (§4.5, atomic fragments per RFC 6946), and delivery to ICMPv6, UDP (checksum
//! mandatory, §8.1) and TCP; plus the IPv6 sides of `send_udp` and `send_echo`.

use crate::frag::FragInput;
use crate::iface::Interface;
use crate::icmpv6;
use crate::stats::DropReason;
use crate::time::Instant;
use crate::udp::UdpError;
use crate::FrameSink;
use core::net::{IpAddr, Ipv6Addr, SocketAddr};
use wire::ethernet::EthernetRepr;
use wire::ip::protocol;
use wire::ipv6::{Ipv6Repr, Packet as Ipv6Packet};
use wire::ipv6ext::{self, UnknownAction};
use wire::tcp::{TcpPacket, TcpRepr};
use wire::{ChecksumMode, Error};

/// Where the upper-layer data of a received IPv6 packet is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rx6 {
    /// The fixed header.
    pub ip: Ipv6Repr,
    /// Upper-layer protocol.
    pub upper: u8,
    /// Offset of the upper-layer data in the packet (fixed header included).
    pub offset: usize,
    /// Reassembled from fragments.
    pub reassembled: bool,
}

impl Interface {
    /// An IPv6 packet (the Ethernet payload).
    pub(crate) fn handle_ipv6(&mut self, now: Instant, eth: &EthernetRepr, payload: &[u8], tx: &mut dyn FrameSink) {
        let Ok(view) = Ipv6Packet::new_checked(payload) else {
            return self.stats.drop(DropReason::Ipv6Malformed);
        };
        let ip = match Ipv6Repr::parse(&view) {
            Ok(r) => r,
            Err(Error::Malformed) => return self.stats.drop(DropReason::Ipv6BadSource),
            Err(_) => return self.stats.drop(DropReason::Ipv6Malformed),
        };
        // Our unicast addresses (tentative ones too: NDP for them is processed,
        // RFC 4862 §5.4.3), all-nodes and our solicited-node groups.
        let for_us = if ip.dst.is_multicast() { self.addr6.in_group(&ip.dst) } else { self.addr6.find(&ip.dst).is_some() };
        if !for_us {
            return self.stats.drop(DropReason::Ipv6NotForUs);
        }
        // Ethernet padding is not part of the packet.
        let packet = &payload[..wire::ipv6::HEADER_LEN + usize::from(ip.payload_len)];
        let chain = match ipv6ext::walk(ip.next_header, &packet[wire::ipv6::HEADER_LEN..]) {
            Ok(c) => c,
            Err(_) => return self.stats.drop(DropReason::Ipv6BadExtHeader),
        };
        match ext_headers_acceptable(ip.next_header, &packet[wire::ipv6::HEADER_LEN..], ip.dst.is_multicast()) {
            ExtVerdict::Accept => {}
            ExtVerdict::Drop => return self.stats.drop(DropReason::Ipv6BadExtHeader),
            ExtVerdict::ParamProblem { code, pointer } => {
                self.stats.drop(DropReason::Ipv6BadExtHeader);
                let (_, mut out) = self.split(tx, now);
                return icmpv6::send_error(&ip, packet, icmpv6::ErrorKind::ParamProblem { code, pointer }, &mut out);
            }
        }
        let offset = wire::ipv6::HEADER_LEN + chain.offset;
        match chain.fragment {
            // RFC 6946 §4: an atomic fragment is processed as a whole packet, never
            // mixed with fragments in reassembly.
            Some(f) if f.is_atomic() => self.deliver6(now, eth, Rx6 { ip, upper: f.next_header, offset, reassembled: false }, packet, tx),
            Some(f) => {
                // The packet's address must be one of ours to be reassembled.
                if ip.dst.is_multicast() {
                    return self.stats.drop(DropReason::Ipv6NotForUs);
                }
                self.handle_fragment6(now, eth, &ip, packet, wire::ipv6::HEADER_LEN + chain.fragment_offset, &f, tx);
            }
            None => self.deliver6(now, eth, Rx6 { ip, upper: chain.upper, offset, reassembled: false }, packet, tx),
        }
    }

}

/// What the extension headers before the upper layer (or a fragment header)
/// say to do with a packet.
#[derive(Debug, PartialEq, Eq)]
enum ExtVerdict {
    Accept,
    /// Drop silently.
    Drop,
    /// Drop and send ICMPv6 Parameter Problem `code` pointing at byte
    /// `pointer` of the packet (RFC 4443 §3.4).
    ParamProblem { code: u8, pointer: u32 },
}

/// RFC 8200 §4.2: an option of an unknown type is skipped or drops the packet
/// by its action bits — 01 silently, 10 with a Parameter Problem code 2
/// pointing at the option's type, 11 the same unless the destination was
/// multicast. §4.4: a routing header with segments left asks us to forward,
/// and we implement no routing type: Parameter Problem code 0 pointing at its
/// routing type. The walk stops at a fragment header (what follows is checked
/// after reassembly by the upper layer).
fn ext_headers_acceptable(mut nh: u8, payload: &[u8], multicast: bool) -> ExtVerdict {
    let mut off = 0;
    // Offsets in the invoking packet start at its IPv6 header.
    let at = |o: usize| (wire::ipv6::HEADER_LEN + o) as u32;
    while ipv6ext::is_extension_header(nh) {
        let Some(rest) = payload.get(off..) else { return ExtVerdict::Drop };
        match nh {
            protocol::HOP_BY_HOP | protocol::IPV6_OPTS => {
                let Ok(h) = ipv6ext::OptionsHeader::new_checked(rest) else { return ExtVerdict::Drop };
                for o in h.options() {
                    let Ok(o) = o else { return ExtVerdict::Drop };
                    let known = matches!(o.kind, ipv6ext::option_type::PAD1 | ipv6ext::option_type::PADN | ipv6ext::option_type::ROUTER_ALERT);
                    if known {
                        continue;
                    }
                    let problem = ExtVerdict::ParamProblem { code: wire::icmpv6::param_problem::UNRECOGNIZED_OPTION, pointer: at(off + 2 + o.offset) };
                    match o.unknown_action() {
                        UnknownAction::Skip => {}
                        UnknownAction::Discard => return ExtVerdict::Drop,
                        UnknownAction::DiscardSendIcmp => return problem,
                        UnknownAction::DiscardSendIcmpUnlessMulticast if multicast => return ExtVerdict::Drop,
                        UnknownAction::DiscardSendIcmpUnlessMulticast => return problem,
                    }
                }
                nh = h.next_header();
                off += h.header_len();
            }
            protocol::IPV6_ROUTE => {
                let Ok(h) = ipv6ext::RoutingHeader::new_checked(rest) else { return ExtVerdict::Drop };
                if h.segments_left() != 0 {
                    // The routing type is the header's third byte.
                    return ExtVerdict::ParamProblem { code: wire::icmpv6::param_problem::ERRONEOUS_FIELD, pointer: at(off + 2) };
                }
                nh = h.next_header();
                off += h.header_len();
            }
            _ => return ExtVerdict::Accept,
        }
    }
    ExtVerdict::Accept
}

impl Interface {
    /// A fragment for us (RFC 8200 §4.5).
    #[allow(clippy::too_many_arguments)]
    fn handle_fragment6(&mut self, now: Instant, eth: &EthernetRepr, ip: &Ipv6Repr, packet: &[u8], frag_at: usize, f: &ipv6ext::FragmentRepr, tx: &mut dyn FrameSink) {
        self.stats.ipv6_frags_in += 1;
        self.expire_fragments6(now, tx);
        // The unfragmentable part, with the next-header field that named the
        // fragment header pointing at what follows it (RFC 8200 §4.5: "the Next
        // Header field of the last header of the Per-Fragment headers is obtained
        // from the Next Header field of the first fragment's Fragment header").
        let mut unfrag = [0u8; crate::frag::HEADER_CAP];
        if frag_at > unfrag.len() {
            return self.stats.drop(DropReason::Ipv6FragInvalid);
        }
        unfrag[..frag_at].copy_from_slice(&packet[..frag_at]);
        // The fixed header's next-header field is byte 6; an extension header's
        // is its first byte, and its length is in 8-octet units after the first 8.
        let mut nh_at = 6;
        let mut at = wire::ipv6::HEADER_LEN;
        while at < frag_at {
            nh_at = at;
            at += (usize::from(packet[at + 1]) + 1) * 8;
        }
        unfrag[nh_at] = f.next_header;
        let data = &packet[frag_at + ipv6ext::FRAGMENT_HEADER_LEN..];
        let mut out = core::mem::take(&mut self.reasm_out);
        let r = self.frag6.input6(now, &unfrag[..frag_at], ip.src, ip.dst, f, data, &mut out);
        match r {
            FragInput::Held => {}
            FragInput::Dropped(reason) => self.stats.drop(reason),
            FragInput::Complete => {
                self.stats.ipv6_reassembled += 1;
                self.deliver_reassembled6(now, eth, &out, tx);
            }
        }
        self.reasm_out = out;
    }

    fn deliver_reassembled6(&mut self, now: Instant, eth: &EthernetRepr, packet: &[u8], tx: &mut dyn FrameSink) {
        let Ok(view) = Ipv6Packet::new_checked(packet) else {
            return self.stats.drop(DropReason::Ipv6FragInvalid);
        };
        let Ok(ip) = Ipv6Repr::parse(&view) else {
            return self.stats.drop(DropReason::Ipv6FragInvalid);
        };
        let chain = match ipv6ext::walk(ip.next_header, &packet[wire::ipv6::HEADER_LEN..]) {
            Ok(c) if c.fragment.is_none() => c,
            _ => return self.stats.drop(DropReason::Ipv6BadExtHeader),
        };
        let rx = Rx6 { ip, upper: chain.upper, offset: wire::ipv6::HEADER_LEN + chain.offset, reassembled: true };
        self.deliver6(now, eth, rx, packet, tx);
    }

    /// Drop the IPv6 datagrams in reassembly whose time is up (RFC 8200 §4.5:
    /// 60 seconds at most); ICMPv6 Time Exceeded code 1 for those whose first
    /// fragment arrived, rate-limited.
    pub(crate) fn expire_fragments6(&mut self, now: Instant, tx: &mut dyn FrameSink) {
        if self.frag6.poll_timeout().is_none_or(|t| t > now) {
            return;
        }
        let (frag, mut out) = self.split_frag(tx, now, true);
        frag.expire(now, |quote| {
            out.stats.drop(DropReason::Ipv6FragTimeout);
            if let Some(q) = quote {
                icmpv6::send_reassembly_timeout(q, &mut out);
            }
        });
    }

    /// A whole IPv6 packet for us: to ICMPv6, UDP or TCP.
    pub(crate) fn deliver6(&mut self, now: Instant, eth: &EthernetRepr, rx: Rx6, packet: &[u8], tx: &mut dyn FrameSink) {
        let Some(body) = packet.get(rx.offset..) else {
            return self.stats.drop(DropReason::Ipv6Malformed);
        };
        let (src, dst) = (IpAddr::V6(rx.ip.src), IpAddr::V6(rx.ip.dst));
        // RFC 4291 §2.5.2: the unspecified address is a source only for NDP (DAD).
        if rx.ip.src.is_unspecified() && rx.upper != protocol::ICMPV6 {
            return self.stats.drop(DropReason::Ipv6BadSource);
        }
        // RFC 4862 §5.4: a tentative address is not assigned yet and a duplicate
        // one never is: packets to it are silently discarded, ICMPv6 aside (NDP
        // for it is processed, §5.4.3; echo checks the address itself).
        if rx.upper != protocol::ICMPV6 && !rx.ip.dst.is_multicast() && !self.addr6.is_ours(&rx.ip.dst) {
            return self.stats.drop(DropReason::Ipv6NotForUs);
        }
        match rx.upper {
            protocol::TCP => {
                if rx.ip.dst.is_multicast() {
                    return self.stats.drop(DropReason::Ipv6NotForUs);
                }
                let Ok(seg) = TcpPacket::new_checked(body) else {
                    return self.stats.drop(DropReason::TcpMalformed);
                };
                let mode = self.rx_checksum.mode();
                let repr = match TcpRepr::parse(&seg, &src, &dst, mode) {
                    Ok(r) => r,
                    Err(Error::BadChecksum) => return self.stats.drop(DropReason::TcpBadChecksum),
                    Err(_) => return self.stats.drop(DropReason::TcpMalformed),
                };
                if mode == ChecksumMode::FullOrPartial && seg.checksum_is_partial(&src, &dst) {
                    self.stats.rx_csum_partial += 1;
                }
                if rx.reassembled && self.tcp_owner.as_ref().is_some_and(|o| !(o.0)(src, dst, repr.src_port, repr.dst_port)) {
                    return self.stats.drop(DropReason::Ipv6FragTcpOtherCore);
                }
                let (tcp, mut out) = self.split(tx, now);
                tcp.handle_segment(now, src, dst, &repr, &mut out);
            }
            protocol::UDP => self.handle_udp6(now, &rx, packet, body, tx),
            protocol::ICMPV6 => icmpv6::handle_icmpv6(self, now, eth, &rx, packet, body, tx),
            // RFC 8200 §4.7: nothing follows.
            protocol::IPV6_NONXT => self.stats.drop(DropReason::IpProtoUnsupported),
            _ => {
                self.stats.drop(DropReason::IpProtoUnsupported);
                // RFC 8200 §4: an unrecognised Next Header: Parameter Problem code 1
                // pointing at it (here: the field that named the upper layer).
                let pointer = if rx.offset == wire::ipv6::HEADER_LEN { 6 } else { 0 };
                if pointer != 0 && !rx.ip.dst.is_multicast() {
                    let (_, mut out) = self.split(tx, now);
                    icmpv6::send_error(&rx.ip, packet, icmpv6::ErrorKind::ParamProblem { code: wire::icmpv6::param_problem::UNRECOGNIZED_NEXT_HEADER, pointer }, &mut out);
                }
            }
        }
    }

    /// RFC 768 over IPv6: the checksum is mandatory (RFC 8200 §8.1: a zero
    /// checksum is dropped); unbound ports get ICMPv6 port unreachable (RFC 4443
    /// §3.1, not for multicast destinations, §2.4 (e)).
    fn handle_udp6(&mut self, now: Instant, rx: &Rx6, packet: &[u8], body: &[u8], tx: &mut dyn FrameSink) {
        let (src, dst) = (IpAddr::V6(rx.ip.src), IpAddr::V6(rx.ip.dst));
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
        if rx.ip.dst.is_multicast() {
            return self.stats.drop(DropReason::UdpNoListener);
        }
        if !self.udp.is_bound(repr.dst_port) {
            let (_, mut out) = self.split(tx, now);
            out.stats.drop(DropReason::UdpNoListener);
            return icmpv6::send_error(&rx.ip, packet, icmpv6::ErrorKind::Unreachable(wire::icmpv6::dst_unreachable::PORT_UNREACHABLE), &mut out);
        }
        if !self.udp.deliver(SocketAddr::new(src, repr.src_port), SocketAddr::new(dst, repr.dst_port), repr.payload) {
            self.stats.drop(DropReason::UdpRxQueueFull);
        }
    }

    /// `send_udp` to an IPv6 destination: checksum always computed (RFC 8200
    /// §8.1), fragments when larger than the link MTU.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send_udp6(&mut self, now: Instant, src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, payload: &[u8], tx: &mut dyn FrameSink) -> Result<(), UdpError> {
        if !self.addr6.is_ours(&src) {
            return Err(UdpError::NoRoute);
        }
        let repr = wire::udp::UdpRepr { src_port: sport, dst_port: dport, payload };
        let len = repr.buffer_len();
        if len > crate::out::MAX_IPV6_PAYLOAD - ipv6ext::FRAGMENT_HEADER_LEN {
            return Err(UdpError::MessageTooLong);
        }
        let no_route = self.stats.drops_of(DropReason::TxNoRoute);
        let queue_full = self.stats.drops_of(DropReason::NdpQueueFull);
        let hl = self.addr6.hop_limit;
        let (_, mut out) = self.split(tx, now);
        let (s, d) = (IpAddr::V6(src), IpAddr::V6(dst));
        let sent = out.send_datagram6(src, dst, protocol::UDP, len, None, hl, &mut |buf| {
            repr.emit(&mut wire::udp::Packet::new_unchecked(&mut buf[..len]), &s, &d, ChecksumMode::Full);
        });
        if sent {
            self.udp.sent(payload.len());
            return Ok(());
        }
        if self.stats.drops_of(DropReason::TxNoRoute) != no_route {
            Err(UdpError::NoRoute)
        } else if self.stats.drops_of(DropReason::NdpQueueFull) != queue_full {
            Err(UdpError::NeighbourUnresolved)
        } else {
            Err(UdpError::NoBuffer)
        }
    }

    /// `send_echo` to an IPv6 destination: an ICMPv6 Echo Request (RFC 4443 §4.1).
    pub(crate) fn send_echo6(&mut self, now: Instant, dst: Ipv6Addr, ident: u16, seq: u16, data: &[u8], tx: &mut dyn FrameSink) -> Result<(), UdpError> {
        let Some(src) = self.addr6.select_source(&dst) else { return Err(UdpError::NoRoute) };
        let req = wire::icmpv6::Icmpv6Repr::EchoRequest { ident, seq_no: seq, data };
        if req.buffer_len() > crate::out::MAX_IPV6_PAYLOAD - ipv6ext::FRAGMENT_HEADER_LEN {
            return Err(UdpError::MessageTooLong);
        }
        let no_route = self.stats.drops_of(DropReason::TxNoRoute);
        let hl = self.addr6.hop_limit;
        let (_, mut out) = self.split(tx, now);
        if out.send_icmpv6(src, dst, &req, None, hl) {
            Ok(())
        } else if self.stats.drops_of(DropReason::TxNoRoute) != no_route {
            Err(UdpError::NoRoute)
        } else {
            Err(UdpError::NeighbourUnresolved)
        }
    }

    /// The neighbour cache's timers (RFC 4861 §7.3.3) and the packets waiting
    /// for neighbours now resolved.
    pub(crate) fn nd_timers(&mut self, now: Instant, tx: &mut dyn FrameSink) {
        let mut actions = Vec::new();
        self.nd.tick(now, |a| actions.push(a));
        let (_, mut out) = self.split(tx, now);
        for a in &actions {
            match *a {
                crate::ndp::Action::Solicit { target, unicast } => {
                    let src = out.addr6.select_source(&target).unwrap_or(Ipv6Addr::UNSPECIFIED);
                    if !src.is_unspecified() {
                        out.send_ns(src, target, unicast);
                    }
                }
                crate::ndp::Action::Failed { dropped, .. } => {
                    for _ in 0..dropped {
                        out.stats.drop(DropReason::NdpResolveFailed);
                    }
                }
            }
        }
        if out.nd.has_ready() {
            let (nd, tx, stats, src) = (&mut *out.nd, &mut *out.tx, &mut *out.stats, out.addr.mac);
            nd.flush_ready(|mac, p| crate::out::emit_raw6(tx, stats, src, mac, p));
        }
    }
}

#[cfg(test)]
#[path = "iface6_tests.rs"]
mod tests;
