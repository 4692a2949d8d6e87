//! The per-frame cost of the whole receive path, `proto::iface::Interface::handle_frame`
//! (parse, dispatch, protocol state, answer written into a transmit frame):
//!
//! * `arp_request`: an ARP request for our address (answered with a reply);
//! * `icmp_echo_56B`: an ICMP echo request with 56 bytes of data (answered);
//! * `tcp_segment_1448B`: a full-sized, in-order data segment on an ESTABLISHED
//!   connection, plus the `poll_transmit` after it that sends the ACK it owes
//!   (every second segment; RFC 9293 §3.8.6.3). The segments are real: a client
//!   `Interface` sends them over an in-memory link to the server `Interface`
//!   under test; generating them, returning the server's ACKs and reading the data
//!   out of the server are outside the timed part (`iter_custom`).
//!
//! Addresses are from 198.18.0.0/15 (RFC 2544, benchmarking).
//!
//! `cargo bench -p xdpstack-bench --bench iface`
//!
//! # Instruction counts
//!
//! The server's work per segment is in the `#[inline(never)]` function `server_rx`,
//! so callgrind can count only it (the segment generation by the client, which
//! also calls `handle_frame`, is left out):
//!
//! ```text
//! cargo bench -p xdpstack-bench --bench iface --no-run     # prints the binary's path
//! valgrind --tool=callgrind --toggle-collect='*server_rx*' \
//!     --callgrind-out-file=/tmp/cg.iface target/release/deps/iface-<hash> \
//!     --bench --profile-time 2 iface/tcp_segment_1448B
//! callgrind_annotate /tmp/cg.iface | head -30    # "PROGRAM TOTALS": Ir inside server_rx
//! ```
//!
//! and divide by the number of segments handled, which the benchmark prints to
//! stderr in `--profile-time` mode (`server_rx calls: N`).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration as StdDuration;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use proto::iface::{Interface, InterfaceConfig};
use proto::tcp::{ConnId, TcpEvent};
use proto::time::{Duration, Instant};
use proto::FrameSink;
use wire::arp::{ArpOperation, ArpRepr};
use wire::ethernet::{ethertype, EthernetAddress, EthernetRepr, Frame};
use wire::icmpv4::{self, Icmpv4Repr};
use wire::ip::protocol;
use wire::ipv4::{self, Ipv4Repr};
use wire::ChecksumMode;
use xdpstack_bench::{CollectSink, ScratchSink};

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PORT: u16 = 5001;
/// Payload of a full segment: MSS 1460 less the 12-byte timestamp option.
const SEG_DATA: usize = 1448;

fn iface(mac: [u8; 6], ip: Ipv4Addr) -> Interface {
    Interface::new(InterfaceConfig { mac, ipv4: vec![(ip, 15)], ..InterfaceConfig::default() })
}

/// Ethernet frame from the client's MAC carrying `l3_len` bytes written by `fill`.
fn frame(dst: EthernetAddress, ty: u16, l3_len: usize, fill: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let eth = EthernetRepr { src: EthernetAddress(CLIENT_MAC), dst, vlan: None, ethertype: ty };
    let mut buf = vec![0u8; eth.buffer_len(l3_len)];
    let mut f = Frame::new_unchecked(&mut buf[..]);
    eth.emit(&mut f);
    fill(f.payload_mut());
    buf
}

fn arp_request() -> Vec<u8> {
    let req = ArpRepr {
        operation: ArpOperation::Request,
        source_hw: EthernetAddress(CLIENT_MAC),
        source_ip: CLIENT_IP,
        target_hw: EthernetAddress([0; 6]),
        target_ip: SERVER_IP,
    };
    frame(EthernetAddress::BROADCAST, ethertype::ARP, req.buffer_len(), |b| {
        req.emit(&mut wire::arp::Packet::new_unchecked(b))
    })
}

fn icmp_echo_request(data: &[u8]) -> Vec<u8> {
    let icmp = Icmpv4Repr::EchoRequest { ident: 0x1234, seq_no: 1, data };
    let ip = Ipv4Repr {
        src: CLIENT_IP,
        dst: SERVER_IP,
        protocol: protocol::ICMP,
        payload_len: icmp.buffer_len(),
        ttl: 64,
        ident: 7,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        dscp_ecn: 0,
    };
    frame(EthernetAddress(SERVER_MAC), ethertype::IPV4, ip.buffer_len(), |b| {
        let mut p = ipv4::Packet::new_unchecked(b);
        ip.emit(&mut p, ChecksumMode::Full);
        icmp.emit(&mut icmpv4::Packet::new_unchecked(p.payload_mut()), ChecksumMode::Full);
    })
}

/// TCP payload length of an Ethernet/IPv4/TCP frame (0 for anything else).
fn tcp_payload_len(f: &[u8]) -> usize {
    let Ok(p) = ipv4::Packet::new_checked(&f[14..]) else { return 0 };
    if p.protocol() != protocol::TCP {
        return 0;
    }
    let seg = p.payload();
    seg.len().saturating_sub(usize::from(seg[12] >> 4) * 4)
}

/// Two interfaces over an in-memory link, with an ESTABLISHED connection from the
/// client to the server, and a virtual clock.
struct Pair {
    client: Interface,
    server: Interface,
    /// Frames the client sent (to the server).
    c_out: CollectSink,
    /// Frames the server sent (to the client).
    s_out: CollectSink,
    cid: ConnId,
    sid: ConnId,
    now: Instant,
    data: Vec<u8>,
    rbuf: Vec<u8>,
    /// Client data segments not yet handed to the server, in order.
    pending: std::collections::VecDeque<Vec<u8>>,
    received: u64,
}

impl Pair {
    fn new() -> Pair {
        let mut client = iface(CLIENT_MAC, CLIENT_IP);
        let mut server = iface(SERVER_MAC, SERVER_IP);
        server.tcp_mut().listen(PORT).unwrap();
        let mut c_out = CollectSink::default();
        let now = Instant::from_millis(1);
        // No ARP entry yet: connect sends an ARP request; the SYN follows when the
        // retransmission timer fires after the reply came back.
        client
            .connect(now, SocketAddr::from((CLIENT_IP, 40000)), SocketAddr::from((SERVER_IP, PORT)), &mut c_out)
            .unwrap();
        let mut pair = Pair {
            client,
            server,
            c_out,
            s_out: CollectSink::default(),
            cid: ConnId { index: 0, generation: 0 },
            sid: ConnId { index: 0, generation: 0 },
            now,
            data: (0..256 * 1024).map(|i| (i * 7) as u8).collect(),
            rbuf: vec![0; 256 * 1024],
            pending: Default::default(),
            received: 0,
        };
        let (mut cid, mut sid) = (None, None);
        for _ in 0..100 {
            pair.shuttle();
            while let Some(e) = pair.client.tcp_mut().poll_event() {
                if let TcpEvent::Connected(c) = e {
                    cid = Some(c);
                }
            }
            while let Some(e) = pair.server.tcp_mut().poll_event() {
                if let TcpEvent::Accepted { conn, .. } = e {
                    sid = Some(conn);
                }
            }
            if cid.is_some() && sid.is_some() && pair.c_out.frames.is_empty() && pair.s_out.frames.is_empty() {
                break;
            }
            pair.advance_to_timer();
        }
        pair.cid = cid.expect("client connected");
        pair.sid = sid.expect("server accepted");
        assert_eq!(pair.client.arp().len(), 1);
        pair
    }

    /// Forward frames both ways until both links are idle (no time passes).
    fn shuttle(&mut self) {
        for _ in 0..1000 {
            if self.c_out.frames.is_empty() && self.s_out.frames.is_empty() {
                return;
            }
            for f in std::mem::take(&mut self.c_out.frames) {
                self.server.handle_frame(self.now, &f, &mut self.s_out);
                self.c_out.recycle(f);
            }
            self.server.poll_transmit(self.now, &mut self.s_out);
            for f in std::mem::take(&mut self.s_out.frames) {
                self.client.handle_frame(self.now, &f, &mut self.c_out);
                self.s_out.recycle(f);
            }
            self.client.poll_transmit(self.now, &mut self.c_out);
        }
        panic!("frames never stop");
    }

    /// Jump the clock to the earlier timer of the two and let both transmit.
    fn advance_to_timer(&mut self) {
        let t = [self.client.poll_timeout(), self.server.poll_timeout()].into_iter().flatten().min();
        if let Some(t) = t {
            self.now = self.now.max(t);
        }
        self.client.poll_transmit(self.now, &mut self.c_out);
        self.server.poll_transmit(self.now, &mut self.s_out);
    }

    /// Make sure at least one client data segment is pending for the server: read
    /// the server's data (opening its window), return its ACKs to the client, top up
    /// the client's send buffer and collect what the client sends.
    fn refill(&mut self) {
        let mut rounds = 0;
        while self.pending.is_empty() {
            rounds += 1;
            assert!(rounds < 100, "the client stopped sending");
            // The application on the server reads everything (a window update may follow).
            while let Ok(n) = self.server.tcp_mut().recv(self.sid, &mut self.rbuf) {
                self.received += n as u64;
            }
            self.server.poll_transmit(self.now, &mut self.s_out);
            for f in std::mem::take(&mut self.s_out.frames) {
                self.client.handle_frame(self.now, &f, &mut self.c_out);
                self.s_out.recycle(f);
            }
            // Keep whole segments queued so every segment is full-sized.
            let cap = self.client.tcp().send_capacity(self.cid);
            let n = (cap / SEG_DATA).min(64) * SEG_DATA;
            if n > 0 {
                self.client.tcp_mut().send(self.cid, &self.data[..n]).unwrap();
            }
            self.client.poll_transmit(self.now, &mut self.c_out);
            for f in std::mem::take(&mut self.c_out.frames) {
                assert!(tcp_payload_len(&f) > 0, "only data segments expected");
                self.pending.push_back(f);
            }
            while self.client.tcp_mut().poll_event().is_some() {}
            while self.server.tcp_mut().poll_event().is_some() {}
            if self.pending.is_empty() {
                // Waiting on a delayed ACK: let its timer fire.
                self.advance_to_timer();
            }
        }
    }
}

/// The measured unit of `tcp_segment_1448B`: one received segment through the
/// whole receive path, then the output it makes due. Not inlined so callgrind
/// can count it alone (`--toggle-collect='*server_rx*'`).
#[inline(never)]
fn server_rx(server: &mut Interface, now: Instant, frame: &[u8], tx: &mut dyn FrameSink) {
    server.handle_frame(now, frame, tx);
    server.poll_transmit(now, tx);
}

fn bench_iface(c: &mut Criterion) {
    let mut g = c.benchmark_group("iface");
    g.throughput(Throughput::Elements(1));

    // (a) ARP request for our address: the reply is written into `sink`.
    let mut server = iface(SERVER_MAC, SERVER_IP);
    let mut sink = ScratchSink::default();
    let req = arp_request();
    let now = Instant::from_millis(1);
    server.handle_frame(now, &req, &mut sink);
    assert_eq!((sink.sent, sink.last_len), (1, 42), "ARP reply");
    g.bench_function("arp_request", |b| b.iter(|| server.handle_frame(now, black_box(&req), &mut sink)));
    assert_eq!(server.stats().arp_replies, sink.sent);

    // (b) ICMP echo request, 56 bytes of data (ping's default): answered.
    let mut server = iface(SERVER_MAC, SERVER_IP);
    let mut sink = ScratchSink::default();
    let echo = icmp_echo_request(&[0xa5; 56]);
    server.handle_frame(now, &echo, &mut sink);
    assert_eq!(sink.last_len, echo.len(), "echo reply");
    assert_eq!(sink.last()[14 + 20], 0, "ICMP type echo reply");
    g.bench_function("icmp_echo_56B", |b| b.iter(|| server.handle_frame(now, black_box(&echo), &mut sink)));
    assert_eq!(server.stats().icmp_echo_replies, sink.sent);

    // (c) In-order full-sized data segments on an ESTABLISHED connection.
    let mut pair = Pair::new();
    let mut acks = ScratchSink::default();
    let mut calls = 0u64;
    let mut delivered = 0u64;
    let mut short = 0u64;
    let mut batches = 0u64;
    g.bench_function("tcp_segment_1448B", |b| {
        b.iter_custom(|iters| {
            let mut total = StdDuration::ZERO;
            let mut done = 0u64;
            while done < iters {
                pair.refill();
                // The client cuts a segment short where its send ring wraps (once
                // per 256 KiB); such a segment is handed over outside the timing.
                if tcp_payload_len(&pair.pending[0]) != SEG_DATA {
                    let f = pair.pending.pop_front().unwrap();
                    delivered += tcp_payload_len(&f) as u64;
                    server_rx(&mut pair.server, pair.now, &f, &mut pair.s_out);
                    short += 1;
                    continue;
                }
                let full = pair.pending.iter().take_while(|f| tcp_payload_len(f) == SEG_DATA).count();
                let n = (full as u64).min(iters - done) as usize;
                let before = acks.sent;
                let batch: Vec<Vec<u8>> = pair.pending.drain(..n).collect();
                let server = &mut pair.server;
                let now = pair.now;
                let t = std::time::Instant::now();
                for f in &batch {
                    server_rx(server, now, f, &mut acks);
                }
                total += t.elapsed();
                batches += 1;
                done += n as u64;
                calls += n as u64;
                delivered += (n * SEG_DATA) as u64;
                for f in batch {
                    pair.c_out.recycle(f);
                }
                if acks.sent > before {
                    pair.client.handle_frame(pair.now, acks.last(), &mut pair.c_out);
                }
                pair.now += Duration::from_micros(20);
            }
            total
        })
    });
    g.finish();
    // Every timed segment was accepted in order: the server read all their data.
    pair.pending.clear();
    while let Ok(n) = pair.server.tcp_mut().recv(pair.sid, &mut pair.rbuf) {
        pair.received += n as u64;
    }
    assert_eq!(pair.received, delivered, "data accepted in order");
    if std::env::args().any(|a| a == "--profile-time") {
        eprintln!(
            "server_rx calls: {} ({calls} timed full segments in {batches} batches, {short} short ones untimed); ACKs sent: {}",
            calls + short,
            acks.sent
        );
    }
}

criterion_group!(benches, bench_iface);
criterion_main!(benches);
