//! Tests of the interface: ARP, ICMP, UDP, TCP answers, drops by reason, and
//! IPv4 fragments both ways.

use crate::Frames;
use super::*;
use wire::icmpv4::{unreachable, Icmpv4Repr};
use wire::udp::UdpRepr;
use crate::time::Duration;

const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

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
    // A fragment with MF set and a length not a multiple of 8 (RFC 791 §3.2).
    i.handle_frame(now, &ipv4(US, protocol::UDP, &[0; 12], true), &mut tx);
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
    // IPv6 (this interface has no IPv6 address).
    i.handle_frame(now, &eth(OUR_MAC, ethertype::IPV6, &[0x60; 40]), &mut tx);
    let s = i.stats();
    for (reason, n) in [
        (DropReason::EthMalformed, 1),
        (DropReason::EthNotForUs, 1),
        (DropReason::EthUnsupported, 1),
        (DropReason::Ipv4NotForUs, 1),
        (DropReason::Ipv4BadChecksum, 1),
        (DropReason::Ipv4Malformed, 1),
        (DropReason::Ipv4FragInvalid, 1),
        (DropReason::TcpMalformed, 1),
        (DropReason::TcpBadChecksum, 1),
        (DropReason::IcmpBadChecksum, 1),
        (DropReason::Ipv6NotForUs, 1),
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
    // Too large for IPv4, and to an unresolved neighbour.
    assert_eq!(i.send_udp(Instant::ZERO, d.dst, d.src, &[0; 65508], &mut tx), Err(UdpError::MessageTooLong));
    let other = core::net::SocketAddr::from((Ipv4Addr::new(198, 18, 0, 99), 1));
    // To an unresolved neighbour: queued while an ARP request goes out.
    assert_eq!(i.send_udp(Instant::ZERO, d.dst, other, b"x", &mut tx), Ok(()));
    assert_eq!(i.arp().queued(Ipv4Addr::new(198, 18, 0, 99)), 1);
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
    assert_eq!(i.send_echo(Instant::ZERO, IpAddr::V4(PEER), 1, 1, &[0; 65508], &mut tx), Err(UdpError::MessageTooLong));
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

// ---- IPv4 fragments ----

/// The frames of datagram `payload` (an IPv4 payload of protocol `proto`) from
/// the peer, cut into fragments of `size` bytes (a multiple of 8).
fn fragments(proto: u8, ident: u16, payload: &[u8], size: usize) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    let mut off = 0;
    while off < payload.len() {
        let n = size.min(payload.len() - off);
        let r = Ipv4Repr {
            src: PEER,
            dst: US,
            protocol: proto,
            payload_len: n,
            ttl: 64,
            ident,
            dont_frag: false,
            more_frags: off + n < payload.len(),
            frag_offset: off as u16,
            dscp_ecn: 0,
        };
        let mut b = vec![0u8; r.buffer_len()];
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        r.emit(&mut p, ChecksumMode::Full);
        p.payload_mut().copy_from_slice(&payload[off..off + n]);
        v.push(eth(OUR_MAC, ethertype::IPV4, &b));
        off += n;
    }
    v
}

/// Check that `frames` are the fragments of one datagram as RFC 791 §3.2 cuts
/// it (parsed with `wire`: every checksum, same identification, DF clear, MF on
/// all but the last, offsets in 8-byte units, contiguous, no frame above 1514
/// bytes) and return it whole: its header and payload.
fn rejoin(frames: &[Vec<u8>]) -> (Ipv4Repr, Vec<u8>) {
    assert!(frames.len() > 1, "fragmented");
    let mut whole = Vec::new();
    let mut first: Option<Ipv4Repr> = None;
    for (k, f) in frames.iter().enumerate() {
        assert!(f.len() <= 1514, "fragment {k} is {} bytes", f.len());
        let (_, ip, body) = sent_ipv4(f);
        assert!(!ip.dont_frag, "DF clear on fragments");
        assert_eq!(ip.more_frags, k + 1 < frames.len(), "MF on all but the last");
        assert_eq!(usize::from(ip.frag_offset), whole.len(), "contiguous, in order");
        if ip.more_frags {
            assert_eq!(body.len() % 8, 0);
            assert_eq!(ip.buffer_len(), 1500, "full-sized");
        }
        let h = *first.get_or_insert(ip);
        assert_eq!((ip.ident, ip.src, ip.dst, ip.protocol), (h.ident, h.src, h.dst, h.protocol));
        whole.extend_from_slice(&body);
    }
    let mut h = first.unwrap_or_else(|| unreachable!());
    h.payload_len = whole.len();
    (h, whole)
}

/// The frames the interface sent after a fragmented datagram of `len` bytes
/// from the peer: reassembled by a second reassembler too, to check that the
/// two agree.
fn reassemble_with_frag(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut r = Reassembler::new(FragConfig::default());
    let mut out = Vec::with_capacity(crate::frag::MAX_DATAGRAM);
    let mut done = false;
    for f in frames {
        let fr = Frame::new_checked(&f[..]).unwrap();
        let p = Ipv4Packet::new_checked(fr.payload()).unwrap();
        let ip = Ipv4Repr::parse(&p, ChecksumMode::Full).unwrap();
        done = r.input(Instant::ZERO, &p.as_ref()[..20], &ip, p.payload(), &mut out) == FragInput::Complete;
    }
    assert!(done);
    out[20..].to_vec()
}

fn resolved_iface() -> (Interface, Frames) {
    let mut i = iface();
    let mut tx = Frames::default();
    i.handle_frame(Instant::ZERO, &arp_request(US), &mut tx);
    tx.0.clear();
    (i, tx)
}

/// A fragmented echo request (8000 bytes of data, fragments in reverse order)
/// is reassembled and answered with a fragmented echo reply carrying the same
/// data (RFC 792, RFC 791 §3.2).
#[test]
fn fragmented_echo_request_gets_a_fragmented_reply() {
    let (mut i, mut tx) = resolved_iface();
    let data: Vec<u8> = (0..8000u32).map(|k| (k * 13 % 251) as u8).collect();
    let req = icmp(&Icmpv4Repr::EchoRequest { ident: 0x77, seq_no: 5, data: &data });
    let mut frames = fragments(protocol::ICMP, 0x4321, &req, 1480);
    frames.reverse();
    for (k, f) in frames.iter().enumerate() {
        i.handle_frame(Instant::ZERO, f, &mut tx);
        if k + 1 < frames.len() {
            assert!(tx.0.is_empty(), "nothing answered before the datagram is whole");
        }
    }
    assert_eq!(i.stats().ipv4_frags_in, 6);
    assert_eq!(i.stats().ipv4_reassembled, 1);
    assert_eq!(i.stats().total_drops(), 0, "{:?}", i.stats().nonzero_drops().collect::<Vec<_>>());
    assert_eq!(tx.0.len(), 6, "8008 bytes of ICMP in 1480-byte fragments");
    let (h, whole) = rejoin(&tx.0);
    assert_eq!((h.src, h.dst, h.protocol), (US, PEER, protocol::ICMP));
    assert_eq!(reassemble_with_frag(&tx.0), whole);
    let r = Icmpv4Repr::parse(&wire::icmpv4::Packet::new_checked(&whole[..]).unwrap(), ChecksumMode::Full).unwrap();
    assert_eq!(r, Icmpv4Repr::EchoReply { ident: 0x77, seq_no: 5, data: &data });
    assert_eq!((i.stats().icmp_echo_replies, i.stats().ipv4_frags_out), (1, 6));
    assert_eq!(i.reassembler().in_progress(), 0);
}

/// A fragmented UDP datagram reaches its bound port with the first fragment's
/// ports; `send_udp` of 8000 bytes leaves as fragments that parse with `wire`
/// and re-assemble to the original datagram.
#[test]
fn fragmented_udp_both_ways() {
    let (mut i, mut tx) = resolved_iface();
    i.udp_mut().bind(7).unwrap();
    let data: Vec<u8> = (0..8000u32).map(|k| (k * 7 % 253) as u8).collect();
    let u = UdpRepr { src_port: 40000, dst_port: 7, payload: &data };
    let mut ub = vec![0u8; u.buffer_len()];
    u.emit(&mut wire::udp::Packet::new_unchecked(&mut ub[..]), &IpAddr::V4(PEER), &IpAddr::V4(US), ChecksumMode::Full);
    let mut frames = fragments(protocol::UDP, 99, &ub, 1480);
    frames.swap(1, 4);
    for f in &frames {
        i.handle_frame(Instant::ZERO, f, &mut tx);
    }
    assert!(tx.0.is_empty());
    let mut buf = vec![0u8; 65536];
    let d = i.udp_mut().recv_from(7, &mut buf).unwrap();
    assert_eq!((d.len, d.src.port(), d.dst.port()), (8000, 40000, 7));
    assert!(buf[..d.len] == data[..], "byte-exact");
    // Back, fragmented.
    i.send_udp(Instant::ZERO, d.dst, d.src, &buf[..d.len], &mut tx).unwrap();
    assert_eq!(tx.0.len(), 6);
    let (h, whole) = rejoin(&tx.0);
    assert_eq!((h.src, h.dst, h.protocol), (US, PEER, protocol::UDP));
    assert_eq!(reassemble_with_frag(&tx.0), whole);
    let r = UdpRepr::parse(&wire::udp::Packet::new_checked(&whole[..]).unwrap(), &IpAddr::V4(US), &IpAddr::V4(PEER), ChecksumMode::Full).unwrap();
    assert_eq!((r.src_port, r.dst_port), (7, 40000));
    assert!(r.payload == &data[..], "the fragments re-assemble to the original datagram");
    // Every size up to the largest: the fragment count is ceil(len / 1480).
    for len in [1472usize, 1473, 2952, 2953, 65507] {
        tx.0.clear();
        i.send_udp(Instant::ZERO, d.dst, d.src, &vec![1u8; len], &mut tx).unwrap();
        assert_eq!(tx.0.len(), (len + 8).div_ceil(1480), "{len}");
        if tx.0.len() == 1 {
            let (_, ip, _) = sent_ipv4(&tx.0[0]);
            assert!(ip.dont_frag && !ip.more_frags, "one frame keeps DF");
        } else {
            assert_eq!(rejoin(&tx.0).1.len(), len + 8);
        }
    }
}

/// A reassembled TCP segment goes to TCP (here: RST for a closed port) unless
/// the owner test says another core holds its connection.
#[test]
fn reassembled_tcp_goes_to_tcp_unless_another_core_owns_it() {
    let syn = TcpRepr {
        src_port: 40000,
        dst_port: 7,
        seq: 1000,
        ack: 0,
        flags: wire::tcp::TcpFlags::SYN,
        window: 64240,
        urgent: 0,
        options: Default::default(),
        payload: &[0x55; 2000],
    };
    let mut b = vec![0u8; syn.buffer_len()];
    syn.emit(&mut TcpPacket::new_unchecked(&mut b[..]), &IpAddr::V4(PEER), &IpAddr::V4(US), ChecksumMode::Full);
    for other_core in [false, true] {
        let (mut i, mut tx) = resolved_iface();
        if other_core {
            i.set_tcp_owner(Box::new(|_, _, sport, dport| (sport, dport) != (40000, 7)));
        } else {
            i.set_tcp_owner(Box::new(|_, _, _, _| true));
        }
        for f in fragments(protocol::TCP, 5, &b, 1480) {
            i.handle_frame(Instant::ZERO, &f, &mut tx);
        }
        assert_eq!(i.stats().ipv4_reassembled, 1);
        if other_core {
            assert!(tx.0.is_empty());
            assert_eq!(i.stats().drops_of(DropReason::Ipv4FragTcpOtherCore), 1);
        } else {
            assert_eq!(tx.0.len(), 1, "RST");
            let (_, ip, body) = sent_ipv4(&tx.0[0]);
            let r = TcpRepr::parse(&TcpPacket::new_checked(&body[..]).unwrap(), &IpAddr::V4(ip.src), &IpAddr::V4(ip.dst), ChecksumMode::Full).unwrap();
            assert!(r.flags.contains(wire::tcp::TcpFlags::RST));
            assert_eq!(r.ack, 1000 + 1 + 2000, "acknowledges the whole reassembled segment");
        }
    }
}

/// RFC 792 / RFC 1122 §3.2.1.4: a datagram whose first fragment arrived and
/// that is not complete by the deadline gets ICMP time exceeded, code 1, when
/// the engine's timer (`poll_timeout` → `poll_transmit`) or the next fragment
/// comes; one whose first fragment never arrived is dropped silently.
#[test]
fn reassembly_timeout_sends_time_exceeded_for_a_first_fragment_only() {
    let (mut i, mut tx) = resolved_iface();
    let payload = [3u8; 4000];
    let a = fragments(protocol::UDP, 1, &payload, 1480);
    let b = fragments(protocol::UDP, 2, &payload, 1480);
    let t0 = Instant::from_millis(500);
    i.handle_frame(t0, &a[0], &mut tx);
    i.handle_frame(t0, &b[1], &mut tx);
    assert_eq!(i.poll_timeout(), Some(t0 + crate::frag::DEFAULT_TIMEOUT), "the engine's timer");
    i.poll_transmit(t0 + Duration::from_millis(29_999), &mut tx);
    assert!(tx.0.is_empty());
    i.poll_transmit(t0 + crate::frag::DEFAULT_TIMEOUT, &mut tx);
    assert_eq!(i.stats().drops_of(DropReason::Ipv4FragTimeout), 2);
    assert_eq!(tx.0.len(), 1, "one time exceeded: datagram 2 had no first fragment");
    let (_, ip, body) = sent_ipv4(&tx.0[0]);
    assert_eq!((ip.src, ip.dst), (US, PEER));
    match Icmpv4Repr::parse(&wire::icmpv4::Packet::new_checked(&body[..]).unwrap(), ChecksumMode::Full).unwrap() {
        Icmpv4Repr::TimeExceeded { code, quote } => {
            assert_eq!(code, wire::icmpv4::time_exceeded::REASSEMBLY);
            // The first fragment's header as it arrived, and 8 bytes of its data.
            assert_eq!(quote.data, &a[0][14..14 + 28]);
        }
        other => panic!("expected time exceeded, got {other:?}"),
    }
    assert_eq!(i.poll_timeout(), None);
    // Expiry on input too: a fragment after the deadline finds the old datagram gone.
    tx.0.clear();
    let t1 = t0 + Duration::from_secs(40);
    i.handle_frame(t1, &a[0], &mut tx);
    i.handle_frame(t1 + Duration::from_secs(31), &a[1], &mut tx);
    // (An ARP refresh of the 71-s-old entry may go with it.)
    let ipv4_out = tx.0.iter().filter(|f| u16::from_be_bytes([f[12], f[13]]) == ethertype::IPV4).count();
    assert_eq!(ipv4_out, 1, "time exceeded sent from the input path");
    assert_eq!(i.stats().drops_of(DropReason::Ipv4FragTimeout), 3);
    assert_eq!(i.stats().icmp_errors_sent, 2);
}

/// A fragment that reaches past 65535 bytes (the "ping of death") is counted
/// as too big and drops its datagram; overlaps and duplicates are counted.
#[test]
fn too_big_overlapping_and_duplicate_fragments_are_counted() {
    let (mut i, mut tx) = resolved_iface();
    let payload = [9u8; 3000];
    let f = fragments(protocol::UDP, 1, &payload, 1480);
    i.handle_frame(Instant::ZERO, &f[0], &mut tx);
    assert_eq!(i.reassembler().in_progress(), 1);
    // Same datagram, offset 65528 with 16 bytes.
    let mut death = fragments(protocol::UDP, 1, &[0u8; 16], 8);
    let mut far = death.remove(0);
    {
        let mut p = Ipv4Packet::new_unchecked(&mut far[14..]);
        p.set_frag(false, true, 65528);
        p.set_total_len(20 + 8);
        p.fill_checksum();
    }
    i.handle_frame(Instant::ZERO, &far, &mut tx);
    assert_eq!(i.stats().drops_of(DropReason::Ipv4FragTooBig), 1);
    assert_eq!(i.stats().drops_of(DropReason::Ipv4Malformed), 0);
    assert_eq!(i.reassembler().in_progress(), 0, "its datagram is dropped");
    // Duplicate, then an overlap.
    i.handle_frame(Instant::ZERO, &f[0], &mut tx);
    i.handle_frame(Instant::ZERO, &f[0], &mut tx);
    assert_eq!(i.stats().drops_of(DropReason::Ipv4FragDuplicate), 1);
    let g = fragments(protocol::UDP, 1, &payload, 1472);
    i.handle_frame(Instant::ZERO, &g[1], &mut tx);
    assert_eq!(i.stats().drops_of(DropReason::Ipv4FragOverlap), 1);
    assert_eq!(i.reassembler().in_progress(), 0);
    assert!(tx.0.is_empty());
}

proptest::proptest! {
    /// Arbitrary fragment frames (any identification, offset, length, flags,
    /// protocol, bytes, time) through the whole interface never panic, and the
    /// reassembly memory and datagram count stay within their bounds.
    #[test]
    fn arbitrary_fragment_frames_never_panic_and_stay_bounded(
        seq in proptest::collection::vec(
            (0u16..4, 0u16..8190, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1480), proptest::prelude::any::<bool>(), 0u8..3, 0u64..2000),
            1..120,
        )
    ) {
        let frag = FragConfig { timeout: Duration::from_millis(1500), max_bytes: 8 * crate::frag::CHUNK, max_datagrams: 3 };
        let mut i = Interface::new(InterfaceConfig { mac: OUR_MAC, ipv4: vec![(US, 24)], frag, ..Default::default() });
        let mut tx = Frames::default();
        i.handle_frame(Instant::ZERO, &arp_request(US), &mut tx);
        i.udp_mut().bind(7).unwrap();
        let mut now = Instant::ZERO;
        for (ident, units, bytes, more, proto, dt) in seq {
            now += Duration::from_millis(dt);
            let proto = [protocol::UDP, protocol::ICMP, protocol::TCP][usize::from(proto)];
            let off = usize::from(units) * 8;
            let n = bytes.len().min(65515usize.saturating_sub(off));
            let r = Ipv4Repr { src: PEER, dst: US, protocol: proto, payload_len: n, ttl: 64, ident, dont_frag: false, more_frags: more, frag_offset: off as u16, dscp_ecn: 0 };
            let mut b = vec![0u8; r.buffer_len()];
            let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
            r.emit(&mut p, ChecksumMode::Full);
            p.payload_mut().copy_from_slice(&bytes[..n]);
            i.handle_frame(now, &eth(OUR_MAC, ethertype::IPV4, &b), &mut tx);
            if i.poll_timeout().is_some_and(|t| t <= now) {
                i.poll_transmit(now, &mut tx);
            }
            let ra = i.reassembler();
            proptest::prop_assert!(ra.bytes_held() <= ra.capacity_bytes() && ra.capacity_bytes() <= frag.max_bytes);
            proptest::prop_assert!(ra.in_progress() <= frag.max_datagrams);
        }
        i.poll_transmit(now + Duration::from_secs(2), &mut tx);
        proptest::prop_assert_eq!((i.reassembler().in_progress(), i.reassembler().bytes_held()), (0, 0));
        for f in &tx.0 {
            proptest::prop_assert!(f.len() <= 1514, "no frame above the MTU");
        }
    }
}
