//! The units of work whose instruction counts `make perf-budget` holds to the
//! limits of `bench/budgets.toml`, each on the stack side of one engine
//! [`Core`] (the one loop every subcommand runs), with the device taken out: a
//! [`VecDevice`] whose rings are plain vectors, as cheap as AF_XDP's rings
//! are to the loop. The peer is a bare [`Interface`] outside the measured part.
//!
//! | unit | one unit is | a measured turn |
//! |---|---|---|
//! | `rr_64B` | a 64-byte request/response of the echo service | request in (it also acknowledges the last response), echo, response out with the ACK piggybacked |
//! | `segment_rx_1448` | an in-order 1448-byte data segment received | two segments in, their one ACK out (as the engine ACKs a burst: every second full segment) |
//! | `segment_tx_1448` | a 1448-byte segment sent by a bulk sender (chargen) | the peer's ACK of the last two segments in, two new segments out |
//! | `crr` | a connection, SYN to closed, server side (echo: 64 bytes each way, the client closes first) | every server turn of its life |
//! | `udp_echo_64B` | a 64-byte datagram echoed by the udp-echo service | datagram in, datagram out |
//! | `idle_turn` | a turn that finds nothing to do | that turn |
//!
//! Every unit checks what the server answered (outside the measured part), so
//! a count is the cost of the real work, never of a short cut. The inputs are
//! deterministic (fixed secrets, a virtual clock): the same binary counts the
//! same instructions.
//!
//! The measured part is [`perf_unit_measured`]: callgrind counts only inside it
//! (`--toggle-collect='*perf_unit_measured*'`).

use engine::mesh::mesh;
use engine::rss::Steering;
use engine::{App, Clock, Core, Net, Service, ServiceKind, Services};
use proto::iface::{Interface, InterfaceConfig};
use proto::tcp::{ConnId, RecvError, TcpConfig, TcpEvent};
use proto::time::{Duration, Instant};
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use xsk::{Device, DeviceStats, MacAddr, TxQueue};

use crate::CollectSink;

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The payload of a full segment: MSS 1460 less the 12-byte timestamp option.
pub const SEG_DATA: usize = 1448;

/// Every unit, by name, in the order `perf-budget` runs them.
pub const UNITS: &[&str] = &["rr_64B", "segment_rx_1448", "segment_tx_1448", "crr", "udp_echo_64B", "idle_turn"];

/// Transmit side of [`VecDevice`]: frames go into reused buffers.
#[derive(Default)]
pub struct VecTx {
    /// Frames sent, in order.
    pub out: Vec<Vec<u8>>,
    spare: Vec<Vec<u8>>,
}

impl TxQueue for VecTx {
    fn send(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        // Like a UMEM frame: a buffer of fixed size, written in place, no zeroing.
        let mut b = self.spare.pop().unwrap_or_else(|| vec![0; 2048]);
        if b.len() < len {
            b.resize(len, 0);
        }
        // Shrink within the initialised bytes (grown back outside the measured turn).
        b.truncate(len);
        fill(&mut b);
        self.out.push(b);
        true
    }
}

/// A device whose RX ring and TX ring are vectors the harness fills and empties.
#[derive(Default)]
pub struct VecDevice {
    /// Frames waiting to be received.
    pub rx: VecDeque<Vec<u8>>,
    done: Vec<Vec<u8>>,
    /// The transmit ring.
    pub tx: VecTx,
}

impl Device for VecDevice {
    type Tx = VecTx;
    fn mac(&self) -> MacAddr {
        SERVER_MAC
    }
    #[inline]
    fn rx_burst<F: FnMut(&[u8], &mut VecTx)>(&mut self, budget: usize, mut f: F) -> std::io::Result<usize> {
        if self.rx.is_empty() {
            // As an empty RX ring: one look at its producer index.
            return Ok(0);
        }
        let mut n = 0;
        while n < budget {
            let Some(frame) = self.rx.pop_front() else { break };
            f(&frame, &mut self.tx);
            self.done.push(frame);
            n += 1;
        }
        Ok(n)
    }
    fn rx_ready(&mut self) -> bool {
        // As an RX ring: one look at its producer index.
        !self.rx.is_empty()
    }

    fn tx(&mut self) -> &mut VecTx {
        &mut self.tx
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn wait(&mut self, _timeout: std::time::Duration) -> std::io::Result<()> {
        Ok(())
    }
    fn stats(&self) -> DeviceStats {
        DeviceStats::default()
    }
}

/// The measured part of every unit: one turn of the server's loop. Callgrind
/// counts only inside it.
#[inline(never)]
pub fn perf_unit_measured<A: App>(core: &mut Core<VecDevice, A>, now: Instant) -> bool {
    core.turn_at(now).expect("turn")
}

/// TCP settings of both ends: fixed secrets (deterministic sequence numbers).
fn tcp_config(secret: u8) -> TcpConfig {
    TcpConfig { isn_secret: [secret; 16], cookie_secret: [secret ^ 0x5a; 16], ..TcpConfig::default() }
}

fn client_iface() -> Interface {
    Interface::new(InterfaceConfig {
        mac: CLIENT_MAC,
        ipv4: vec![(CLIENT_IP, 24)],
        static_arp: vec![(SERVER_IP, SERVER_MAC)],
        tcp: tcp_config(1),
        ..Default::default()
    })
}

fn server_core(kind: ServiceKind, port: u16) -> Core<VecDevice, Services> {
    let siface = Interface::new(InterfaceConfig {
        mac: SERVER_MAC,
        ipv4: vec![(SERVER_IP, 24)],
        static_arp: vec![(CLIENT_IP, CLIENT_MAC)],
        tcp: tcp_config(2),
        ..Default::default()
    });
    let net = Net::new(siface, 0, Arc::new(Steering::single()), Arc::new(AtomicBool::new(false)), 50000);
    let links = mesh(1, 1, 2048).expect("mesh").pop().expect("one core");
    Core::new(VecDevice::default(), net, Services::new(&[Service { kind, port }]), links, Clock::new(), 0)
}

/// A client [`Interface`] and a server [`Core`] joined by vectors.
pub struct Bed {
    /// The client.
    pub client: Interface,
    c_out: CollectSink,
    /// The server under measurement.
    pub server: Core<VecDevice, Services>,
    /// The virtual clock.
    pub now: Instant,
    rbuf: Vec<u8>,
}

impl Bed {
    fn new(kind: ServiceKind, port: u16) -> Bed {
        let mut bed = Bed { client: client_iface(), c_out: CollectSink::default(), server: server_core(kind, port), now: Instant::from_millis(1), rbuf: vec![0; 1 << 16] };
        // The first turn starts the core (its gratuitous ARP goes out).
        bed.server_turn(false);
        bed.deliver_to_client();
        bed
    }

    /// What the client sent goes to the server's RX ring.
    fn deliver_to_server(&mut self) -> usize {
        let frames = std::mem::take(&mut self.c_out.frames);
        let n = frames.len();
        self.server.device_mut().rx.extend(frames);
        n
    }

    /// One server turn, measured or not.
    fn server_turn(&mut self, measured: bool) {
        let now = self.now;
        if measured {
            perf_unit_measured(&mut self.server, now);
        } else {
            self.server.turn_at(now).expect("turn");
        }
    }

    /// The server's frames go to the client (buffers kept for reuse, so the
    /// measured turn never allocates on the device's behalf); returns how many.
    fn deliver_to_client(&mut self) -> usize {
        self.deliver_to_client_by(usize::MAX, None).0
    }

    /// As [`Bed::deliver_to_client`], the client reading what `reader` received and
    /// answering (`poll_transmit`) after every `group` frames, as a receiver
    /// that keeps up ACKs every second segment. Returns the frames and the
    /// bytes read.
    fn deliver_to_client_by(&mut self, group: usize, reader: Option<ConnId>) -> (usize, usize) {
        let mut read = 0;
        let now = self.now;
        let dev = self.server.device_mut();
        let mut out = std::mem::take(&mut dev.tx.out);
        let n = out.len();
        for (k, mut f) in out.drain(..).enumerate() {
            self.client.handle_frame(now, &f, &mut self.c_out);
            if (k + 1) % group == 0 {
                if let Some(c) = reader {
                    read += self.client_read(c);
                }
                self.client.poll_transmit(now, &mut self.c_out);
            }
            f.resize(2048, 0);
            self.server.device_mut().tx.spare.push(f);
        }
        self.server.device_mut().tx.out = out;
        let dev = self.server.device_mut();
        let mut done = std::mem::take(&mut dev.done);
        for f in done.drain(..) {
            self.c_out.recycle(f);
        }
        self.server.device_mut().done = done;
        if let Some(c) = reader {
            read += self.client_read(c);
        }
        (n, read)
    }

    /// Connect the client to `port`; returns its connection once established.
    fn connect(&mut self, sport: u16, port: u16) -> ConnId {
        let now = self.now;
        self.client.connect(now, SocketAddr::from((CLIENT_IP, sport)), SocketAddr::from((SERVER_IP, port)), &mut self.c_out).expect("connect");
        for _ in 0..100 {
            self.client.poll_transmit(self.now, &mut self.c_out);
            self.deliver_to_server();
            self.server_turn(false);
            self.deliver_to_client();
            let mut cid = None;
            while let Some(e) = self.client.tcp_mut().poll_event() {
                if let TcpEvent::Connected(c) = e {
                    cid = Some(c);
                }
            }
            if let Some(c) = cid {
                return c;
            }
            self.now += Duration::from_millis(1);
        }
        panic!("no connection to port {port}");
    }

    /// Read everything the client's connection holds.
    fn client_read(&mut self, c: ConnId) -> usize {
        let mut n = 0;
        while let Ok(k) = self.client.tcp_mut().recv(c, &mut self.rbuf) {
            if k == 0 {
                break;
            }
            n += k;
        }
        n
    }
}

/// One of the units: set up once, then stepped.
pub trait Unit {
    /// Do one step; the server's turns are measured when `measured`. Returns
    /// the units of work the step did (segments, transactions, connections).
    fn step(&mut self, measured: bool) -> u64;
}

/// `rr_64B`: the echo service, one connection, 64-byte requests.
pub struct Rr {
    bed: Bed,
    cid: ConnId,
    req: Vec<u8>,
}

impl Rr {
    /// An established connection, warmed up.
    pub fn new() -> Rr {
        let mut bed = Bed::new(ServiceKind::Echo, 7);
        let cid = bed.connect(40000, 7);
        bed.client.tcp_mut().set_nodelay(cid, true);
        let mut rr = Rr { bed, cid, req: vec![0x5a; 64] };
        for _ in 0..100 {
            rr.step(false);
        }
        rr
    }
}

impl Default for Rr {
    fn default() -> Self {
        Rr::new()
    }
}

impl Unit for Rr {
    fn step(&mut self, measured: bool) -> u64 {
        let b = &mut self.bed;
        b.now += Duration::from_micros(10);
        assert_eq!(b.client.tcp_mut().send(self.cid, &self.req).expect("send"), 64);
        b.client.poll_transmit(b.now, &mut b.c_out);
        assert_eq!(b.deliver_to_server(), 1, "one request segment");
        b.server_turn(measured);
        assert_eq!(b.deliver_to_client(), 1, "one response segment, ACK piggybacked");
        assert_eq!(b.client_read(self.cid), 64, "the echo came back");
        1
    }
}

/// `segment_rx_1448`: a bulk sender (the client) into the discard service.
pub struct SegmentRx {
    bed: Bed,
    cid: ConnId,
    data: Vec<u8>,
}

impl SegmentRx {
    /// An established connection past slow start, warmed up.
    pub fn new() -> SegmentRx {
        let mut bed = Bed::new(ServiceKind::Discard, 9);
        let cid = bed.connect(40001, 9);
        let mut u = SegmentRx { bed, cid, data: vec![0x42; 2 * SEG_DATA] };
        for _ in 0..1000 {
            u.step(false);
        }
        u
    }
}

impl Default for SegmentRx {
    fn default() -> Self {
        SegmentRx::new()
    }
}

impl Unit for SegmentRx {
    fn step(&mut self, measured: bool) -> u64 {
        let b = &mut self.bed;
        b.now += Duration::from_micros(20);
        assert_eq!(b.client.tcp_mut().send(self.cid, &self.data).expect("send"), 2 * SEG_DATA, "the send buffer drains");
        b.client.poll_transmit(b.now, &mut b.c_out);
        assert_eq!(b.deliver_to_server(), 2, "two full segments");
        b.server_turn(measured);
        assert_eq!(b.deliver_to_client(), 1, "one ACK for two segments");
        2
    }
}

/// `segment_tx_1448`: the chargen service sends, the client reads and ACKs
/// every second segment.
pub struct SegmentTx {
    bed: Bed,
    cid: ConnId,
}

impl SegmentTx {
    /// An established connection whose sender is past slow start, warmed up.
    pub fn new() -> SegmentTx {
        let mut bed = Bed::new(ServiceKind::Chargen, 19);
        let cid = bed.connect(40002, 19);
        // Drain the initial window: from here on each turn is ACK in, two
        // segments out.
        for _ in 0..200 {
            bed.now += Duration::from_micros(20);
            bed.client.poll_transmit(bed.now, &mut bed.c_out);
            bed.deliver_to_server();
            bed.server_turn(false);
            bed.deliver_to_client_by(2, Some(cid));
        }
        let mut u = SegmentTx { bed, cid };
        for _ in 0..1000 {
            u.step(false);
        }
        u
    }
}

impl Default for SegmentTx {
    fn default() -> Self {
        SegmentTx::new()
    }
}

impl Unit for SegmentTx {
    fn step(&mut self, measured: bool) -> u64 {
        let b = &mut self.bed;
        b.now += Duration::from_micros(20);
        // The client's ACKs of the last turn's segments (one every second
        // segment) in, new segments out.
        b.client.poll_transmit(b.now, &mut b.c_out);
        let acks = b.deliver_to_server();
        b.server_turn(measured);
        let (sent, read) = b.deliver_to_client_by(2, Some(self.cid));
        assert!(acks >= 1 && sent >= 2 * acks - 1 && sent <= 2 * acks + 1, "ACKs in, two segments out for each ({acks} in, {sent} out)");
        assert_eq!(read, SEG_DATA * sent);
        sent as u64
    }
}

/// `crr`: a connection's whole life on the server (echo service), SYN to
/// closed; the client sends 64 bytes, reads the echo and closes first.
pub struct Crr {
    bed: Bed,
    next_port: u16,
    req: Vec<u8>,
}

impl Crr {
    /// A server that served a few connections already.
    pub fn new() -> Crr {
        let mut u = Crr { bed: Bed::new(ServiceKind::Echo, 7), next_port: 20000, req: vec![0x33; 64] };
        for _ in 0..200 {
            u.step(false);
        }
        u
    }

    /// Client output to the server, one server turn, its output back.
    fn round(&mut self, measured: bool) -> usize {
        let b = &mut self.bed;
        b.client.poll_transmit(b.now, &mut b.c_out);
        b.deliver_to_server();
        b.server_turn(measured);
        b.deliver_to_client()
    }
}

impl Default for Crr {
    fn default() -> Self {
        Crr::new()
    }
}

impl Unit for Crr {
    fn step(&mut self, measured: bool) -> u64 {
        // Ports cycle through 40,000 of them, 1 ms apart: the client's
        // TIME-WAITs (4 s) have ended before a port comes back.
        let port = self.next_port;
        self.next_port = if port >= 59_999 { 20000 } else { port + 1 };
        let b = &mut self.bed;
        b.now += Duration::from_millis(1);
        let now = b.now;
        let c = b.client.connect(now, SocketAddr::from((CLIENT_IP, port)), SocketAddr::from((SERVER_IP, 7)), &mut b.c_out).expect("connect");
        b.client.tcp_mut().set_nodelay(c, true);
        // SYN in, SYN-ACK out.
        assert_eq!(self.round(measured), 1, "SYN-ACK");
        let b = &mut self.bed;
        assert!(matches!(b.client.tcp_mut().poll_event(), Some(TcpEvent::Connected(x)) if x == c));
        // The handshake's ACK with the request in, the echo out.
        assert_eq!(b.client.tcp_mut().send(c, &self.req).expect("send"), 64);
        assert_eq!(self.round(measured), 1, "echo");
        let b = &mut self.bed;
        assert_eq!(b.client_read(c), 64);
        // The client's FIN in (its ACK of the echo on it), the server's FIN out.
        b.client.tcp_mut().close(c).expect("close");
        assert_eq!(self.round(measured), 1, "FIN");
        // The client's ACK of the FIN in: the server's connection ends.
        assert_eq!(self.round(measured), 0, "nothing after the last ACK");
        let b = &mut self.bed;
        assert_eq!(b.server.net().iface().tcp().connection_count(), 0, "the server's connection is freed");
        let mut buf = [0u8; 8];
        assert_eq!(b.client.tcp_mut().recv(c, &mut buf), Err(RecvError::Eof));
        while b.client.tcp_mut().poll_event().is_some() {}
        1
    }
}

/// `udp_echo_64B`: the udp-echo service, 64-byte datagrams.
pub struct UdpEcho {
    bed: Bed,
    payload: Vec<u8>,
}

impl UdpEcho {
    /// The service bound, a few datagrams echoed.
    pub fn new() -> UdpEcho {
        let mut bed = Bed::new(ServiceKind::UdpEcho, 7);
        bed.client.udp_mut().bind(40003).expect("bind");
        let mut u = UdpEcho { bed, payload: vec![0x17; 64] };
        for _ in 0..100 {
            u.step(false);
        }
        u
    }
}

impl Default for UdpEcho {
    fn default() -> Self {
        UdpEcho::new()
    }
}

impl Unit for UdpEcho {
    fn step(&mut self, measured: bool) -> u64 {
        let b = &mut self.bed;
        b.now += Duration::from_micros(10);
        b.client.send_udp(b.now, SocketAddr::from((CLIENT_IP, 40003)), SocketAddr::from((SERVER_IP, 7)), &self.payload, &mut b.c_out).expect("send_udp");
        assert_eq!(b.deliver_to_server(), 1, "one datagram");
        b.server_turn(measured);
        assert_eq!(b.deliver_to_client(), 1, "one echo");
        let d = b.client.udp_mut().recv_from(40003, &mut b.rbuf).expect("the echo arrived");
        assert_eq!(d.len, 64);
        1
    }
}

/// `idle_turn`: an established connection and nothing to do.
pub struct Idle {
    rr: Rr,
}

impl Idle {
    /// The echo server after some transactions, quiet.
    pub fn new() -> Idle {
        Idle { rr: Rr::new() }
    }
}

impl Default for Idle {
    fn default() -> Self {
        Idle::new()
    }
}

impl Unit for Idle {
    fn step(&mut self, measured: bool) -> u64 {
        let b = &mut self.rr.bed;
        b.server_turn(measured);
        assert_eq!(b.deliver_to_client(), 0, "an idle turn sends nothing");
        1
    }
}

/// The unit called `name`, set up.
pub fn unit(name: &str) -> Option<Box<dyn Unit>> {
    Some(match name {
        "rr_64B" => Box::new(Rr::new()),
        "segment_rx_1448" => Box::new(SegmentRx::new()),
        "segment_tx_1448" => Box::new(SegmentTx::new()),
        "crr" => Box::new(Crr::new()),
        "udp_echo_64B" => Box::new(UdpEcho::new()),
        "idle_turn" => Box::new(Idle::new()),
        _ => return None,
    })
}
