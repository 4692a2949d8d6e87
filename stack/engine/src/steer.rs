//! Which core a received frame belongs to (the endpoint-level routing decision;
//! the protocol core never sees a frame that is not its own).
//!
//! [`flow_of`] reads just enough of a frame, in place, to name the flow it
//! belongs to as the NIC would hash it: (source, destination, source port,
//! destination port) of a received TCP or UDP packet. An ICMP error is about a
//! packet *we* sent, which it quotes: its flow is the quoted packet's, reversed
//! (RFC 5927 §4.1 / RFC 792: the quote holds the IP header and at least 8 bytes
//! of the transport header, the ports). Everything else (ARP, ICMP echo,
//! anything malformed) has no flow and is handled by the core that received it;
//! the interface then checks it fully and counts any drop.
//!
//! IPv4 fragments are the exception: only the first carries the ports, so no
//! 4-tuple can send all the fragments of a datagram to one core. They go by a
//! hash of (source, destination) alone, as NICs hash fragments
//! ([`fragment_addrs`], [`owner_of`]); the core that reassembles a datagram
//! serves it if it is UDP or ICMP (every core binds the same UDP ports) and
//! drops a reassembled TCP segment whose connection another core owns (TCP sets
//! DF and sizes its segments by the path MTU: fragments are rare).

use crate::rss::Steering;
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
const PROTO_IPV6_FRAG: u8 = 44;

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

/// The (source, destination) of an IPv4 fragment (MF set or a non-zero offset,
/// RFC 791 §3.1) or of an IPv6 packet with a fragment header (RFC 8200 §4.5;
/// atomic fragments included, RFC 6946), if `frame` is one: fragments are
/// steered by these alone.
#[inline]
pub fn fragment_addrs(frame: &[u8]) -> Option<(IpAddr, IpAddr)> {
    let mut ethertype = be16(frame, 12)?;
    let mut l3 = ETH_HDR;
    if ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
        ethertype = be16(frame, 16)?;
        l3 += 4;
    }
    let ip = frame.get(l3..)?;
    if ethertype == ETHERTYPE_IPV6 {
        if *ip.first()? >> 4 != 6 || v6_upper(ip)?.0 != PROTO_IPV6_FRAG {
            return None;
        }
        return Some((v6(ip, 8)?.into(), v6(ip, 24)?.into()));
    }
    if ethertype != ETHERTYPE_IPV4 || *ip.first()? >> 4 != 4 || be16(ip, 6)? & 0x3fff == 0 {
        return None;
    }
    Some((v4(ip, 12)?.into(), v4(ip, 16)?.into()))
}

/// Where an IPv6 link-control message goes on a stack with several cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkControl {
    /// A Router Advertisement (RFC 4861 §6.3.4): every core learns the routers,
    /// prefixes and SLAAC addresses (a copy to each); a Redirect (§8.3): every
    /// core follows it.
    AllCores,
    /// A message for the core that does the link's DAD and MLD duties (core 0):
    /// a DAD probe from `::` (RFC 4862 §5.4.3), an advertisement to a multicast
    /// group (a defended address, RFC 4862 §5.4.4), an MLD query (RFC 3810 §6.2).
    Control,
}

/// The IPv6 link-control class of `frame`, if it is an unfragmented ICMPv6
/// message of one (see [`LinkControl`]).
#[inline]
pub fn link_control(frame: &[u8]) -> Option<LinkControl> {
    let mut ethertype = be16(frame, 12)?;
    let mut l3 = ETH_HDR;
    if ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
        ethertype = be16(frame, 16)?;
        l3 += 4;
    }
    if ethertype != ETHERTYPE_IPV6 {
        return None;
    }
    let ip = frame.get(l3..)?;
    let (nh, off) = v6_upper(ip)?;
    if *ip.first()? >> 4 != 6 || nh != PROTO_ICMPV6 {
        return None;
    }
    // The whole ICMPv6 header (RFC 4443 §2.1) must be there.
    let ty = *ip.get(off..off + 8)?.first()?;
    let src_unspecified = ip.get(8..24)?.iter().all(|b| *b == 0);
    let dst_multicast = *ip.get(24)? == 0xff;
    match ty {
        // RFC 4861 §8.3: a redirect changes every core's next hop too.
        134 | 137 => Some(LinkControl::AllCores),
        135 if src_unspecified => Some(LinkControl::Control),
        136 if dst_multicast => Some(LinkControl::Control),
        130 => Some(LinkControl::Control),
        _ => None,
    }
}

/// The first header after the hop-by-hop, destination-options and routing
/// headers of an IPv6 packet (RFC 8200 §4.1) and its offset: the fragment
/// header, or the upper layer.
#[inline]
fn v6_upper(ip: &[u8]) -> Option<(u8, usize)> {
    let mut nh = *ip.get(6)?;
    let mut off = 40;
    for _ in 0..4 {
        if !matches!(nh, 0 | 43 | 60) {
            break;
        }
        nh = *ip.get(off)?;
        off += (usize::from(*ip.get(off + 1)?) + 1) * 8;
    }
    Some((nh, off))
}

/// The core that must handle `frame` on a stack with `steering`: the owner of
/// its flow (4-tuple, or the flow an ICMP error quotes), the owner of its
/// addresses for an IPv4 fragment, the core whose ping sent the request for an
/// echo reply (`ident % cores`); `None` for frames any core may handle (ARP,
/// echo requests, malformed frames).
#[inline]
pub fn owner_of(frame: &[u8], steering: &Steering) -> Option<usize> {
    if let Some(fl) = flow_of(frame) {
        return Some(steering.owner(fl.src, fl.dst, fl.sport, fl.dport));
    }
    if let Some((src, dst)) = fragment_addrs(frame) {
        return Some(steering.owner_addrs(src, dst));
    }
    echo_reply_ident(frame).map(|id| usize::from(id) % steering.cores())
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
    let ip = frame.get(l3..)?;
    if ethertype == ETHERTYPE_IPV6 {
        // RFC 4443 §4.2: an unfragmented ICMPv6 echo reply (type 129).
        if *ip.first()? >> 4 != 6 || *ip.get(6)? != PROTO_ICMPV6 {
            return None;
        }
        let icmp = ip.get(40..)?;
        return (*icmp.first()? == 129).then(|| be16(icmp, 4)).flatten();
    }
    if ethertype != ETHERTYPE_IPV4 {
        return None;
    }
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

    /// Every fragment of a datagram goes to the owner of its addresses: the first
    /// (which carries the ports) as well as the rest (whose leading bytes are
    /// data), whatever those bytes are; an unfragmented packet of the same
    /// addresses still goes by its 4-tuple.
    #[test]
    fn fragments_go_by_addresses_to_one_core() {
        use crate::rss::RssTable;
        let steering = Steering::new(&RssTable::default_for(2), &[0, 1]).unwrap();
        let mut owners = [0usize; 2];
        for k in 0..64u8 {
            let src = [198, 18, 1, k];
            let want = steering.owner_addrs(Ipv4Addr::from(src).into(), Ipv4Addr::from(US).into());
            owners[want] += 1;
            for (frag, sport) in [(0x2000u16, 40000u16), (0x2000 | 185, 0x1234), (185 * 2, 0xffff)] {
                let mut udp = vec![0u8; 16];
                udp[..2].copy_from_slice(&sport.to_be_bytes());
                udp[2..4].copy_from_slice(&7u16.to_be_bytes());
                let mut ip = ipv4(PROTO_UDP, src, US, &udp);
                ip[6..8].copy_from_slice(&frag.to_be_bytes());
                let f = eth(ETHERTYPE_IPV4, &ip);
                assert_eq!(flow_of(&f), None, "no 4-tuple for a fragment");
                assert_eq!(fragment_addrs(&f), Some((Ipv4Addr::from(src).into(), Ipv4Addr::from(US).into())));
                assert_eq!(owner_of(&f, &steering), Some(want), "fragment {frag:#x} of {src:?}");
            }
            // Not a fragment (DF only): by the 4-tuple.
            let mut udp = vec![0u8; 8];
            udp[..2].copy_from_slice(&40000u16.to_be_bytes());
            udp[2..4].copy_from_slice(&7u16.to_be_bytes());
            let whole = eth(ETHERTYPE_IPV4, &ipv4(PROTO_UDP, src, US, &udp));
            assert_eq!(fragment_addrs(&whole), None);
            let tuple = steering.owner(Ipv4Addr::from(src).into(), Ipv4Addr::from(US).into(), 40000, 7);
            assert_eq!(owner_of(&whole, &steering), Some(tuple));
        }
        assert!(owners[0] > 0 && owners[1] > 0, "the addresses spread over both cores: {owners:?}");
        // ARP and echo requests have no owner.
        assert_eq!(owner_of(&eth(0x0806, &[0; 28]), &steering), None);
        let echo = [8u8, 0, 0, 0, 0, 1, 0, 1];
        assert_eq!(owner_of(&eth(ETHERTYPE_IPV4, &ipv4(PROTO_ICMP, PEER, US, &echo)), &steering), None);
        // Truncations never name an owner they cannot read.
        let mut frag = ipv4(PROTO_UDP, PEER, US, &[0; 8]);
        frag[6] = 0x20;
        let full = eth(ETHERTYPE_IPV4, &frag);
        for n in 0..34 {
            assert_eq!(fragment_addrs(&full[..n]), None, "truncated to {n}");
        }
        assert!(fragment_addrs(&full).is_some());
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
            let _ = fragment_addrs(&bytes);
        }
    }

    fn ipv6(next_header: u8, src: Ipv6Addr, dst: Ipv6Addr, rest: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(rest.len() as u16).to_be_bytes());
        p.extend_from_slice(&[next_header, 64]);
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(rest);
        p
    }

    #[test]
    fn ipv6_fragments_go_by_addresses_and_echo_replies_by_ident() {
        use crate::rss::RssTable;
        let steering = Steering::new(&RssTable::default_for(2), &[0, 1]).unwrap();
        let us: Ipv6Addr = "2001:db8::2".parse().unwrap();
        for k in 1..32u16 {
            let peer = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 1, k);
            // A fragment header (RFC 8200 §4.5), directly and after a hop-by-hop header.
            let frag = [PROTO_UDP, 0, 0, 1, 0, 0, 0, 9, 0x9c, 0x40, 0, 7];
            let f = eth(ETHERTYPE_IPV6, &ipv6(PROTO_IPV6_FRAG, peer, us, &frag));
            assert_eq!(flow_of(&f), None);
            assert_eq!(fragment_addrs(&f), Some((peer.into(), us.into())));
            let want = steering.owner_addrs(peer.into(), us.into());
            assert_eq!(owner_of(&f, &steering), Some(want));
            let mut hbh = vec![PROTO_IPV6_FRAG, 0, 1, 4, 0, 0, 0, 0];
            hbh.extend_from_slice(&frag);
            assert_eq!(fragment_addrs(&eth(ETHERTYPE_IPV6, &ipv6(0, peer, us, &hbh))), Some((peer.into(), us.into())));
            // Not a fragment: none.
            assert_eq!(fragment_addrs(&eth(ETHERTYPE_IPV6, &ipv6(PROTO_UDP, peer, us, &frag[4..]))), None);
        }
        // An ICMPv6 echo reply names the pinging core by its identifier.
        let reply = [129u8, 0, 0, 0, 0x12, 0x35, 0, 1];
        let f = eth(ETHERTYPE_IPV6, &ipv6(PROTO_ICMPV6, "2001:db8::1".parse().unwrap(), us, &reply));
        assert_eq!(echo_reply_ident(&f), Some(0x1235));
        assert_eq!(owner_of(&f, &steering), Some(0x1235 % 2));
        let request = [128u8, 0, 0, 0, 0x12, 0x35, 0, 1];
        assert_eq!(echo_reply_ident(&eth(ETHERTYPE_IPV6, &ipv6(PROTO_ICMPV6, "2001:db8::1".parse().unwrap(), us, &request))), None);
    }


    #[test]
    fn ipv6_link_control_messages() {
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        let all: Ipv6Addr = "ff02::1".parse().unwrap();
        let snm: Ipv6Addr = "ff02::1:ff00:2".parse().unwrap();
        let us: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let msg = |ty: u8| [ty, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(link_control(&eth(ETHERTYPE_IPV6, &ipv6(PROTO_ICMPV6, ll, all, &msg(134)))), Some(LinkControl::AllCores));
        assert_eq!(link_control(&eth(ETHERTYPE_IPV6, &ipv6(PROTO_ICMPV6, ll, us, &msg(137)))), Some(LinkControl::AllCores), "a redirect: every core");
        assert_eq!(link_control(&eth(ETHERTYPE_IPV6, &ipv6(PROTO_ICMPV6, Ipv6Addr::UNSPECIFIED, snm, &msg(135)))), Some(LinkControl::Control));
        assert_eq!(link_control(&eth(ETHERTYPE_IPV6, &ipv6(PROTO_ICMPV6, ll, snm, &msg(135)))), None, "address resolution: any core");
        assert_eq!(link_control(&eth(ETHERTYPE_IPV6, &ipv6(PROTO_ICMPV6, ll, all, &msg(136)))), Some(LinkControl::Control));
        assert_eq!(link_control(&eth(ETHERTYPE_IPV6, &ipv6(PROTO_ICMPV6, ll, us, &msg(136)))), None, "a solicited NA: any core");
        let mut hbh = vec![PROTO_ICMPV6, 0, 5, 2, 0, 0, 1, 0];
        hbh.extend_from_slice(&msg(130));
        assert_eq!(link_control(&eth(ETHERTYPE_IPV6, &ipv6(0, ll, all, &hbh))), Some(LinkControl::Control), "an MLD query behind its hop-by-hop header");
        assert_eq!(link_control(&eth(ETHERTYPE_IPV6, &ipv6(PROTO_ICMPV6, ll, us, &msg(128)))), None);
        let full = eth(ETHERTYPE_IPV6, &ipv6(PROTO_ICMPV6, ll, all, &msg(134)));
        for n in 0..full.len() {
            assert_eq!(link_control(&full[..n]), None);
        }
    }

}
