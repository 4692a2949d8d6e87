//! The engine's cost per unit of work, on the stack side, with the device taken
//! out (a device whose rings are plain vectors, as cheap as AF_XDP's rings are to
//! the loop):
//!
//! * `rr_64B`: one 64-byte request/response of the echo service: the server
//!   `Core` receives the request segment (which also acknowledges the previous
//!   response), the echo application moves the bytes ring to ring (`splice`), and
//!   the response goes out with the ACK piggybacked: one `Core::turn_at`;
//! * `idle_turn`: a turn that finds nothing to do.
//!
//! The client is a bare `proto::iface::Interface` outside the measured part.
//!
//! `cargo bench -p xdpstack-bench --bench engine`
//!
//! # Instruction counts
//!
//! ```text
//! cargo bench -p xdpstack-bench --bench engine --no-run      # prints the binary's path
//! valgrind --tool=callgrind --toggle-collect='*server_turn*' \
//!     --callgrind-out-file=/tmp/cg.rr target/release/deps/engine-<hash> \
//!     --bench --profile-time 2 engine/rr_64B
//! callgrind_annotate /tmp/cg.rr | head -30
//! ```
//!
//! and divide the total by the number of turns the benchmark prints to stderr in
//! `--profile-time` mode (`server_turn calls: N`). The same with
//! `--toggle-collect='*idle_turn*'` and `engine/idle_turn`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use engine::mesh::mesh;
use engine::rss::Steering;
use engine::{Clock, Core, Net, Service, ServiceKind, Services};
use proto::iface::{Interface, InterfaceConfig};
use proto::tcp::{ConnId, TcpEvent};
use proto::time::{Duration, Instant};
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use xdpstack_bench::CollectSink;
use xsk::{Device, DeviceStats, MacAddr, TxQueue};

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const SIZE: usize = 64;

/// Transmit side of [`VecDevice`]: frames go into reused buffers.
#[derive(Default)]
struct VecTx {
    out: Vec<Vec<u8>>,
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

/// A device whose RX ring and TX ring are vectors the benchmark fills and empties.
#[derive(Default)]
struct VecDevice {
    rx: VecDeque<Vec<u8>>,
    done: Vec<Vec<u8>>,
    tx: VecTx,
}

impl Device for VecDevice {
    type Tx = VecTx;
    fn mac(&self) -> MacAddr {
        SERVER_MAC
    }
    fn rx_burst<F: FnMut(&[u8], &mut VecTx)>(&mut self, budget: usize, mut f: F) -> std::io::Result<usize> {
        let mut n = 0;
        while n < budget {
            let Some(frame) = self.rx.pop_front() else { break };
            f(&frame, &mut self.tx);
            self.done.push(frame);
            n += 1;
        }
        Ok(n)
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

static TURNS: AtomicU64 = AtomicU64::new(0);

#[inline(never)]
fn server_turn(core: &mut Core<VecDevice, Services>, now: Instant) -> bool {
    TURNS.fetch_add(1, Ordering::Relaxed);
    core.turn_at(now).unwrap()
}

#[inline(never)]
fn idle_turn(core: &mut Core<VecDevice, Services>, now: Instant) -> bool {
    TURNS.fetch_add(1, Ordering::Relaxed);
    core.turn_at(now).unwrap()
}

/// A client interface and the echo server core, with one established connection.
struct Rr {
    client: Interface,
    c_out: CollectSink,
    server: Core<VecDevice, Services>,
    cid: ConnId,
    now: Instant,
    req: Vec<u8>,
    rbuf: Vec<u8>,
}

impl Rr {
    fn new() -> Rr {
        let client = Interface::new(InterfaceConfig { mac: CLIENT_MAC, ipv4: vec![(CLIENT_IP, 24)], ..Default::default() });
        let siface = Interface::new(InterfaceConfig { mac: SERVER_MAC, ipv4: vec![(SERVER_IP, 24)], ..Default::default() });
        let net = Net::new(siface, 0, Arc::new(Steering::single()), Arc::new(AtomicBool::new(false)), 50000);
        let links = mesh(1, 1, 2048).unwrap().pop().unwrap();
        let server = Core::new(VecDevice::default(), net, Services::new(&[Service { kind: ServiceKind::Echo, port: 7 }]), links, Clock::new(), 0);
        let mut rr = Rr { client, c_out: CollectSink::default(), server, cid: ConnId { index: 0, generation: 0 }, now: Instant::from_millis(1), req: vec![0x5a; SIZE], rbuf: vec![0; 4096] };
        let now = rr.now;
        rr.client.connect(now, SocketAddr::from((CLIENT_IP, 40000)), SocketAddr::from((SERVER_IP, 7)), &mut rr.c_out).unwrap();
        let mut cid = None;
        for _ in 0..2000 {
            rr.exchange();
            while let Some(e) = rr.client.tcp_mut().poll_event() {
                if let TcpEvent::Connected(c) = e {
                    cid = Some(c);
                }
            }
            if cid.is_some() {
                break;
            }
            rr.now += Duration::from_millis(50);
        }
        rr.cid = cid.expect("connected");
        rr.client.tcp_mut().set_nodelay(rr.cid, true);
        // Warm up: a few transactions so that every buffer exists.
        for _ in 0..100 {
            rr.transaction(false);
        }
        rr
    }

    /// Move frames both ways once (server turn not measured).
    fn exchange(&mut self) {
        let now = self.now;
        self.client.poll_transmit(now, &mut self.c_out);
        let dev_rx = std::mem::take(&mut self.c_out.frames);
        self.server.device_mut().rx.extend(dev_rx);
        self.server.turn_at(now).unwrap();
        self.back_to_client();
    }

    fn back_to_client(&mut self) {
        let now = self.now;
        // Drain (not take): the vectors keep their capacity, so the measured turn
        // never allocates on the device's behalf.
        let dev = self.server.device_mut();
        let mut out = std::mem::take(&mut dev.tx.out);
        for f in out.drain(..) {
            self.client.handle_frame(now, &f, &mut self.c_out);
            let mut f = f;
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
    }

    /// One 64-byte request and its response; the server's turn is `server_turn`
    /// when `measured`.
    fn transaction(&mut self, measured: bool) {
        self.now += Duration::from_micros(10);
        let now = self.now;
        assert_eq!(self.client.tcp_mut().send(self.cid, &self.req).unwrap(), SIZE);
        self.client.poll_transmit(now, &mut self.c_out);
        assert_eq!(self.c_out.frames.len(), 1, "one request segment");
        let f = self.c_out.frames.pop().unwrap();
        self.server.device_mut().rx.push_back(f);
        if measured {
            server_turn(&mut self.server, now);
        } else {
            self.server.turn_at(now).unwrap();
        }
        assert_eq!(self.server.device_mut().tx.out.len(), 1, "one response segment, ACK piggybacked");
        self.back_to_client();
        let n = self.client.tcp_mut().recv(self.cid, &mut self.rbuf).unwrap();
        assert_eq!(n, SIZE, "the echo came back");
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine");
    let mut rr = Rr::new();
    TURNS.store(0, Ordering::Relaxed);
    g.bench_function("rr_64B", |b| b.iter(|| rr.transaction(true)));
    if std::env::args().any(|a| a == "--profile-time") {
        eprintln!("server_turn calls: {}", TURNS.load(Ordering::Relaxed));
    }
    let mut rr = Rr::new();
    TURNS.store(0, Ordering::Relaxed);
    let now = rr.now;
    g.bench_function("idle_turn", |b| b.iter(|| black_box(idle_turn(&mut rr.server, now))));
    if std::env::args().any(|a| a == "--profile-time") {
        eprintln!("idle_turn calls: {}", TURNS.load(Ordering::Relaxed));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
