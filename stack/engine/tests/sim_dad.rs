//! Duplicate Address Detection on a two-core stack (the real `Core` loops and
//! mesh, a virtual clock, frames injected by the test): core 0 does the link's
//! DAD (RFC 4862 §5.4) for every core. Its verdicts must reach the other core:
//! an address found duplicate is withdrawn everywhere (no core answers for it
//! or sends from it) and reported once; an address formed by SLAAC is used by
//! no core before core 0 finds it unique, and by every core after.

use engine::mesh::mesh;
use engine::rss::{RssTable, Steering};
use engine::{Clock, Core, Net, Service, ServiceKind, Services};
use proto::iface::{Interface, InterfaceConfig};
use proto::ipv6::AddrState;
use proto::time::{Duration, Instant};
use std::net::Ipv6Addr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use xsk::{mem_pair, Device, MemDevice, TxQueue};

const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const NIC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xee];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// The node that owns our address too.
const OTHER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x77];
const US: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const ROUTER_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// Our SLAAC address in 2001:db8:1::/64 (modified EUI-64 of OUR_MAC).
const SLAAC: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0xff, 0xfe00, 2);

type Events = Arc<Mutex<Vec<(usize, Ipv6Addr, bool)>>>;

struct Server {
    now: Instant,
    cores: Vec<Core<MemDevice, Services>>,
    wires: Vec<MemDevice>,
    /// Frames each core sent, with the time.
    sent: Vec<Vec<(Instant, Vec<u8>)>>,
    events: Events,
}

impl Server {
    fn new(ipv6: Vec<(Ipv6Addr, u8)>, slaac: bool) -> Server {
        let clock = Clock::new();
        let steering = Arc::new(Steering::new(&RssTable::default_for(2), &[0, 1]).unwrap());
        let events: Events = Arc::default();
        let mut cores = Vec::new();
        let mut wires = Vec::new();
        for (i, links) in mesh(2, 512, 2048).unwrap().into_iter().enumerate() {
            let (dev, wire) = mem_pair(OUR_MAC, NIC_MAC, 4096);
            // As the stack configures its cores: core 0 does the link's DAD.
            let iface = Interface::new(InterfaceConfig { mac: OUR_MAC, ipv6: ipv6.clone(), slaac, ipv6_control: i == 0, ..Default::default() });
            let net = Net::new(iface, i, Arc::clone(&steering), Arc::new(AtomicBool::new(false)), 49152);
            let app = Services::new(&[Service { kind: ServiceKind::Echo, port: 7 }]);
            let mut core = Core::new(dev, net, app, links, clock, i as u32);
            let ev = Arc::clone(&events);
            core.set_addr_hook(Box::new(move |a, ok| ev.lock().unwrap().push((i, a, ok))));
            cores.push(core);
            wires.push(wire);
        }
        Server { now: Instant::from_millis(1), cores, wires, sent: vec![Vec::new(), Vec::new()], events }
    }

    /// Every core turns once (twice: handed-over frames are handled at the next
    /// turn), then what they sent is collected.
    fn step(&mut self, dt: Duration) {
        self.now += dt;
        for _ in 0..2 {
            for c in &mut self.cores {
                c.turn_at(self.now).unwrap();
            }
        }
        let now = self.now;
        for (i, w) in self.wires.iter_mut().enumerate() {
            let sent = &mut self.sent[i];
            w.rx_burst(usize::MAX, |f, _| sent.push((now, f.to_vec()))).unwrap();
        }
    }

    fn run_until(&mut self, t: Instant) {
        while self.now < t {
            self.step(Duration::from_millis(10));
        }
    }

    /// Deliver `frame` to core `core`'s queue.
    fn inject(&mut self, core: usize, frame: &[u8]) {
        assert!(self.wires[core].tx().send(frame.len(), &mut |b| b.copy_from_slice(frame)));
        self.wires[core].flush().unwrap();
        self.step(Duration::from_millis(1));
    }

    fn state(&self, core: usize, a: Ipv6Addr) -> Option<AddrState> {
        self.cores[core].net().iface().ipv6().find(&a).map(|x| x.state)
    }

    /// Frames core `core` sent since `t` whose IPv6 source is `src`.
    fn sent_from(&self, core: usize, src: Ipv6Addr, t: Instant) -> Vec<Vec<u8>> {
        self.sent[core].iter().filter(|(at, f)| *at >= t && f[12..14] == [0x86, 0xdd] && f[22..38] == src.octets()).map(|(_, f)| f.clone()).collect()
    }
}

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    for c in data.chunks(2) {
        acc += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    acc
}

/// An IPv6 frame carrying `body` (next header `nh`), with the upper-layer
/// checksum at `csum_at` in `body` filled in.
#[allow(clippy::too_many_arguments)]
fn frame6(src_mac: [u8; 6], dst_mac: [u8; 6], src: Ipv6Addr, dst: Ipv6Addr, nh: u8, hop_limit: u8, body: &[u8], csum_at: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(54 + body.len());
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(body.len() as u16).to_be_bytes());
    f.extend_from_slice(&[nh, hop_limit]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(body);
    let mut acc = sum16(&f[22..54], u32::from(nh) + body.len() as u32);
    acc = sum16(&f[54..], acc);
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    f[54 + csum_at..56 + csum_at].copy_from_slice(&(!(acc as u16)).to_be_bytes());
    f
}

fn multicast_mac(a: Ipv6Addr) -> [u8; 6] {
    let o = a.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// An unsolicited NA for `target` from the node that has it, to all-nodes
/// (RFC 4862 §5.4.4: another node defends the address).
fn na_from_other(target: Ipv6Addr) -> Vec<u8> {
    let mut b = vec![136, 0, 0, 0, 0x20, 0, 0, 0];
    b.extend_from_slice(&target.octets());
    b.extend_from_slice(&[2, 1]);
    b.extend_from_slice(&OTHER_MAC);
    frame6(OTHER_MAC, multicast_mac(ALL_NODES), target, ALL_NODES, 58, 255, &b, 2)
}

fn echo_request(to: Ipv6Addr, seq: u16) -> Vec<u8> {
    let mut b = vec![128, 0, 0, 0, 0x12, 0x34];
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(b"dad test");
    frame6(PEER_MAC, OUR_MAC, PEER, to, 58, 64, &b, 2)
}

/// A unicast NS from the peer (not a DAD probe) for `target`.
fn ns(target: Ipv6Addr) -> Vec<u8> {
    let mut b = vec![135, 0, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&target.octets());
    b.extend_from_slice(&[1, 1]);
    b.extend_from_slice(&PEER_MAC);
    frame6(PEER_MAC, OUR_MAC, PEER, target, 58, 255, &b, 2)
}

fn syn(to: Ipv6Addr, sport: u16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&sport.to_be_bytes());
    b.extend_from_slice(&7u16.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0x10, 0, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    frame6(PEER_MAC, OUR_MAC, PEER, to, 6, 64, &b, 16)
}

/// A Router Advertisement from `ROUTER_LL` with the on-link, autonomous prefix
/// 2001:db8:1::/64 (RFC 4861 §4.2, §4.6.2).
fn ra() -> Vec<u8> {
    let mut b = vec![134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&[1, 1]);
    b.extend_from_slice(&PEER_MAC);
    b.extend_from_slice(&[3, 4, 64, 0xc0]);
    b.extend_from_slice(&86_400u32.to_be_bytes());
    b.extend_from_slice(&14_400u32.to_be_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0).octets());
    frame6(PEER_MAC, multicast_mac(ALL_NODES), ROUTER_LL, ALL_NODES, 58, 255, &b, 2)
}

/// Echo request, unicast NS and SYN for `addr` to both cores, each with its own
/// sequence number / port; returns when they were sent.
fn probe_both(s: &mut Server, addr: Ipv6Addr, round: u16) -> Instant {
    let t = s.now;
    for core in 0..2 {
        let n = round * 2 + core as u16;
        s.inject(core, &echo_request(addr, n));
        s.inject(core, &ns(addr));
        s.inject(core, &syn(addr, 40000 + n));
    }
    s.step(Duration::from_millis(5));
    t
}

#[test]
fn an_address_found_duplicate_by_core_0_is_withdrawn_on_every_core() {
    let mut s = Server::new(vec![(US, 64)], false);
    s.run_until(Instant::from_millis(100));
    // Static addresses are used while their DAD runs ("optimistic"), on both cores.
    assert!(matches!(s.state(0, US), Some(AddrState::Tentative { optimistic: true, .. })));
    let t = probe_both(&mut s, US, 0);
    for core in 0..2 {
        assert!(!s.sent_from(core, US, t).is_empty(), "core {core} answers for the address while it is optimistic");
    }
    // Another node defends it; the NA reaches core 1's queue (core 1 hands it
    // to core 0, which does DAD).
    s.inject(1, &na_from_other(US));
    s.step(Duration::from_millis(10));
    for core in 0..2 {
        assert_eq!(s.state(core, US), Some(AddrState::Duplicate), "core {core}: the address is withdrawn");
    }
    let t = probe_both(&mut s, US, 1);
    s.run_until(Instant::from_millis(3000));
    for core in 0..2 {
        let from = s.sent_from(core, US, t);
        assert!(from.is_empty(), "core {core} still sends from a duplicate address: {} frames, first {:02x?}", from.len(), from[0]);
        assert_eq!(s.state(core, US), Some(AddrState::Duplicate), "core {core}: still withdrawn at the end of DAD");
    }
    // Reported once, by the core that detected it; never reported usable.
    assert_eq!(*s.events.lock().unwrap(), vec![(0, US, false)]);
}

#[test]
fn core_1_finds_a_conflict_and_core_0_withdraws_the_address_too() {
    let mut s = Server::new(vec![], true);
    s.run_until(Instant::from_millis(50));
    s.inject(0, &ra());
    s.step(Duration::from_millis(10));
    for core in 0..2 {
        assert!(matches!(s.state(core, SLAAC), Some(AddrState::Tentative { optimistic: false, .. })), "core {core}: {:?}", s.state(core, SLAAC));
    }
    // A unicast NA for the tentative address lands on core 1 only (no handover
    // for unicast advertisements): core 1 must tell core 0.
    let mut b = vec![136, 0, 0, 0, 0x20, 0, 0, 0];
    b.extend_from_slice(&SLAAC.octets());
    b.extend_from_slice(&[2, 1]);
    b.extend_from_slice(&OTHER_MAC);
    let our_ll = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe00, 2);
    let na = frame6(OTHER_MAC, OUR_MAC, SLAAC, our_ll, 58, 255, &b, 2);
    s.inject(1, &na);
    s.step(Duration::from_millis(10));
    s.run_until(Instant::from_millis(3000));
    for core in 0..2 {
        assert_eq!(s.state(core, SLAAC), Some(AddrState::Duplicate), "core {core}");
    }
    let ev = s.events.lock().unwrap().clone();
    assert!(ev.contains(&(1, SLAAC, false)), "{ev:?}");
    assert!(!ev.iter().any(|(_, a, ok)| *a == SLAAC && *ok), "never usable: {ev:?}");
}

#[test]
fn a_slaac_address_is_used_by_no_core_before_core_0_finds_it_unique() {
    let mut s = Server::new(vec![], true);
    s.run_until(Instant::from_millis(50));
    // The RA reaches core 0's queue; core 0 copies it to core 1.
    s.inject(0, &ra());
    s.step(Duration::from_millis(10));
    for core in 0..2 {
        assert!(s.state(core, SLAAC).is_some(), "core {core} formed the address");
    }
    let t = probe_both(&mut s, SLAAC, 0);
    for core in 0..2 {
        let from = s.sent_from(core, SLAAC, t);
        assert!(from.is_empty(), "core {core} answers for a tentative address (RFC 4862 §5.4: not assigned yet): {:02x?}", from[0]);
    }
    // Core 0 sends one probe, waits RetransTimer (1 s), finds it unique.
    s.run_until(Instant::from_millis(1500));
    for core in 0..2 {
        assert_eq!(s.state(core, SLAAC), Some(AddrState::Preferred), "core {core}");
    }
    let t = probe_both(&mut s, SLAAC, 1);
    for core in 0..2 {
        // Echo reply, NA and SYN-ACK from the address, on both cores (the SYN's
        // owner answers it, so count at least the echo reply and the NA).
        assert!(s.sent_from(core, SLAAC, t).len() >= 2, "core {core} answers for the address once it is unique");
    }
    let ev = s.events.lock().unwrap().clone();
    assert_eq!(ev.iter().filter(|(_, a, ok)| *a == SLAAC && *ok).count(), 1, "reported usable once: {ev:?}");
}
