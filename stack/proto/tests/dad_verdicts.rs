//! An interface without the link's DAD duty (a core other than core 0) takes
//! the verdicts of the one with it: a SLAAC address stays tentative (unused)
//! until then, and a verdict that arrives before the Router Advertisement that
//! forms the address is applied when it does. Another node advertising an
//! address we use (DAD done) is counted and reported once; the address stays.

use proto::Frames;
use core::net::Ipv6Addr;
use proto::iface::{Interface, InterfaceConfig};
use proto::ipv6::AddrState;
use proto::time::Instant;

const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const ROUTER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// Our SLAAC address in 2001:db8:1::/64 (modified EUI-64 of OUR_MAC).
const SLAAC: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0xff, 0xfe00, 2);
const LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe00, 2);

/// An IPv6 frame from `src_mac` carrying the ICMPv6 message `b` (checksum filled in).
fn icmp6_frame(src_mac: [u8; 6], dst_mac: [u8; 6], src: Ipv6Addr, dst: Ipv6Addr, b: &[u8]) -> Vec<u8> {
    let mut f = dst_mac.to_vec();
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(b.len() as u16).to_be_bytes());
    f.extend_from_slice(&[58, 255]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(b);
    let mut acc: u32 = 58 + b.len() as u32;
    for c in f[22..].chunks(2) {
        acc += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    f[56..58].copy_from_slice(&(!(acc as u16)).to_be_bytes());
    f
}

/// A Router Advertisement from fe80::1 with the autonomous prefix 2001:db8:1::/64.
fn ra() -> Vec<u8> {
    let (src, dst) = (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1), Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1));
    let mut b = vec![134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1];
    b.extend_from_slice(&ROUTER_MAC);
    b.extend_from_slice(&[3, 4, 64, 0xc0]);
    b.extend_from_slice(&86_400u32.to_be_bytes());
    b.extend_from_slice(&14_400u32.to_be_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0).octets());
    icmp6_frame(ROUTER_MAC, [0x33, 0x33, 0, 0, 0, 1], src, dst, &b)
}

fn other_core() -> Interface {
    Interface::new(InterfaceConfig { mac: OUR_MAC, slaac: true, ipv6_control: false, ..Default::default() })
}

fn state(i: &Interface, a: Ipv6Addr) -> Option<AddrState> {
    i.ipv6().find(&a).map(|x| x.state)
}

#[test]
fn slaac_addresses_wait_for_the_verdict() {
    let mut i = other_core();
    let mut tx = Frames(Vec::new());
    i.poll_transmit(Instant::from_millis(1), &mut tx);
    assert!(matches!(state(&i, LL), Some(AddrState::Tentative { optimistic: false, .. })));
    i.handle_frame(Instant::from_millis(10), &ra(), &mut tx);
    assert!(matches!(state(&i, SLAAC), Some(AddrState::Tentative { optimistic: false, .. })));
    assert_eq!(i.select_source("2001:db8:1::9".parse().unwrap()), None, "a tentative address is no source");
    // No DAD of its own: still tentative much later, nothing sent.
    i.poll_transmit(Instant::from_millis(5000), &mut tx);
    assert!(matches!(state(&i, SLAAC), Some(AddrState::Tentative { .. })));
    assert!(tx.0.is_empty(), "no DAD probes, RS or MLD reports from an interface without the duty");
    i.apply_address_verdict(SLAAC, true);
    i.apply_address_verdict(LL, false);
    assert_eq!(state(&i, SLAAC), Some(AddrState::Preferred));
    assert_eq!(state(&i, LL), Some(AddrState::Duplicate));
    // A late "usable" never revives a duplicate address.
    i.apply_address_verdict(LL, true);
    assert_eq!(state(&i, LL), Some(AddrState::Duplicate));
    let mut none = Frames(Vec::new());
    i.take_address_events(|a, ok| none.0.push(vec![a.octets()[15], ok as u8]));
    assert!(none.0.is_empty(), "verdicts applied are not reported again");
}

#[test]
fn a_verdict_before_the_advertisement_is_applied_when_the_address_forms() {
    for usable in [true, false] {
        let mut i = other_core();
        let mut tx = Frames(Vec::new());
        i.apply_address_verdict(SLAAC, usable);
        assert_eq!(state(&i, SLAAC), None);
        i.handle_frame(Instant::from_millis(10), &ra(), &mut tx);
        let want = if usable { AddrState::Preferred } else { AddrState::Duplicate };
        assert_eq!(state(&i, SLAAC), Some(want));
    }
}

/// An unsolicited NA from another node for our preferred address (RFC 4862
/// §5.4.4 leaves the case open): counted every time, reported once with the
/// node's MAC, the address kept and still answered for.
#[test]
fn another_node_advertising_a_preferred_address_is_reported_once() {
    const OTHER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x77];
    let us: Ipv6Addr = "2001:db8::2".parse().unwrap();
    let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
    let mut i = Interface::new(InterfaceConfig { mac: OUR_MAC, ipv6: vec![(us, 64)], ..Default::default() });
    let mut tx = Frames(Vec::new());
    i.poll_transmit(Instant::ZERO, &mut tx);
    i.poll_transmit(Instant::from_millis(1000), &mut tx);
    assert_eq!(state(&i, us), Some(AddrState::Preferred));
    let mut b = vec![136, 0, 0, 0, 0x20, 0, 0, 0];
    b.extend_from_slice(&us.octets());
    b.extend_from_slice(&[2, 1]);
    b.extend_from_slice(&OTHER_MAC);
    let na = icmp6_frame(OTHER_MAC, [0x33, 0x33, 0, 0, 0, 1], us, all_nodes, &b);
    let mut reported = Vec::new();
    for k in 0..3 {
        i.handle_frame(Instant::from_millis(2000 + k), &na, &mut tx);
        i.take_address_conflicts(|a, m| reported.push((a, m)));
    }
    assert_eq!(reported, vec![(us, OTHER_MAC)]);
    assert_eq!(i.stats().drops_of(proto::stats::DropReason::NdpDadDuplicate), 3);
    assert_eq!(state(&i, us), Some(AddrState::Preferred), "kept");
    assert_eq!(i.select_source("2001:db8::9".parse().unwrap()), Some(us.into()));
}
