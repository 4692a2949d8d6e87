//! Deterministic simulation: a client `Interface` and a `Core` running the echo
//! service, joined by the in-memory device pair, on a virtual clock. The whole path
//! runs: ARP resolution, IPv4, TCP handshake, data both ways, half-close, RST.

use engine::mesh::mesh;
use engine::rss::Steering;
use engine::{Clock, Core, Net, Service, ServiceKind, Services, TxSink};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use proto::iface::{Interface, InterfaceConfig};
use proto::stats::DropReason;
use proto::tcp::{CloseReason, ConnId, RecvError, TcpEvent};
use proto::time::{Duration, Instant};
use std::net::{Ipv4Addr, SocketAddr};
use xsk::{mem_pair, Device, MemDevice};

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

struct Sim {
    now: Instant,
    client_dev: MemDevice,
    client: Interface,
    server: Core<MemDevice, Services>,
}

impl Sim {
    fn new() -> Sim {
        Sim::with(&[Service { kind: ServiceKind::Echo, port: 7 }], 50000)
    }

    /// The server runs `services`; its active opens search ports from `port_seed`.
    fn with(services: &[Service], port_seed: u16) -> Sim {
        let (a, b) = mem_pair(CLIENT_MAC, SERVER_MAC, 4096);
        let client = Interface::new(InterfaceConfig { mac: CLIENT_MAC, ipv4: vec![(CLIENT_IP, 24)], ..Default::default() });
        let server_iface = Interface::new(InterfaceConfig { mac: SERVER_MAC, ipv4: vec![(SERVER_IP, 24)], ..Default::default() });
        let net = Net::new(server_iface, 0, Arc::new(Steering::single()), Arc::new(AtomicBool::new(false)), port_seed);
        let links = mesh(1, 1, 2048).unwrap().pop().unwrap();
        let server = Core::new(b, net, Services::new(services), links, Clock::new(), 0);
        Sim { now: Instant::from_millis(1), client_dev: a, client, server }
    }

    /// Advance the virtual clock by `step` and run both sides once.
    fn step(&mut self, step: Duration) {
        self.now += step;
        let now = self.now;
        self.server.turn_at(now).unwrap();
        let client = &mut self.client;
        self.client_dev.rx_burst(64, |f, tx| client.handle_frame(now, f, &mut TxSink::new(tx))).unwrap();
        self.client.poll_transmit(now, &mut TxSink::new(self.client_dev.tx()));
        self.client_dev.flush().unwrap();
    }
}

#[test]
fn echo_one_megabyte_with_half_close() {
    let mut sim = Sim::new();
    let local = SocketAddr::from((CLIENT_IP, 40000));
    let remote = SocketAddr::from((SERVER_IP, 7));
    let now = sim.now;
    let conn: ConnId = sim.client.connect(now, local, remote, &mut TxSink::new(sim.client_dev.tx())).unwrap();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut closed_write = false;
    let mut connected = false;
    let mut finished = false;
    let mut buf = vec![0u8; 65536];
    for _ in 0..2_000_000 {
        sim.step(Duration::from_micros(50));
        while let Some(ev) = sim.client.tcp_mut().poll_event() {
            match ev {
                TcpEvent::Connected(c) => {
                    assert_eq!(c, conn);
                    connected = true;
                    // The SYN lost to the ARP miss goes again as soon as the ARP
                    // reply arrives, not after the 1 s retransmission timeout.
                    assert!(sim.now - now < Duration::from_millis(5), "connected after {:?}", sim.now - now);
                }
                TcpEvent::Closed { conn: c, reason } => {
                    assert_eq!(c, conn);
                    assert_eq!(reason, CloseReason::Normal);
                    finished = true;
                }
                _ => {}
            }
        }
        if connected && sent < data.len() {
            sent += sim.client.tcp_mut().send(conn, &data[sent..]).unwrap();
        }
        if sent == data.len() && !closed_write {
            sim.client.tcp_mut().close(conn).unwrap();
            closed_write = true;
        }
        // After Closed the handle is stale: everything was read before it came.
        if finished {
            break;
        }
        loop {
            match sim.client.tcp_mut().recv(conn, &mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(RecvError::WouldBlock) | Err(RecvError::Eof) => break,
                Err(e) => panic!("recv: {e:?}"),
            }
        }
    }
    assert!(connected, "handshake through ARP + IPv4 + TCP");
    assert_eq!(got.len(), data.len(), "all bytes echoed");
    assert!(got == data, "echoed bytes identical");
    assert!(finished, "connection closed normally after both FINs");
    // The first SYN found no ARP entry: it was dropped and counted, then retransmitted.
    assert_eq!(sim.client.stats().drops_of(DropReason::TxNeighbourMiss), 1);
    assert_eq!(sim.server.net().iface().stats().arp_replies, 1);
    assert_eq!(sim.server.net().iface().stats().total_drops(), 0, "{:?}", sim.server.net().iface().stats());
}

#[test]
fn connect_to_closed_port_is_refused() {
    let mut sim = Sim::new();
    let now = sim.now;
    let (local, remote) = (SocketAddr::from((CLIENT_IP, 40001)), SocketAddr::from((SERVER_IP, 9)));
    let conn = sim.client.connect(now, local, remote, &mut TxSink::new(sim.client_dev.tx())).unwrap();
    let mut reason = None;
    for _ in 0..200_000 {
        sim.step(Duration::from_micros(100));
        while let Some(ev) = sim.client.tcp_mut().poll_event() {
            if let TcpEvent::Closed { conn: c, reason: r } = ev {
                assert_eq!(c, conn);
                reason = Some(r);
            }
        }
        if reason.is_some() {
            break;
        }
    }
    assert_eq!(reason, Some(CloseReason::Refused));
}

/// Connect the client to the echo service; returns the connection once
/// established.
fn connected(sim: &mut Sim) -> ConnId {
    let local = SocketAddr::from((CLIENT_IP, 40001));
    let remote = SocketAddr::from((SERVER_IP, 7));
    let now = sim.now;
    let conn = sim.client.connect(now, local, remote, &mut TxSink::new(sim.client_dev.tx())).unwrap();
    for _ in 0..1000 {
        sim.step(Duration::from_micros(100));
        while let Some(ev) = sim.client.tcp_mut().poll_event() {
            if let TcpEvent::Connected(c) = ev {
                assert_eq!(c, conn);
                return conn;
            }
        }
    }
    panic!("not connected");
}

/// Frames the server sent to the client, dropped unread (a lossy link).
fn drop_at_client(sim: &mut Sim) -> usize {
    sim.client_dev.rx_burst(1024, |_, _| {}).unwrap()
}

/// The loop's quiet path (an idle turn that only looks at the rings, the queues
/// and the earliest deadline it learned) still runs the timers: an echo lost
/// on the way is sent again when the retransmission timer expires, while
/// every other turn is quiet.
#[test]
fn quiet_turns_still_run_the_retransmission_timer() {
    let mut sim = Sim::new();
    let conn = connected(&mut sim);
    sim.client.tcp_mut().send(conn, b"lost on its way back").unwrap();
    sim.client.poll_transmit(sim.now, &mut TxSink::new(sim.client_dev.tx()));
    sim.client_dev.flush().unwrap();
    sim.now += Duration::from_micros(100);
    sim.server.turn_at(sim.now).unwrap();
    assert_eq!(drop_at_client(&mut sim), 1, "the echo, lost");
    let quiet_before = sim.server.loop_stats().quiet_turns;
    let mut resent = None;
    for ms in 1..=3000u64 {
        sim.now += Duration::from_millis(1);
        sim.server.turn_at(sim.now).unwrap();
        if drop_at_client(&mut sim) > 0 {
            resent = Some(ms);
            break;
        }
    }
    let resent = resent.expect("no retransmission within 3 s of quiet turns");
    // The first RTO (RFC 6298 §2: 1 s before any RTT sample; the handshake gave
    // one, so sooner), not one of the idle turns before it.
    assert!((150..=1100).contains(&resent), "retransmitted after {resent} ms");
    // Most idle turns were quiet (the others: a timer's turn, the turns that
    // publish the counters every 10 ms).
    let quiet = sim.server.loop_stats().quiet_turns - quiet_before;
    assert!(quiet * 4 >= resent * 3, "the idle turns were quiet: {quiet} of {resent}");
}

/// Work handed to the core from outside a turn (`with_io`) ends the quiet
/// path's knowledge: the next turn sends the SYN of an active open made there.
#[test]
fn work_given_outside_a_turn_goes_out_on_the_next_turn() {
    let mut sim = Sim::new();
    connected(&mut sim);
    for _ in 0..100 {
        sim.step(Duration::from_micros(100));
    }
    let quiet = sim.server.loop_stats().quiet_turns;
    assert!(quiet > 50, "the server's idle turns were quiet ({quiet})");
    sim.server.with_io(|_, io| io.connect(SocketAddr::from((CLIENT_IP, 9))).unwrap());
    sim.now += Duration::from_micros(100);
    sim.server.turn_at(sim.now).unwrap();
    assert_eq!(drop_at_client(&mut sim), 1, "the SYN left on the next turn");
}

/// An active open never takes a port a listener of its own has (as Linux's
/// bind buckets), and searches the whole range RFC 6056 §3.2 recommends.
#[test]
fn active_opens_skip_listening_ports() {
    let echo = |port| Service { kind: ServiceKind::Echo, port };
    let mut sim = Sim::with(&[echo(7), echo(2000)], 2000);
    connected(&mut sim);
    sim.server.with_io(|_, io| io.connect(SocketAddr::from((CLIENT_IP, 9))).unwrap());
    sim.now += Duration::from_micros(100);
    sim.server.turn_at(sim.now).unwrap();
    let mut ports = Vec::new();
    // The SYN: Ethernet (14) + IPv4 without options (20), then the source port.
    sim.client_dev.rx_burst(16, |f, _| ports.push(u16::from_be_bytes([f[34], f[35]]))).unwrap();
    assert_eq!(ports, vec![2001], "the SYN's source port: the one after the listener's");
}
