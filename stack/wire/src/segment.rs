//! Whole TCP frames, Ethernet + IPv4 or IPv6 + TCP, written in one pass: the
//! output fast path. The layered emitters ([`crate::ethernet::EthernetRepr::emit`],
//! [`crate::ipv4::Ipv4Repr::emit`], [`crate::tcp::TcpRepr::emit`]) write field
//! by field through views and checksum each header from scratch; here the
//! headers are written as whole words, the IPv4 header checksum and the
//! pseudo-header sum are computed from the fields (RFC 1071: a sum of 16-bit
//! words, whatever order they are added in), and the one data pass checksums
//! the TCP header with the payload. The bytes are exactly those of the layered
//! emitters (tested against them), Linux's option layout included.

use crate::checksum;
use crate::ip::protocol;
use crate::tcp::{emit_options, options_len, TcpOptions, TcpRepr, HEADER_LEN};
use core::net::{Ipv4Addr, Ipv6Addr};

/// Ethernet header length (untagged).
pub const ETH_LEN: usize = 14;
/// IPv4 header length without options.
pub const IPV4_LEN: usize = 20;
/// IPv6 fixed header length.
pub const IPV6_LEN: usize = 40;

/// What the network layer puts around a TCP segment.
#[derive(Debug, Clone, Copy)]
pub struct L3<'a> {
    /// Next hop's MAC.
    pub dst_mac: [u8; 6],
    /// Ours.
    pub src_mac: [u8; 6],
    /// Addresses and per-packet fields of the IP header.
    pub ip: Ip<'a>,
}

/// The IP header fields of one packet.
#[derive(Debug, Clone, Copy)]
pub enum Ip<'a> {
    /// IPv4, no options, DF set (we do path MTU discovery, RFC 1191), DSCP 0.
    V4 {
        /// Source.
        src: Ipv4Addr,
        /// Destination.
        dst: Ipv4Addr,
        /// Time to live.
        ttl: u8,
        /// Identification.
        ident: u16,
    },
    /// IPv6, no extension headers, traffic class and flow label 0.
    V6 {
        /// Source.
        src: &'a Ipv6Addr,
        /// Destination.
        dst: &'a Ipv6Addr,
        /// Hop limit.
        hop_limit: u8,
    },
}

impl Ip<'_> {
    /// Length of the IP header.
    #[inline]
    pub fn header_len(&self) -> usize {
        match self {
            Ip::V4 { .. } => IPV4_LEN,
            Ip::V6 { .. } => IPV6_LEN,
        }
    }
}

/// Options length of a segment: the common cases (no options, or timestamps
/// alone on a segment without SYN) without the general layout search.
#[inline]
fn opts_len(o: &TcpOptions, syn: bool) -> usize {
    if !syn && o.sack.len == 0 && o.user_timeout.is_none() {
        if o.timestamps.is_some() {
            12
        } else {
            0
        }
    } else {
        options_len(o, syn)
    }
}

/// Length of the TCP header and payload of `tcp`.
#[inline]
pub fn tcp_len(tcp: &TcpRepr<'_>) -> usize {
    HEADER_LEN + opts_len(&tcp.options, tcp.flags.syn()) + tcp.payload.len()
}

/// Length of the whole frame [`write_frame`] writes.
#[inline]
pub fn frame_len(l3: &L3<'_>, tcp: &TcpRepr<'_>) -> usize {
    ETH_LEN + l3.ip.header_len() + tcp_len(tcp)
}

#[inline]
pub(crate) fn hi_lo(x: u32) -> u32 {
    (x >> 16) + (x & 0xffff)
}

/// Sum of the 16-bit words of an IPv6 address.
#[inline]
fn sum_v6(a: &Ipv6Addr) -> u32 {
    let o = a.octets();
    let mut s = 0u32;
    for k in 0..4 {
        s += hi_lo(u32::from_be_bytes([o[4 * k], o[4 * k + 1], o[4 * k + 2], o[4 * k + 3]]));
    }
    s
}

#[inline]
pub(crate) fn fold32(mut s: u32) -> u16 {
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// Write the Ethernet and IP headers of `l3` for `l4_len` bytes of protocol
/// `proto` at the front of `frame` (which must be exactly that long: a caller
/// bug otherwise); returns the pseudo-header sum of the transport checksum
/// (RFC 9293 §3.1, RFC 768, RFC 8200 §8.1), unfolded, and the transport area.
#[inline(always)]
pub(crate) fn write_l3<'f>(frame: &'f mut [u8], l3: &L3<'_>, proto: u8, l4_len: usize) -> (u32, &'f mut [u8]) {
    let ip_len = l3.ip.header_len();
    assert_eq!(frame.len(), ETH_LEN + ip_len + l4_len, "frame length");
    let (eth, rest) = frame.split_at_mut(ETH_LEN);
    let (iph, l4) = rest.split_at_mut(ip_len);
    eth[0..6].copy_from_slice(&l3.dst_mac);
    eth[6..12].copy_from_slice(&l3.src_mac);
    let pseudo = match l3.ip {
        Ip::V4 { src, dst, ttl, ident } => {
            eth[12..14].copy_from_slice(&[0x08, 0x00]);
            let (s, d) = (u32::from(src), u32::from(dst));
            let total = (IPV4_LEN + l4_len) as u32;
            // RFC 791: version 4, IHL 5, total length, identification, DF,
            // TTL, protocol, checksum, addresses.
            let sum = 0x4500 + total + u32::from(ident) + 0x4000 + (u32::from(ttl) << 8 | u32::from(proto)) + hi_lo(s) + hi_lo(d);
            let csum = !fold32(sum);
            let t = (total as u16).to_be_bytes();
            let id = ident.to_be_bytes();
            let c = csum.to_be_bytes();
            let (so, dso) = (src.octets(), dst.octets());
            iph.copy_from_slice(&[
                0x45, 0, t[0], t[1], id[0], id[1], 0x40, 0, ttl, proto, c[0], c[1], so[0], so[1], so[2], so[3], dso[0], dso[1], dso[2], dso[3],
            ]);
            hi_lo(s) + hi_lo(d) + u32::from(proto) + l4_len as u32
        }
        Ip::V6 { src, dst, hop_limit } => {
            eth[12..14].copy_from_slice(&[0x86, 0xdd]);
            let p = (l4_len as u16).to_be_bytes();
            iph[0..8].copy_from_slice(&[0x60, 0, 0, 0, p[0], p[1], proto, hop_limit]);
            iph[8..24].copy_from_slice(&src.octets());
            iph[24..40].copy_from_slice(&dst.octets());
            sum_v6(src) + sum_v6(dst) + hi_lo(l4_len as u32) + u32::from(proto)
        }
    };
    (pseudo, l4)
}

/// Write the frame carrying `tcp` after `l3` into `frame`, which must be
/// exactly [`frame_len`] bytes long (panics otherwise: a caller bug). With
/// `checksum` false the TCP checksum field holds the pseudo-header sum (the
/// partial form a device completes, as Linux's CHECKSUM_PARTIAL).
pub fn write_frame(frame: &mut [u8], l3: &L3<'_>, tcp: &TcpRepr<'_>, checksum: bool) {
    let syn = tcp.flags.syn();
    let olen = opts_len(&tcp.options, syn);
    let hl = HEADER_LEN + olen;
    let seg_len = hl + tcp.payload.len();
    let (pseudo, seg) = write_l3(frame, l3, protocol::TCP, seg_len);
    let (h, body) = seg.split_at_mut(hl);
    let sp = tcp.src_port.to_be_bytes();
    let dp = tcp.dst_port.to_be_bytes();
    let sq = tcp.seq.to_be_bytes();
    let ak = tcp.ack.to_be_bytes();
    let w = tcp.window.to_be_bytes();
    let u = tcp.urgent.to_be_bytes();
    h[..HEADER_LEN].copy_from_slice(&[
        sp[0], sp[1], dp[0], dp[1], sq[0], sq[1], sq[2], sq[3], ak[0], ak[1], ak[2], ak[3], (hl as u8 / 4) << 4, tcp.flags.0, w[0], w[1], 0, 0, u[0], u[1],
    ]);
    match (olen, tcp.options.timestamps) {
        (0, _) => {}
        (12, Some((v, e))) if !syn && tcp.options.sack.len == 0 && tcp.options.user_timeout.is_none() => {
            // RFC 7323 Appendix A's layout: NOP NOP TS.
            let (v, e) = (v.to_be_bytes(), e.to_be_bytes());
            h[HEADER_LEN..].copy_from_slice(&[1, 1, 8, 10, v[0], v[1], v[2], v[3], e[0], e[1], e[2], e[3]]);
        }
        _ => {
            emit_options(&tcp.options, syn, &mut h[HEADER_LEN..]);
        }
    }
    body.copy_from_slice(tcp.payload);
    let field = if checksum {
        // One pass over header and payload (the field is zero in it).
        !fold32(pseudo + u32::from(checksum::data(seg)))
    } else {
        fold32(pseudo)
    };
    seg[16..18].copy_from_slice(&field.to_be_bytes());
}

/// A received TCP segment in the common shape, validated in one pass by
/// [`parse_v4`]: an untagged Ethernet frame with an IPv4 header without
/// options, not a fragment.
#[derive(Debug, Clone, Copy)]
pub struct Rx4<'a> {
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// IPv4 source.
    pub src: Ipv4Addr,
    /// IPv4 destination.
    pub dst: Ipv4Addr,
    /// The checksum field held the partial form (the pseudo-header sum), which
    /// [`crate::ChecksumMode::FullOrPartial`] accepts.
    pub partial: bool,
    /// The segment.
    pub tcp: TcpRepr<'a>,
}

#[inline(always)]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    let w: [u8; 4] = b[at..at + 4].try_into().expect("four bytes");
    u32::from_be_bytes(w)
}

/// The IPv4 part of the one-pass parsers: an untagged IPv4 frame, IHL 5, the
/// reserved flag and MF clear, offset 0, protocol `proto`, a total length
/// that covers `min_l4` transport bytes and lies within the frame, the header
/// checksum (under `mode`). Returns the source and destination addresses and
/// the transport bytes (up to the total length: Ethernet padding cut).
#[inline(always)]
pub(crate) fn ipv4_l4(frame: &[u8], proto: u8, min_l4: usize, mode: crate::ChecksumMode) -> Option<(u32, u32, &[u8])> {
    if frame.len() < ETH_LEN + IPV4_LEN + min_l4 || frame[12] != 0x08 || frame[13] != 0x00 {
        return None;
    }
    let ip = &frame[ETH_LEN..];
    // Version 4, IHL 5; the reserved flag clear, MF clear, offset 0.
    if ip[0] != 0x45 || (u16::from_be_bytes([ip[6], ip[7]]) & 0xbfff) != 0 || ip[9] != proto {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if total < IPV4_LEN + min_l4 || total > ip.len() {
        return None;
    }
    let (s, d) = (be32(ip, 12), be32(ip, 16));
    let hsum = hi_lo(be32(ip, 0)) + hi_lo(be32(ip, 4)) + hi_lo(be32(ip, 8)) + hi_lo(s) + hi_lo(d);
    if mode.verifies() && fold32(hsum) != 0xffff {
        return None;
    }
    Some((s, d, &ip[IPV4_LEN..total]))
}

/// The destination and source MACs of `frame` (at least 12 bytes long).
#[inline]
pub(crate) fn macs(frame: &[u8]) -> ([u8; 6], [u8; 6]) {
    let mut dst_mac = [0u8; 6];
    dst_mac.copy_from_slice(&frame[0..6]);
    let mut src_mac = [0u8; 6];
    src_mac.copy_from_slice(&frame[6..12]);
    (dst_mac, src_mac)
}

/// Parse `frame` if it is a TCP segment in the common shape (see [`Rx4`]) and
/// every check the layered parsers make passes: IPv4 header checksum and
/// lengths, no reserved flag, TCP ports non-zero, data offset, the TCP
/// checksum under `mode`, the options. `None` for anything else (another
/// shape, or a check that fails): the layered path then parses the frame and
/// counts why it is dropped. Exactly the segments the layered path accepts
/// come out, with the same [`TcpRepr`].
#[inline]
pub fn parse_v4(frame: &[u8], mode: crate::ChecksumMode) -> Option<Rx4<'_>> {
    use crate::ChecksumMode;
    let (s, d, seg) = ipv4_l4(frame, protocol::TCP, HEADER_LEN, mode)?;
    let hl = usize::from(seg[12] >> 4) * 4;
    if hl < HEADER_LEN || hl > seg.len() {
        return None;
    }
    let (sport, dport) = (u16::from_be_bytes([seg[0], seg[1]]), u16::from_be_bytes([seg[2], seg[3]]));
    if sport == 0 || dport == 0 {
        return None;
    }
    let pseudo = hi_lo(s) + hi_lo(d) + u32::from(protocol::TCP) + seg.len() as u32;
    let field = u16::from_be_bytes([seg[16], seg[17]]);
    let partial = mode == ChecksumMode::FullOrPartial && field == fold32(pseudo);
    if !partial && mode.verifies() && fold32(pseudo + u32::from(checksum::data(seg))) != 0xffff {
        return None;
    }
    let flags = crate::tcp::TcpFlags(seg[13]);
    let opts = &seg[HEADER_LEN..hl];
    let options = if opts.is_empty() {
        TcpOptions::default()
    } else if hl == 32 && opts[..4] == [1, 1, 8, 10] {
        TcpOptions { timestamps: Some((be32(opts, 4), be32(opts, 8))), ..TcpOptions::default() }
    } else {
        TcpOptions::parse(opts, flags.syn()).ok()?
    };
    let (dst_mac, src_mac) = macs(frame);
    Some(Rx4 {
        dst_mac,
        src_mac,
        src: Ipv4Addr::from(s),
        dst: Ipv4Addr::from(d),
        partial,
        tcp: TcpRepr {
            src_port: sport,
            dst_port: dport,
            seq: be32(seg, 4),
            ack: be32(seg, 8),
            flags,
            window: u16::from_be_bytes([seg[14], seg[15]]),
            urgent: u16::from_be_bytes([seg[18], seg[19]]),
            options,
            payload: &seg[hl..],
        },
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ethernet::{ethertype, EthernetAddress, EthernetRepr, Frame};
    use crate::ipv4::{Ipv4Repr, Packet as Ipv4Packet};
    use crate::ipv6::{Ipv6Repr, Packet as Ipv6Packet};
    use crate::tcp::{SackBlocks, TcpFlags, TcpPacket};
    use crate::ChecksumMode;
    use core::net::IpAddr;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// The frame the layered emitters write for `l3` and a transport
    /// segment of `l4_len` bytes that `emit` writes (given its buffer and
    /// the pseudo-header's addresses): the reference the one-pass writers
    /// of this module and of `datagram` are checked against.
    pub(crate) fn layered_frame(l3: &L3<'_>, proto: u8, l4_len: usize, emit: &mut dyn FnMut(&mut [u8], &IpAddr, &IpAddr)) -> Vec<u8> {
        match l3.ip {
            Ip::V4 { src, dst, ttl, ident } => {
                let eth = EthernetRepr { src: EthernetAddress(l3.src_mac), dst: EthernetAddress(l3.dst_mac), vlan: None, ethertype: ethertype::IPV4 };
                let ip = Ipv4Repr { src, dst, protocol: proto, payload_len: l4_len, ttl, ident, dont_frag: true, more_frags: false, frag_offset: 0, dscp_ecn: 0 };
                let mut buf = vec![0u8; eth.buffer_len(ip.buffer_len())];
                let mut f = Frame::new_unchecked(&mut buf[..]);
                eth.emit(&mut f);
                let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
                ip.emit(&mut p, ChecksumMode::Full);
                emit(p.payload_mut(), &IpAddr::V4(src), &IpAddr::V4(dst));
                buf
            }
            Ip::V6 { src, dst, hop_limit } => {
                let eth = EthernetRepr { src: EthernetAddress(l3.src_mac), dst: EthernetAddress(l3.dst_mac), vlan: None, ethertype: ethertype::IPV6 };
                let ip = Ipv6Repr { src: *src, dst: *dst, next_header: proto, payload_len: l4_len as u16, hop_limit, traffic_class: 0, flow_label: 0 };
                let mut buf = vec![0u8; ETH_LEN + IPV6_LEN + l4_len];
                let mut f = Frame::new_unchecked(&mut buf[..]);
                eth.emit(&mut f);
                let mut p = Ipv6Packet::new_unchecked(f.payload_mut());
                ip.emit(&mut p);
                emit(p.payload_mut(), &IpAddr::V6(*src), &IpAddr::V6(*dst));
                buf
            }
        }
    }

    fn layered(l3: &L3<'_>, tcp: &TcpRepr<'_>) -> Vec<u8> {
        layered_frame(l3, protocol::TCP, tcp.buffer_len(), &mut |b, src, dst| tcp.emit(&mut TcpPacket::new_unchecked(b), src, dst, ChecksumMode::Full))
    }

    fn fast(l3: &L3<'_>, tcp: &TcpRepr<'_>) -> Vec<u8> {
        let mut buf = vec![0xeeu8; frame_len(l3, tcp)];
        write_frame(&mut buf, l3, tcp, true);
        buf
    }

    prop_compose! {
        fn options()(mss in proptest::option::of(any::<u16>()), ws in proptest::option::of(0u8..15), sp in any::<bool>(),
                     ts in proptest::option::of(any::<(u32, u32)>()), uto in proptest::option::of(any::<u16>()),
                     sack in proptest::collection::vec(any::<(u32, u32)>(), 0..5)) -> TcpOptions {
            let mut blocks = SackBlocks::default();
            for (l, r) in sack {
                blocks.push(l, r);
            }
            TcpOptions { mss, window_scale: ws, sack_permitted: sp, sack: blocks, timestamps: ts, user_timeout: uto }
        }
    }

    proptest! {
        /// Byte for byte what the layered emitters write, both families, every
        /// option combination, checksums included.
        #[test]
        fn same_bytes_as_the_layered_emitters(v6 in any::<bool>(), sport in any::<u16>(), dport in any::<u16>(), seq in any::<u32>(), ack in any::<u32>(),
                                              flags in any::<u8>(), window in any::<u16>(), urgent in any::<u16>(), opts in options(),
                                              payload in proptest::collection::vec(any::<u8>(), 0..1600), ttl in any::<u8>(), ident in any::<u16>(), addrs in any::<(u32, u32)>()) {
            let (s6, d6) = (Ipv6Addr::from(u128::from(addrs.0) << 64 | 7), Ipv6Addr::from(u128::from(addrs.1) | 0x2001 << 112));
            let ip = if v6 { Ip::V6 { src: &s6, dst: &d6, hop_limit: ttl } } else { Ip::V4 { src: Ipv4Addr::from(addrs.0), dst: Ipv4Addr::from(addrs.1), ttl, ident } };
            let l3 = L3 { dst_mac: [2, 0, 0, 0, 0, 1], src_mac: [2, 0, 0, 0, 0, 2], ip };
            let tcp = TcpRepr { src_port: sport, dst_port: dport, seq, ack, flags: TcpFlags(flags), window, urgent, options: opts, payload: &payload };
            prop_assert_eq!(fast(&l3, &tcp), layered(&l3, &tcp));
        }
    }

    /// What the layered parsers make of a frame, if they accept it as a
    /// TCP/IPv4 segment in the common shape.
    fn layered_parse(frame: &[u8], mode: ChecksumMode) -> Option<(Ipv4Addr, Ipv4Addr, TcpRepr<'_>)> {
        let f = Frame::new_checked(frame).ok()?;
        let eth = EthernetRepr::parse(&f).ok()?;
        if eth.ethertype != ethertype::IPV4 || eth.vlan.is_some() {
            return None;
        }
        let p = Ipv4Packet::new_checked(f.payload()).ok()?;
        let ip = Ipv4Repr::parse(&p, mode).ok()?;
        if p.header_len() != 20 || ip.more_frags || ip.frag_offset != 0 || ip.protocol != protocol::TCP {
            return None;
        }
        let body = &frame[ETH_LEN + 20..ETH_LEN + 20 + ip.payload_len];
        let t = TcpPacket::new_checked(body).ok()?;
        let r = TcpRepr::parse(&t, &IpAddr::V4(ip.src), &IpAddr::V4(ip.dst), mode).ok()?;
        Some((ip.src, ip.dst, r))
    }

    proptest! {
        /// The one-pass parser accepts exactly what the layered parsers accept
        /// (in its shape) and reads the same segment, on frames the fast writer
        /// made and then damaged at one byte (or truncated).
        #[test]
        fn parse_v4_agrees_with_the_layered_parsers(opts in options(), payload in proptest::collection::vec(any::<u8>(), 0..200),
                                                    flags in any::<u8>(), at in any::<usize>(), val in any::<u8>(), cut in any::<usize>(),
                                                    damage in 0u8..3, partial in any::<bool>()) {
            let (src, dst) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
            let l3 = L3 { dst_mac: [2, 0, 0, 0, 0, 1], src_mac: [2, 0, 0, 0, 0, 2], ip: Ip::V4 { src, dst, ttl: 64, ident: 3 } };
            let tcp = TcpRepr { src_port: 80, dst_port: 4000, seq: 1, ack: 2, flags: TcpFlags(flags), window: 9, urgent: 0, options: opts, payload: &payload };
            let mut f = vec![0u8; frame_len(&l3, &tcp)];
            write_frame(&mut f, &l3, &tcp, !partial);
            match damage {
                1 => { let i = at % f.len(); f[i] = val; }
                2 => { f.truncate(cut % (f.len() + 1)); }
                _ => {}
            }
            for mode in [ChecksumMode::Full, ChecksumMode::FullOrPartial, ChecksumMode::Ignore] {
                let fast = parse_v4(&f, mode).map(|r| (r.src, r.dst, r.tcp));
                prop_assert_eq!(fast, layered_parse(&f, mode));
            }
        }
    }

    /// The partial form holds the pseudo-header sum, as the receive side's
    /// classification expects.
    #[test]
    fn partial_checksum_is_the_pseudo_header_sum() {
        let (src, dst) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
        let l3 = L3 { dst_mac: [2; 6], src_mac: [4; 6], ip: Ip::V4 { src, dst, ttl: 64, ident: 9 } };
        let tcp = TcpRepr { src_port: 1, dst_port: 2, seq: 3, ack: 4, flags: TcpFlags::ACK, window: 5, urgent: 0, options: TcpOptions::default(), payload: b"abc" };
        let mut buf = vec![0u8; frame_len(&l3, &tcp)];
        write_frame(&mut buf, &l3, &tcp, false);
        let field = u16::from_be_bytes([buf[34 + 16], buf[34 + 17]]);
        assert_eq!(field, checksum::pseudo_header_v4(&src, &dst, protocol::TCP, 23));
    }
}
