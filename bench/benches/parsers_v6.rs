//! Parse and emit costs of the IPv6-side `wire` modules on frames captured from the
//! Linux kernel and from scapy (`testdata/v6.pcap`, `testdata/v6-scapy.pcap`,
//! written by `testdata/capture-v6.sh`), all checksums verified / computed.
//!
//! `cargo bench -p xdpstack-bench --bench parsers_v6`

use core::net::Ipv6Addr;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use wire::ethernet::{ethertype, EthernetRepr, Frame};
use wire::icmpv6::{self, message, Icmpv6Repr};
use wire::ip::protocol;
use wire::ipv6::{self, Ipv6Repr};
use wire::ipv6ext;
use wire::mld::MldRepr;
use wire::ndp::NdiscRepr;
use wire::ChecksumMode;
use xdpstack_bench::{find, read_pcap};

static KERNEL: &[u8] = include_bytes!("../../testdata/v6.pcap");
static SCAPY: &[u8] = include_bytes!("../../testdata/v6-scapy.pcap");

/// One captured ICMPv6 message: the frame and where its parts are.
struct Msg {
    frame: Vec<u8>,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    /// The IPv6 fixed header's next header and the IPv6 payload's range in `frame`.
    next_header: u8,
    payload: core::ops::Range<usize>,
    /// The ICMPv6 message's range in `frame`.
    icmp: core::ops::Range<usize>,
    /// Extension headers before it.
    ext_headers: u8,
}

impl Msg {
    fn icmp(&self) -> &[u8] {
        &self.frame[self.icmp.clone()]
    }
    fn ipv6_payload(&self) -> &[u8] {
        &self.frame[self.payload.clone()]
    }
    fn msg_type(&self) -> u8 {
        self.icmp()[0]
    }
}

/// The ICMPv6 message of an Ethernet frame (unfragmented), or `None`.
fn msg_of(f: &[u8]) -> Option<Msg> {
    let fr = Frame::new_checked(f).ok()?;
    if fr.ethertype() != ethertype::IPV6 {
        return None;
    }
    let p = ipv6::Packet::new_checked(&f[14..]).ok()?;
    let ip = Ipv6Repr::parse(&p).ok()?;
    let chain = ipv6ext::walk(ip.next_header, p.payload()).ok()?;
    if chain.upper != protocol::ICMPV6 || chain.fragment.is_some() {
        return None;
    }
    let start = 14 + ipv6::HEADER_LEN;
    let end = start + usize::from(p.payload_len());
    Some(Msg {
        frame: f.to_vec(),
        src: ip.src,
        dst: ip.dst,
        next_header: ip.next_header,
        payload: start..end,
        icmp: start + chain.offset..end,
        ext_headers: chain.headers,
    })
}

/// Ethernet → IPv6 → extension headers → ICMPv6, checksum verified, as an RX path
/// does it. Returns the message length.
fn parse_eth_ipv6_icmpv6(f: &[u8]) -> usize {
    let fr = Frame::new_checked(f).unwrap();
    let _eth = EthernetRepr::parse(&fr).unwrap();
    let p = ipv6::Packet::new_checked(fr.payload()).unwrap();
    let ip = Ipv6Repr::parse(&p).unwrap();
    let payload = p.payload_ref();
    let chain = ipv6ext::walk(ip.next_header, payload).unwrap();
    let m = icmpv6::Packet::new_checked(&payload[chain.offset..]).unwrap();
    Icmpv6Repr::parse(&ip.src, &ip.dst, &m, ChecksumMode::Full).unwrap().buffer_len()
}

fn bench_parsers_v6(c: &mut Criterion) {
    let mut frames = read_pcap(KERNEL);
    frames.extend(read_pcap(SCAPY));
    let msgs: Vec<Msg> = frames.iter().filter_map(|f| msg_of(f)).collect();
    let pick = |p: &dyn Fn(&Msg) -> bool| -> &Msg { msgs.iter().find(|m| p(m)).expect("message in captures") };

    // `ping -6` (56 bytes of data), no extension headers.
    let echo = pick(&|m| m.msg_type() == message::ECHO_REQUEST && m.icmp().len() == 8 + 56 && m.ext_headers == 0);
    // scapy's echo request behind hop-by-hop, destination options, routing and
    // destination options headers.
    let chained = pick(&|m| m.ext_headers >= 3 && m.next_header == protocol::HOP_BY_HOP);
    // A neighbour solicitation with a source link-layer address option.
    let ns = pick(&|m| m.msg_type() == message::NEIGHBOR_SOLICIT && !m.src.is_unspecified());
    // scapy's router advertisement (source link-layer address, MTU, prefix info).
    let ra = pick(&|m| m.msg_type() == message::ROUTER_ADVERT);
    // The largest MLDv2 report (several records).
    let mld = msgs
        .iter()
        .filter(|m| m.msg_type() == message::MLDV2_REPORT)
        .max_by_key(|m| m.icmp().len())
        .expect("MLDv2 report in captures");

    // What each input is, checked once, so a changed capture fails loudly.
    assert_eq!(parse_eth_ipv6_icmpv6(&echo.frame), 64);
    let ch = ipv6ext::walk(chained.next_header, chained.ipv6_payload()).unwrap();
    assert!(ch.headers >= 3 && ch.upper == protocol::ICMPV6, "{ch:?}");
    fn ndisc(m: &Msg) -> NdiscRepr<'_> {
        match Icmpv6Repr::parse(&m.src, &m.dst, &icmpv6::Packet::new_checked(m.icmp()).unwrap(), ChecksumMode::Full) {
            Ok(Icmpv6Repr::Ndisc(n)) => n,
            other => panic!("not NDP: {other:?}"),
        }
    }
    assert!(matches!(ndisc(ns), NdiscRepr::NeighborSolicit { lladdr: Some(_), .. }));
    assert!(matches!(ndisc(ra), NdiscRepr::RouterAdvert { lladdr: Some(_), ref prefixes, .. } if !prefixes.is_empty()));
    let records = match Icmpv6Repr::parse(&mld.src, &mld.dst, &icmpv6::Packet::new_checked(mld.icmp()).unwrap(), ChecksumMode::Full) {
        Ok(Icmpv6Repr::Mld(MldRepr::Report { records })) => records.len(),
        other => panic!("not an MLDv2 report: {other:?}"),
    };
    assert!(records >= 2, "{records} records");

    let mut g = c.benchmark_group("parse_v6");
    g.throughput(Throughput::Elements(1));

    g.bench_function("eth_ipv6_icmpv6_echo_56B", |b| b.iter(|| parse_eth_ipv6_icmpv6(black_box(&echo.frame))));

    let name = format!("ipv6ext_walk_{}_headers", ch.headers);
    let (nh, pl) = (chained.next_header, chained.ipv6_payload());
    g.bench_function(&name, |b| b.iter(|| ipv6ext::walk(black_box(nh), black_box(pl)).unwrap().offset));

    g.bench_function("ndp_ns_lladdr", |b| {
        b.iter(|| {
            let p = icmpv6::Packet::new_checked(black_box(ns.icmp())).unwrap();
            match Icmpv6Repr::parse(&ns.src, &ns.dst, &p, ChecksumMode::Full) {
                Ok(Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit { target_addr, lladdr, .. })) => (target_addr, lladdr),
                _ => unreachable!(),
            }
        })
    });

    g.bench_function("ndp_ra_lladdr_mtu_prefix", |b| {
        b.iter(|| {
            let p = icmpv6::Packet::new_checked(black_box(ra.icmp())).unwrap();
            match Icmpv6Repr::parse(&ra.src, &ra.dst, &p, ChecksumMode::Full) {
                Ok(Icmpv6Repr::Ndisc(NdiscRepr::RouterAdvert { mtu, prefixes, .. })) => {
                    (mtu, prefixes.iter().fold(0u32, |a, p| a.wrapping_add(p.valid_lifetime)))
                }
                _ => unreachable!(),
            }
        })
    });

    let name = format!("mldv2_report_{records}_records");
    g.bench_function(&name, |b| {
        b.iter(|| {
            let p = icmpv6::Packet::new_checked(black_box(mld.icmp())).unwrap();
            match Icmpv6Repr::parse(&mld.src, &mld.dst, &p, ChecksumMode::Full) {
                Ok(Icmpv6Repr::Mld(MldRepr::Report { records })) => {
                    records.iter().map(|r| usize::from(r.record_type) + r.sources.len()).sum::<usize>()
                }
                _ => unreachable!(),
            }
        })
    });

    // The echo reply the stack would send for `echo`: same identifier, sequence
    // number and data, addresses swapped, checksum computed.
    let (ident, seq_no, data) = match Icmpv6Repr::parse(&echo.src, &echo.dst, &icmpv6::Packet::new_checked(echo.icmp()).unwrap(), ChecksumMode::Full) {
        Ok(Icmpv6Repr::EchoRequest { ident, seq_no, data }) => (ident, seq_no, data),
        other => panic!("not an echo request: {other:?}"),
    };
    let reply = Icmpv6Repr::EchoReply { ident, seq_no, data };
    let mut out = vec![0u8; reply.buffer_len()];
    let (rs, rd) = (echo.dst, echo.src);
    g.bench_function("icmpv6_emit_echo_reply_56B", |b| {
        b.iter(|| black_box(&reply).emit(&rs, &rd, &mut icmpv6::Packet::new_unchecked(&mut out[..]), ChecksumMode::Full))
    });
    // The kernel's own reply to that request is byte-identical.
    let kernel_reply = find(&frames, |f| {
        msg_of(f).is_some_and(|m| m.msg_type() == message::ECHO_REPLY && m.src == rs && m.icmp()[4..8] == echo.icmp()[4..8])
    });
    assert_eq!(msg_of(&kernel_reply).unwrap().icmp(), &out[..], "emit reproduces the kernel's echo reply");
    g.finish();
}

criterion_group!(benches, bench_parsers_v6);
criterion_main!(benches);
