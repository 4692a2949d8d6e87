//! Parse and emit costs of the IPv4-side `wire` modules on frames captured from the
//! Linux kernel (`testdata/v4.pcap`, written by `testdata/capture-v4.sh`), all
//! checksums verified / computed.

use core::net::IpAddr;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use wire::arp::{self, ArpRepr};
use wire::ethernet::{ethertype, EthernetRepr, Frame};
use wire::icmpv4::{self, Icmpv4Repr};
use wire::ip::protocol;
use wire::ipv4::{self, Ipv4Repr};
use wire::tcp::{TcpPacket, TcpRepr};
use wire::udp::{self, UdpRepr};
use wire::ChecksumMode;
use xdpstack_bench::{find, read_pcap};

static V4: &[u8] = include_bytes!("../../testdata/v4.pcap");

fn ip_of(f: &[u8]) -> Option<(Ipv4Repr, &[u8])> {
    let fr = Frame::new_checked(f).ok()?;
    if fr.ethertype() != ethertype::IPV4 {
        return None;
    }
    let p = ipv4::Packet::new_checked(&f[14..]).ok()?;
    let r = Ipv4Repr::parse(&p, ChecksumMode::Full).ok()?;
    Some((r, &f[14 + p.header_len() as usize..14 + p.total_len() as usize]))
}

/// Ethernet → IPv4 → TCP, everything verified, as the stack's RX path does it.
fn parse_eth_ipv4_tcp(f: &[u8]) -> usize {
    let fr = Frame::new_checked(f).unwrap();
    let _eth = EthernetRepr::parse(&fr).unwrap();
    let p = ipv4::Packet::new_checked(fr.payload()).unwrap();
    let ip = Ipv4Repr::parse(&p, ChecksumMode::Full).unwrap();
    let t = TcpPacket::new_checked(p.payload()).unwrap();
    let tcp = TcpRepr::parse(&t, &IpAddr::V4(ip.src), &IpAddr::V4(ip.dst), ChecksumMode::Full).unwrap();
    tcp.payload.len()
}

fn bench_parsers(c: &mut Criterion) {
    let frames = read_pcap(V4);
    let tcp_data = find(&frames, |f| {
        ip_of(f).is_some_and(|(ip, b)| ip.protocol == protocol::TCP && b.len() > 1000)
    });
    let tcp_ack = find(&frames, |f| {
        ip_of(f).is_some_and(|(ip, b)| ip.protocol == protocol::TCP && b.len() == 32)
    });
    let arp_frame = find(&frames, |f| Frame::new_checked(f).is_ok_and(|fr| fr.ethertype() == ethertype::ARP));
    let icmp = find(&frames, |f| ip_of(f).is_some_and(|(ip, b)| ip.protocol == protocol::ICMP && b.len() == 64));
    let udp_frame = find(&frames, |f| ip_of(f).is_some_and(|(ip, _)| ip.protocol == protocol::UDP));

    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    g.bench_function("eth_ipv4_tcp_1448B", |b| b.iter(|| parse_eth_ipv4_tcp(black_box(&tcp_data))));
    g.bench_function("eth_ipv4_tcp_ack_ts", |b| b.iter(|| parse_eth_ipv4_tcp(black_box(&tcp_ack))));
    g.bench_function("arp", |b| {
        b.iter(|| {
            let p = arp::Packet::new_checked(&black_box(&arp_frame)[14..]).unwrap();
            ArpRepr::parse(&p).unwrap()
        })
    });
    let (_, icmp_b) = ip_of(&icmp).unwrap();
    g.bench_function("icmpv4_echo_64B", |b| {
        b.iter(|| {
            let p = icmpv4::Packet::new_checked(black_box(icmp_b)).unwrap();
            Icmpv4Repr::parse(&p, ChecksumMode::Full).unwrap().buffer_len()
        })
    });
    let (uip, udp_b) = ip_of(&udp_frame).unwrap();
    let (us, ud) = (IpAddr::V4(uip.src), IpAddr::V4(uip.dst));
    g.bench_function("udp", |b| {
        b.iter(|| {
            let p = udp::Packet::new_checked(black_box(udp_b)).unwrap();
            UdpRepr::parse(&p, &us, &ud, ChecksumMode::Full).unwrap().payload.len()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("emit");
    g.throughput(Throughput::Elements(1));
    for (name, frame) in [("tcp_1448B", &tcp_data), ("tcp_ack_ts", &tcp_ack)] {
        let (ip, seg) = ip_of(frame).unwrap();
        let (s, d) = (IpAddr::V4(ip.src), IpAddr::V4(ip.dst));
        let repr = TcpRepr::parse(&TcpPacket::new_checked(seg).unwrap(), &s, &d, ChecksumMode::Full).unwrap();
        let mut out = vec![0u8; repr.buffer_len()];
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(&repr).emit(&mut TcpPacket::new_unchecked(&mut out[..]), &s, &d, ChecksumMode::Full);
            })
        });
        assert_eq!(&out[..], seg, "emit reproduces the captured segment");
    }
    g.finish();
}

criterion_group!(benches, bench_parsers);
criterion_main!(benches);
