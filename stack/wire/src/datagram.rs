//! Whole UDP frames, Ethernet + IPv4 or IPv6 + UDP, written and parsed in one
//! pass: the datagram fast path beside [`crate::segment`]'s for TCP. The
//! headers are written as whole words with the IPv4 header checksum and the
//! pseudo-header sum computed from the fields; one data pass checksums the
//! UDP header with the payload. The bytes are exactly those of the layered
//! emitters ([`crate::udp::UdpRepr::emit`] after [`crate::ipv4::Ipv4Repr::emit`]),
//! and the parser accepts exactly what the layered parsers accept in its shape
//! (both tested against them).

use crate::checksum;
use crate::ip::protocol;
use crate::segment::{fold32, hi_lo, ipv4_l4, macs, write_l3, L3};
use crate::udp::HEADER_LEN;
use crate::ChecksumMode;
use core::net::Ipv4Addr;

/// Length of the whole frame [`write_frame`] writes for `payload_len` bytes.
#[inline]
pub fn frame_len(l3: &L3<'_>, payload_len: usize) -> usize {
    crate::segment::ETH_LEN + l3.ip.header_len() + HEADER_LEN + payload_len
}

/// Write the frame carrying a UDP datagram `src_port → dst_port` with
/// `payload` after `l3` into `frame`, which must be exactly [`frame_len`]
/// bytes long (panics otherwise: a caller bug), the checksum computed (RFC
/// 768: a computed zero is sent as all ones; mandatory over IPv6, RFC 8200
/// §8.1).
pub fn write_frame(frame: &mut [u8], l3: &L3<'_>, src_port: u16, dst_port: u16, payload: &[u8]) {
    let len = HEADER_LEN + payload.len();
    let (pseudo, l4) = write_l3(frame, l3, protocol::UDP, len);
    let (h, body) = l4.split_at_mut(HEADER_LEN);
    let (sp, dp, l) = (src_port.to_be_bytes(), dst_port.to_be_bytes(), (len as u16).to_be_bytes());
    h.copy_from_slice(&[sp[0], sp[1], dp[0], dp[1], l[0], l[1], 0, 0]);
    body.copy_from_slice(payload);
    let c = !fold32(pseudo + u32::from(checksum::data(l4)));
    let c = if c == 0 { 0xffff } else { c };
    l4[6..8].copy_from_slice(&c.to_be_bytes());
}

/// A received UDP datagram in the common shape, validated in one pass by
/// [`parse_v4`]: an untagged Ethernet frame with an IPv4 header without
/// options, not a fragment.
#[derive(Debug, Clone, Copy)]
pub struct RxUdp4<'a> {
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// IPv4 source.
    pub src: Ipv4Addr,
    /// IPv4 destination.
    pub dst: Ipv4Addr,
    /// Source port.
    pub src_port: u16,
    /// Destination port (never 0).
    pub dst_port: u16,
    /// The checksum field held the partial form (the pseudo-header sum), which
    /// [`ChecksumMode::FullOrPartial`] accepts.
    pub partial: bool,
    /// The data, up to the UDP length field.
    pub payload: &'a [u8],
}

/// Parse `frame` if it is a UDP/IPv4 datagram in the common shape (see
/// [`RxUdp4`]) and every check the layered parsers make passes: the IPv4
/// header ([`crate::ipv4::Ipv4Repr::parse`]), the UDP length field within the
/// IP payload, destination port non-zero, the checksum under `mode` (a zero
/// field is "no checksum" over IPv4, RFC 768). `None` for anything else: the
/// layered path then parses the frame and counts why it is dropped.
#[inline]
pub fn parse_v4(frame: &[u8], mode: ChecksumMode) -> Option<RxUdp4<'_>> {
    let (s, d, l4) = ipv4_l4(frame, protocol::UDP, HEADER_LEN, mode)?;
    let len = usize::from(u16::from_be_bytes([l4[4], l4[5]]));
    if len < HEADER_LEN || len > l4.len() {
        return None;
    }
    let dgram = &l4[..len];
    let (sport, dport) = (u16::from_be_bytes([l4[0], l4[1]]), u16::from_be_bytes([l4[2], l4[3]]));
    if dport == 0 {
        return None;
    }
    let field = u16::from_be_bytes([l4[6], l4[7]]);
    let pseudo = fold32(hi_lo(s) + hi_lo(d) + u32::from(protocol::UDP) + len as u32);
    let partial = field != 0 && mode == ChecksumMode::FullOrPartial && field == pseudo;
    if field != 0 && !partial && mode.verifies() && fold32(u32::from(pseudo) + u32::from(checksum::data(dgram))) != 0xffff {
        return None;
    }
    let (dst_mac, src_mac) = macs(frame);
    Some(RxUdp4 { dst_mac, src_mac, src: Ipv4Addr::from(s), dst: Ipv4Addr::from(d), src_port: sport, dst_port: dport, partial, payload: &dgram[HEADER_LEN..] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ethernet::{ethertype, EthernetRepr, Frame};
    use crate::ipv4::{Ipv4Repr, Packet as Ipv4Packet};
    use crate::segment::{Ip, ETH_LEN, IPV4_LEN};
    use crate::udp::{Packet as UdpPacket, UdpRepr};
    use core::net::{IpAddr, Ipv6Addr};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// The frame the layered emitters write.
    fn layered(l3: &L3<'_>, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let u = UdpRepr { src_port: sport, dst_port: dport, payload };
        crate::segment::tests::layered_frame(l3, protocol::UDP, u.buffer_len(), &mut |b, src, dst| u.emit(&mut UdpPacket::new_unchecked(b), src, dst, ChecksumMode::Full))
    }

    proptest! {
        /// Byte for byte what the layered emitters write, both families.
        #[test]
        fn same_bytes_as_the_layered_emitters(v6 in any::<bool>(), sport in any::<u16>(), dport in any::<u16>(),
                                              payload in proptest::collection::vec(any::<u8>(), 0..1600), ttl in any::<u8>(), ident in any::<u16>(), addrs in any::<(u32, u32)>()) {
            let (s6, d6) = (Ipv6Addr::from(u128::from(addrs.0) << 64 | 7), Ipv6Addr::from(u128::from(addrs.1) | 0x2001 << 112));
            let ip = if v6 { Ip::V6 { src: &s6, dst: &d6, hop_limit: ttl } } else { Ip::V4 { src: Ipv4Addr::from(addrs.0), dst: Ipv4Addr::from(addrs.1), ttl, ident } };
            let l3 = L3 { dst_mac: [2, 0, 0, 0, 0, 1], src_mac: [2, 0, 0, 0, 0, 2], ip };
            let mut fast = vec![0xeeu8; frame_len(&l3, payload.len())];
            write_frame(&mut fast, &l3, sport, dport, &payload);
            prop_assert_eq!(fast, layered(&l3, sport, dport, &payload));
        }
    }

    /// What the layered parsers make of a frame, if they accept it as a
    /// UDP/IPv4 datagram in the common shape.
    /// Addresses, ports, data and partial-checksum flag of a datagram.
    type Parsed<'a> = (Ipv4Addr, Ipv4Addr, u16, u16, &'a [u8], bool);

    fn layered_parse(frame: &[u8], mode: ChecksumMode) -> Option<Parsed<'_>> {
        let f = Frame::new_checked(frame).ok()?;
        let eth = EthernetRepr::parse(&f).ok()?;
        if eth.ethertype != ethertype::IPV4 || eth.vlan.is_some() {
            return None;
        }
        let p = Ipv4Packet::new_checked(f.payload()).ok()?;
        let ip = Ipv4Repr::parse(&p, mode).ok()?;
        if p.header_len() != 20 || ip.more_frags || ip.frag_offset != 0 || ip.protocol != protocol::UDP {
            return None;
        }
        let body = &frame[ETH_LEN + IPV4_LEN..ETH_LEN + IPV4_LEN + ip.payload_len];
        let v = UdpPacket::new_checked(body).ok()?;
        let (s, d) = (IpAddr::V4(ip.src), IpAddr::V4(ip.dst));
        let r = UdpRepr::parse(&v, &s, &d, mode).ok()?;
        let partial = mode == ChecksumMode::FullOrPartial && v.checksum_is_partial(&s, &d);
        Some((ip.src, ip.dst, r.src_port, r.dst_port, r.payload, partial))
    }

    proptest! {
        /// The one-pass parser accepts exactly what the layered parsers accept
        /// (in its shape) and reads the same datagram, on frames the fast
        /// writer made and then damaged at one byte, truncated, padded, given
        /// a zero or partial checksum, any UDP length.
        #[test]
        fn parse_v4_agrees_with_the_layered_parsers(payload in proptest::collection::vec(any::<u8>(), 0..200), sport in any::<u16>(), dport in 0u16..3,
                                                    at in any::<usize>(), val in any::<u8>(), cut in any::<usize>(), damage in 0u8..6) {
            let (src, dst) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
            let l3 = L3 { dst_mac: [2, 0, 0, 0, 0, 1], src_mac: [2, 0, 0, 0, 0, 2], ip: Ip::V4 { src, dst, ttl: 64, ident: 3 } };
            let mut f = vec![0u8; frame_len(&l3, payload.len())];
            write_frame(&mut f, &l3, sport, dport, &payload);
            let c = ETH_LEN + IPV4_LEN + 6;
            match damage {
                1 => { let i = at % f.len(); f[i] = val; }
                2 => { f.truncate(cut % (f.len() + 1)); }
                3 => { f[c] = 0; f[c + 1] = 0; }
                4 => {
                    let p = checksum::pseudo_header_v4(&src, &dst, protocol::UDP, (HEADER_LEN + payload.len()) as u32);
                    f[c..c + 2].copy_from_slice(&p.to_be_bytes());
                    f.extend_from_slice(&[0; 5]);
                }
                5 => {
                    // The UDP length field anywhere from 0 to past the IP payload.
                    let l = (cut % (payload.len() + 16)) as u16;
                    f[c - 2..c].copy_from_slice(&l.to_be_bytes());
                }
                _ => {}
            }
            for mode in [ChecksumMode::Full, ChecksumMode::FullOrPartial, ChecksumMode::Ignore] {
                let fast = parse_v4(&f, mode).map(|r| (r.src, r.dst, r.src_port, r.dst_port, r.payload, r.partial));
                prop_assert_eq!(fast, layered_parse(&f, mode));
            }
        }
    }
}
