//! The checker for frames the interface sends: every frame must parse back with
//! the stack's own `wire` parsers, every checksum verified, and its lengths must
//! agree, for IPv4 and IPv6 alike. A frame that fails is a fuzz finding (panic).
//!
//! Per layer:
//!
//! * Ethernet: parses, no VLAN tag, the interface's own MAC as source, frame no
//!   longer than the header plus the MTU, and for an IPv6 multicast destination
//!   the matching `33:33:…` MAC (RFC 2464 §7).
//! * ARP: parses, the frame is exactly the Ethernet header plus the packet.
//! * IPv4: header checksum verified, total length equals the L3 bytes, TTL non-zero;
//!   fragments have 8-byte aligned data except the last; TCP, UDP (checksum
//!   computed, length field equals the datagram) and ICMP (checksum verified, the
//!   re-emitted message has the same length) are parsed in full.
//! * IPv6: fixed header parses, payload length equals the L3 bytes after it, the
//!   extension-header chain walks (hop-by-hop only for MLD, with router alert 0,
//!   RFC 3810 §5); fragments as for IPv4; ICMPv6 parsed with its checksum (NDP with
//!   hop limit 255, RFC 4861 §7.1; MLD with hop limit 1 from a link-local or the
//!   unspecified address, RFC 3810 §5; errors no larger than the minimum MTU,
//!   RFC 4443 §2.4 (c)), TCP and UDP as for IPv4 (an IPv6 UDP checksum is never
//!   zero, RFC 8200 §8.1).
//! * TCP: checksum verified, header at most 60 bytes, SYN-only options (MSS,
//!   window scale, SACK permitted) only on SYN segments (RFC 9293 §3.7.1,
//!   RFC 7323 §2.2, RFC 2018 §2), no segment with both SYN and RST or FIN and RST.

use core::net::{IpAddr, Ipv6Addr};
use wire::arp::{self, ArpRepr};
use wire::ethernet::{ethertype, EthernetRepr, Frame};
use wire::icmpv4::{self, Icmpv4Repr};
use wire::icmpv6::{self, Icmpv6Repr};
use wire::ip::protocol;
use wire::ipv4::{self, Ipv4Repr};
use wire::ipv6::{self, Ipv6Repr};
use wire::ipv6ext;
use wire::tcp::{TcpFlags, TcpOption, TcpOptions, TcpPacket, TcpRepr};
use wire::udp::{self, UdpRepr};
use wire::ChecksumMode;

/// A TCP segment the stack sent, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentTcp {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Control bits.
    pub flags: TcpFlags,
    /// Window field as on the wire.
    pub window: u16,
    /// Options.
    pub options: TcpOptions,
    /// Payload.
    pub payload: Vec<u8>,
}

impl SentTcp {
    /// Sequence space occupied: payload plus SYN and FIN.
    pub fn seg_len(&self) -> u32 {
        self.payload.len() as u32
            + u32::from(self.flags.contains(TcpFlags::SYN))
            + u32::from(self.flags.contains(TcpFlags::FIN))
    }
}

/// What [`check_frame`] found in a frame the stack sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// An ARP packet.
    Arp(ArpRepr),
    /// An ICMPv4 message of this type.
    Icmp(u8),
    /// An ICMPv6 message of this type (NDP and MLD included).
    Icmpv6(u8),
    /// A UDP datagram (in one frame): source and destination port.
    Udp(u16, u16),
    /// A fragment of a larger IPv4 or IPv6 datagram: the upper protocol, the
    /// offset of its data, whether more follow.
    Fragment {
        /// Upper-layer protocol of the datagram.
        protocol: u8,
        /// Offset of this fragment's data in bytes.
        offset: u16,
        /// More fragments follow.
        more: bool,
    },
    /// A TCP segment.
    Tcp(SentTcp),
}

impl Sent {
    /// The TCP segment, if this is one.
    pub fn tcp(&self) -> Option<&SentTcp> {
        match self {
            Sent::Tcp(t) => Some(t),
            _ => None,
        }
    }
}

/// Largest IP packet the interface sends in one frame (its default MTU).
pub const MTU: usize = 1500;

/// Parse a frame the stack sent from `mac`, all the way down, checksums
/// verified; panic (a fuzz finding) if it does not parse, its lengths disagree, or
/// a rule of the module documentation is broken.
pub fn check_frame(mac: [u8; 6], f: &[u8]) -> Sent {
    let fr = Frame::new_checked(f).unwrap_or_else(|e| panic!("sent frame: Ethernet {e}: {f:02x?}"));
    let eth = EthernetRepr::parse(&fr).unwrap_or_else(|e| panic!("sent frame: Ethernet repr {e}: {f:02x?}"));
    assert_eq!(eth.src.0, mac, "sent frame: source MAC: {f:02x?}");
    assert!(eth.vlan.is_none(), "sent frame: VLAN tag: {f:02x?}");
    assert!(f.len() <= eth.buffer_len(MTU), "sent frame longer than the MTU: {} bytes", f.len());
    let l3 = fr.payload();
    match eth.ethertype {
        ethertype::ARP => {
            let p = arp::Packet::new_checked(l3).unwrap_or_else(|e| panic!("sent ARP: {e}: {f:02x?}"));
            let r = ArpRepr::parse(&p).unwrap_or_else(|e| panic!("sent ARP: {e}: {f:02x?}"));
            assert_eq!(f.len(), eth.buffer_len(r.buffer_len()), "sent ARP frame length");
            Sent::Arp(r)
        }
        ethertype::IPV4 => check_ipv4(l3, f),
        ethertype::IPV6 => {
            let s = check_ipv6(l3, f);
            let dst = ipv6::Packet::new_checked(l3).unwrap().dst_addr();
            if dst.is_multicast() {
                assert_eq!(eth.dst.0, ipv6::multicast_mac(&dst), "sent IPv6 multicast: MAC: {f:02x?}");
            }
            s
        }
        other => panic!("sent ethertype {other:#06x}: {f:02x?}"),
    }
}

fn check_ipv4(l3: &[u8], f: &[u8]) -> Sent {
    let p = ipv4::Packet::new_checked(l3).unwrap_or_else(|e| panic!("sent IPv4: {e}: {f:02x?}"));
    let ip = Ipv4Repr::parse(&p, ChecksumMode::Full).unwrap_or_else(|e| panic!("sent IPv4: {e}: {f:02x?}"));
    assert_eq!(usize::from(p.total_len()), l3.len(), "sent IPv4 total length vs frame: {f:02x?}");
    assert!(ip.ttl > 0, "sent IPv4 with TTL 0: {f:02x?}");
    let body = p.payload();
    if ip.more_frags || ip.frag_offset != 0 {
        assert!(!ip.dont_frag, "sent IPv4 fragment with DF: {f:02x?}");
        return fragment(ip.protocol, ip.frag_offset, ip.more_frags, body, f);
    }
    let (s, d) = (IpAddr::V4(ip.src), IpAddr::V4(ip.dst));
    match ip.protocol {
        protocol::TCP => Sent::Tcp(check_tcp(&s, &d, body, f)),
        protocol::UDP => check_udp(&s, &d, body, f),
        protocol::ICMP => {
            let m = icmpv4::Packet::new_checked(body).unwrap_or_else(|e| panic!("sent ICMP: {e}: {f:02x?}"));
            let r = Icmpv4Repr::parse(&m, ChecksumMode::Full).unwrap_or_else(|e| panic!("sent ICMP: {e}: {f:02x?}"));
            assert_eq!(r.buffer_len(), body.len(), "sent ICMP length vs its repr: {f:02x?}");
            Sent::Icmp(m.msg_type())
        }
        other => panic!("sent IPv4 protocol {other}: {f:02x?}"),
    }
}

fn fragment(proto: u8, offset: u16, more: bool, data: &[u8], f: &[u8]) -> Sent {
    assert!(!data.is_empty(), "sent empty fragment: {f:02x?}");
    assert_eq!(offset % 8, 0, "sent fragment offset not a multiple of 8: {f:02x?}");
    if more {
        assert_eq!(data.len() % 8, 0, "sent non-last fragment with data not a multiple of 8: {f:02x?}");
    }
    assert!(matches!(proto, protocol::UDP | protocol::ICMP | protocol::ICMPV6), "sent fragment of protocol {proto}: {f:02x?}");
    Sent::Fragment { protocol: proto, offset, more }
}

fn check_ipv6(l3: &[u8], f: &[u8]) -> Sent {
    let p = ipv6::Packet::new_checked(l3).unwrap_or_else(|e| panic!("sent IPv6: {e}: {f:02x?}"));
    let ip = Ipv6Repr::parse(&p).unwrap_or_else(|e| panic!("sent IPv6: {e}: {f:02x?}"));
    assert_eq!(usize::from(ip.payload_len) + ipv6::HEADER_LEN, l3.len(), "sent IPv6 payload length vs frame: {f:02x?}");
    assert!(ip.hop_limit > 0, "sent IPv6 with hop limit 0: {f:02x?}");
    assert!(!ip.dst.is_unspecified(), "sent IPv6 to ::: {f:02x?}");
    let payload = p.payload();
    let chain = ipv6ext::walk(ip.next_header, payload).unwrap_or_else(|e| panic!("sent IPv6 extension headers: {e}: {f:02x?}"));
    assert!(chain.offset <= payload.len(), "sent IPv6 chain overruns: {f:02x?}");
    let upper = &payload[chain.offset..];
    let hbh = ip.next_header == protocol::HOP_BY_HOP;
    if let Some(fr) = chain.fragment {
        assert!(!hbh, "sent IPv6 fragment with hop-by-hop options: {f:02x?}");
        return fragment(fr.next_header, fr.frag_offset, fr.more_frags, upper, f);
    }
    let (s, d) = (IpAddr::V6(ip.src), IpAddr::V6(ip.dst));
    match chain.upper {
        protocol::TCP | protocol::UDP => {
            assert!(!hbh && chain.headers == 0, "sent IPv6 TCP/UDP with extension headers: {f:02x?}");
            assert!(!ip.src.is_unspecified(), "sent IPv6 TCP/UDP from ::: {f:02x?}");
            if chain.upper == protocol::TCP {
                Sent::Tcp(check_tcp(&s, &d, upper, f))
            } else {
                check_udp(&s, &d, upper, f)
            }
        }
        protocol::ICMPV6 => check_icmpv6(&ip, &chain, upper, f),
        other => panic!("sent IPv6 upper protocol {other}: {f:02x?}"),
    }
}

fn check_icmpv6(ip: &Ipv6Repr, chain: &ipv6ext::Chain, body: &[u8], f: &[u8]) -> Sent {
    let m = icmpv6::Packet::new_checked(body).unwrap_or_else(|e| panic!("sent ICMPv6: {e}: {f:02x?}"));
    let r = Icmpv6Repr::parse(&ip.src, &ip.dst, &m, ChecksumMode::Full)
        .unwrap_or_else(|e| panic!("sent ICMPv6 type {}: {e}: {f:02x?}", m.msg_type()));
    assert_eq!(r.buffer_len(), body.len(), "sent ICMPv6 length vs its repr: {f:02x?}");
    let hbh = ip.next_header == protocol::HOP_BY_HOP;
    let link_local_or_none = |a: &Ipv6Addr| a.is_unspecified() || ipv6::is_link_local(a);
    match r {
        Icmpv6Repr::Ndisc(_) => {
            assert_eq!(ip.hop_limit, 255, "sent NDP with hop limit {}: {f:02x?}", ip.hop_limit);
            assert!(!hbh && chain.headers == 0, "sent NDP with extension headers: {f:02x?}");
        }
        Icmpv6Repr::Mld(_) => {
            assert_eq!(ip.hop_limit, 1, "sent MLD with hop limit {}: {f:02x?}", ip.hop_limit);
            assert!(hbh && chain.router_alert == Some(0), "sent MLD without the MLD router alert: {f:02x?}");
            assert!(link_local_or_none(&ip.src), "sent MLD from {}: {f:02x?}", ip.src);
        }
        Icmpv6Repr::DstUnreachable { .. }
        | Icmpv6Repr::PktTooBig { .. }
        | Icmpv6Repr::TimeExceeded { .. }
        | Icmpv6Repr::ParamProblem { .. } => {
            assert!(
                ipv6::HEADER_LEN + usize::from(ip.payload_len) <= ipv6::MIN_MTU,
                "sent ICMPv6 error longer than the minimum MTU: {f:02x?}"
            );
            assert!(!ip.src.is_unspecified() && !hbh, "sent ICMPv6 error from :: or with options: {f:02x?}");
        }
        Icmpv6Repr::EchoRequest { .. } | Icmpv6Repr::EchoReply { .. } => {
            assert!(!ip.src.is_unspecified() && !hbh, "sent ICMPv6 echo from :: or with options: {f:02x?}");
        }
    }
    Sent::Icmpv6(m.msg_type())
}

fn check_udp(s: &IpAddr, d: &IpAddr, body: &[u8], f: &[u8]) -> Sent {
    let u = udp::Packet::new_checked(body).unwrap_or_else(|e| panic!("sent UDP: {e}: {f:02x?}"));
    assert_eq!(usize::from(u.len()), body.len(), "sent UDP length field vs packet: {f:02x?}");
    assert_ne!(u.checksum(), 0, "sent UDP without a checksum: {f:02x?}");
    let r = UdpRepr::parse(&u, s, d, ChecksumMode::Full).unwrap_or_else(|e| panic!("sent UDP: {e}: {f:02x?}"));
    Sent::Udp(r.src_port, r.dst_port)
}

fn check_tcp(s: &IpAddr, d: &IpAddr, body: &[u8], f: &[u8]) -> SentTcp {
    let t = TcpPacket::new_checked(body).unwrap_or_else(|e| panic!("sent TCP: {e}: {f:02x?}"));
    let r = TcpRepr::parse(&t, s, d, ChecksumMode::Full).unwrap_or_else(|e| panic!("sent TCP: {e}: {f:02x?}"));
    assert!(t.header_len() <= 60, "sent TCP header of {} bytes: {f:02x?}", t.header_len());
    let syn = r.flags.contains(TcpFlags::SYN);
    for o in t.option_iter() {
        let o = o.unwrap_or_else(|e| panic!("sent TCP option: {e}: {f:02x?}"));
        let syn_only = matches!(o, TcpOption::Mss(_) | TcpOption::WindowScale(_) | TcpOption::SackPermitted);
        assert!(syn || !syn_only, "sent SYN-only TCP option without SYN: {o:?} in {r:?}");
        assert!(!matches!(o, TcpOption::Unknown { .. }), "sent unknown TCP option: {o:?} in {r:?}");
    }
    if r.flags.contains(TcpFlags::RST) {
        assert!(!syn && !r.flags.contains(TcpFlags::FIN), "sent RST with SYN or FIN: {r:?}");
    }
    assert_ne!(r.src_port, 0, "sent TCP from port 0: {r:?}");
    assert_ne!(r.dst_port, 0, "sent TCP to port 0: {r:?}");
    SentTcp {
        src: *s,
        dst: *d,
        src_port: r.src_port,
        dst_port: r.dst_port,
        seq: r.seq,
        ack: r.ack,
        flags: r.flags,
        window: r.window,
        options: r.options,
        payload: r.payload.to_vec(),
    }
}

/// A [`proto::FrameSink`] that checks every frame with [`check_frame`] and keeps
/// what it found.
#[derive(Debug)]
pub struct CheckSink {
    /// The interface's MAC: the source of every frame.
    pub mac: [u8; 6],
    /// What was sent, in order.
    pub sent: Vec<Sent>,
    /// Frames checked so far.
    pub frames: usize,
}

impl CheckSink {
    /// A sink for frames sent from `mac`.
    pub fn new(mac: [u8; 6]) -> CheckSink {
        CheckSink { mac, sent: Vec::new(), frames: 0 }
    }
}

impl Default for CheckSink {
    /// A sink for the interface of [`crate::iface::interface`].
    fn default() -> CheckSink {
        CheckSink::new(crate::iface::IFACE_MAC)
    }
}

impl proto::FrameSink for CheckSink {
    fn send_frame(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        let mut f = vec![0u8; len];
        fill(&mut f);
        self.sent.push(check_frame(self.mac, &f));
        self.frames += 1;
        true
    }
}
