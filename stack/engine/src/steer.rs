//! Which core a received frame belongs to (the endpoint-level routing decision;
//! the protocol core never sees a frame that is not its own).
//!
//! [`flow_of`] reads just enough of a frame, in place, to name the flow it
//! belongs to as the NIC would hash it: (source, destination, source port,
//! destination port) of a received TCP or UDP packet. An ICMP error is about a
//! packet *we* sent, which it quotes: its flow is the quoted packet's, reversed
//! (RFC 5927 §4.1 / RFC 792: the quote holds the IP header and at least 8 bytes
//! of the transport header, the ports). Everything else (ARP, ICMP echo,
//! fragments, anything malformed) has no flow and is handled by the core that
//! received it; the interface then checks it fully and counts any drop.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const ETH_HDR: usize = 14;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_ICMPV6: u8 = 58;

/// The flow of a received packet, in the NIC's hash order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// Source address (the remote end for our flows).
    pub src: IpAddr,
    /// Destination address (ours).
    pub dst: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
}

#[inline]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

#[inline]
fn v4(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let s = b.get(at..at + 4)?;
    Some(Ipv4Addr::new(s[0], s[1], s[2], s[3]))
}

#[inline]
fn v6(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let s: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(s))
}

/// The flow of `frame` (an Ethernet frame), if it belongs to one.
#[inline]
pub fn flow_of(frame: &[u8]) -> Option<Flow> {
    let mut ethertype = be16(frame, 12)?;
    let mut l3 = ETH_HDR;
    if ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
        ethertype = be16(frame, 16)?;
        l3 += 4;
    }
    let ip = frame.get(l3..)?;
    match ethertype {
        ETHERTYPE_IPV4 => flow_v4(ip),
        ETHERTYPE_IPV6 => flow_v6(ip),
        _ => None,
    }
}

/// The identifier of an ICMPv4 echo reply (RFC 792), which names the core that
/// sent the request (`ident % cores`), if `frame` is one.
#[inline]
pub fn echo_reply_ident(frame: &[u8]) -> Option<u16> {
    let mut ethertype = be16(frame, 12)?;
    let mut l3 = ETH_HDR;
    if ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
        ethertype = be16(frame, 16)?;
        l3 += 4;
    }
    if ethertype != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = frame.get(l3..)?;
    let ihl = usize::from(*ip.first()? & 0x0f) * 4;
    if *ip.get(9)? != PROTO_ICMP || be16(ip, 6)? & 0x3fff != 0 {
        return None;
    }
    let icmp = ip.get(ihl..)?;
    // type 0 (echo reply): type code checksum ident seq.
    (*icmp.first()? == 0).then(|| be16(icmp, 4)).flatten()
}

fn flow_v4(ip: &[u8]) -> Option<Flow> {
    let vihl = *ip.first()?;
    let ihl = usize::from(vihl & 0x0f) * 4;
    if vihl >> 4 != 4 || ihl < 20 {
        return None;
    }
    // A fragment has no ports (or only the first does): handled where it lands.
    let frag = be16(ip, 6)?;
    if frag & 0x3fff != 0 {
        return None;
    }
    let (src, dst) = (v4(ip, 12)?, v4(ip, 16)?);
    let l4 = ip.get(ihl..)?;
    match ip[9] {
        PROTO_TCP | PROTO_UDP => Some(Flow { src: src.into(), dst: dst.into(), sport: be16(l4, 0)?, dport: be16(l4, 2)? }),
        // Destination unreachable (3), time exceeded (11), parameter problem (12):
        // type(1) code(1) checksum(2) unused/mtu(4), then the quoted datagram.
        PROTO_ICMP if matches!(*l4.first()?, 3 | 11 | 12) => {
            let q = l4.get(8..)?;
            let qihl = usize::from(*q.first()? & 0x0f) * 4;
            if *q.first()? >> 4 != 4 || qihl < 20 || !matches!(*q.get(9)?, PROTO_TCP | PROTO_UDP) {
                return None;
            }
            let ql4 = q.get(qihl..)?;
            // We sent it: quoted source is us, destination the remote end.
            Some(Flow { src: v4(q, 16)?.into(), dst: v4(q, 12)?.into(), sport: be16(ql4, 2)?, dport: be16(ql4, 0)? })
        }
        _ => None,
    }
}

fn flow_v6(ip: &[u8]) -> Option<Flow> {
    if *ip.first()? >> 4 != 6 {
        return None;
    }
    let (src, dst) = (v6(ip, 8)?, v6(ip, 24)?);
    let l4 = ip.get(40..)?;
    // Only packets without extension headers are steered by flow here; others go
    // through the receiving core's full parse.
    match ip[6] {
        PROTO_TCP | PROTO_UDP => Some(Flow { src: src.into(), dst: dst.into(), sport: be16(l4, 0)?, dport: be16(l4, 2)? }),
        // Destination unreachable (1), packet too big (2), time exceeded (3),
        // parameter problem (4): type code checksum + 4 bytes, then the quote.
        PROTO_ICMPV6 if matches!(*l4.first()?, 1..=4) => {
            let q = l4.get(8..)?;
            if *q.first()? >> 4 != 6 || !matches!(*q.get(6)?, PROTO_TCP | PROTO_UDP) {
                return None;
            }
            let ql4 = q.get(40..)?;
            Some(Flow { src: v6(q, 24)?.into(), dst: v6(q, 8)?.into(), sport: be16(ql4, 2)?, dport: be16(ql4, 0)? })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(l4);
        p
    }

    const PEER: [u8; 4] = [198, 18, 0, 1];
    const US: [u8; 4] = [198, 18, 0, 2];

    #[test]
    fn tcp_and_udp_flows_in_hash_order() {
        let mut tcp = vec![0u8; 20];
        tcp[..2].copy_from_slice(&40000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&7u16.to_be_bytes());
        let f = flow_of(&eth(ETHERTYPE_IPV4, &ipv4(PROTO_TCP, PEER, US, &tcp))).unwrap();
        assert_eq!(f, Flow { src: Ipv4Addr::from(PEER).into(), dst: Ipv4Addr::from(US).into(), sport: 40000, dport: 7 });
        let u = flow_of(&eth(ETHERTYPE_IPV4, &ipv4(PROTO_UDP, PEER, US, &tcp[..8]))).unwrap();
        assert_eq!((u.sport, u.dport), (40000, 7));
        // Behind a VLAN tag.
        let mut tagged = vec![0u8; 12];
        tagged.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        tagged.extend_from_slice(&[0, 5]);
        tagged.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        tagged.extend_from_slice(&ipv4(PROTO_TCP, PEER, US, &tcp));
        assert_eq!(flow_of(&tagged), Some(f));
    }

    #[test]
    fn icmp_error_names_the_quoted_flow_reversed() {
        // We sent 198.18.0.2:50000 -> 198.18.0.1:80; the peer says port unreachable.
        let mut qtcp = vec![0u8; 8];
        qtcp[..2].copy_from_slice(&50000u16.to_be_bytes());
        qtcp[2..4].copy_from_slice(&80u16.to_be_bytes());
        let quote = ipv4(PROTO_TCP, US, PEER, &qtcp);
        let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&quote);
        let f = flow_of(&eth(ETHERTYPE_IPV4, &ipv4(PROTO_ICMP, PEER, US, &icmp))).unwrap();
        assert_eq!(f, Flow { src: Ipv4Addr::from(PEER).into(), dst: Ipv4Addr::from(US).into(), sport: 80, dport: 50000 });
        // An echo request has no flow.
        let echo = [8u8, 0, 0, 0, 0, 1, 0, 1];
        assert_eq!(flow_of(&eth(ETHERTYPE_IPV4, &ipv4(PROTO_ICMP, PEER, US, &echo))), None);
    }

    #[test]
    fn echo_reply_ident_names_the_requesting_core() {
        let reply = [0u8, 0, 0, 0, 0x12, 0x34, 0, 1, b'x'];
        assert_eq!(echo_reply_ident(&eth(ETHERTYPE_IPV4, &ipv4(PROTO_ICMP, PEER, US, &reply))), Some(0x1234));
        let request = [8u8, 0, 0, 0, 0x12, 0x34, 0, 1];
        assert_eq!(echo_reply_ident(&eth(ETHERTYPE_IPV4, &ipv4(PROTO_ICMP, PEER, US, &request))), None);
        assert_eq!(echo_reply_ident(&eth(ETHERTYPE_IPV4, &ipv4(PROTO_TCP, PEER, US, &[0; 20]))), None);
        let full = eth(ETHERTYPE_IPV4, &ipv4(PROTO_ICMP, PEER, US, &reply));
        for n in 0..38 {
            assert_eq!(echo_reply_ident(&full[..n]), None);
        }
    }

    #[test]
    fn no_flow_for_arp_fragments_and_short_frames() {
        assert_eq!(flow_of(&eth(0x0806, &[0; 28])), None);
        let mut frag = ipv4(PROTO_TCP, PEER, US, &[0; 20]);
        frag[6] = 0x20; // more fragments
        assert_eq!(flow_of(&eth(ETHERTYPE_IPV4, &frag)), None);
        let full = eth(ETHERTYPE_IPV4, &ipv4(PROTO_TCP, PEER, US, &[0; 20]));
        for n in 0..38 {
            assert_eq!(flow_of(&full[..n]), None, "truncated to {n}");
        }
    }

    #[test]
    fn ipv6_tcp_flow() {
        let mut ip = vec![0x60, 0, 0, 0, 0, 20, PROTO_TCP, 64];
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        ip.extend_from_slice(&src.octets());
        ip.extend_from_slice(&dst.octets());
        let mut tcp = vec![0u8; 20];
        tcp[..2].copy_from_slice(&1234u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
        ip.extend_from_slice(&tcp);
        let f = flow_of(&eth(ETHERTYPE_IPV6, &ip)).unwrap();
        assert_eq!(f, Flow { src: src.into(), dst: dst.into(), sport: 1234, dport: 80 });
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = flow_of(&bytes);
            let _ = echo_reply_ident(&bytes);
        }
    }
}
