//! Interface-level ARP tests: packets queued while resolving and released by the
//! reply (here or from another core), retries and failure reaching the sender,
//! static entries, gratuitous ARP bytes.

use crate::Frames;
use crate::arp::{FAILED_HOLD, QUEUE_PER_NEIGHBOUR};
use crate::iface::{Interface, InterfaceConfig};
use crate::stats::DropReason;
use crate::time::{Duration, Instant};
use crate::udp::UdpError;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use wire::arp::{ArpOperation, ArpRepr};
use wire::ethernet::{ethertype, EthernetAddress, EthernetRepr, Frame};
use wire::ipv4::{Ipv4Repr, Packet as Ipv4Packet};
use wire::ChecksumMode;

const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

fn iface() -> Interface {
    Interface::new(InterfaceConfig { mac: OUR_MAC, ipv4: vec![(US, 24)], ..Default::default() })
}

/// An ARP frame from the peer.
fn arp_from_peer(operation: ArpOperation, sender_mac: [u8; 6], target_ip: Ipv4Addr) -> Vec<u8> {
    let a = ArpRepr { operation, source_hw: EthernetAddress(sender_mac), source_ip: PEER, target_hw: EthernetAddress(OUR_MAC), target_ip };
    let e = EthernetRepr { src: EthernetAddress(sender_mac), dst: EthernetAddress(OUR_MAC), vlan: None, ethertype: ethertype::ARP };
    let mut b = vec![0u8; e.buffer_len(a.buffer_len())];
    let mut f = Frame::new_unchecked(&mut b[..]);
    e.emit(&mut f);
    a.emit(&mut wire::arp::Packet::new_unchecked(f.payload_mut()));
    b
}

/// The ARP packets among `frames`, with their Ethernet destination.
fn arps(frames: &[Vec<u8>]) -> Vec<(EthernetAddress, ArpRepr)> {
    frames
        .iter()
        .filter_map(|f| {
            let f = Frame::new_checked(&f[..]).ok()?;
            let e = EthernetRepr::parse(&f).ok()?;
            (e.ethertype == ethertype::ARP).then(|| (e.dst, ArpRepr::parse(&wire::arp::Packet::new_checked(f.payload()).unwrap()).unwrap()))
        })
        .collect()
}

/// The UDP payloads among `frames`, with their Ethernet destination.
fn udp_payloads(frames: &[Vec<u8>]) -> Vec<(EthernetAddress, Vec<u8>)> {
    frames
        .iter()
        .filter_map(|f| {
            let f = Frame::new_checked(&f[..]).ok()?;
            let e = EthernetRepr::parse(&f).ok()?;
            if e.ethertype != ethertype::IPV4 {
                return None;
            }
            let p = Ipv4Packet::new_checked(f.payload()).unwrap();
            let ip = Ipv4Repr::parse(&p, ChecksumMode::Full).expect("valid IPv4 header checksum");
            let u = wire::udp::Packet::new_checked(p.payload()).unwrap();
            let r = wire::udp::UdpRepr::parse(&u, &IpAddr::V4(ip.src), &IpAddr::V4(ip.dst), ChecksumMode::Full).expect("valid UDP checksum");
            Some((e.dst, r.payload.to_vec()))
        })
        .collect()
}

fn send(i: &mut Interface, now: Instant, n: u8, tx: &mut Frames) -> Result<(), UdpError> {
    i.send_udp(now, SocketAddr::from((US, 5000)), SocketAddr::from((PEER, 7)), &[n; 20], tx)
}

/// Datagrams to an unresolved neighbour wait (one ARP request, at most
/// QUEUE_PER_NEIGHBOUR kept, the oldest dropped and counted) and leave, in
/// order and byte-exact, to the MAC of the reply.
#[test]
fn queued_datagrams_leave_on_the_reply() {
    let mut i = iface();
    let mut tx = Frames::default();
    let t = Instant::from_millis(1000);
    for n in 0..QUEUE_PER_NEIGHBOUR as u8 + 2 {
        assert_eq!(send(&mut i, t, n, &mut tx), Ok(()));
    }
    let a = arps(&tx.0);
    assert_eq!(a.len(), 1, "one request for all: {a:?}");
    assert_eq!((a[0].0, a[0].1.operation, a[0].1.source_ip, a[0].1.target_ip), (EthernetAddress::BROADCAST, ArpOperation::Request, US, PEER));
    assert!(udp_payloads(&tx.0).is_empty(), "nothing sent before the reply");
    assert_eq!(i.stats().drops_of(DropReason::ArpQueueFull), 2);
    assert_eq!(i.arp().queued(PEER), QUEUE_PER_NEIGHBOUR);
    tx.0.clear();
    i.handle_frame(t + Duration::from_millis(5), &arp_from_peer(ArpOperation::Reply, PEER_MAC, US), &mut tx);
    let sent = udp_payloads(&tx.0);
    let want: Vec<(EthernetAddress, Vec<u8>)> = (2..QUEUE_PER_NEIGHBOUR as u8 + 2).map(|n| (EthernetAddress(PEER_MAC), vec![n; 20])).collect();
    assert_eq!(sent, want);
    assert_eq!(i.arp().queued_bytes(), 0);
    // Resolved now: straight out.
    tx.0.clear();
    assert_eq!(send(&mut i, t + Duration::from_millis(6), 9, &mut tx), Ok(()));
    assert_eq!(udp_payloads(&tx.0), vec![(EthernetAddress(PEER_MAC), vec![9; 20])]);
}

/// A neighbour resolved on another core (published, applied with
/// `learn_neighbour`) releases this core's queue at the next poll_transmit.
#[test]
fn queue_released_by_a_neighbour_from_another_core() {
    let mut i = iface();
    let mut tx = Frames::default();
    let t = Instant::from_millis(1000);
    assert_eq!(send(&mut i, t, 1, &mut tx), Ok(()));
    assert!(i.learn_neighbour(t, IpAddr::V4(PEER), PEER_MAC));
    assert!(i.poll_timeout().is_some_and(|d| d <= t), "packets ready: poll now");
    tx.0.clear();
    i.poll_transmit(t, &mut tx);
    assert_eq!(udp_payloads(&tx.0), vec![(EthernetAddress(PEER_MAC), vec![1; 20])]);
}

/// RFC 1122 §2.3.2.1: retries at 1 s and 3 s (no more than one a second), then
/// FAILED: queued datagrams dropped and counted, new sends refused with
/// HostUnreachable and no request, until the hold is over.
#[test]
fn retries_then_failure_reaches_the_sender() {
    let mut i = iface();
    let mut tx = Frames::default();
    let t0 = Instant::from_millis(1000);
    assert_eq!(send(&mut i, t0, 1, &mut tx), Ok(()));
    assert_eq!(send(&mut i, t0 + Duration::from_millis(300), 2, &mut tx), Ok(()));
    let mut t = t0;
    let mut times = Vec::new();
    while t < t0 + Duration::from_secs(10) {
        let before = i.stats().arp_requests;
        if let Some(due) = i.poll_timeout() {
            if due <= t {
                i.poll_transmit(t, &mut tx);
            }
        }
        if i.stats().arp_requests != before {
            times.push((t - t0).as_millis());
        }
        t += Duration::from_millis(50);
    }
    assert_eq!(times, vec![1000, 3000], "retries after the first request at 0");
    assert_eq!(i.stats().arp_requests, 3);
    assert_eq!(i.stats().drops_of(DropReason::ArpResolveFailed), 2, "both queued datagrams dropped");
    assert!(udp_payloads(&tx.0).is_empty());
    assert_eq!(send(&mut i, t, 3, &mut tx), Err(UdpError::HostUnreachable));
    assert_eq!(i.send_echo(t, IpAddr::V4(PEER), 1, 1, b"ping", &mut tx), Err(UdpError::HostUnreachable));
    assert_eq!(i.stats().arp_requests, 3, "no request while FAILED");
    assert_eq!(i.poll_timeout(), None);
    // After the hold a new resolution starts.
    let later = t0 + Duration::from_secs(7) + FAILED_HOLD;
    assert_eq!(send(&mut i, later, 4, &mut tx), Ok(()));
    assert_eq!(i.stats().arp_requests, 4);
}

/// Static entries are used without any request, and neither an ARP reply nor a
/// request from another MAC changes them.
#[test]
fn static_entry_not_overwritten() {
    let mut i = Interface::new(InterfaceConfig { mac: OUR_MAC, ipv4: vec![(US, 24)], static_arp: vec![(PEER, PEER_MAC)], ..Default::default() });
    let mut tx = Frames::default();
    let t = Instant::from_millis(1000);
    let spoof = [0x02, 0xee, 0, 0, 0, 0x66];
    i.handle_frame(t, &arp_from_peer(ArpOperation::Reply, spoof, US), &mut tx);
    i.handle_frame(t, &arp_from_peer(ArpOperation::Request, spoof, US), &mut tx);
    let far = t + Duration::from_secs(3600);
    tx.0.clear();
    assert_eq!(send(&mut i, far, 1, &mut tx), Ok(()));
    assert_eq!(udp_payloads(&tx.0), vec![(EthernetAddress(PEER_MAC), vec![1; 20])]);
    assert_eq!(i.stats().arp_requests, 0);
    // Also when added later, and learn_neighbour from another core keeps it.
    let other = Ipv4Addr::new(198, 18, 0, 9);
    assert!(i.add_static_arp(other, [0x02, 0, 0, 0, 0, 9]));
    i.learn_neighbour(far, IpAddr::V4(other), spoof);
    assert_eq!(i.arp().get(far, other), Some([0x02, 0, 0, 0, 0, 9]));
}

/// RFC 5227 §3: an announcement is a broadcast ARP request with sender and
/// target IP both ours, target MAC zero; one per address, also for an address
/// added later (`add_ipv4`).
#[test]
fn gratuitous_arp_frame_format() {
    let mut i = iface();
    let mut tx = Frames::default();
    i.announce_ipv4(&mut tx);
    assert_eq!(tx.0.len(), 1);
    let want: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 2, 0x08, 0x06, // Ethernet
        0, 1, 0x08, 0, 6, 4, 0, 1, // Ethernet/IPv4, request
        2, 0, 0, 0, 0, 2, 198, 18, 0, 2, // sender
        0, 0, 0, 0, 0, 0, 198, 18, 0, 2, // target
    ];
    assert_eq!(&tx.0[0][..42], &want[..]);
    assert_eq!((i.stats().arp_announcements, i.stats().arp_requests), (1, 0));
    tx.0.clear();
    let added = Ipv4Addr::new(198, 18, 1, 5);
    assert!(i.add_ipv4(added, 24, &mut tx));
    assert!(!i.add_ipv4(added, 24, &mut tx), "already ours");
    let a = arps(&tx.0);
    assert_eq!(a.len(), 1);
    assert_eq!((a[0].0, a[0].1.source_ip, a[0].1.target_ip, a[0].1.target_hw), (EthernetAddress::BROADCAST, added, added, EthernetAddress([0; 6])));
    assert!(i.ipv4_addrs().contains(&(added, 24)));
    // Another host's announcement updates its entry, is not a drop and gets no answer.
    let mut peer = iface();
    let mut out = Frames::default();
    peer.handle_frame(Instant::from_millis(1), &arp_from_peer(ArpOperation::Request, PEER_MAC, US), &mut out);
    assert!(peer.arp().get(Instant::from_millis(1), PEER).is_some());
    let a = ArpRepr { operation: ArpOperation::Request, source_hw: EthernetAddress([2, 0, 0, 0, 0, 0x77]), source_ip: PEER, target_hw: EthernetAddress([0; 6]), target_ip: PEER };
    let e = EthernetRepr { src: a.source_hw, dst: EthernetAddress::BROADCAST, vlan: None, ethertype: ethertype::ARP };
    let mut b = vec![0u8; e.buffer_len(a.buffer_len())];
    let mut f = Frame::new_unchecked(&mut b[..]);
    e.emit(&mut f);
    a.emit(&mut wire::arp::Packet::new_unchecked(f.payload_mut()));
    out.0.clear();
    peer.handle_frame(Instant::from_millis(2), &b, &mut out);
    assert!(out.0.is_empty());
    assert_eq!(peer.stats().total_drops(), 0);
    assert_eq!(peer.arp().get(Instant::from_millis(2), PEER), Some([2, 0, 0, 0, 0, 0x77]));
}

/// The IPv4 fragments among `frames`: (offset, more fragments, ident, payload).
fn fragments(frames: &[Vec<u8>]) -> Vec<(usize, bool, u16, Vec<u8>)> {
    frames
        .iter()
        .filter_map(|f| {
            let f = Frame::new_checked(&f[..]).ok()?;
            let e = EthernetRepr::parse(&f).ok()?;
            if e.ethertype != ethertype::IPV4 {
                return None;
            }
            assert_eq!(e.dst, EthernetAddress(PEER_MAC));
            let p = Ipv4Packet::new_checked(f.payload()).unwrap();
            let ip = Ipv4Repr::parse(&p, ChecksumMode::Full).expect("valid IPv4 header checksum");
            Some((usize::from(ip.frag_offset), ip.more_frags, ip.ident, p.payload()[..ip.payload_len].to_vec()))
        })
        .collect()
}

/// A datagram larger than the MTU to an unresolved neighbour: every fragment
/// waits (the datagram counts as one queued packet) and all leave, in order,
/// on the reply; they make up the exact UDP datagram.
#[test]
fn a_fragmented_datagram_waits_whole_for_the_reply() {
    let mut i = iface();
    let mut tx = Frames::default();
    let t = Instant::from_millis(1000);
    let data: Vec<u8> = (0..3000u32).map(|n| (n % 251) as u8).collect();
    assert_eq!(i.send_udp(t, SocketAddr::from((US, 5000)), SocketAddr::from((PEER, 7)), &data, &mut tx), Ok(()));
    assert_eq!(send(&mut i, t, 1, &mut tx), Ok(()));
    assert_eq!(arps(&tx.0).len(), 1, "one request");
    assert!(fragments(&tx.0).is_empty(), "nothing sent before the reply");
    assert_eq!(i.arp().queued(PEER), 2, "the fragmented datagram and the small one");
    tx.0.clear();
    i.handle_frame(t + Duration::from_millis(5), &arp_from_peer(ArpOperation::Reply, PEER_MAC, US), &mut tx);
    let f = fragments(&tx.0);
    assert_eq!(f.len(), 4, "three fragments, then the small datagram");
    let mut whole = Vec::new();
    for (k, (off, mf, ident, payload)) in f[..3].iter().enumerate() {
        assert_eq!((*off, *mf, *ident), (whole.len(), k < 2, f[0].2), "fragment {k}");
        whole.extend_from_slice(payload);
    }
    assert_eq!(whole.len(), 8 + data.len());
    assert_eq!(&whole[8..], &data[..], "the fragments make up the datagram");
    assert_eq!(f[3].3[8..], [1; 20], "the small datagram after it");
    assert_eq!(i.arp().queued_bytes(), 0);
    assert_eq!(i.stats().drops_of(DropReason::TxNeighbourMiss), 0);
}

/// A fragmented datagram that does not fit the queue's byte bound even alone
/// is refused whole (a neighbour miss, counted, and `NeighbourUnresolved`: the
/// sender may try again, as `xdpstack ping` does), and no fragment of it
/// leaves on the reply.
#[test]
fn a_datagram_larger_than_the_queue_is_refused_whole() {
    let mut i = iface();
    let mut tx = Frames::default();
    let t = Instant::from_millis(1000);
    let data = vec![7u8; 65_000];
    assert_eq!(i.send_udp(t, SocketAddr::from((US, 5000)), SocketAddr::from((PEER, 7)), &data, &mut tx), Err(UdpError::NeighbourUnresolved));
    assert_eq!(i.stats().drops_of(DropReason::TxNeighbourMiss), 1, "counted once, for the datagram");
    assert_eq!(i.stats().drops_of(DropReason::ArpQueueFull), 0);
    assert_eq!(arps(&tx.0).len(), 1, "the request went out");
    assert_eq!(i.arp().queued(PEER), 0);
    tx.0.clear();
    i.handle_frame(t + Duration::from_millis(5), &arp_from_peer(ArpOperation::Reply, PEER_MAC, US), &mut tx);
    assert!(fragments(&tx.0).is_empty(), "no stray fragment");
    // Resolved: the same datagram leaves at once, in fragments.
    assert_eq!(i.send_udp(t + Duration::from_millis(6), SocketAddr::from((US, 5000)), SocketAddr::from((PEER, 7)), &data, &mut tx), Ok(()));
    assert_eq!(fragments(&tx.0).len(), (8 + data.len()).div_ceil(1480));
}
