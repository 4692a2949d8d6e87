//! The interface under test (a small one, addresses and MACs fixed) and the two
//! targets that feed it frames: `iface` (one raw frame) and `iface_ipv4`
//! (a sequence of steps behind valid Ethernet and IPv4 headers).

use core::net::Ipv4Addr;
use wire::arp::{self, ArpRepr};
use wire::ethernet::{ethertype, EthernetRepr, Frame};

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
pub fn interface(now: proto::time::Instant, sink: &mut dyn proto::FrameSink) -> proto::iface::Interface {
    use proto::iface::{Interface, InterfaceConfig};
    use proto::tcp::TcpConfig;
    // A fixed ISN secret: a crash must reproduce from its input.
    let tcp = TcpConfig { max_connections: 4, rx_buffer: 8192, tx_buffer: 8192, syn_backlog: 2, isn_secret: [0x5a; 16], cookie_secret: [0xc5; 16], ..TcpConfig::default() };
    // IPv6 too (an address, SLAAC on): NDP, ICMPv6, reassembly and RAs are fuzzed.
    let ipv6 = vec![(core::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2), 64)];
    // Reassembly: room for one 64 KiB datagram and more (the default 4 MiB pool per family,
    // allocated and zeroed per input, made runs ~30 times slower).
    let frag = proto::frag::FragConfig { max_bytes: 80 << 10, max_datagrams: 8, ..proto::frag::FragConfig::default() };
    let mut ifc = Interface::new(InterfaceConfig { mac: IFACE_MAC, ipv4: vec![(IFACE_IP, 15)], ipv6, slaac: true, nd_capacity: 16, tcp, frag, ..InterfaceConfig::default() });
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
    sink: &mut dyn proto::FrameSink,
) -> proto::time::Instant {
    for _ in 0..rounds {
        let Some(t) = ifc.poll_timeout() else { break };
        now = now.max(t);
        ifc.poll_transmit(now, sink);
    }
    now
}

/// The `iface` target.
pub mod raw {
    use super::{interface, run_timers};
    use crate::check::CheckSink;
    use proto::time::Instant;

    /// `Interface::handle_frame` on arbitrary bytes (one frame per input), then
    /// `poll_transmit` and the timers that follow; every frame the interface sends
    /// must pass [`crate::check`] (IPv4 and IPv6, checksums verified).
    pub fn run(data: &[u8]) {
        let mut sink = CheckSink::default();
        let now = Instant::from_millis(1000);
        let mut ifc = interface(now, &mut sink);
        ifc.handle_frame(now, data, &mut sink);
        ifc.poll_transmit(now, &mut sink);
        run_timers(&mut ifc, now, 8, &mut sink);
        assert_eq!(ifc.stats().rx_frames, 2);
    }
}
