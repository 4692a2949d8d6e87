//! The `iface_ipv4` target.
//!
//! `Interface::handle_frame` on a sequence of frames that carry a valid Ethernet
//! and IPv4 header addressed to the interface (from its already-resolved peer),
//! so the fuzzer spends its time in ICMP, UDP and TCP rather than in the outer
//! headers. Per step the input chooses the protocol and whether the harness fixes
//! the L4 checksum, the TCP ports (peer port → the listening port) and the TCP
//! sequence / acknowledgment numbers (to what the interface last sent, so
//! handshakes complete and data is acceptable); application calls (send, recv,
//! close) and time steps are interleaved. Every frame the interface sends
//! must parse back.

use crate::check::CheckSink;
use crate::iface::{interface, run_timers, IFACE_IP, IFACE_MAC, LISTEN_PORT, PEER_IP, PEER_MAC};
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use core::net::IpAddr;
use proto::time::{Duration, Instant};
use wire::ethernet::{ethertype, EthernetAddress, EthernetRepr, Frame};
use wire::ip::protocol;
use wire::ipv4::{self, Ipv4Repr};

#[derive(Arbitrary, Debug)]
enum Step {
    /// A TCP segment: `body` is the TCP header and data.
    Tcp { fix_ports: bool, track: bool, fix_checksum: bool, body: Vec<u8> },
    /// An ICMP message.
    Icmp { fix_checksum: bool, body: Vec<u8> },
    /// A UDP datagram.
    Udp { fix_checksum: bool, body: Vec<u8> },
    /// Any other IP protocol.
    Proto { proto: u8, body: Vec<u8> },
    /// An IPv4 packet with a fuzzer-made header (still in a valid Ethernet frame).
    RawIpv4 { body: Vec<u8> },
    /// Time passes (milliseconds), then `poll_transmit`.
    Wait { ms: u16 },
    /// The application sends `len` bytes on the newest connection.
    Send { len: u16 },
    /// The application reads up to `len` bytes.
    Recv { len: u16 },
    /// The application closes (FIN) the newest connection.
    Close,
}

struct Peer {
    /// The next sequence number the peer should send (what the interface acked).
    seq: u32,
    /// What the peer acknowledges (the end of what the interface sent).
    ack: u32,
    seen: usize,
}

impl Peer {
    fn learn(&mut self, sink: &CheckSink) {
        for s in &sink.sent[self.seen..] {
            if let Some(t) = s.tcp() {
                self.seq = t.ack;
                self.ack = t.seq.wrapping_add(t.seg_len());
            }
        }
        self.seen = sink.sent.len();
    }
}

fn frame(proto: u8, body: &[u8]) -> Vec<u8> {
    peer_frame(proto, body.len(), |b| b.copy_from_slice(body))
}

/// A frame from the peer to the interface: Ethernet, IPv4 (`proto`, DF, TTL
/// 64), and `l4_len` transport bytes written by `fill`.
pub(crate) fn peer_frame(proto: u8, l4_len: usize, fill: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let ip = Ipv4Repr {
        src: PEER_IP,
        dst: IFACE_IP,
        protocol: proto,
        payload_len: l4_len,
        ttl: 64,
        ident: 1,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        dscp_ecn: 0,
    };
    raw(ip.buffer_len(), |b| {
        let mut p = ipv4::Packet::new_unchecked(b);
        ip.emit(&mut p, wire::ChecksumMode::Full);
        fill(p.payload_mut());
    })
}

fn raw(l3_len: usize, fill: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let eth = EthernetRepr { src: EthernetAddress(PEER_MAC), dst: EthernetAddress(IFACE_MAC), vlan: None, ethertype: ethertype::IPV4 };
    let mut f = vec![0u8; eth.buffer_len(l3_len)];
    let mut fr = Frame::new_unchecked(&mut f[..]);
    eth.emit(&mut fr);
    fill(fr.payload_mut());
    f
}

/// Run the target on `data`, decoded (`arbitrary`) into up to 64 steps.
pub fn run(data: &[u8]) {
    let Ok(steps) = Vec::<Step>::arbitrary_take_rest(Unstructured::new(data)) else { return };

    let mut sink = CheckSink::default();
    let mut now = Instant::from_millis(1000);
    let mut ifc = interface(now, &mut sink);
    let mut peer = Peer { seq: 0, ack: 0, seen: 0 };
    let mut conn = None;
    let (src, dst) = (IpAddr::V4(PEER_IP), IpAddr::V4(IFACE_IP));
    let mut buf = vec![0u8; 65536];
    for step in steps.into_iter().take(64) {
        peer.learn(&sink);
        match step {
            Step::Tcp { fix_ports, track, fix_checksum, mut body } => {
                if body.len() >= 20 {
                    if fix_ports {
                        body[0..2].copy_from_slice(&40000u16.to_be_bytes());
                        body[2..4].copy_from_slice(&LISTEN_PORT.to_be_bytes());
                    }
                    if track {
                        body[4..8].copy_from_slice(&peer.seq.to_be_bytes());
                        body[8..12].copy_from_slice(&peer.ack.to_be_bytes());
                    }
                    if fix_checksum {
                        wire::tcp::TcpPacket::new_unchecked(&mut body[..]).fill_checksum(&src, &dst);
                    }
                }
                ifc.handle_frame(now, &frame(protocol::TCP, &body), &mut sink);
            }
            Step::Icmp { fix_checksum, mut body } => {
                if fix_checksum && body.len() >= 8 {
                    wire::icmpv4::Packet::new_unchecked(&mut body[..]).fill_checksum();
                }
                ifc.handle_frame(now, &frame(protocol::ICMP, &body), &mut sink);
            }
            Step::Udp { fix_checksum, mut body } => {
                if fix_checksum && body.len() >= 8 {
                    let len = body.len().min(usize::from(u16::MAX)) as u16;
                    body[4..6].copy_from_slice(&len.to_be_bytes());
                    wire::udp::Packet::new_unchecked(&mut body[..]).fill_checksum(&src, &dst);
                }
                ifc.handle_frame(now, &frame(protocol::UDP, &body), &mut sink);
            }
            Step::Proto { proto, body } => ifc.handle_frame(now, &frame(proto, &body), &mut sink),
            Step::RawIpv4 { body } => {
                ifc.handle_frame(now, &raw(body.len(), |b| b.copy_from_slice(&body)), &mut sink)
            }
            Step::Wait { ms } => now += Duration::from_millis(u64::from(ms)),
            Step::Send { len } => {
                if let Some(c) = conn {
                    let _ = ifc.tcp_mut().send(c, &buf[..usize::from(len)]);
                }
            }
            Step::Recv { len } => {
                if let Some(c) = conn {
                    let _ = ifc.tcp_mut().recv(c, &mut buf[..usize::from(len)]);
                }
            }
            Step::Close => {
                if let Some(c) = conn {
                    let _ = ifc.tcp_mut().close(c);
                }
            }
        }
        ifc.poll_transmit(now, &mut sink);
        while let Some(e) = ifc.tcp_mut().poll_event() {
            match e {
                proto::tcp::TcpEvent::Accepted { conn: c, .. } => conn = Some(c),
                proto::tcp::TcpEvent::Closed { conn: c, .. } if Some(c) == conn => conn = None,
                _ => {}
            }
        }
    }
    run_timers(&mut ifc, now, 16, &mut sink);
}
