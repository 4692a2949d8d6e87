//! Tests of the interface's IPv6 side: NDP answers and bad NDP input (dropped
//! and counted by reason), echo (also fragmented both ways), UDP with packets
//! queued during resolution, ICMPv6 errors, DAD and SLAAC.

use crate::Frames;
use crate::iface::{Interface, InterfaceConfig};
use crate::ipv6::AddrState;
use crate::stats::DropReason;
use crate::time::{Duration, Instant};
use core::net::{IpAddr, Ipv6Addr, SocketAddr};
use wire::ethernet::{ethertype, EthernetAddress, EthernetRepr, Frame};
use wire::icmpv6::{Icmpv6Repr, Packet as IcmpPacket};
use wire::ip::protocol;
use wire::ipv6::{Ipv6Repr, Packet as Ipv6Packet};
use wire::ndp::{NdiscRepr, NeighborFlags, PrefixFlags, PrefixInfo};
use wire::ChecksumMode;

const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const US: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const PEER_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

/// An interface with US, its DAD done.
fn iface() -> Interface {
    let mut i = Interface::new(InterfaceConfig { mac: OUR_MAC, ipv6: vec![(US, 64)], ..Default::default() });
    settle(&mut i);
    i
}

/// Run the control timers past DAD (one probe and RetransTimer).
fn settle(i: &mut Interface) {
    let mut tx = Frames::default();
    i.poll_transmit(Instant::ZERO, &mut tx);
    i.poll_transmit(Instant::from_millis(1000), &mut tx);
}

fn frame6(dst_mac: [u8; 6], src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, hop_limit: u8, payload: &[u8]) -> Vec<u8> {
    let e = EthernetRepr { src: EthernetAddress(PEER_MAC), dst: EthernetAddress(dst_mac), vlan: None, ethertype: ethertype::IPV6 };
    let ip = Ipv6Repr { src, dst, next_header, payload_len: payload.len() as u16, hop_limit, traffic_class: 0, flow_label: 0 };
    let mut b = vec![0u8; e.buffer_len(40 + payload.len())];
    let mut f = Frame::new_unchecked(&mut b[..]);
    e.emit(&mut f);
    let mut p = Ipv6Packet::new_unchecked(f.payload_mut());
    ip.emit(&mut p);
    p.payload_mut()[..payload.len()].copy_from_slice(payload);
    b
}

fn icmp6(src: Ipv6Addr, dst: Ipv6Addr, repr: &Icmpv6Repr<'_>) -> Vec<u8> {
    let mut b = vec![0u8; repr.buffer_len()];
    repr.emit(&src, &dst, &mut IcmpPacket::new_unchecked(&mut b[..]), ChecksumMode::Full);
    b
}

fn ns(src: Ipv6Addr, target: Ipv6Addr, hop_limit: u8) -> Vec<u8> {
    let dst = wire::ipv6::solicited_node(&target);
    let lladdr = (!src.is_unspecified()).then_some(PEER_MAC);
    let m = icmp6(src, dst, &Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit { target_addr: target, lladdr, nonce: None }));
    frame6(wire::ipv6::multicast_mac(&dst), src, dst, protocol::ICMPV6, hop_limit, &m)
}

fn na(target: Ipv6Addr, dst: Ipv6Addr, solicited: bool) -> Vec<u8> {
    let flags = if solicited { NeighborFlags::SOLICITED | NeighborFlags::OVERRIDE } else { NeighborFlags::OVERRIDE };
    let m = icmp6(target, dst, &Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert { flags, target_addr: target, lladdr: Some(PEER_MAC) }));
    let mac = if dst.is_multicast() { wire::ipv6::multicast_mac(&dst) } else { OUR_MAC };
    frame6(mac, target, dst, protocol::ICMPV6, 255, &m)
}

/// A Router Advertisement from the peer to all nodes with one on-link,
/// autoconfiguration prefix `prefix`/64 (and the MTU option when given).
fn router_advert(prefix: Ipv6Addr, mtu: Option<u32>) -> Vec<u8> {
    let ra = NdiscRepr::RouterAdvert {
        hop_limit: 64,
        flags: Default::default(),
        router_lifetime: 1800,
        reachable_time: 0,
        retrans_time: 0,
        lladdr: Some(PEER_MAC),
        mtu,
        prefixes: [PrefixInfo { prefix_len: 64, flags: PrefixFlags(PrefixFlags::ON_LINK.0 | PrefixFlags::ADDRCONF.0), valid_lifetime: 86400, preferred_lifetime: 14400, prefix }]
            .into_iter()
            .collect(),
    };
    let m = icmp6(PEER_LL, wire::ipv6::ALL_NODES, &Icmpv6Repr::Ndisc(ra));
    frame6(wire::ipv6::multicast_mac(&wire::ipv6::ALL_NODES), PEER_LL, wire::ipv6::ALL_NODES, protocol::ICMPV6, 255, &m)
}

/// Parse a frame we sent: the IPv6 header and the ICMPv6 message (checksum verified).
fn sent_icmp6(frame: &[u8]) -> (EthernetRepr, Ipv6Repr, Vec<u8>) {
    let f = Frame::new_checked(frame).unwrap();
    let e = EthernetRepr::parse(&f).unwrap();
    assert_eq!(e.ethertype, ethertype::IPV6);
    let p = Ipv6Packet::new_checked(f.payload()).unwrap();
    let ip = Ipv6Repr::parse(&p).unwrap();
    let body = p.payload()[..usize::from(ip.payload_len)].to_vec();
    if ip.next_header == protocol::ICMPV6 {
        let v = IcmpPacket::new_checked(&body[..]).unwrap();
        assert!(v.verify_checksum(&ip.src, &ip.dst), "ICMPv6 checksum of what we sent");
    }
    (e, ip, body)
}

#[test]
fn ns_for_our_address_gets_a_solicited_na_and_the_peer_is_learned() {
    let mut i = iface();
    let mut tx = Frames::default();
    i.handle_frame(Instant::from_millis(2000), &ns(PEER, US, 255), &mut tx);
    assert_eq!(tx.0.len(), 1);
    let (e, ip, body) = sent_icmp6(&tx.0[0]);
    assert_eq!((e.dst.0, ip.src, ip.dst, ip.hop_limit), (PEER_MAC, US, PEER, 255));
    let v = IcmpPacket::new_checked(&body[..]).unwrap();
    match Icmpv6Repr::parse(&ip.src, &ip.dst, &v, ChecksumMode::Full).unwrap() {
        Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert { flags, target_addr, lladdr }) => {
            assert!(flags.contains(NeighborFlags::SOLICITED) && flags.contains(NeighborFlags::OVERRIDE));
            assert_eq!((target_addr, lladdr), (US, Some(OUR_MAC)));
        }
        other => panic!("not an NA: {other:?}"),
    }
    assert_eq!(i.neighbours6().state(&PEER), Some((crate::ndp::NeighbourState::Stale, Some(PEER_MAC))));
    assert_eq!(i.stats().ndp_adverts, 1);
}

#[test]
fn bad_ndp_is_dropped_and_counted_by_reason() {
    let mut i = iface();
    let mut tx = Frames::default();
    let now = Instant::from_millis(2000);
    // RFC 4861 §7.1.1: hop limit must be 255 (a router forwarded it).
    i.handle_frame(now, &ns(PEER, US, 254), &mut tx);
    // RFC 4861 §7.2.3: an NS for an address that is not ours (to our
    // solicited-node group: the low 24 bits are those of US).
    i.handle_frame(now, &ns(PEER, Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2), 255), &mut tx);
    // RFC 4861 §6.1.2: an RA from a global source.
    let ra = NdiscRepr::RouterAdvert {
        hop_limit: 64,
        flags: Default::default(),
        router_lifetime: 1800,
        reachable_time: 0,
        retrans_time: 0,
        lladdr: Some(PEER_MAC),
        mtu: None,
        prefixes: wire::ndp::Prefixes::EMPTY,
    };
    let m = icmp6(PEER, wire::ipv6::ALL_NODES, &Icmpv6Repr::Ndisc(ra));
    i.handle_frame(now, &frame6(wire::ipv6::multicast_mac(&wire::ipv6::ALL_NODES), PEER, wire::ipv6::ALL_NODES, protocol::ICMPV6, 255, &m), &mut tx);
    // ICMPv6 with a bad checksum.
    let mut req = icmp6(PEER, US, &Icmpv6Repr::EchoRequest { ident: 1, seq_no: 1, data: b"abcd" });
    req[2] ^= 0x55;
    i.handle_frame(now, &frame6(OUR_MAC, PEER, US, protocol::ICMPV6, 64, &req), &mut tx);
    // Not for us; truncated header; a multicast source.
    i.handle_frame(now, &frame6(OUR_MAC, PEER, PEER, protocol::ICMPV6, 64, &req), &mut tx);
    let mut short = frame6(OUR_MAC, PEER, US, protocol::UDP, 64, &[]);
    short.truncate(14 + 30);
    i.handle_frame(now, &short, &mut tx);
    i.handle_frame(now, &frame6(OUR_MAC, "ff02::1".parse().unwrap(), US, protocol::UDP, 64, &[0; 8]), &mut tx);
    // UDP with a zero checksum (mandatory over IPv6, RFC 8200 §8.1).
    let mut udp = [0u8; 12];
    udp[..2].copy_from_slice(&5u16.to_be_bytes());
    udp[2..4].copy_from_slice(&7u16.to_be_bytes());
    udp[4..6].copy_from_slice(&12u16.to_be_bytes());
    i.handle_frame(now, &frame6(OUR_MAC, PEER, US, protocol::UDP, 64, &udp), &mut tx);
    // An unknown option whose action bits say "discard silently" (RFC 8200 §4.2).
    let opts = [protocol::UDP, 0, 0x40, 4, 0, 0, 0, 0];
    i.handle_frame(now, &frame6(OUR_MAC, PEER, US, protocol::IPV6_OPTS, 64, &opts), &mut tx);
    let s = i.stats();
    for (reason, n) in [
        (DropReason::NdpBadHopLimit, 1),
        (DropReason::NdpNsNotOurs, 1),
        (DropReason::NdpRaNotLinkLocal, 1),
        (DropReason::Icmpv6BadChecksum, 1),
        (DropReason::Ipv6NotForUs, 1),
        (DropReason::Ipv6Malformed, 1),
        (DropReason::Ipv6BadSource, 1),
        (DropReason::UdpMalformed, 1),
        (DropReason::Ipv6BadExtHeader, 1),
    ] {
        assert_eq!(s.drops_of(reason), n, "{}", reason.name());
    }
    assert!(tx.0.is_empty(), "nothing answered to bad input");
    assert!(i.ipv6().routers.is_empty(), "the bad RA installed no router");
}

#[test]
fn echo_request_answered_also_fragmented_both_ways() {
    let mut i = iface();
    let mut tx = Frames::default();
    let now = Instant::from_millis(2000);
    let data: Vec<u8> = (0..8000u32).map(|k| (k * 7) as u8).collect();
    let req = icmp6(PEER, US, &Icmpv6Repr::EchoRequest { ident: 9, seq_no: 3, data: &data });
    // Cut into three fragments, sent last first.
    let cuts = [(0usize, 2800usize), (2800, 5600), (5600, req.len())];
    for (k, (a, b)) in cuts.iter().enumerate().rev() {
        let mut p = vec![protocol::ICMPV6, 0, 0, 0, 0, 0, 0, 77];
        let off = (*a as u16) | u16::from(k < 2);
        p[2..4].copy_from_slice(&off.to_be_bytes());
        p.extend_from_slice(&req[*a..*b]);
        i.handle_frame(now, &frame6(OUR_MAC, PEER, US, protocol::IPV6_FRAG, 64, &p), &mut tx);
    }
    assert_eq!(i.stats().ipv6_reassembled, 1);
    assert!(tx.0.len() > 1, "the 8008-byte reply leaves in fragments");
    // Reassemble our reply with a reassembler of our own.
    let mut r = crate::frag::Reassembler::new_v6(Default::default());
    let mut out = Vec::new();
    let mut done = false;
    for f in &tx.0 {
        assert!(f.len() <= 1514, "no frame above the MTU");
        let (e, ip, body) = sent_icmp6(f);
        assert_eq!((e.dst.0, ip.src, ip.dst, ip.next_header), (PEER_MAC, US, PEER, protocol::IPV6_FRAG));
        let fh = wire::ipv6ext::FragmentRepr::parse(&wire::ipv6ext::FragmentHeader::new_checked(&body[..]).unwrap()).unwrap();
        let mut unfrag = f[14..54].to_vec();
        unfrag[6] = fh.next_header;
        if r.input6(now, &unfrag, ip.src, ip.dst, &fh, &body[8..], &mut out) == crate::frag::FragInput::Complete {
            done = true;
        }
    }
    assert!(done);
    let v = IcmpPacket::new_checked(&out[40..]).unwrap();
    assert_eq!(Icmpv6Repr::parse(&US, &PEER, &v, ChecksumMode::Full).unwrap(), Icmpv6Repr::EchoReply { ident: 9, seq_no: 3, data: &data });
    assert_eq!(i.stats().icmp_echo_replies, 1);
}

#[test]
fn atomic_fragment_is_processed_alone_rfc6946() {
    let mut i = iface();
    let mut tx = Frames::default();
    let req = icmp6(PEER, US, &Icmpv6Repr::EchoRequest { ident: 1, seq_no: 1, data: b"atomic" });
    let mut p = vec![protocol::ICMPV6, 0, 0, 0, 0, 0, 0, 5];
    p.extend_from_slice(&req);
    i.handle_frame(Instant::from_millis(2000), &frame6(OUR_MAC, PEER, US, protocol::IPV6_FRAG, 64, &p), &mut tx);
    assert_eq!(tx.0.len(), 1, "answered at once");
    assert_eq!((i.stats().ipv6_frags_in, i.reassembler6().in_progress()), (0, 0), "never in reassembly");
}

#[test]
fn udp_waits_for_resolution_then_goes_and_unbound_port_is_unreachable() {
    let mut i = iface();
    let mut tx = Frames::default();
    let now = Instant::from_millis(2000);
    let local = SocketAddr::new(IpAddr::V6(US), 5000);
    let remote = SocketAddr::new(IpAddr::V6(PEER), 7);
    i.send_udp(now, local, remote, b"first", &mut tx).unwrap();
    i.send_udp(now, local, remote, b"second", &mut tx).unwrap();
    // One multicast NS to the solicited-node group, the datagrams wait.
    assert_eq!(tx.0.len(), 1);
    let (e, ip, _) = sent_icmp6(&tx.0[0]);
    assert_eq!((e.dst.0, ip.dst, ip.hop_limit), (wire::ipv6::multicast_mac(&wire::ipv6::solicited_node(&PEER)), wire::ipv6::solicited_node(&PEER), 255));
    tx.0.clear();
    i.handle_frame(now + Duration::from_millis(1), &na(PEER, US, true), &mut tx);
    let mut learned = Vec::new();
    i.drain_learned(|ip, mac| learned.push((ip, mac)));
    assert_eq!(learned, vec![(IpAddr::V6(PEER), PEER_MAC)], "published to the other cores");
    assert_eq!(i.poll_timeout(), Some(Instant::ZERO), "queued packets are due");
    i.poll_transmit(now + Duration::from_millis(1), &mut tx);
    let payloads: Vec<Vec<u8>> = tx
        .0
        .iter()
        .map(|f| {
            let (e, ip, body) = sent_icmp6(f);
            assert_eq!((e.dst.0, ip.next_header), (PEER_MAC, protocol::UDP));
            let u = wire::udp::Packet::new_checked(&body[..]).unwrap();
            let r = wire::udp::UdpRepr::parse(&u, &IpAddr::V6(US), &IpAddr::V6(PEER), ChecksumMode::Full).unwrap();
            r.payload.to_vec()
        })
        .collect();
    assert_eq!(payloads, vec![b"first".to_vec(), b"second".to_vec()], "in order, checksums valid");
    // An unbound port: ICMPv6 port unreachable quoting the datagram.
    tx.0.clear();
    let u = wire::udp::UdpRepr { src_port: 4000, dst_port: 9, payload: b"x" };
    let mut b = vec![0u8; u.buffer_len()];
    u.emit(&mut wire::udp::Packet::new_unchecked(&mut b[..]), &IpAddr::V6(PEER), &IpAddr::V6(US), ChecksumMode::Full);
    i.handle_frame(now, &frame6(OUR_MAC, PEER, US, protocol::UDP, 64, &b), &mut tx);
    assert_eq!(tx.0.len(), 1);
    let (_, ip, body) = sent_icmp6(&tx.0[0]);
    let v = IcmpPacket::new_checked(&body[..]).unwrap();
    match Icmpv6Repr::parse(&ip.src, &ip.dst, &v, ChecksumMode::Full).unwrap() {
        Icmpv6Repr::DstUnreachable { code, data } => {
            assert_eq!(code, wire::icmpv6::dst_unreachable::PORT_UNREACHABLE);
            assert_eq!(&data[40..], &b[..], "the invoking packet quoted");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unresolved_neighbour_fails_after_three_solicitations() {
    let mut i = iface();
    let mut tx = Frames::default();
    let t0 = Instant::from_millis(2000);
    let remote = SocketAddr::new(IpAddr::V6(PEER), 7);
    i.send_udp(t0, SocketAddr::new(IpAddr::V6(US), 5000), remote, b"lost", &mut tx).unwrap();
    for s in 1..=3 {
        i.poll_transmit(t0 + Duration::from_secs(s), &mut tx);
    }
    assert_eq!(tx.0.len(), 3, "MAX_MULTICAST_SOLICIT solicitations");
    assert_eq!(i.stats().drops_of(DropReason::NdpResolveFailed), 1);
}

#[test]
fn dad_probe_then_usable_and_conflict_makes_it_duplicate() {
    let a2 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 3);
    let mut i = Interface::new(InterfaceConfig { mac: OUR_MAC, ipv6: vec![(US, 64), (a2, 64)], ..Default::default() });
    let mut tx = Frames::default();
    i.poll_transmit(Instant::ZERO, &mut tx);
    // An MLDv2 report of the solicited-node groups, then one DAD probe each from ::.
    let (_, mld, body) = sent_icmp6(&tx.0[0]);
    assert_eq!((mld.dst, mld.hop_limit, mld.next_header, body[8]), (wire::ipv6::ALL_MLDV2_ROUTERS, 1, protocol::HOP_BY_HOP, wire::icmpv6::message::MLDV2_REPORT));
    let probes: Vec<Ipv6Repr> = tx.0[1..].iter().map(|f| sent_icmp6(f).1).collect();
    assert_eq!(probes.len(), 2);
    assert!(probes.iter().all(|p| p.src.is_unspecified() && p.hop_limit == 255));
    // Another node answers for a2 (RFC 4862 §5.4.4): duplicate.
    let mut tx2 = Frames::default();
    i.handle_frame(Instant::from_millis(300), &na(a2, wire::ipv6::ALL_NODES, false), &mut tx2);
    assert_eq!(i.ipv6().find(&a2).unwrap().state, AddrState::Duplicate);
    assert_eq!(i.stats().drops_of(DropReason::NdpDadDuplicate), 1);
    i.poll_transmit(Instant::from_millis(1000), &mut tx2);
    let mut ev = Vec::new();
    i.take_address_events(|a, ok| ev.push((a, ok)));
    assert!(ev.contains(&(a2, false)) && ev.contains(&(US, true)), "{ev:?}");
    assert_eq!(i.ipv6().find(&US).unwrap().state, AddrState::Preferred);
    // The duplicate is neither a source nor answered for.
    assert_eq!(i.select_source(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 3))), Some(IpAddr::V6(US)));
    let mut tx3 = Frames::default();
    i.handle_frame(Instant::from_millis(1100), &ns(PEER, a2, 255), &mut tx3);
    assert!(tx3.0.is_empty());
}

#[test]
fn slaac_forms_an_address_from_a_router_advertisement() {
    let mut i = Interface::new(InterfaceConfig { mac: OUR_MAC, slaac: true, ..Default::default() });
    let ll = wire::ipv6::link_local_from_mac(OUR_MAC);
    assert!(i.ipv6().find(&ll).is_some(), "a link-local address from the MAC");
    let mut tx = Frames::default();
    i.poll_transmit(Instant::ZERO, &mut tx);
    assert!(tx.0.iter().any(|f| sent_icmp6(f).1.dst == wire::ipv6::ALL_ROUTERS), "a router solicitation");
    i.poll_transmit(Instant::from_millis(1000), &mut tx);
    assert_eq!(i.ipv6().find(&ll).unwrap().state, AddrState::Preferred);
    let prefix: Ipv6Addr = "2001:db8:1::".parse().unwrap();
    let t = Instant::from_millis(2000);
    i.handle_frame(t, &router_advert(prefix, Some(1400)), &mut tx);
    let addr = wire::ipv6::with_interface_id(&prefix, wire::ipv6::eui64_interface_id(OUR_MAC));
    assert!(matches!(i.ipv6().find(&addr).unwrap().state, AddrState::Tentative { optimistic: false, .. }));
    assert_eq!(i.ipv6().routers[0].addr, PEER_LL, "a default router");
    assert_eq!(i.ipv6().ra_mtu, Some(1400));
    assert_eq!(i.ipv6().next_hop(&"2001:db8:7::1".parse().unwrap(), t), Some(PEER_LL), "off-link via the router");
    tx.0.clear();
    i.poll_transmit(t, &mut tx);
    i.poll_transmit(t + Duration::from_millis(1000), &mut tx);
    assert_eq!(i.ipv6().find(&addr).unwrap().state, AddrState::Preferred);
    let mut ev = Vec::new();
    i.take_address_events(|a, ok| ev.push((a, ok)));
    assert!(ev.contains(&(addr, true)));
}

proptest::proptest! {
    /// Arbitrary IPv6 packets (any next header and extension-header bytes,
    /// fragments with any offset and flags, NDP/ICMPv6 bodies with any hop
    /// limit, from many sources) through the whole interface never panic; the
    /// neighbour cache, its packet queue and the reassembly memory stay within
    /// their bounds, and nothing larger than the MTU is sent.
    #[test]
    fn arbitrary_ipv6_frames_never_panic_and_stay_bounded(
        seq in proptest::collection::vec(
            (0u8..6, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1400), proptest::prelude::any::<u8>(), 0u16..64, 0u64..1500),
            1..150,
        )
    ) {
        let frag = crate::frag::FragConfig { timeout: Duration::from_millis(1500), max_bytes: 8 * crate::frag::CHUNK, max_datagrams: 3 };
        let mut i = Interface::new(InterfaceConfig { mac: OUR_MAC, ipv6: vec![(US, 64)], slaac: true, frag, nd_capacity: 8, ..Default::default() });
        i.udp_mut().bind(7).unwrap();
        let mut tx = Frames::default();
        let mut now = Instant::ZERO;
        for (kind, bytes, hl, src, dt) in seq {
            now += Duration::from_millis(dt);
            let src6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 1, src);
            let nh = [protocol::IPV6_FRAG, protocol::HOP_BY_HOP, protocol::ICMPV6, protocol::UDP, protocol::TCP, protocol::IPV6_OPTS][usize::from(kind)];
            let dst = if hl & 1 == 0 { US } else { wire::ipv6::ALL_NODES };
            let mut body = bytes.clone();
            if nh == protocol::ICMPV6 && body.len() >= 4 {
                // Valid checksums sometimes, so NDP/echo paths are reached.
                body[0] = 128 + (body[0] % 10);
                body[1] = 0;
                body[2] = 0;
                body[3] = 0;
                let mut p = IcmpPacket::new_unchecked(&mut body[..]);
                p.fill_checksum(&src6, &dst);
            }
            let mac = if dst.is_multicast() { wire::ipv6::multicast_mac(&dst) } else { OUR_MAC };
            i.handle_frame(now, &frame6(mac, src6, dst, nh, if hl & 2 == 0 { 255 } else { hl }, &body), &mut tx);
            // Our own traffic to many neighbours, to fill the cache and its queues.
            let _ = i.send_udp(now, SocketAddr::new(IpAddr::V6(US), 7), SocketAddr::new(IpAddr::V6(src6), 9), &bytes, &mut tx);
            if i.poll_timeout().is_some_and(|t| t <= now) {
                i.poll_transmit(now, &mut tx);
            }
            proptest::prop_assert!(i.neighbours6().len() <= 8);
            proptest::prop_assert!(i.neighbours6().queued_bytes() <= crate::ndp::QUEUE_BYTES);
            proptest::prop_assert!(i.reassembler6().bytes_held() <= i.reassembler6().capacity_bytes());
            proptest::prop_assert!(i.ipv6().addrs.len() <= crate::ipv6::MAX_ADDRS);
            for f in tx.0.drain(..) {
                proptest::prop_assert!(f.len() <= 1514, "sent a {}-byte frame", f.len());
            }
        }
    }
}

/// TCP over IPv6: a SYN to a listener gets a SYN-ACK from our address whose MSS
/// leaves room for the 40-byte IPv6 header (1440 on a 1500-byte link, RFC 9293
/// §3.7.1), with a valid checksum over the IPv6 pseudo-header.
#[test]
fn tcp_syn_over_ipv6_gets_a_syn_ack_with_the_ipv6_mss() {
    let mut i = iface();
    i.tcp_mut().listen(7).unwrap();
    let mut tx = Frames::default();
    let now = Instant::from_millis(2000);
    // The peer is known from its solicitation (STALE: used at once).
    i.handle_frame(now, &ns(PEER, US, 255), &mut tx);
    tx.0.clear();
    let syn = wire::tcp::TcpRepr {
        src_port: 40000,
        dst_port: 7,
        seq: 1000,
        ack: 0,
        flags: wire::tcp::TcpFlags::SYN,
        window: 65535,
        urgent: 0,
        options: wire::tcp::TcpOptions { mss: Some(1440), ..Default::default() },
        payload: &[],
    };
    let (s, d) = (IpAddr::V6(PEER), IpAddr::V6(US));
    let mut b = vec![0u8; syn.buffer_len()];
    syn.emit(&mut wire::tcp::TcpPacket::new_unchecked(&mut b[..]), &s, &d, ChecksumMode::Full);
    i.handle_frame(now, &frame6(OUR_MAC, PEER, US, protocol::TCP, 64, &b), &mut tx);
    i.poll_transmit(now, &mut tx);
    assert_eq!(tx.0.len(), 1, "one SYN-ACK");
    let (e, ip, body) = sent_icmp6(&tx.0[0]);
    assert_eq!((e.dst.0, ip.src, ip.dst, ip.next_header), (PEER_MAC, US, PEER, protocol::TCP));
    let seg = wire::tcp::TcpPacket::new_checked(&body[..]).unwrap();
    let r = wire::tcp::TcpRepr::parse(&seg, &d, &s, ChecksumMode::Full).expect("checksum over the IPv6 pseudo-header");
    assert_eq!(r.flags, wire::tcp::TcpFlags::SYN | wire::tcp::TcpFlags::ACK);
    assert_eq!(r.options.mss, Some(1440));
}

/// RFC 3810 §6.2: a general MLD query is answered by a report of our
/// solicited-node groups; a query with another hop limit than 1 is dropped.
#[test]
fn mld_general_query_is_answered_with_a_report() {
    let mut i = iface();
    let mut tx = Frames::default();
    let now = Instant::from_millis(5000);
    let q = wire::mld::MldRepr::Query { max_resp_code: 1000, mcast_addr: Ipv6Addr::UNSPECIFIED, v2: None };
    let m = icmp6(PEER_LL, wire::ipv6::ALL_NODES, &Icmpv6Repr::Mld(q));
    let all = wire::ipv6::multicast_mac(&wire::ipv6::ALL_NODES);
    i.handle_frame(now, &frame6(all, PEER_LL, wire::ipv6::ALL_NODES, protocol::ICMPV6, 64, &m), &mut tx);
    assert_eq!(i.stats().drops_of(DropReason::Icmpv6Malformed), 1, "hop limit 64");
    let before = i.stats().mld_reports;
    i.handle_frame(now, &frame6(all, PEER_LL, wire::ipv6::ALL_NODES, protocol::ICMPV6, 1, &m), &mut tx);
    assert_eq!(i.poll_timeout(), Some(now));
    i.poll_transmit(now, &mut tx);
    assert_eq!(i.stats().mld_reports, before + 1);
    let (_, ip, body) = sent_icmp6(tx.0.last().unwrap());
    assert_eq!((ip.dst, ip.hop_limit), (wire::ipv6::ALL_MLDV2_ROUTERS, 1));
    let v = IcmpPacket::new_checked(&body[8..]).unwrap();
    assert!(v.verify_checksum(&ip.src, &ip.dst));
    match wire::mld::MldRepr::parse(&v).unwrap() {
        wire::mld::MldRepr::Report { records } => {
            let groups: Vec<Ipv6Addr> = records.iter().map(|r| r.mcast_addr).collect();
            assert_eq!(groups, vec![wire::ipv6::solicited_node(&US)]);
        }
        other => panic!("{other:?}"),
    }
}

/// RFC 8200 §4.2 and §4.4 with RFC 4443 §3.4: an unknown option whose action
/// bits ask for it, or a routing header with segments left (we route nothing),
/// draws a Parameter Problem pointing at the offending byte; action 11 stays
/// silent towards a multicast destination, action 10 does not (§2.4 (e.3)).
#[test]
fn unknown_options_and_routing_headers_draw_parameter_problems() {
    let mut i = iface();
    let mut tx = Frames::default();
    let now = Instant::from_millis(2000);
    i.handle_frame(now, &ns(PEER, US, 255), &mut tx);
    let all: Ipv6Addr = "ff02::1".parse().unwrap();
    let opts = |ty: u8| [protocol::UDP, 0, 0x01, 0x00, ty, 2, 0, 0];
    let rh = [protocol::UDP, 0, 0, 1, 0, 0, 0, 0];
    // (destination, extension header, its bytes, the Parameter Problem's code and pointer)
    type Case = (Ipv6Addr, u8, Vec<u8>, Option<(u8, u32)>);
    let cases: [Case; 5] = [
        (US, protocol::IPV6_OPTS, opts(0x80).to_vec(), Some((wire::icmpv6::param_problem::UNRECOGNIZED_OPTION, 44))),
        (US, protocol::IPV6_OPTS, opts(0xc0).to_vec(), Some((wire::icmpv6::param_problem::UNRECOGNIZED_OPTION, 44))),
        (all, protocol::IPV6_OPTS, opts(0xc0).to_vec(), None),
        (all, protocol::IPV6_OPTS, opts(0x80).to_vec(), Some((wire::icmpv6::param_problem::UNRECOGNIZED_OPTION, 44))),
        (US, protocol::IPV6_ROUTE, rh.to_vec(), Some((wire::icmpv6::param_problem::ERRONEOUS_FIELD, 42))),
    ];
    for (k, (dst, nh, ext, want)) in cases.into_iter().enumerate() {
        tx.0.clear();
        let mac = if dst.is_multicast() { wire::ipv6::multicast_mac(&dst) } else { OUR_MAC };
        i.handle_frame(now + Duration::from_secs(k as u64), &frame6(mac, PEER, dst, nh, 64, &ext), &mut tx);
        match want {
            None => assert!(tx.0.is_empty(), "case {k}: silent"),
            Some((code, pointer)) => {
                assert_eq!(tx.0.len(), 1, "case {k}: one error");
                let (_, ip, body) = sent_icmp6(&tx.0[0]);
                assert_eq!((ip.src, ip.dst), (US, PEER), "case {k}: from our unicast address");
                let v = IcmpPacket::new_checked(&body[..]).unwrap();
                match Icmpv6Repr::parse(&ip.src, &ip.dst, &v, ChecksumMode::Full).unwrap() {
                    Icmpv6Repr::ParamProblem { code: c, pointer: p, data } => {
                        assert_eq!((c, p), (code, pointer), "case {k}");
                        assert_eq!(&data[40..], &ext[..], "case {k}: the invoking packet quoted");
                    }
                    other => panic!("case {k}: {other:?}"),
                }
            }
        }
    }
    assert_eq!(i.stats().drops_of(DropReason::Ipv6BadExtHeader), 5);
}


/// Found by the `iface` fuzz target (stack/fuzz): a Router Advertisement whose
/// prefix is multicast (`ffff:2001:db8::/64`, A and L flags) made SLAAC form the
/// "address" `ffff:2001:db8::ff:fe00:2` and probe it with a Neighbor
/// Solicitation for a multicast target, which RFC 4861 §7.1.1 forbids. Like
/// Linux (`addrconf_prefix_rcv` ignores multicast and link-local prefixes), the
/// prefix is ignored: no address, no on-link prefix, nothing sent for it.
#[test]
fn slaac_ignores_a_multicast_prefix() {
    let mut i = Interface::new(InterfaceConfig { mac: OUR_MAC, slaac: true, ..Default::default() });
    let mut tx = Frames::default();
    i.poll_transmit(Instant::ZERO, &mut tx);
    i.poll_transmit(Instant::from_millis(1000), &mut tx);
    let prefix: Ipv6Addr = "ffff:2001:db8::".parse().unwrap();
    let t = Instant::from_millis(2000);
    i.handle_frame(t, &router_advert(prefix, None), &mut tx);
    let addr = wire::ipv6::with_interface_id(&prefix, wire::ipv6::eui64_interface_id(OUR_MAC));
    assert!(i.ipv6().find(&addr).is_none(), "an address formed from a multicast prefix");
    assert!(i.ipv6().prefixes.iter().all(|p| p.prefix != prefix), "a multicast prefix taken as on-link");
    tx.0.clear();
    i.poll_transmit(t, &mut tx);
    i.poll_transmit(t + Duration::from_millis(1000), &mut tx);
    for f in &tx.0 {
        let (_, _, body) = sent_icmp6(f);
        let p = wire::icmpv6::Packet::new_checked(&body[..]).unwrap();
        if p.msg_type() == wire::icmpv6::message::NEIGHBOR_SOLICIT {
            assert_ne!(&body[8..24], &addr.octets()[..], "a probe for the multicast address");
        }
    }
}
