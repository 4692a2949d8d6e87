//! Deterministic simulation of the multi-core engine: a two-core server stack (the
//! real `Core` loops, the real mesh of cross-core queues, RSS steering) and a
//! one-core client stack, joined by in-memory devices through a "NIC" that this
//! test drives. The NIC delivers frames to the *wrong* core on purpose (seeded),
//! as veth does with its own flow hash: every frame that lands on the core that
//! does not own its flow must be handed over, never answered with RST, and every
//! flow must come back byte-exact. Virtual clock; failures print the seed.

use engine::mesh::mesh;
use engine::rss::{RssTable, Steering};
use engine::stats::Counter;
use engine::{App, Clock, ConnId, Core, Event, Io, Net, Service, ServiceKind, Services};
use proto::iface::{Interface, InterfaceConfig};
use proto::time::{Duration, Instant};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use xsk::{mem_pair, Device, MemDevice, TxQueue};

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const NIC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xee];
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

/// splitmix64.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    (0..len).map(|_| r.next() as u8).collect()
}

/// A client that opens `n` flows to `to`, sends each its own bytes, half-closes
/// and collects what comes back.
struct EchoClient {
    to: SocketAddr,
    flows: Vec<ClientFlow>,
}

struct ClientFlow {
    conn: Option<ConnId>,
    data: Vec<u8>,
    sent: usize,
    got: Vec<u8>,
    connected: bool,
    half_closed: bool,
    closed: Option<Event>,
}

impl EchoClient {
    fn new(to: SocketAddr, n: usize, size: usize) -> EchoClient {
        let flows = (0..n)
            .map(|i| ClientFlow { conn: None, data: payload(size + i * 7, i as u64 + 1), sent: 0, got: Vec::new(), connected: false, half_closed: false, closed: None })
            .collect();
        EchoClient { to, flows }
    }

    fn flow(&mut self, c: ConnId) -> Option<&mut ClientFlow> {
        self.flows.iter_mut().find(|f| f.conn == Some(c))
    }

    fn pump(f: &mut ClientFlow, io: &mut Io<'_>) {
        let c = f.conn.unwrap();
        while f.connected && f.sent < f.data.len() {
            match io.send(c, &f.data[f.sent..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => f.sent += n,
            }
        }
        if f.connected && f.sent == f.data.len() && !f.half_closed {
            io.close(c);
            f.half_closed = true;
        }
        let mut buf = [0u8; 4096];
        while let Ok(n) = io.recv(c, &mut buf) {
            f.got.extend_from_slice(&buf[..n]);
        }
    }
}

impl App for EchoClient {
    fn start(&mut self, io: &mut Io<'_>) {
        for f in &mut self.flows {
            f.conn = Some(io.connect(self.to).expect("connect"));
        }
    }
    fn event(&mut self, io: &mut Io<'_>, ev: Event) {
        match ev {
            Event::Connected(c) => {
                let f = self.flow(c).expect("our flow");
                f.connected = true;
                Self::pump(f, io);
            }
            Event::Readable(c) | Event::Writable(c) => {
                if let Some(f) = self.flow(c) {
                    Self::pump(f, io);
                }
            }
            Event::Closed { conn, .. } | Event::ConnectFailed { conn, .. } => {
                if let Some(f) = self.flow(conn) {
                    f.closed = Some(ev);
                }
            }
            _ => {}
        }
    }
}

fn net(mac: [u8; 6], ip: Ipv4Addr, core: usize, steering: Arc<Steering>) -> Net {
    let iface = Interface::new(InterfaceConfig { mac, ipv4: vec![(ip, 24)], ..Default::default() });
    Net::new(iface, core, steering, Arc::new(AtomicBool::new(false)), 49152 + 1000 * core as u16)
}

/// The simulated world: client stack (1 core), server stack (2 cores), the NIC.
struct World<A: App, B: App> {
    now: Instant,
    client: Core<MemDevice, A>,
    /// The NIC's end towards the client.
    client_wire: MemDevice,
    servers: Vec<Core<MemDevice, B>>,
    /// The NIC's ends towards each server queue.
    server_wires: Vec<MemDevice>,
    steering: Arc<Steering>,
    rng: Rng,
    /// Probability (per mille) that a frame goes to the core that does not own it.
    misroute: u64,
    /// Frames delivered to a core other than the owner.
    misrouted: u64,
    /// ARP frames from the client are delivered only to this queue, if set.
    arp_to: Option<usize>,
}

impl<A: App, B: App> World<A, B> {
    fn new(seed: u64, misroute: u64, client_app: A, server_apps: Vec<B>) -> World<A, B> {
        let clock = Clock::new();
        let (cdev, cwire) = mem_pair(CLIENT_MAC, NIC_MAC, 4096);
        let cl = mesh(1, 1, 2048).unwrap().pop().unwrap();
        let client = Core::new(cdev, net(CLIENT_MAC, CLIENT_IP, 0, Arc::new(Steering::single())), client_app, cl, clock, 0);
        let n = server_apps.len();
        let steering = Arc::new(Steering::new(&RssTable::default_for(n as u32), &(0..n as u32).collect::<Vec<_>>()).unwrap());
        let mut servers = Vec::new();
        let mut wires = Vec::new();
        for ((i, app), links) in server_apps.into_iter().enumerate().zip(mesh(n, 512, 2048).unwrap()) {
            let (sdev, swire) = mem_pair(SERVER_MAC, NIC_MAC, 4096);
            servers.push(Core::new(sdev, net(SERVER_MAC, SERVER_IP, i, Arc::clone(&steering)), app, links, clock, i as u32));
            wires.push(swire);
        }
        World { now: Instant::from_millis(1), client, client_wire: cwire, servers, server_wires: wires, steering, rng: Rng(seed), misroute, misrouted: 0, arp_to: None }
    }

    /// One step of the world: every core turns once, the NIC moves every frame.
    fn step(&mut self, dt: Duration) {
        self.now += dt;
        let now = self.now;
        self.client.turn_at(now).unwrap();
        for s in &mut self.servers {
            s.turn_at(now).unwrap();
        }
        // Client → server queues: by ownership, or to another core on purpose.
        let n = self.servers.len();
        let (steering, rng, misroute, arp_to) = (&self.steering, &mut self.rng, self.misroute, self.arp_to);
        let mut misrouted = 0;
        let wires = &mut self.server_wires;
        self.client_wire
            .rx_burst(usize::MAX, |frame, _| {
                let q = match engine::steer::flow_of(frame) {
                    Some(f) => {
                        let owner = steering.owner(f.src, f.dst, f.sport, f.dport);
                        if rng.next() % 1000 < misroute {
                            misrouted += 1;
                            (owner + 1 + (rng.next() as usize % (n - 1).max(1))) % n
                        } else {
                            owner
                        }
                    }
                    None => arp_to.unwrap_or(rng.next() as usize % n),
                };
                assert!(wires[q].tx().send(frame.len(), &mut |b| b.copy_from_slice(frame)));
            })
            .unwrap();
        self.misrouted += misrouted;
        for w in &mut self.server_wires {
            w.flush().unwrap();
        }
        // Server queues → client.
        let cw = &mut self.client_wire;
        for w in &mut self.server_wires {
            w.rx_burst(usize::MAX, |frame, _| assert!(cw.tx().send(frame.len(), &mut |b| b.copy_from_slice(frame)))).unwrap();
        }
        self.client_wire.flush().unwrap();
    }
}

fn echo_servers(n: usize) -> Vec<Services> {
    (0..n).map(|_| Services::new(&[Service { kind: ServiceKind::Echo, port: 7 }])).collect()
}

fn run_echo(seed: u64, misroute: u64, flows: usize, size: usize) {
    let to = SocketAddr::from((SERVER_IP, 7));
    let mut w = World::new(seed, misroute, EchoClient::new(to, flows, size), echo_servers(2));
    for _ in 0..400_000 {
        w.step(Duration::from_micros(50));
        if w.client.app().flows.iter().all(|f| f.closed.is_some()) {
            break;
        }
    }
    // Let the last frames in flight (final ACKs) arrive and be handed over.
    for _ in 0..10 {
        w.step(Duration::from_micros(50));
    }
    for (i, f) in w.client.app().flows.iter().enumerate() {
        assert!(matches!(f.closed, Some(Event::Closed { reason: engine::CloseReason::Normal, .. })), "seed {seed}: flow {i} ended {:?}", f.closed);
        assert_eq!(f.got.len(), f.data.len(), "seed {seed}: flow {i} length");
        assert!(f.got == f.data, "seed {seed}: flow {i} bytes differ");
    }
    let snaps: Vec<_> = w.servers.iter().map(|s| s.snapshot()).collect();
    let total = engine::stats::CoreSnapshot::total(&snaps);
    if misroute > 0 {
        assert!(w.misrouted > 0, "seed {seed}: the NIC misrouted nothing");
        assert_eq!(total.get(Counter::handoff_in), w.misrouted, "seed {seed}: every misrouted frame was handed over");
    }
    assert_eq!(total.get(Counter::handoff_out), total.get(Counter::handoff_in));
    assert_eq!(total.get(Counter::handoff_overflow), 0, "seed {seed}");
    assert_eq!(total.tcp("rst_sent"), Some(0), "seed {seed}: no RST for a misrouted frame");
    assert_eq!(total.get(Counter::app_accepted), flows as u64);
    for s in &snaps {
        assert!(s.get(Counter::app_accepted) > 0, "seed {seed}: both cores own flows: {:?}", snaps.iter().map(|s| s.get(Counter::app_accepted)).collect::<Vec<_>>());
    }
}

#[test]
fn two_cores_echo_every_flow_byte_exact_with_misrouted_frames() {
    for seed in 1..=4 {
        run_echo(seed, 500, 16, 40_000);
    }
}

#[test]
fn two_cores_echo_with_every_frame_on_the_wrong_core() {
    run_echo(99, 1000, 8, 100_000);
}

#[test]
fn two_cores_echo_with_exact_steering() {
    run_echo(7, 0, 8, 20_000);
}

/// Core 1 of the server stack opens a connection to the client's echo service;
/// the client's ARP reply reaches core 0 only. Core 0 learns the neighbour and
/// publishes it; core 1 applies it and sends its SYN at once, instead of after
/// its 1 s retransmission timeout.
#[test]
fn arp_learned_on_one_core_releases_a_syn_waiting_on_another() {
    struct Opener {
        to: SocketAddr,
        conn: Option<ConnId>,
        connected_at: Option<Instant>,
    }
    impl App for Opener {
        fn start(&mut self, io: &mut Io<'_>) {
            if io.core() == 1 {
                self.conn = Some(io.connect(self.to).unwrap());
            }
        }
        fn event(&mut self, io: &mut Io<'_>, ev: Event) {
            if let Event::Connected(c) = ev {
                assert_eq!(Some(c), self.conn);
                // The port was chosen so that replies hash to this core.
                let l = io.local(c).unwrap();
                let p = io.peer(c).unwrap();
                let _ = (l, p);
                self.connected_at = Some(io.now());
            }
        }
    }
    let to = SocketAddr::from((CLIENT_IP, 7));
    let client = Services::new(&[Service { kind: ServiceKind::Echo, port: 7 }]);
    let openers = (0..2).map(|_| Opener { to, conn: None, connected_at: None }).collect();
    let mut w = World::new(5, 0, client, openers);
    w.arp_to = Some(0);
    let t0 = w.now;
    for _ in 0..20_000 {
        w.step(Duration::from_micros(50));
        if w.servers[1].app().connected_at.is_some() {
            break;
        }
    }
    let at = w.servers[1].app().connected_at.expect("core 1 connected");
    assert!(at - t0 < Duration::from_millis(10), "connected after {:?}: the SYN waited for its RTO", at - t0);
    let (s0, s1) = (w.servers[0].snapshot(), w.servers[1].snapshot());
    assert_eq!(s1.get(Counter::arp_requests), 1, "core 1 asked");
    assert!(s0.get(Counter::neigh_published) >= 1, "core 0 learned the reply and published it");
    assert!(s1.get(Counter::neigh_applied) >= 1, "core 1 applied it");
    let c = w.servers[1].app().conn.unwrap();
    let local = w.servers[1].with_io(|_, io| io.local(c)).unwrap();
    assert_eq!(w.steering.owner(to.ip(), local.ip(), to.port(), local.port()), 1, "the engine's port maps replies to core 1");
}

/// A client that sends UDP datagrams (several of them larger than one frame,
/// so fragmented) from several ports to `to`, one per turn once the neighbour is
/// resolved, and keeps what comes back.
struct UdpClient {
    to: SocketAddr,
    /// (source port, bytes) of every datagram.
    datagrams: Vec<(u16, Vec<u8>)>,
    sent: usize,
    /// Every datagram received: (port it came to, bytes).
    got: Vec<(u16, Vec<u8>)>,
    buf: Vec<u8>,
}

const UDP_PORTS: [u16; 4] = [5000, 5001, 5002, 5003];

impl App for UdpClient {
    fn start(&mut self, io: &mut Io<'_>) {
        for p in UDP_PORTS {
            io.udp_bind(p).unwrap();
        }
    }
    fn event(&mut self, io: &mut Io<'_>, ev: Event) {
        if let Event::Datagram { port } = ev {
            while let Ok(d) = io.recv_from(port, &mut self.buf) {
                assert!(!d.truncated);
                self.got.push((port, self.buf[..d.len].to_vec()));
            }
        }
    }
    fn poll(&mut self, io: &mut Io<'_>) -> bool {
        if self.sent == self.datagrams.len() {
            return false;
        }
        let (port, data) = &self.datagrams[self.sent];
        match io.send_to(*port, self.to, data) {
            Ok(()) => self.sent += 1,
            Err(engine::UdpError::NeighbourUnresolved) => {}
            Err(e) => panic!("send_to: {e}"),
        }
        true
    }
}

/// Fragmented UDP datagrams arriving on both cores of the server stack (the
/// simulated NIC puts every fragment on a random queue, as veth may): all the
/// fragments of a datagram are handed to the core that owns the pair of
/// addresses, which reassembles it and whose udp-echo answers (fragmented in
/// turn). Every datagram comes back exactly once, byte-exact; nothing is left
/// in reassembly or dropped.
#[test]
fn two_cores_fragmented_udp_datagrams_reassembled_on_one_core() {
    let to = SocketAddr::from((SERVER_IP, 7));
    let sizes = [8000usize, 1473, 100, 3000, 8000, 20_000, 1472, 65_507, 4441, 8000, 12_345, 2960];
    let datagrams: Vec<(u16, Vec<u8>)> = sizes.iter().enumerate().map(|(k, n)| (UDP_PORTS[k % UDP_PORTS.len()], payload(*n, 1000 + k as u64))).collect();
    let client = UdpClient { to, datagrams: datagrams.clone(), sent: 0, got: Vec::new(), buf: vec![0; 65536] };
    let servers = (0..2).map(|_| Services::new(&[Service { kind: ServiceKind::UdpEcho, port: 7 }])).collect();
    let mut w = World::new(11, 500, client, servers);
    for _ in 0..20_000 {
        w.step(Duration::from_micros(50));
        if w.client.app().got.len() == datagrams.len() {
            break;
        }
    }
    for _ in 0..10 {
        w.step(Duration::from_micros(50));
    }
    let got = &w.client.app().got;
    for (k, (port, data)) in datagrams.iter().enumerate() {
        let n = got.iter().filter(|(p, g)| p == port && g == data).count();
        assert_eq!(n, 1, "datagram {k} ({} bytes) came back {n} times", data.len());
    }
    assert_eq!(got.len(), datagrams.len(), "nothing else came back");
    let snaps: Vec<_> = w.servers.iter().map(|s| s.snapshot()).collect();
    let total = engine::stats::CoreSnapshot::total(&snaps);
    let fragmented = sizes.iter().filter(|n| **n > 1472).count() as u64;
    let owner = w.steering.owner_addrs(CLIENT_IP.into(), SERVER_IP.into());
    assert_eq!(snaps[owner].get(Counter::ipv4_reassembled), fragmented, "the owner of the addresses reassembled every datagram");
    assert_eq!(snaps[1 - owner].get(Counter::ipv4_frags_in), 0, "the other core handed every fragment over");
    assert_eq!(total.get(Counter::udp_datagrams_in), datagrams.len() as u64, "each delivered once");
    assert!(snaps.iter().all(|s| s.get(Counter::rx_packets) > 0), "frames landed on both cores");
    assert!(total.get(Counter::handoff_in) > 0, "misplaced fragments were handed over");
    assert_eq!(total.get(Counter::handoff_in), total.get(Counter::handoff_out));
    assert_eq!(total.get(Counter::handoff_overflow), 0);
    assert!(total.get(Counter::ipv4_frags_out) > 0, "the echoes left fragmented");
    let drops: u64 = total.drops.iter().sum();
    assert_eq!(drops, 0, "no drop: {:?}", total.drops);
    for s in &w.servers {
        assert_eq!(s.net().iface().reassembler().in_progress(), 0);
    }
}

/// The frames of a TCP SYN carrying 2000 bytes from the client to the server's
/// port 7, cut into IPv4 fragments.
fn fragmented_syn(sport: u16, ident: u16) -> Vec<Vec<u8>> {
    use std::net::IpAddr;
    use wire::ethernet::{EthernetAddress, EthernetRepr, Frame};
    use wire::ipv4::{Ipv4Repr, Packet};
    use wire::tcp::{TcpFlags, TcpPacket, TcpRepr};
    let data = payload(2000, u64::from(sport));
    let syn = TcpRepr { src_port: sport, dst_port: 7, seq: 1, ack: 0, flags: TcpFlags::SYN, window: 64240, urgent: 0, options: Default::default(), payload: &data };
    let mut seg = vec![0u8; syn.buffer_len()];
    syn.emit(&mut TcpPacket::new_unchecked(&mut seg[..]), &IpAddr::V4(CLIENT_IP), &IpAddr::V4(SERVER_IP), wire::ChecksumMode::Full);
    let eth = EthernetRepr { src: EthernetAddress(CLIENT_MAC), dst: EthernetAddress(SERVER_MAC), vlan: None, ethertype: wire::ethernet::ethertype::IPV4 };
    seg.chunks(1480)
        .enumerate()
        .map(|(k, piece)| {
            let ip = Ipv4Repr {
                src: CLIENT_IP,
                dst: SERVER_IP,
                protocol: wire::ip::protocol::TCP,
                payload_len: piece.len(),
                ttl: 64,
                ident,
                dont_frag: false,
                more_frags: (k + 1) * 1480 < seg.len(),
                frag_offset: (k * 1480) as u16,
                dscp_ecn: 0,
            };
            let mut b = vec![0u8; eth.buffer_len(ip.buffer_len())];
            let mut f = Frame::new_unchecked(&mut b[..]);
            eth.emit(&mut f);
            let mut p = Packet::new_unchecked(f.payload_mut());
            ip.emit(&mut p, wire::ChecksumMode::Full);
            p.payload_mut().copy_from_slice(piece);
            b
        })
        .collect()
}

/// A fragmented TCP segment is reassembled by the core that owns the pair of
/// addresses; if the connection's 4-tuple belongs to the other core, that core
/// drops it and counts it (`ipv4_frag_tcp_other_core`) instead of opening a
/// connection it does not own; if it is its own, the listener takes it.
#[test]
fn reassembled_tcp_of_another_cores_flow_is_dropped_and_counted() {
    let client = Services::new(&[]);
    let mut w = World::new(3, 0, client, echo_servers(2));
    let (c, s) = (CLIENT_IP.into(), SERVER_IP.into());
    let addr_owner = w.steering.owner_addrs(c, s);
    let theirs = (40000..41000).find(|p| w.steering.owner(c, s, *p, 7) != addr_owner).unwrap();
    let ours = (40000..41000).find(|p| w.steering.owner(c, s, *p, 7) == addr_owner).unwrap();
    for (k, sport) in [theirs, ours].into_iter().enumerate() {
        // Each fragment on a different queue than the one before.
        for (j, f) in fragmented_syn(sport, 100 + k as u16).iter().enumerate() {
            let q = (j + k) % 2;
            assert!(w.server_wires[q].tx().send(f.len(), &mut |b| b.copy_from_slice(f)));
            w.server_wires[q].flush().unwrap();
        }
        for _ in 0..20 {
            w.step(Duration::from_micros(50));
        }
    }
    let snaps: Vec<_> = w.servers.iter().map(|s| s.snapshot()).collect();
    let owner = &snaps[addr_owner];
    assert_eq!(owner.get(Counter::ipv4_reassembled), 2, "both segments reassembled on the owner of the addresses");
    assert_eq!(owner.drops[proto::stats::DropReason::Ipv4FragTcpOtherCore as usize], 1, "the other core's segment dropped and counted");
    let total = engine::stats::CoreSnapshot::total(&snaps);
    assert_eq!(total.tcp("passive_opens"), Some(1), "only the segment of the core's own flow opened a connection");
    assert_eq!(owner.tcp("passive_opens"), Some(1));
    assert_eq!(total.tcp("rst_sent"), Some(0), "no RST for the other core's flow");
}
