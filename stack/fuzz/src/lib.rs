//! Helpers shared by the fuzz targets of xdpstack (see `fuzz_targets/`).
//!
//! * [`addrs`] / [`addrs_v6`]: a pseudo-header address pair taken from the front of
//!   the fuzz input, for parsers whose checksum covers the IP addresses.
//! * [`check_frame`] and [`CheckSink`]: every frame the stack sends must parse back
//!   with every checksum verified, and its lengths must agree.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use wire::arp::{self, ArpRepr};
use wire::ethernet::{ethertype, EthernetRepr, Frame};
use wire::icmpv4::{self, Icmpv4Repr};
use wire::ip::protocol;
use wire::ipv4::{self, Ipv4Repr};
use wire::tcp::{TcpPacket, TcpRepr};
use wire::ChecksumMode;

/// Addresses for a pseudo-header from the front of `data`: an even first byte
/// takes two IPv4 addresses (1 + 8 bytes), an odd one two IPv6 addresses
/// (1 + 32 bytes). Returns them and the rest.
pub fn addrs(data: &[u8]) -> Option<(IpAddr, IpAddr, &[u8])> {
    let (&sel, rest) = data.split_first()?;
    if sel & 1 == 0 {
        let a: [u8; 8] = rest.get(..8)?.try_into().ok()?;
        let s = Ipv4Addr::from([a[0], a[1], a[2], a[3]]);
        let d = Ipv4Addr::from([a[4], a[5], a[6], a[7]]);
        Some((IpAddr::V4(s), IpAddr::V4(d), &rest[8..]))
    } else {
        let (s, d, rest) = addrs_v6(rest)?;
        Some((IpAddr::V6(s), IpAddr::V6(d), rest))
    }
}

/// Two IPv6 addresses (32 bytes) from the front of `data`, and the rest.
pub fn addrs_v6(data: &[u8]) -> Option<(Ipv6Addr, Ipv6Addr, &[u8])> {
    let s: [u8; 16] = data.get(..16)?.try_into().ok()?;
    let d: [u8; 16] = data.get(16..32)?.try_into().ok()?;
    Some((Ipv6Addr::from(s), Ipv6Addr::from(d), &data[32..]))
}

/// What [`check_frame`] found in a frame the stack sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// An ARP packet.
    Arp(ArpRepr),
    /// An ICMPv4 message of this type.
    Icmp(u8),
    /// A TCP segment: ports, sequence and acknowledgment numbers, flags (the
    /// 8 low bits), sequence space occupied.
    Tcp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Sequence number.
        seq: u32,
        /// Acknowledgment number.
        ack: u32,
        /// Payload length plus SYN and FIN.
        seg_len: u32,
    },
}

/// Parse a frame the stack sent, all the way down, checksums verified; panic
/// (a fuzz finding) if it does not parse or its lengths disagree.
pub fn check_frame(f: &[u8]) -> Sent {
    let fr = Frame::new_checked(f).unwrap_or_else(|e| panic!("sent frame: Ethernet {e}: {f:02x?}"));
    let eth = EthernetRepr::parse(&fr).unwrap_or_else(|e| panic!("sent frame: Ethernet repr {e}: {f:02x?}"));
    let l3 = fr.payload();
    match eth.ethertype {
        ethertype::ARP => {
            let p = arp::Packet::new_checked(l3).unwrap_or_else(|e| panic!("sent ARP: {e}: {f:02x?}"));
            let r = ArpRepr::parse(&p).unwrap_or_else(|e| panic!("sent ARP: {e}: {f:02x?}"));
            assert_eq!(f.len(), eth.buffer_len(r.buffer_len()), "sent ARP frame length");
            Sent::Arp(r)
        }
        ethertype::IPV4 => {
            let p = ipv4::Packet::new_checked(l3).unwrap_or_else(|e| panic!("sent IPv4: {e}: {f:02x?}"));
            let ip = Ipv4Repr::parse(&p, ChecksumMode::Full).unwrap_or_else(|e| panic!("sent IPv4: {e}: {f:02x?}"));
            assert_eq!(usize::from(p.total_len()), l3.len(), "sent IPv4 total length vs frame: {f:02x?}");
            let body = p.payload();
            match ip.protocol {
                protocol::TCP => {
                    let (s, d) = (IpAddr::V4(ip.src), IpAddr::V4(ip.dst));
                    let t = TcpPacket::new_checked(body).unwrap_or_else(|e| panic!("sent TCP: {e}: {f:02x?}"));
                    let r = TcpRepr::parse(&t, &s, &d, ChecksumMode::Full)
                        .unwrap_or_else(|e| panic!("sent TCP: {e}: {f:02x?}"));
                    Sent::Tcp {
                        src_port: r.src_port,
                        dst_port: r.dst_port,
                        seq: r.seq,
                        ack: r.ack,
                        seg_len: r.segment_len() as u32,
                    }
                }
                protocol::ICMP => {
                    let m = icmpv4::Packet::new_checked(body).unwrap_or_else(|e| panic!("sent ICMP: {e}: {f:02x?}"));
                    Icmpv4Repr::parse(&m, ChecksumMode::Full).unwrap_or_else(|e| panic!("sent ICMP: {e}: {f:02x?}"));
                    Sent::Icmp(m.msg_type())
                }
                other => panic!("sent IPv4 protocol {other}: {f:02x?}"),
            }
        }
        other => panic!("sent ethertype {other:#06x}: {f:02x?}"),
    }
}

/// A [`proto::FrameSink`] that checks every frame with [`check_frame`] and keeps
/// what it found.
#[derive(Debug, Default)]
pub struct CheckSink {
    /// What was sent, in order.
    pub sent: Vec<Sent>,
}

impl proto::FrameSink for CheckSink {
    fn send_frame(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        let mut f = vec![0u8; len];
        fill(&mut f);
        self.sent.push(check_frame(&f));
        true
    }
}

/// The interface's MAC address in the `iface` targets.
pub const IFACE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// The interface's address (198.18.0.0/15, RFC 2544).
pub const IFACE_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The peer's MAC address.
pub const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// The peer's address.
pub const PEER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The port the interface listens on.
pub const LISTEN_PORT: u16 = 80;

/// A small interface (few connections, small buffers, so limits are reachable)
/// listening on [`LISTEN_PORT`], that already knows the peer's MAC (it received an
/// ARP request from it, and answered it into `sink`).
pub fn interface(now: proto::time::Instant, sink: &mut CheckSink) -> proto::iface::Interface {
    use proto::iface::{Interface, InterfaceConfig};
    use proto::tcp::TcpConfig;
    // A fixed ISN secret: a crash must reproduce from its input.
    let tcp = TcpConfig { max_connections: 4, rx_buffer: 8192, tx_buffer: 8192, syn_backlog: 2, isn_secret: [0x5a; 16], cookie_secret: [0xc5; 16], ..TcpConfig::default() };
    // IPv6 too (an address, SLAAC on): NDP, ICMPv6, reassembly and RAs are fuzzed.
    let ipv6 = vec![(core::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2), 64)];
    let mut ifc = Interface::new(InterfaceConfig { mac: IFACE_MAC, ipv4: vec![(IFACE_IP, 15)], ipv6, slaac: true, nd_capacity: 16, tcp, ..InterfaceConfig::default() });
    ifc.tcp_mut().listen(LISTEN_PORT).expect("listen");
    let req = ArpRepr {
        operation: wire::arp::ArpOperation::Request,
        source_hw: wire::ethernet::EthernetAddress(PEER_MAC),
        source_ip: PEER_IP,
        target_hw: wire::ethernet::EthernetAddress([0; 6]),
        target_ip: IFACE_IP,
    };
    let eth = EthernetRepr {
        src: wire::ethernet::EthernetAddress(PEER_MAC),
        dst: wire::ethernet::EthernetAddress::BROADCAST,
        vlan: None,
        ethertype: ethertype::ARP,
    };
    let mut f = vec![0u8; eth.buffer_len(req.buffer_len())];
    let mut fr = Frame::new_unchecked(&mut f[..]);
    eth.emit(&mut fr);
    req.emit(&mut arp::Packet::new_unchecked(fr.payload_mut()));
    ifc.handle_frame(now, &f, sink);
    assert!(ifc.arp().get(now, PEER_IP).is_some(), "peer resolved");
    ifc
}

/// Let the interface's timers run: up to `rounds` times, jump to its next timer
/// (at most `limit` later than `now`) and transmit. Returns the new time.
pub fn run_timers(
    ifc: &mut proto::iface::Interface,
    mut now: proto::time::Instant,
    rounds: usize,
    sink: &mut CheckSink,
) -> proto::time::Instant {
    for _ in 0..rounds {
        let Some(t) = ifc.poll_timeout() else { break };
        now = now.max(t);
        ifc.poll_transmit(now, sink);
    }
    now
}
