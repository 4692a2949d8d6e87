//! ICMP errors through the whole interface, as frames: a router's
//! "fragmentation needed" / "packet too big" quoting a TCP segment of ours
//! shrinks the connection's segments and resends what was dropped; UDP then
//! fragments at the path MTU; forged or stale quotes change nothing and are
//! counted; a destination unreachable ends a connection attempt (RFC 5461) and
//! is otherwise the error reported at timeout (RFC 1122 §4.2.3.9).

use crate::Frames;
use super::*;
use crate::iface::InterfaceConfig;
use crate::stats::DropReason;
use crate::tcp::{CloseReason, ConnId, TcpConfig, TcpEvent};
use crate::time::Duration;
use core::net::{Ipv4Addr, Ipv6Addr};
use wire::ethernet::{ethertype, EthernetAddress, EthernetRepr, Frame};
use wire::icmpv4::Icmpv4Repr;
use wire::icmpv6::Icmpv6Repr;
use wire::ipv4::{Ipv4Repr, Packet as Ipv4Packet};
use wire::ipv6::{Ipv6Repr, Packet as Ipv6Packet};
use wire::tcp::{TcpFlags, TcpOptions, TcpPacket, TcpRepr};
use wire::ChecksumMode;

const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const ROUTER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const US4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const ROUTER4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const FAR4: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 2);
const US6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const ROUTER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const FAR6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);

/// A packet we sent, decoded (checksums verified).
struct Sent {
    protocol: u8,
    /// The whole IP packet.
    packet: Vec<u8>,
    /// Its upper-layer part.
    body: Vec<u8>,
    dont_frag: bool,
    more_frags: bool,
}

fn decode(frame: &[u8]) -> Option<Sent> {
    let f = Frame::new_checked(frame).ok()?;
    let e = EthernetRepr::parse(&f).ok()?;
    match e.ethertype {
        ethertype::IPV4 => {
            let p = Ipv4Packet::new_checked(f.payload()).ok()?;
            let r = Ipv4Repr::parse(&p, ChecksumMode::Full).ok()?;
            let len = wire::ipv4::HEADER_LEN + r.payload_len;
            Some(Sent { protocol: r.protocol, packet: f.payload()[..len].to_vec(), body: p.payload().to_vec(), dont_frag: r.dont_frag, more_frags: r.more_frags })
        }
        ethertype::IPV6 => {
            let p = Ipv6Packet::new_checked(f.payload()).ok()?;
            let r = Ipv6Repr::parse(&p).ok()?;
            let len = wire::ipv6::HEADER_LEN + usize::from(r.payload_len);
            Some(Sent { protocol: r.next_header, packet: f.payload()[..len].to_vec(), body: p.payload().to_vec(), dont_frag: false, more_frags: false })
        }
        _ => None,
    }
}

/// The stack with a far peer behind a router (the gateway), IPv4 or IPv6.
struct Bed {
    i: Interface,
    tx: Frames,
    now: Instant,
    us: IpAddr,
    router: IpAddr,
    far: IpAddr,
}

impl Bed {
    fn new(v6: bool) -> Bed {
        let cfg = InterfaceConfig {
            mac: OUR_MAC,
            ipv4: vec![(US4, 24)],
            gateway: Some(ROUTER4),
            ipv6: vec![(US6, 64)],
            gateway6: Some(ROUTER6),
            static_arp: vec![(ROUTER4, ROUTER_MAC)],
            // No timestamps: the MSS arithmetic stays plain.
            tcp: TcpConfig { timestamps: false, ..TcpConfig::default() },
            ..Default::default()
        };
        let mut b = Bed {
            i: Interface::new(cfg),
            tx: Frames::default(),
            now: Instant::from_millis(2000),
            us: if v6 { US6.into() } else { US4.into() },
            router: if v6 { ROUTER6.into() } else { ROUTER4.into() },
            far: if v6 { FAR6.into() } else { FAR4.into() },
        };
        // DAD of US6 done; the router's MAC learned from its solicitation.
        b.i.poll_transmit(Instant::ZERO, &mut b.tx);
        b.i.poll_transmit(Instant::from_millis(1000), &mut b.tx);
        if v6 {
            let ns = Icmpv6Repr::Ndisc(wire::ndp::NdiscRepr::NeighborSolicit { target_addr: US6, lladdr: Some(ROUTER_MAC), nonce: None });
            let f = b.ip_frame(ROUTER6.into(), US6.into(), wire::ip::protocol::ICMPV6, 255, &b.icmp6_bytes(ROUTER6, US6, &ns));
            let now = b.now;
            b.i.handle_frame(now, &f, &mut b.tx);
        }
        b.tx.0.clear();
        b
    }

    fn icmp6_bytes(&self, src: Ipv6Addr, dst: Ipv6Addr, repr: &Icmpv6Repr<'_>) -> Vec<u8> {
        let mut b = vec![0u8; repr.buffer_len()];
        repr.emit(&src, &dst, &mut wire::icmpv6::Packet::new_unchecked(&mut b[..]), ChecksumMode::Full);
        b
    }

    /// A frame from the router's MAC carrying an IP packet `src → dst`.
    fn ip_frame(&self, src: IpAddr, dst: IpAddr, proto: u8, ttl: u8, payload: &[u8]) -> Vec<u8> {
        let mut ip = Vec::new();
        let et = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let r = Ipv4Repr { src: s, dst: d, protocol: proto, payload_len: payload.len(), ttl, ident: 9, dont_frag: false, more_frags: false, frag_offset: 0, dscp_ecn: 0 };
                ip.resize(r.buffer_len(), 0);
                let mut p = Ipv4Packet::new_unchecked(&mut ip[..]);
                r.emit(&mut p, ChecksumMode::Full);
                p.payload_mut().copy_from_slice(payload);
                ethertype::IPV4
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let r = Ipv6Repr { src: s, dst: d, next_header: proto, payload_len: payload.len() as u16, hop_limit: ttl, traffic_class: 0, flow_label: 0 };
                ip.resize(40 + payload.len(), 0);
                let mut p = Ipv6Packet::new_unchecked(&mut ip[..]);
                r.emit(&mut p);
                p.payload_mut()[..payload.len()].copy_from_slice(payload);
                ethertype::IPV6
            }
            _ => unreachable!(),
        };
        let e = EthernetRepr { src: EthernetAddress(ROUTER_MAC), dst: EthernetAddress(OUR_MAC), vlan: None, ethertype: et };
        let mut b = vec![0u8; e.buffer_len(ip.len())];
        let mut f = Frame::new_unchecked(&mut b[..]);
        e.emit(&mut f);
        f.payload_mut().copy_from_slice(&ip);
        b
    }

    /// A TCP segment from the far peer.
    fn far_sends(&mut self, repr: &TcpRepr<'_>) {
        let mut seg = vec![0u8; repr.buffer_len()];
        repr.emit(&mut TcpPacket::new_unchecked(&mut seg[..]), &self.far, &self.us, ChecksumMode::Full);
        let f = self.ip_frame(self.far, self.us, wire::ip::protocol::TCP, 60, &seg);
        self.i.handle_frame(self.now, &f, &mut self.tx);
    }

    /// The router's error about `quoted` (a packet we sent): ICMPv4 type 3
    /// (`code`, next-hop MTU `mtu`) or ICMPv6 packet too big (`code` 255) /
    /// destination unreachable.
    fn error_about(&mut self, quoted: &[u8], code: u8, mtu: u16) {
        let q = &quoted[..quoted.len().min(if self.us.is_ipv4() { 28 } else { 1232 })];
        let (msg, proto) = match (self.router, self.us) {
            (IpAddr::V4(_), _) => {
                let r = Icmpv4Repr::DstUnreachable { code, next_hop_mtu: mtu, quote: wire::icmpv4::Quote::new(q) };
                let mut b = vec![0u8; r.buffer_len()];
                r.emit(&mut wire::icmpv4::Packet::new_unchecked(&mut b[..]), ChecksumMode::Full);
                (b, wire::ip::protocol::ICMP)
            }
            (IpAddr::V6(r6), IpAddr::V6(u6)) => {
                let r = if code == 255 { Icmpv6Repr::PktTooBig { mtu: u32::from(mtu), data: q } } else { Icmpv6Repr::DstUnreachable { code, data: q } };
                (self.icmp6_bytes(r6, u6, &r), wire::ip::protocol::ICMPV6)
            }
            _ => unreachable!(),
        };
        let f = self.ip_frame(self.router, self.us, proto, 64, &msg);
        self.i.handle_frame(self.now, &f, &mut self.tx);
    }

    fn sent(&mut self) -> Vec<Sent> {
        self.tx.0.drain(..).filter_map(|f| decode(&f)).collect()
    }

    fn events(&mut self) -> Vec<TcpEvent> {
        core::iter::from_fn(|| self.i.tcp_mut().poll_event()).collect()
    }

    /// Connect to the far peer's port 80; it answers with MSS 1460; `len`
    /// bytes go out. Returns the connection and the data segments sent.
    fn established_with_data(&mut self, len: usize) -> (ConnId, Vec<Sent>) {
        let local = SocketAddr::new(self.us, 40000);
        let (now, far) = (self.now, self.far);
        let conn = self.i.connect(now, local, SocketAddr::new(far, 80), &mut self.tx).unwrap();
        let syn = self.sent().pop().expect("SYN");
        let syn = TcpRepr::parse(&TcpPacket::new_checked(&syn.body[..]).unwrap(), &self.us, &self.far, ChecksumMode::Full).unwrap();
        let synack = TcpRepr {
            src_port: 80,
            dst_port: 40000,
            seq: 5000,
            ack: syn.seq.wrapping_add(1),
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: 65535,
            urgent: 0,
            options: TcpOptions { mss: Some(1460), window_scale: Some(7), ..Default::default() },
            payload: &[],
        };
        self.far_sends(&synack);
        assert!(self.events().contains(&TcpEvent::Connected(conn)));
        let data: Vec<u8> = (0..len).map(|k| k as u8).collect();
        assert_eq!(self.i.tcp_mut().send(conn, &data), Ok(len));
        let now = self.now;
        self.i.poll_transmit(now, &mut self.tx);
        let segs: Vec<Sent> = self.sent().into_iter().filter(|s| s.protocol == wire::ip::protocol::TCP && s.body.len() > 20).collect();
        (conn, segs)
    }
}

fn seq_of(s: &Sent) -> u32 {
    u32::from_be_bytes([s.body[4], s.body[5], s.body[6], s.body[7]])
}

/// RFC 1191 §6.4 / RFC 8201 §5.4 through the interface, both families.
fn path_mtu_shrinks_segments_and_resends(v6: bool) {
    let mut b = Bed::new(v6);
    let (_, segs) = b.established_with_data(4000);
    let ip_hdr = if v6 { 40 } else { 20 };
    // Full-sized segments (the tail waits: Nagle).
    let mss = if v6 { 1440 } else { 1460 };
    assert_eq!(segs.len(), 2);
    assert_eq!(segs[0].packet.len(), ip_hdr + 20 + mss);
    assert!(v6 || segs[0].dont_frag, "RFC 1191: TCP segments carry DF");
    let mtu = 1300u16;
    // A forged error: right flow, sequence number not in flight.
    let mut forged = segs[0].packet.clone();
    let at = ip_hdr + 4;
    forged[at..at + 4].copy_from_slice(&(seq_of(&segs[0]).wrapping_sub(100_000)).to_be_bytes());
    b.error_about(&forged, if v6 { 255 } else { 4 }, mtu);
    assert!(b.sent().is_empty(), "nothing resent for a forged quote");
    assert_eq!(b.i.tcp().stats().icmp_out_of_window, 1);
    assert_eq!(b.i.stats().drops_of(DropReason::IcmpErrorNoFlow), 1);
    // The real one.
    b.error_about(&segs[0].packet, if v6 { 255 } else { 4 }, mtu);
    assert_eq!(b.i.stats().pmtu_updates, 1);
    assert_eq!(b.i.tcp().stats().pmtu_mss_lowered, 1);
    let resent = b.sent();
    assert!(!resent.is_empty(), "what the router dropped goes again at once");
    for s in &resent {
        assert!(s.packet.len() <= usize::from(mtu), "{} bytes on a {mtu}-byte path", s.packet.len());
    }
    // Every byte of the first segment is covered again, in pieces that fit.
    let first = seq_of(&segs[0]);
    let covered: usize = resent.iter().filter(|s| seq_of(s).wrapping_sub(first) < 4000).map(|s| s.body.len() - 20).sum();
    assert!(covered >= 2 * mss, "both full-size segments resent ({covered} bytes)");
    // The same error again changes nothing more.
    b.error_about(&segs[0].packet, if v6 { 255 } else { 4 }, mtu);
    assert_eq!(b.i.stats().pmtu_updates, 1);
    assert_eq!(b.i.tcp().stats().pmtu_mss_lowered, 1);
}

#[test]
fn frag_needed_shrinks_tcp_segments_and_resends_v4() {
    path_mtu_shrinks_segments_and_resends(false);
}

#[test]
fn packet_too_big_shrinks_tcp_segments_and_resends_v6() {
    path_mtu_shrinks_segments_and_resends(true);
}

/// A new connection to a destination with a known path MTU sends segments
/// that fit from the start, whatever MSS the peer offers.
#[test]
fn known_path_mtu_clamps_the_mss_of_a_new_connection() {
    let mut b = Bed::new(false);
    let (_, segs) = b.established_with_data(3000);
    b.error_about(&segs[0].packet, 4, 1400);
    b.sent();
    let (now, far, us) = (b.now, b.far, b.us);
    let conn = b.i.connect(now, SocketAddr::new(us, 40001), SocketAddr::new(far, 81), &mut b.tx).unwrap();
    let syn = b.sent().pop().unwrap();
    let syn = TcpRepr::parse(&TcpPacket::new_checked(&syn.body[..]).unwrap(), &us, &far, ChecksumMode::Full).unwrap();
    let synack = TcpRepr { src_port: 81, dst_port: 40001, seq: 9, ack: syn.seq.wrapping_add(1), flags: TcpFlags::SYN | TcpFlags::ACK, window: 65535, urgent: 0, options: TcpOptions { mss: Some(1460), ..Default::default() }, payload: &[] };
    b.far_sends(&synack);
    assert_eq!(b.i.tcp().negotiated(conn).unwrap().send_mss, 1400 - 40);
}

/// Errors that must not be believed (RFC 5927 §4, §7.2) are counted and change
/// nothing.
#[test]
fn unbelievable_errors_are_counted_by_reason() {
    let mut b = Bed::new(false);
    let (conn, segs) = b.established_with_data(2000);
    // Quoting a packet whose source is not ours.
    let mut other = segs[0].packet.clone();
    other[12..16].copy_from_slice(&[198, 18, 0, 77]);
    b.error_about(&other, 4, 1300);
    assert_eq!(b.i.stats().drops_of(DropReason::IcmpErrorNotOurs), 1);
    // Quoting a flow we do not have.
    let mut noflow = segs[0].packet.clone();
    noflow[20..22].copy_from_slice(&41000u16.to_be_bytes());
    b.error_about(&noflow, 4, 1300);
    assert_eq!(b.i.tcp().stats().icmp_no_connection, 1);
    // An MTU that is no reason to drop the packet.
    b.error_about(&segs[0].packet, 4, 1500);
    assert_eq!(b.i.stats().drops_of(DropReason::IcmpErrorBadMtu), 1);
    // A quote cut before the ports.
    b.error_about(&segs[0].packet[..22], 4, 1300);
    assert_eq!(b.i.stats().drops_of(DropReason::IcmpErrorMalformed), 1);
    assert_eq!(b.i.stats().pmtu_updates, 0);
    assert_eq!(b.i.tcp().stats().pmtu_mss_lowered, 0);
    assert!(b.sent().is_empty());
    // An absurdly small MTU is raised to 552 (RFC 5927 §7.1; Linux min_pmtu).
    b.error_about(&segs[0].packet, 4, 68);
    assert_eq!(b.i.tcp().negotiated(conn).unwrap().send_mss, 552 - 40);
    for s in b.sent() {
        assert!(s.packet.len() <= 552, "{}", s.packet.len());
    }
}

/// RFC 1191 §3 for UDP: a datagram that fit the link but not the path leaves
/// in fragments once the router said so.
#[test]
fn udp_fragments_at_the_path_mtu() {
    for v6 in [false, true] {
        let mut b = Bed::new(v6);
        b.i.udp_mut().bind(5353).unwrap();
        let (local, remote) = (SocketAddr::new(b.us, 5353), SocketAddr::new(b.far, 9000));
        let payload = vec![7u8; 1400];
        let now = b.now;
        b.i.send_udp(now, local, remote, &payload, &mut b.tx).unwrap();
        let first = b.sent();
        assert_eq!(first.len(), 1);
        b.error_about(&first[0].packet, if v6 { 255 } else { 4 }, 1280);
        assert_eq!(b.i.stats().pmtu_updates, 1, "v6={v6}");
        b.i.send_udp(now, local, remote, &payload, &mut b.tx).unwrap();
        let again = b.sent();
        assert_eq!(again.len(), 2, "two fragments (v6={v6})");
        assert!(again.iter().all(|s| s.packet.len() <= 1280));
        assert!(v6 || (!again[0].dont_frag && again[0].more_frags));
        // Ten minutes later the link MTU is tried again (RFC 1191 §6.3).
        let later = now + crate::pmtu::PMTU_LIFETIME;
        b.i.send_udp(later, local, remote, &payload, &mut b.tx).unwrap();
        assert_eq!(b.sent().len(), 1);
    }
}

/// RFC 5461: port unreachable about our SYN ends the attempt at once.
#[test]
fn unreachable_ends_a_connection_attempt() {
    for v6 in [false, true] {
        let mut b = Bed::new(v6);
        let (now, far, us) = (b.now, b.far, b.us);
        let conn = b.i.connect(now, SocketAddr::new(us, 40000), SocketAddr::new(far, 80), &mut b.tx).unwrap();
        let syn = b.sent().pop().unwrap();
        b.error_about(&syn.packet, if v6 { 4 } else { 3 }, 0);
        let ev = b.events();
        assert!(ev.contains(&TcpEvent::Closed { conn, reason: CloseReason::Unreachable(crate::tcp::Unreachable::Port) }), "{ev:?}");
        assert_eq!(b.i.tcp().connection_count(), 0);
    }
}

/// RFC 1122 §4.2.3.9 / RFC 5927 §5.2: on an established connection a host
/// unreachable is a soft error: the connection goes on, and reports it only if
/// it times out.
#[test]
fn soft_error_on_an_established_connection_is_reported_at_timeout() {
    let mut b = Bed::new(false);
    let (conn, segs) = b.established_with_data(1000);
    b.error_about(&segs[0].packet, 1, 0);
    assert!(b.events().is_empty(), "not aborted");
    assert_eq!(b.i.tcp().stats().icmp_soft_errors, 1);
    let mut reason = None;
    for _ in 0..200 {
        b.now += Duration::from_secs(30);
        let now = b.now;
        b.i.poll_transmit(now, &mut b.tx);
        b.tx.0.clear();
        if let Some(TcpEvent::Closed { reason: r, .. }) = b.events().into_iter().find(|e| matches!(e, TcpEvent::Closed { conn: c, .. } if *c == conn)) {
            reason = Some(r);
            break;
        }
    }
    assert_eq!(reason, Some(CloseReason::Unreachable(crate::tcp::Unreachable::Host)));
}

/// RFC 4861 §8: a Redirect from the current first hop for a destination sends
/// the next packets to it to the target (with the target's link-layer address
/// from the message); redirects failing §8.1 change nothing and are counted.
#[test]
fn ndp_redirect_from_the_first_hop_is_followed() {
    let router_ll: Ipv6Addr = "fe80::1".parse().unwrap();
    let better_ll: Ipv6Addr = "fe80::2".parse().unwrap();
    let better_mac = [0x02, 0, 0, 0, 0, 0x22];
    let cfg = InterfaceConfig { mac: OUR_MAC, ipv6: vec![(US6, 64)], gateway6: Some(router_ll), ..Default::default() };
    let mut b = Bed { i: Interface::new(cfg), tx: Frames::default(), now: Instant::from_millis(2000), us: US6.into(), router: router_ll.into(), far: FAR6.into() };
    b.i.poll_transmit(Instant::ZERO, &mut b.tx);
    b.i.poll_transmit(Instant::from_millis(1000), &mut b.tx);
    let ns = Icmpv6Repr::Ndisc(wire::ndp::NdiscRepr::NeighborSolicit { target_addr: US6, lladdr: Some(ROUTER_MAC), nonce: None });
    let f = b.ip_frame(router_ll.into(), US6.into(), wire::ip::protocol::ICMPV6, 255, &b.icmp6_bytes(router_ll, US6, &ns));
    b.i.handle_frame(b.now, &f, &mut b.tx);
    b.i.udp_mut().bind(5353).unwrap();
    let (local, remote) = (SocketAddr::new(US6.into(), 5353), SocketAddr::new(FAR6.into(), 9));
    let dst_mac = |b: &mut Bed| -> [u8; 6] {
        let now = b.now;
        b.tx.0.clear();
        b.i.send_udp(now, local, remote, b"x", &mut b.tx).unwrap();
        let f = b.tx.0.pop().expect("sent");
        EthernetRepr::parse(&Frame::new_checked(&f[..]).unwrap()).unwrap().dst.0
    };
    assert_eq!(dst_mac(&mut b), ROUTER_MAC, "via the default router");
    let redirect = |b: &mut Bed, from: Ipv6Addr, target: Ipv6Addr| {
        let r = Icmpv6Repr::Ndisc(wire::ndp::NdiscRepr::Redirect { target_addr: target, dest_addr: FAR6, lladdr: Some(better_mac), redirected_hdr: None });
        let f = b.ip_frame(from.into(), US6.into(), wire::ip::protocol::ICMPV6, 255, &b.icmp6_bytes(from, US6, &r));
        let now = b.now;
        b.i.handle_frame(now, &f, &mut b.tx);
    };
    // Not from the first hop; a global target that is not the destination.
    redirect(&mut b, "fe80::9".parse().unwrap(), better_ll);
    redirect(&mut b, router_ll, "2001:db8::99".parse().unwrap());
    assert_eq!(b.i.stats().drops_of(DropReason::NdpRedirectInvalid), 1);
    assert_eq!(b.i.stats().drops_of(DropReason::NdpMalformed), 1, "wire's §8.1 checks");
    assert_eq!(dst_mac(&mut b), ROUTER_MAC);
    redirect(&mut b, router_ll, better_ll);
    assert_eq!(b.i.stats().ndp_redirects, 1);
    assert_eq!(dst_mac(&mut b), better_mac, "RFC 4861 §8.3: the better first hop");
    // Forgotten after its lifetime.
    b.now += crate::ipv6::REDIRECT_LIFETIME;
    b.i.handle_frame(b.now, &f, &mut b.tx);
    assert_eq!(dst_mac(&mut b), ROUTER_MAC);
}
