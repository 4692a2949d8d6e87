//! The frame checker itself: what the interface sends passes, and frames broken
//! in one field each are refused (the checker can fail).

use proto::time::Instant;
use std::panic::{catch_unwind, AssertUnwindSafe};
use wire::ethernet::{EthernetAddress, EthernetRepr, Frame};
use wire::ip::protocol;
use wire::ipv4::{self, Ipv4Repr};
use wire::tcp::{TcpFlags, TcpOptions, TcpPacket, TcpRepr};
use xdpstack_fuzz::check::{check_frame, Sent};
use xdpstack_fuzz::iface::{interface, run_timers, IFACE_IP, IFACE_MAC, LISTEN_PORT, PEER_IP, PEER_MAC};

/// Records raw frames.
#[derive(Default)]
struct Raw(Vec<Vec<u8>>);

impl proto::FrameSink for Raw {
    fn send_frame(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        let mut f = vec![0u8; len];
        fill(&mut f);
        self.0.push(f);
        true
    }
}

/// What the interface sends on start (ARP reply, MLD report, NDP) and in answer
/// to a SYN (SYN-ACK).
fn sent_frames() -> Vec<Vec<u8>> {
    let mut raw = Raw::default();
    let now = Instant::from_millis(1000);
    let mut ifc = interface(now, &mut raw);
    ifc.poll_transmit(now, &mut raw);
    let now = run_timers(&mut ifc, now, 8, &mut raw);
    let syn = TcpRepr {
        src_port: 40000,
        dst_port: LISTEN_PORT,
        seq: 1000,
        ack: 0,
        flags: TcpFlags::SYN,
        window: 65535,
        urgent: 0,
        options: TcpOptions { mss: Some(1460), window_scale: Some(7), sack_permitted: true, ..TcpOptions::default() },
        payload: &[],
    };
    ifc.handle_frame(now, &ipv4_frame(&syn), &mut raw);
    ifc.poll_transmit(now, &mut raw);
    raw.0
}

fn ipv4_frame(t: &TcpRepr<'_>) -> Vec<u8> {
    let ip = Ipv4Repr { src: PEER_IP, dst: IFACE_IP, protocol: protocol::TCP, payload_len: t.buffer_len(), ttl: 64, ident: 1, dont_frag: true, more_frags: false, frag_offset: 0, dscp_ecn: 0 };
    let eth = EthernetRepr { src: EthernetAddress(PEER_MAC), dst: EthernetAddress(IFACE_MAC), vlan: None, ethertype: wire::ethernet::ethertype::IPV4 };
    let mut f = vec![0u8; eth.buffer_len(ip.buffer_len())];
    let mut fr = Frame::new_unchecked(&mut f[..]);
    eth.emit(&mut fr);
    let mut p = ipv4::Packet::new_unchecked(fr.payload_mut());
    ip.emit(&mut p, wire::ChecksumMode::Full);
    t.emit(&mut TcpPacket::new_unchecked(p.payload_mut()), &PEER_IP.into(), &IFACE_IP.into(), wire::ChecksumMode::Full);
    f
}

/// `check_frame` panics on `f` with a message containing `what`.
fn refused(f: &[u8], what: &str) {
    let e = catch_unwind(AssertUnwindSafe(|| check_frame(IFACE_MAC, f))).expect_err(what);
    let msg = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
    assert!(msg.contains(what), "refused for {msg:?}, not {what:?}");
}

fn find(frames: &[Vec<u8>], pick: impl Fn(&Sent) -> bool) -> Vec<u8> {
    frames.iter().find(|f| pick(&check_frame(IFACE_MAC, f))).expect("frame sent").clone()
}

#[test]
fn what_the_interface_sends_passes() {
    let frames = sent_frames();
    let kinds: Vec<Sent> = frames.iter().map(|f| check_frame(IFACE_MAC, f)).collect();
    assert!(kinds.iter().any(|s| matches!(s, Sent::Arp(_))), "{kinds:?}");
    assert!(kinds.iter().any(|s| matches!(s, Sent::Icmpv6(143))), "MLDv2 report: {kinds:?}");
    assert!(kinds.iter().any(|s| matches!(s, Sent::Icmpv6(135))), "DAD neighbour solicitation: {kinds:?}");
    assert!(kinds.iter().any(|s| s.tcp().is_some_and(|t| t.flags.contains(TcpFlags::SYN))), "SYN-ACK: {kinds:?}");
}

#[test]
fn broken_ipv6_frames_are_refused() {
    let frames = sent_frames();
    let mld = find(&frames, |s| matches!(s, Sent::Icmpv6(143)));
    let mut f = mld.clone();
    *f.last_mut().unwrap() ^= 1;
    refused(&f, "bad checksum");
    let mut f = mld.clone();
    f[14 + 7] = 2; // hop limit (not covered by the ICMPv6 checksum)
    refused(&f, "sent MLD with hop limit 2");
    let mut f = mld.clone();
    f.push(0);
    refused(&f, "payload length");
    let mut f = mld.clone();
    f[0] = 0x34; // not the multicast MAC of ff02::16
    refused(&f, "MAC");
    let mut f = mld;
    f[6] ^= 2; // another source MAC
    refused(&f, "source MAC");
    let ns = find(&frames, |s| matches!(s, Sent::Icmpv6(135)));
    let mut f = ns;
    f[14 + 7] = 64;
    refused(&f, "sent NDP with hop limit 64");
}

#[test]
fn broken_tcp_frames_are_refused() {
    let frames = sent_frames();
    let synack = find(&frames, |s| s.tcp().is_some_and(|t| t.flags.contains(TcpFlags::SYN)));
    let mut f = synack.clone();
    f[14 + 20 + 13] &= !TcpFlags::SYN.0; // SYN off: the MSS option stays
    let mut p = ipv4::Packet::new_unchecked(&mut f[14..]);
    TcpPacket::new_unchecked(p.payload_mut()).fill_checksum(&IFACE_IP.into(), &PEER_IP.into());
    refused(&f, "SYN-only TCP option without SYN");
    let mut f = synack.clone();
    f[14 + 20 + 16] ^= 0x10; // TCP checksum
    refused(&f, "sent TCP");
    let mut f = synack;
    f[14 + 8] = 0; // TTL (the IP header checksum must then be refused first)
    refused(&f, "sent IPv4");
}
