//! Replays of Linux kernel captures through the core.
//!
//! `tests/data/*.pcap` were captured by `tests/data/capture.sh` on a veth pair
//! between two namespaces, both ends the Linux kernel: a peer sending ARP, ping,
//! NDP, TCP and UDP to a target. Here one [`Interface`] configured as that target
//! (its MAC and addresses) takes every frame the peer sent, in capture order and
//! at the captured times, and its answers are compared with the ones the target
//! kernel gave: byte for byte where the answer is determined by the request, and
//! field by field where it is not (a SYN-ACK's initial sequence number, window
//! and options are each stack's choice; the peer's later segments of that
//! connection are moved onto our sequence numbers before they are fed). The fields that may differ byte-wise
//! (the IPv4 identification and the IPv6 fragment identification, chosen freely
//! by each sender, RFC 6864 / RFC 7739) are listed per case, and every checksum
//! of ours is verified.

use proto::Frames;
use core::net::{Ipv4Addr, Ipv6Addr};
use proto::iface::{Interface, InterfaceConfig};
use proto::time::Instant;
use std::path::PathBuf;

const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
const TARGET_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 2];
const TARGET4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const TARGET6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const TARGET_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe00, 2);
/// The target's TCP listener and UDP echo port in the captures.
const TCP_PORT: u16 = 7777;
const ECHO_PORT: u16 = 7;

/// One captured frame: microseconds since the epoch and the bytes.
struct Rec {
    ts: u64,
    data: Vec<u8>,
}

/// Read a classic pcap file (microsecond or nanosecond, either byte order,
/// Ethernet link type).
fn read_pcap(name: &str) -> Vec<Rec> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(format!("{name}.pcap"));
    let b = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (regenerate with tests/data/capture.sh)", path.display()));
    assert!(b.len() >= 24, "{name}: short pcap header");
    let magic = u32::from_le_bytes(b[0..4].try_into().unwrap());
    let (le, nanos) = match magic {
        0xa1b2_c3d4 => (true, false),
        0xa1b2_3c4d => (true, true),
        0xd4c3_b2a1 => (false, false),
        0x4d3c_b2a1 => (false, true),
        m => panic!("{name}: not a pcap file (magic {m:#x})"),
    };
    let u32_at = |o: usize| {
        let w: [u8; 4] = b[o..o + 4].try_into().unwrap();
        if le { u32::from_le_bytes(w) } else { u32::from_be_bytes(w) }
    };
    assert_eq!(u32_at(20), 1, "{name}: link type is not Ethernet");
    let mut recs = Vec::new();
    let mut o = 24;
    while o + 16 <= b.len() {
        let (sec, frac, incl, orig) = (u64::from(u32_at(o)), u64::from(u32_at(o + 4)), u32_at(o + 8) as usize, u32_at(o + 12) as usize);
        assert_eq!(incl, orig, "{name}: truncated record");
        let ts = sec * 1_000_000 + if nanos { frac / 1000 } else { frac };
        recs.push(Rec { ts, data: b[o + 16..o + 16 + incl].to_vec() });
        o += 16 + incl;
    }
    assert_eq!(o, b.len(), "{name}: trailing bytes");
    recs
}

/// What a frame is, roughly, for filtering and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ArpRequest,
    ArpReply,
    Ipv4(u8),
    /// IPv6 with its final next header (after one fragment header) and the
    /// ICMPv6 type if any.
    Ipv6(u8, Option<u8>),
    Other,
}

fn kind(f: &[u8]) -> Kind {
    match u16::from_be_bytes([f[12], f[13]]) {
        0x0806 if f[21] == 1 => Kind::ArpRequest,
        0x0806 => Kind::ArpReply,
        0x0800 => Kind::Ipv4(f[23]),
        0x86dd => {
            let (mut nh, mut off) = (f[20], 54);
            if nh == 0 || nh == 44 {
                // One hop-by-hop or fragment header (what these captures hold).
                nh = f[off];
                off += if f[20] == 44 { 8 } else { 8 * (usize::from(f[off + 1]) + 1) };
            }
            let first = f[20] != 44 || u16::from_be_bytes([f[56], f[57]]) & 0xfff8 == 0;
            Kind::Ipv6(nh, (nh == 58 && first).then(|| f[off]))
        }
        _ => Kind::Other,
    }
}

/// Frames the target sends on its own (not answers to the peer): its router
/// solicitations, MLD reports, neighbour solicitations and ARP requests (to
/// resolve or re-check the peer). The replay's interface sends its own at its
/// own times; neither is compared.
fn initiative(k: Kind) -> bool {
    matches!(k, Kind::ArpRequest | Kind::Ipv6(58, Some(133 | 135 | 143)))
}

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    for c in data.chunks(2) {
        acc += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Verify every checksum of one of our frames that can be verified alone: the
/// IPv4 header, and TCP / UDP / ICMP / ICMPv6 of unfragmented packets.
fn verify_checksums(f: &[u8]) {
    match u16::from_be_bytes([f[12], f[13]]) {
        0x0800 => {
            let ihl = usize::from(f[14] & 0xf) * 4;
            let ip = &f[14..14 + usize::from(u16::from_be_bytes([f[16], f[17]]))];
            assert_eq!(fold(sum16(&ip[..ihl], 0)), 0xffff, "IPv4 header checksum of ours");
            let frag = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff;
            if frag != 0 {
                return;
            }
            let l4 = &ip[ihl..];
            let acc = if ip[9] == 1 {
                0
            } else {
                sum16(&ip[12..20], u32::from(ip[9]) + l4.len() as u32)
            };
            assert_eq!(fold(sum16(l4, acc)), 0xffff, "protocol {} checksum of ours", ip[9]);
        }
        0x86dd => {
            let len = usize::from(u16::from_be_bytes([f[18], f[19]]));
            let (mut nh, mut l4) = (f[20], &f[54..54 + len]);
            if nh == 44 {
                return;
            }
            if nh == 0 {
                nh = l4[0];
                l4 = &l4[8 * (usize::from(l4[1]) + 1)..];
            }
            let acc = sum16(&f[22..54], u32::from(nh) + l4.len() as u32);
            assert_eq!(fold(sum16(l4, acc)), 0xffff, "next header {nh} checksum of ours");
        }
        _ => {}
    }
}

/// Fields of a frame that each sender chooses freely.
#[derive(Debug, Clone, Copy)]
enum Free {
    /// The IPv4 identification (RFC 6864: any value for atomic datagrams, a
    /// sender's own choice for fragmented ones) and so the header checksum,
    /// verified separately.
    Ipv4Ident,
    /// The DF bit of an unfragmented IPv4 answer: Linux clears it on ICMP
    /// answers, we set it (RFC 1191 §3 lets a host set it on anything; RFC
    /// 6864 §4.1 makes the datagram atomic).
    Ipv4DontFrag,
    /// The identification of an IPv6 fragment header (RFC 7739).
    FragIdent6,
    /// A Neighbor Advertisement answering a unicast solicitation: Linux omits
    /// the Target Link-Layer Address option and so the Override flag, we
    /// include both (RFC 4861 §7.2.4: the option "MAY be omitted"). The
    /// kernel's NA with the option and flag added is compared.
    UnicastNaTlla,
    /// The IPv6 flow label: Linux labels its flows (RFC 6437 §3, a hash of the
    /// flow), we send zero (RFC 8200 §6: "unlabeled"). The value is free.
    FlowLabel,
}

/// The (offset, bit mask) pairs of `f` the `free` fields cover.
fn free_bits(f: &[u8], free: &[Free]) -> Vec<(usize, u8)> {
    let mut r = Vec::new();
    let v4 = f[12..14] == [0x08, 0x00];
    for x in free {
        match x {
            Free::Ipv4Ident if v4 => r.extend([(18, 0xff), (19, 0xff), (24, 0xff), (25, 0xff)]),
            Free::Ipv4DontFrag if v4 && u16::from_be_bytes([f[20], f[21]]) & 0x3fff == 0 => r.extend([(20, 0x40), (24, 0xff), (25, 0xff)]),
            Free::FlowLabel if f[12..14] == [0x86, 0xdd] => r.extend([(15, 0x0f), (16, 0xff), (17, 0xff)]),
            Free::FragIdent6 if f[12..14] == [0x86, 0xdd] && f[20] == 44 => r.extend((58..62).map(|o| (o, 0xff))),
            _ => {}
        }
    }
    r
}

/// The kernel's NA to a unicast NS as we send it: with the Override flag and
/// our Target Link-Layer Address option (RFC 4861 §4.4, §7.2.4).
fn with_tlla(kernel: &[u8]) -> Vec<u8> {
    let mut f = kernel.to_vec();
    if kind(&f) != Kind::Ipv6(58, Some(136)) || f.len() != 14 + 40 + 24 {
        return f;
    }
    f[58] |= 0x20;
    f.extend_from_slice(&[2, 1]);
    f.extend_from_within(6..12);
    f[19] += 8;
    f[56..58].copy_from_slice(&[0, 0]);
    let acc = sum16(&f[22..54], 58 + 32);
    let c = !fold(sum16(&f[54..], acc));
    f[56..58].copy_from_slice(&c.to_be_bytes());
    f
}

/// Assert our answer equals the kernel's outside the `free` fields.
fn assert_same(case: &str, i: usize, ours: &[u8], kernel: &[u8], free: &[Free]) {
    verify_checksums(ours);
    let adjusted;
    let kernel = if free.iter().any(|f| matches!(f, Free::UnicastNaTlla)) {
        adjusted = with_tlla(kernel);
        &adjusted[..]
    } else {
        kernel
    };
    assert_eq!(ours.len(), kernel.len(), "{case}: answer {i} ({:?}): length {} vs the kernel's {}\nours:   {ours:02x?}\nkernel: {kernel:02x?}", kind(kernel), ours.len(), kernel.len());
    let bits = free_bits(kernel, free);
    let mask = |o: usize| bits.iter().filter(|(b, _)| *b == o).fold(0u8, |m, (_, x)| m | x);
    let diffs: Vec<usize> = (0..ours.len()).filter(|o| (ours[*o] ^ kernel[*o]) & !mask(*o) != 0).collect();
    assert!(diffs.is_empty(), "{case}: answer {i} ({:?}) differs from the kernel's at offsets {diffs:?}\nours:   {ours:02x?}\nkernel: {kernel:02x?}", kind(kernel));
}

/// How a case's answers are checked.
#[derive(Clone, Copy)]
enum Check {
    /// Byte for byte, outside the listed fields.
    Bytes(&'static [Free]),
    /// A SYN-ACK, then the ACK of the peer's FIN, field by field.
    SynAck,
    /// An ICMPv4 error, field by field: how much of the datagram it quotes
    /// and its type of service are each sender's choice (see
    /// [`check_icmp4_error`]).
    Icmp4Error,
}

/// The cases in capture order (the interface carries its state from one to the
/// next, as the target kernel did).
const CASES: &[(&str, Check)] = &[
    // The peer's IPv6 comes up: MLD reports and a router solicitation, which a
    // host silently discards (RFC 4861 §6.2.6); nothing to answer.
    ("rs", Check::Bytes(&[])),
    // Broadcast ARP request (RFC 826), then a 56-byte echo (RFC 792).
    ("arp_ping4", Check::Bytes(&[Free::Ipv4Ident, Free::Ipv4DontFrag])),
    // A 3000-byte echo in three fragments, answered in three (RFC 791 §3.2).
    ("ping4_frag", Check::Bytes(&[Free::Ipv4Ident])),
    // A unicast ARP request (the peer re-checking a stale entry).
    ("arp_unicast", Check::Bytes(&[Free::Ipv4Ident, Free::Ipv4DontFrag])),
    // Multicast NS to our solicited-node group, NA with our link-layer address
    // (RFC 4861 §7.2.4), then an ICMPv6 echo (RFC 4443 §4.2).
    ("ns_ping6", Check::Bytes(&[Free::FlowLabel])),
    // A 3000-byte ICMPv6 echo in fragments, answered in fragments (RFC 8200 §4.5).
    ("ping6_frag", Check::Bytes(&[Free::FragIdent6, Free::FlowLabel])),
    // Unicast NS (the peer probing a stale entry, RFC 4861 §7.3.3), from its
    // link-local address, for our link-local and global addresses.
    ("ns_unicast", Check::Bytes(&[Free::FlowLabel, Free::UnicastNaTlla])),
    // Echo between link-local addresses.
    ("ping6_ll", Check::Bytes(&[Free::FlowLabel])),
    // SYN to a listening port: SYN-ACK (RFC 9293 §3.10.7.2); then the peer's
    // ACK and FIN, moved onto our sequence numbers and timestamps: the ACK of
    // the FIN, as the kernel's.
    ("tcp4_syn_listen", Check::SynAck),
    // SYN to a closed port: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> (RFC 9293 §3.10.7.1).
    ("tcp4_syn_closed", Check::Bytes(&[Free::Ipv4Ident])),
    ("tcp6_syn_listen", Check::SynAck),
    ("tcp6_syn_closed", Check::Bytes(&[Free::FlowLabel])),
    // UDP to a closed port: ICMP port unreachable quoting the datagram (RFC 1122
    // §3.2.2.1, RFC 4443 §3.1).
    ("udp4_closed", Check::Icmp4Error),
    ("udp6_closed", Check::Bytes(&[Free::FlowLabel])),
    // UDP echo, 100 bytes and 3000 bytes (fragmented both ways).
    ("udp4_echo", Check::Bytes(&[Free::Ipv4Ident])),
    ("udp6_echo", Check::Bytes(&[Free::FlowLabel])),
    ("udp4_frag", Check::Bytes(&[Free::Ipv4Ident])),
    ("udp6_frag", Check::Bytes(&[Free::FragIdent6, Free::FlowLabel])),
];

/// The interface as the target: its MAC and addresses, DAD done, a TCP
/// listener and a UDP echo port.
fn target() -> Interface {
    let mut i = Interface::new(InterfaceConfig {
        mac: TARGET_MAC,
        ipv4: vec![(TARGET4, 24)],
        ipv6: vec![(TARGET6, 64), (TARGET_LL, 64)],
        ..Default::default()
    });
    let mut tx = Frames::default();
    i.poll_transmit(Instant::ZERO, &mut tx);
    i.poll_transmit(Instant::from_millis(1000), &mut tx);
    i.poll_transmit(Instant::from_millis(2000), &mut tx);
    i.tcp_mut().listen(TCP_PORT).unwrap();
    i.udp_mut().bind(ECHO_PORT).unwrap();
    i
}

/// Echo what the UDP port received back to its sender (the target ran a UDP
/// echo server on it).
fn udp_echo(i: &mut Interface, now: Instant, tx: &mut Frames) {
    let mut buf = vec![0u8; 65536];
    while let Ok(d) = i.udp_mut().recv_from(ECHO_PORT, &mut buf) {
        i.send_udp(now, d.dst, d.src, &buf[..d.len], tx).unwrap();
    }
}

/// Check a SYN-ACK of ours against the SYN and the kernel's SYN-ACK: same
/// Ethernet and IP headers but the identification, same ports, our ACK is the
/// SYN's sequence number plus one, SYN and ACK only, an MSS option equal to the
/// kernel's (both derive it from the MTU), and the options the SYN offered
/// (SACK permitted, timestamps echoing its TSval) if the kernel took them.
fn check_syn_ack(case: &str, syn: &[u8], ours: &[u8], kernel: &[u8]) {
    verify_checksums(ours);
    let v4 = ours[12..14] == [0x08, 0x00];
    let ip_hdr = if v4 { 20 } else { 40 };
    let (t_ours, t_kern, t_syn) = (&ours[14 + ip_hdr..], &kernel[14 + ip_hdr..], &syn[14 + ip_hdr..]);
    assert_eq!(ours[..14], kernel[..14], "{case}: Ethernet header");
    if v4 {
        // Version..total length differs only by the option bytes; flags, TTL,
        // protocol and addresses must agree.
        assert_eq!((ours[14], ours[15], ours[20], ours[21], ours[22], ours[23]), (kernel[14], kernel[15], kernel[20], kernel[21], kernel[22], kernel[23]), "{case}: IPv4 header");
        assert_eq!(ours[26..34], kernel[26..34], "{case}: IPv4 addresses");
    } else {
        // The flow label is free (see `Free::FlowLabel`).
        assert_eq!((ours[14], ours[15] & 0xf0), (kernel[14], kernel[15] & 0xf0), "{case}: IPv6 version and traffic class");
        assert_eq!(ours[20..54], kernel[20..54], "{case}: IPv6 next header, hop limit, addresses");
    }
    let be32 = |b: &[u8], o: usize| u32::from_be_bytes(b[o..o + 4].try_into().unwrap());
    assert_eq!(t_ours[..4], t_kern[..4], "{case}: ports");
    assert_eq!(be32(t_ours, 8), be32(t_syn, 4).wrapping_add(1), "{case}: ACK = SYN's SEQ + 1");
    assert_eq!(be32(t_kern, 8), be32(t_syn, 4).wrapping_add(1), "{case}: the kernel's ACK");
    assert_eq!(t_ours[13], 0x12, "{case}: flags SYN+ACK only");
    assert_eq!(t_ours[13], t_kern[13], "{case}: the kernel's flags");
    let opts = |t: &[u8]| {
        let end = usize::from(t[12] >> 4) * 4;
        let (mut o, mut mss, mut sack, mut ts, mut ws) = (20, None, false, None, None);
        while o < end {
            match t[o] {
                0 => break,
                1 => o += 1,
                k => {
                    let l = usize::from(t[o + 1]);
                    match k {
                        2 => mss = Some(u16::from_be_bytes([t[o + 2], t[o + 3]])),
                        3 => ws = Some(t[o + 2]),
                        4 => sack = true,
                        8 => ts = Some((be32(t, o + 2), be32(t, o + 6))),
                        _ => {}
                    }
                    o += l.max(2);
                }
            }
        }
        (mss, sack, ts, ws)
    };
    let (o_mss, o_sack, o_ts, o_ws) = opts(t_ours);
    let (k_mss, k_sack, k_ts, k_ws) = opts(t_kern);
    let (_, s_sack, s_ts, s_ws) = opts(t_syn);
    assert_eq!(o_mss, k_mss, "{case}: MSS option (RFC 9293 §3.7.1, from the MTU)");
    assert!(o_mss.is_some());
    assert_eq!((o_sack, k_sack, s_sack), (true, true, true), "{case}: SACK permitted offered and taken (RFC 2018)");
    assert_eq!(o_ws.is_some(), k_ws.is_some() && s_ws.is_some(), "{case}: window scale taken (RFC 7323 §2.2)");
    match (o_ts, k_ts, s_ts) {
        (Some((_, ecr)), Some((_, k_ecr)), Some((tsval, _))) => {
            assert_eq!((ecr, k_ecr), (tsval, tsval), "{case}: TSecr echoes the SYN's TSval (RFC 7323 §3.2)");
        }
        other => panic!("{case}: timestamps (ours, kernel's, SYN's): {other:?}"),
    }
}

/// Where the TCP header of `f` starts (no IPv4 options, no IPv6 extension
/// headers in these captures).
fn tcp_at(f: &[u8]) -> usize {
    if f[12..14] == [0x08, 0x00] { 14 + usize::from(f[14] & 0xf) * 4 } else { 54 }
}

fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes(b[o..o + 4].try_into().unwrap())
}

/// The offset of the timestamps option's TSval in the TCP header at `t`.
fn ts_at(f: &[u8], t: usize) -> Option<usize> {
    let end = t + usize::from(f[t + 12] >> 4) * 4;
    let mut o = t + 20;
    while o < end {
        match f[o] {
            0 => return None,
            1 => o += 1,
            8 => return Some(o + 2),
            _ => o += usize::from(f[o + 1]).max(2),
        }
    }
    None
}

/// A segment of the peer's, written against the kernel's SYN-ACK, moved onto
/// ours: its ACK number shifted by the difference of the initial sequence
/// numbers, its TSecr set to our TSval where it echoed the kernel's, the TCP
/// checksum computed again.
fn onto_ours(peer: &[u8], kernel_synack: &[u8], our_synack: &[u8]) -> Vec<u8> {
    let mut f = peer.to_vec();
    let (t, tk, to) = (tcp_at(&f), tcp_at(kernel_synack), tcp_at(our_synack));
    let delta = be32(our_synack, to + 4).wrapping_sub(be32(kernel_synack, tk + 4));
    let ack = be32(&f, t + 8).wrapping_add(delta);
    f[t + 8..t + 12].copy_from_slice(&ack.to_be_bytes());
    if let (Some(p), Some(k), Some(o)) = (ts_at(&f, t), ts_at(kernel_synack, tk), ts_at(our_synack, to)) {
        if be32(&f, p + 4) == be32(kernel_synack, k) {
            let ours = be32(our_synack, o);
            f[p + 4..p + 8].copy_from_slice(&ours.to_be_bytes());
        }
    }
    f[t + 16..t + 18].copy_from_slice(&[0, 0]);
    let (v4, len) = (f[12..14] == [0x08, 0x00], f.len() - t);
    let pseudo = if v4 { sum16(&f[26..34], 6 + len as u32) } else { sum16(&f[22..54], 6 + len as u32) };
    let c = !fold(sum16(&f[t..], pseudo));
    f[t + 16..t + 18].copy_from_slice(&c.to_be_bytes());
    f
}

/// Our acknowledgment of the peer's FIN against the kernel's: same addresses
/// and ports, ACK only, the sequence number one past our ISN as the kernel's is
/// past its own, the same acknowledgment number (the FIN's sequence number plus
/// one, RFC 9293 §3.10.7.4) and TSecr (the FIN's TSval, RFC 7323 §4.3).
fn check_ack(case: &str, our_synack: &[u8], ours: &[u8], kernel_synack: &[u8], kernel: &[u8]) {
    verify_checksums(ours);
    let (t, tk) = (tcp_at(ours), tcp_at(kernel));
    assert_eq!(ours[..14], kernel[..14], "{case}: ACK's Ethernet header");
    assert_eq!(ours[t - 8..t + 4], kernel[tk - 8..tk + 4], "{case}: ACK's addresses and ports");
    assert_eq!(ours[t + 13], kernel[tk + 13], "{case}: ACK's flags");
    assert_eq!(be32(ours, t + 4).wrapping_sub(be32(our_synack, tcp_at(our_synack) + 4)), be32(kernel, tk + 4).wrapping_sub(be32(kernel_synack, tcp_at(kernel_synack) + 4)), "{case}: ACK's sequence number");
    assert_eq!(be32(ours, t + 8), be32(kernel, tk + 8), "{case}: ACK's acknowledgment number");
    let (o, k) = (ts_at(ours, t).expect("our timestamps"), ts_at(kernel, tk).expect("the kernel's timestamps"));
    assert_eq!(be32(ours, o + 4), be32(kernel, k + 4), "{case}: ACK's TSecr");
}

/// Check an ICMPv4 error of ours against the kernel's. Linux quotes as much
/// of the datagram as fits 576 bytes and sends with precedence "internetwork
/// control" and DF clear (what RFC 1812 §4.3.2.3 and §4.3.2.5 ask of routers);
/// we quote the IP header and the first 8 data bytes and send with TOS 0 and DF
/// set, what RFC 1122 §3.2.2 and RFC 792 ask of hosts. Everything else agrees:
/// the Ethernet header, TTL, protocol and addresses, the ICMP type, code and
/// unused word, and our quote is the start of the kernel's.
fn check_icmp4_error(case: &str, ours: &[u8], kernel: &[u8]) {
    verify_checksums(ours);
    assert_eq!(ours[..14], kernel[..14], "{case}: Ethernet header");
    assert_eq!((ours[14], ours[22], ours[23]), (kernel[14], kernel[22], kernel[23]), "{case}: IPv4 version, TTL, protocol");
    assert_eq!(ours[26..34], kernel[26..34], "{case}: addresses");
    assert_eq!(usize::from(u16::from_be_bytes([ours[16], ours[17]])), ours.len() - 14, "{case}: total length");
    assert_eq!((ours[34], ours[35]), (kernel[34], kernel[35]), "{case}: ICMP type and code");
    assert_eq!(ours[38..42], kernel[38..42], "{case}: unused word");
    let quote = &ours[42..];
    let quoted_ihl = usize::from(kernel[42] & 0xf) * 4;
    assert!(quote.len() >= quoted_ihl + 8, "{case}: the quote holds the IP header and 8 data bytes (RFC 792)");
    assert_eq!(quote, &kernel[42..42 + quote.len()], "{case}: our quote is the start of the kernel's");
}

#[test]
fn kernel_captures_replayed_through_the_core() {
    let mut i = target();
    // The captured clock mapped onto ours: the first frame at 10 s.
    let mut t0 = None;
    let mut compared = 0;
    for (case, check) in CASES {
        let recs = read_pcap(case);
        assert!(!recs.is_empty(), "{case}: empty capture");
        let kernel: Vec<&Rec> = recs.iter().filter(|r| r.data[6..12] == TARGET_MAC && !initiative(kind(&r.data))).collect();
        let mut ours = Frames::default();
        let mut syn = None;
        let mut last = Instant::ZERO;
        for r in recs.iter().filter(|r| r.data[6..12] == PEER_MAC) {
            let t0 = *t0.get_or_insert(r.ts);
            let now = Instant::from_micros(10_000_000 + r.ts - t0);
            // Our own timer work (probes, reports) is not an answer.
            let mut own = Frames::default();
            i.poll_transmit(now, &mut own);
            let before = ours.0.len();
            let mut frame = r.data.clone();
            if matches!(check, Check::SynAck) {
                // The rest of the capture acknowledges the kernel's sequence
                // numbers and timestamps: moved onto ours.
                match &syn {
                    None => syn = Some(r.data.clone()),
                    Some(_) => frame = onto_ours(&frame, &kernel[0].data, &ours.0[0]),
                }
            }
            last = now;
            i.handle_frame(now, &frame, &mut ours);
            udp_echo(&mut i, now, &mut ours);
            for f in &ours.0[before..] {
                assert_eq!(f[..6], r.data[6..12], "{case}: an answer goes to the peer's MAC");
            }
        }
        match check {
            Check::SynAck => {
                // An acknowledgment we may delay (RFC 9293 §3.8.6.3) is due by now.
                let mut late = Frames::default();
                i.poll_transmit(last + proto::time::Duration::from_millis(200), &mut late);
                ours.0.extend(late.0.into_iter().filter(|f| matches!(kind(f), Kind::Ipv4(6) | Kind::Ipv6(6, _))));
                let kinds: Vec<_> = ours.0.iter().map(|f| (kind(f), f[tcp_at(f) + 13])).collect();
                assert_eq!(ours.0.len(), kernel.len(), "{case}: SYN-ACK and the ACK of the FIN, as the kernel: ours {kinds:?}");
                check_syn_ack(case, syn.as_deref().unwrap(), &ours.0[0], &kernel[0].data);
                check_ack(case, &ours.0[0], &ours.0[1], &kernel[0].data, &kernel[1].data);
            }
            Check::Icmp4Error => {
                assert_eq!((ours.0.len(), kernel.len()), (1, 1), "{case}: one ICMP error");
                check_icmp4_error(case, &ours.0[0], &kernel[0].data);
            }
            Check::Bytes(free) => {
                let kinds = |v: &mut dyn Iterator<Item = &Vec<u8>>| v.map(|f| kind(f)).collect::<Vec<_>>();
                assert_eq!(
                    ours.0.len(),
                    kernel.len(),
                    "{case}: {} answers, the kernel gave {}: ours {:?}, the kernel's {:?}",
                    ours.0.len(),
                    kernel.len(),
                    kinds(&mut ours.0.iter()),
                    kinds(&mut kernel.iter().map(|r| &r.data))
                );
                for (n, (o, k)) in ours.0.iter().zip(&kernel).enumerate() {
                    assert_same(case, n, o, &k.data, free);
                }
            }
        }
        eprintln!("{case}: {} frames from the peer, {} answers compared", recs.iter().filter(|r| r.data[6..12] == PEER_MAC).count(), ours.0.len());
        compared += ours.0.len();
    }
    assert!(compared >= 20, "only {compared} answers compared");
    // Nothing the peer sent was malformed or failed a checksum.
    let s = i.stats();
    for reason in [proto::stats::DropReason::Ipv4BadChecksum, proto::stats::DropReason::TcpBadChecksum, proto::stats::DropReason::UdpBadChecksum, proto::stats::DropReason::IcmpBadChecksum] {
        assert_eq!(s.drops_of(reason), 0, "{reason:?}");
    }
}
