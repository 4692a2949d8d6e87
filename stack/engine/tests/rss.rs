//! Flow steering by RSS (`engine::rss`), through its public API: the Toeplitz
//! hash against the Microsoft RSS verification vectors and a bit-by-bit
//! reference, tables, owners, and local port selection for active opens.

use std::net::{IpAddr, SocketAddr};

use engine::rss::{
    toeplitz_reference, RssError, RssSource, RssTable, Steering, Toeplitz, DEFAULT_RSS_KEY,
    EPHEMERAL_FIRST, MAX_INPUT, DYNAMIC_PORTS, TCP_EPHEMERAL_PORTS,
};
use proptest::prelude::*;

/// Verification data of the Microsoft RSS specification, "Verifying the RSS
/// Hash Calculation",
/// https://learn.microsoft.com/en-us/windows-hardware/drivers/network/verifying-the-rss-hash-calculation
/// (source text: MicrosoftDocs/windows-driver-docs,
/// windows-driver-docs-pr/network/verifying-the-rss-hash-calculation.md), for
/// key [`DEFAULT_RSS_KEY`]. Every row of its IPv4 and IPv6 tables, in the
/// table's column order: destination, destination port, source, source port,
/// hash of the addresses only ("IPv4/IPv6 only"), hash with the ports ("with
/// TCP").
#[rustfmt::skip]
const MS_VECTORS: [(&str, u16, &str, u16, u32, u32); 8] = [
    ("161.142.100.80", 1766, "66.9.149.187", 2794, 0x323e8fc2, 0x51ccc178),
    ("65.69.140.83", 4739, "199.92.111.2", 14230, 0xd718262a, 0xc626b0ea),
    ("12.22.207.184", 38024, "24.19.198.95", 12898, 0xd2d0a5de, 0x5c2b394a),
    ("209.142.163.6", 2217, "38.27.205.30", 48228, 0x82989176, 0xafc7327f),
    ("202.188.127.2", 1303, "153.39.163.191", 44251, 0x5d1809c5, 0x10e828a2),
    ("3ffe:2501:200:3::1", 1766, "3ffe:2501:200:1fff::7", 2794, 0x2cc18cd5, 0x40207d3d),
    ("ff02::1", 4739, "3ffe:501:8::260:97ff:fe40:efab", 14230, 0x0f0c461c, 0xdde51bbf),
    ("fe80::200:f8ff:fe21:67cf", 38024, "3ffe:1900:4545:3:200:f8ff:fe21:67cf", 44251, 0x4b61e985, 0x02d1feef),
];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn octets(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

#[test]
fn microsoft_vectors_fast_and_reference() {
    let h = Toeplitz::new(&DEFAULT_RSS_KEY).unwrap();
    // A 52-byte key with the same first 40 bytes hashes the same: a 36-byte
    // input uses key bits 0..=318 only.
    let mut long = DEFAULT_RSS_KEY.to_vec();
    long.extend_from_slice(&[0xa5; 12]);
    let h52 = Toeplitz::new(&long).unwrap();
    let mut v4 = 0;
    for (dst, dport, src, sport, addrs, tcp) in MS_VECTORS {
        let (s, d) = (ip(src), ip(dst));
        // The input as the specification lays it out, built independently of
        // the hasher: source address, destination address, source port,
        // destination port, network byte order.
        let addr_input = [octets(s), octets(d)].concat();
        let input = [
            addr_input.clone(),
            sport.to_be_bytes().to_vec(),
            dport.to_be_bytes().to_vec(),
        ]
        .concat();
        assert_eq!(input.len(), if s.is_ipv4() { 12 } else { 36 });
        assert_eq!(
            toeplitz_reference(&DEFAULT_RSS_KEY, &input),
            tcp,
            "reference, {src} with ports"
        );
        assert_eq!(
            toeplitz_reference(&DEFAULT_RSS_KEY, &addr_input),
            addrs,
            "reference, {src}"
        );
        assert_eq!(h.hash(&input), tcp, "{src} raw input");
        assert_eq!(h.hash(&addr_input), addrs, "{src} raw addresses");
        assert_eq!(
            h.hash_tuple(s, d, sport, dport),
            tcp,
            "{src} -> {dst} with ports"
        );
        assert_eq!(h.hash_addrs(s, d), addrs, "{src} -> {dst} addresses only");
        assert_eq!(
            h52.hash_tuple(s, d, sport, dport),
            tcp,
            "52-byte key, {src}"
        );
        match (s, d) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                v4 += 1;
                assert_eq!(h.hash_v4(s, d, sport, dport), tcp);
                assert_eq!(h.hash_v4_addrs(s, d), addrs);
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                assert_eq!(h.hash_v6(s, d, sport, dport), tcp);
                assert_eq!(h.hash_v6_addrs(s, d), addrs);
            }
            _ => unreachable!("the table has no mixed rows"),
        }
    }
    assert_eq!(v4, 5, "5 IPv4 rows and 3 IPv6 rows");
}

#[test]
fn key_lengths() {
    for n in [0, 4, 39, 41, 51, 53, 64] {
        let e = Toeplitz::new(&vec![1; n]).unwrap_err();
        assert_eq!(e, RssError::KeyLength(n));
        assert!(e.to_string().contains("40 or 52"), "{e}");
    }
    assert_eq!(Toeplitz::new(&[7; 52]).unwrap().key(), &[7; 52][..]);
}

#[test]
#[should_panic(expected = "Toeplitz input of 37 bytes")]
fn overlong_input_panics() {
    Toeplitz::new(&DEFAULT_RSS_KEY).unwrap().hash(&[0; 37]);
}

proptest! {
    #[test]
    fn fast_equals_reference(
        key in prop_oneof![
            proptest::collection::vec(any::<u8>(), 40),
            proptest::collection::vec(any::<u8>(), 52),
        ],
        input in proptest::collection::vec(any::<u8>(), 0..=MAX_INPUT),
    ) {
        let h = Toeplitz::new(&key).unwrap();
        prop_assert_eq!(h.hash(&input), toeplitz_reference(&key, &input));
    }
}

#[test]
fn default_table_is_linux_default() {
    let t = RssTable::default_for(3);
    assert_eq!(t.key, DEFAULT_RSS_KEY);
    assert_eq!(t.indir.len(), 128);
    assert!(t.indir.iter().enumerate().all(|(i, &q)| q == i as u32 % 3));
    assert_eq!(t.source, RssSource::Default);
    assert_eq!(RssTable::default_for(0).indir, vec![0; 128]);
}

fn nic(key: Vec<u8>, indir: Vec<u32>, hfunc: u32, input_xfrm: u32) -> xsk::RssConfig {
    xsk::RssConfig {
        key,
        indir,
        hfunc,
        input_xfrm,
    }
}

#[test]
fn table_from_device() {
    assert_eq!(
        RssTable::from_device(None, 4).unwrap(),
        RssTable::default_for(4)
    );
    let t = RssTable::from_device(Some(&nic(vec![9; 52], vec![1, 0], 1, 0)), 2).unwrap();
    assert_eq!(
        (t.key, t.indir, t.source),
        (vec![9; 52], vec![1, 0], RssSource::Nic)
    );
    // hfunc 0 (unreported) counts as Toeplitz; a missing key as unknown.
    let t = RssTable::from_device(Some(&nic(vec![], vec![1, 1, 0], 0, 0)), 2).unwrap();
    assert_eq!(t.key, DEFAULT_RSS_KEY.to_vec());
    assert_eq!((t.indir, t.source), (vec![1, 1, 0], RssSource::NicTable));
    // A key without a table: the default table for the queue count.
    let t = RssTable::from_device(Some(&nic(vec![3; 40], vec![], 1, 0)), 2).unwrap();
    assert_eq!(
        (t.indir, t.source),
        (RssTable::default_for(2).indir, RssSource::Nic)
    );
    for (hfunc, input_xfrm) in [(2, 0), (4, 0), (1, 1)] {
        assert_eq!(
            RssTable::from_device(Some(&nic(vec![9; 40], vec![0], hfunc, input_xfrm)), 1),
            Err(RssError::UnsupportedHash { hfunc, input_xfrm })
        );
    }
    assert_eq!(
        RssTable::from_device(Some(&nic(vec![9; 16], vec![0], 1, 0)), 1),
        Err(RssError::KeyLength(16))
    );
}

#[test]
fn owner_follows_table_queue_and_core() {
    // First vector: hash 0x51ccc178, slot 0x78 = 120 of 128; default table for
    // 4 queues: queue 120 % 4 = 0, which core 1 serves.
    let s = Steering::new(&RssTable::default_for(4), &[2, 0, 1, 3]).unwrap();
    let (remote, local) = (ip("66.9.149.187"), ip("161.142.100.80"));
    assert_eq!(s.owner(remote, local, 2794, 1766), 1);
    assert_eq!(s.owner_of_hash(0x51ccc178), 1);
    // Addresses only: 0x323e8fc2, slot 0x42 = 66, queue 2, core 0.
    assert_eq!(s.owner_addrs(remote, local), 0);
    assert_eq!((s.cores(), s.hash_source()), (4, "default"));
    assert!(s.unbound_queues().is_empty());
    // A NIC's table and key.
    let t = RssTable {
        key: vec![0x11; 40],
        indir: vec![1, 0],
        source: RssSource::Nic,
    };
    let s = Steering::new(&t, &[0, 1]).unwrap();
    let h = Toeplitz::new(&[0x11; 40])
        .unwrap()
        .hash_tuple(remote, local, 2794, 1766);
    assert_eq!(s.owner(remote, local, 2794, 1766), [1, 0][h as usize % 2]);
    assert_eq!(s.hash_source(), "nic");
}

#[test]
fn unbound_queues_fall_back_to_hash_mod_cores() {
    let s = Steering::new(&RssTable::default_for(4), &[3, 1]).unwrap();
    assert_eq!(s.unbound_queues(), vec![0, 2]);
    // Slot h % 128 holds queue (h % 128) % 4 = h % 4.
    for h in [0u32, 1, 2, 3, 0x51ccc178, 0xdeadbeef, 0xffff_ffff] {
        let want = match h % 4 {
            3 => 0,
            1 => 1,
            _ => h as usize % 2,
        };
        assert_eq!(s.owner_of_hash(h), want, "hash {h:#x}");
    }
}

#[test]
fn steering_errors() {
    let t = RssTable::default_for(2);
    assert_eq!(Steering::new(&t, &[]).unwrap_err(), RssError::NoCores);
    assert_eq!(
        Steering::new(&t, &[1, 0, 1]).unwrap_err(),
        RssError::DuplicateQueue(1)
    );
    let mut empty = t.clone();
    empty.indir.clear();
    assert_eq!(
        Steering::new(&empty, &[0]).unwrap_err(),
        RssError::EmptyTable
    );
    let mut bad = t;
    bad.key.truncate(20);
    assert_eq!(
        Steering::new(&bad, &[0]).unwrap_err(),
        RssError::KeyLength(20)
    );
}

#[test]
fn single_owns_everything_and_picks_any_free_port() {
    let s = Steering::single();
    assert_eq!((s.cores(), s.hash_source()), (1, "none"));
    assert_eq!(s.owner(ip("198.18.0.1"), ip("198.18.0.2"), 1, 2), 0);
    assert_eq!(s.owner_addrs(ip("2001:db8::1"), ip("2001:db8::2")), 0);
    let remote: SocketAddr = "198.18.0.1:80".parse().unwrap();
    let local = ip("198.18.0.2");
    assert_eq!(
        s.pick_local_port(0, remote, local, DYNAMIC_PORTS, 50000, |_| false),
        Some(50000)
    );
    // Starts are taken modulo 16384; the scan wraps from 65535 to 49152.
    assert_eq!(
        s.pick_local_port(0, remote, local, DYNAMIC_PORTS, 1000, |_| false),
        Some(50152)
    );
    assert_eq!(
        s.pick_local_port(0, remote, local, DYNAMIC_PORTS, 65535, |p| p == 65535),
        Some(49152)
    );
    assert_eq!(s.pick_local_port(1, remote, local, DYNAMIC_PORTS, 0, |_| false), None);
    assert_eq!(s.pick_local_port(0, remote, local, DYNAMIC_PORTS, 0, |_| true), None);
}

#[test]
fn picked_ports_come_back_to_their_core() {
    let cases = [
        ("198.18.0.1:80", "198.18.1.2"),
        ("[2001:db8::1]:443", "2001:db8::2"),
    ];
    for cores in [1u32, 2, 4, 8] {
        let bound: Vec<u32> = (0..cores).collect();
        let s = Steering::new(&RssTable::default_for(cores), &bound).unwrap();
        for (remote, local) in cases {
            let (remote, local): (SocketAddr, IpAddr) = (remote.parse().unwrap(), ip(local));
            for core in 0..cores as usize {
                let mut taken = Vec::new();
                for start in [0u16, 12345, 49152, 65535] {
                    let p = s
                        .pick_local_port(core, remote, local, DYNAMIC_PORTS, start, |p| taken.contains(&p))
                        .unwrap_or_else(|| panic!("{cores} cores: core {core} found no port"));
                    assert!(p >= EPHEMERAL_FIRST && !taken.contains(&p));
                    // The reply: source = remote, destination = local:p.
                    assert_eq!(
                        s.owner(remote.ip(), local, remote.port(), p),
                        core,
                        "port {p}"
                    );
                    taken.push(p);
                }
            }
            assert_eq!(
                s.pick_local_port(cores as usize, remote, local, DYNAMIC_PORTS, 0, |_| false),
                None
            );
            let other = if remote.is_ipv4() {
                ip("2001:db8::2")
            } else {
                ip("198.18.1.2")
            };
            assert_eq!(
                s.pick_local_port(0, remote, other, DYNAMIC_PORTS, 0, |_| false),
                None,
                "mixed families"
            );
        }
    }
}

#[test]
fn core_without_table_slots_gets_no_port() {
    // Core 1 serves queue 5, which the 2-queue table never selects.
    let s = Steering::new(&RssTable::default_for(2), &[0, 5]).unwrap();
    assert_eq!(s.unbound_queues(), vec![1]);
    let remote: SocketAddr = "198.18.0.1:80".parse().unwrap();
    let local = ip("198.18.0.2");
    assert_eq!(s.pick_local_port(1, remote, local, DYNAMIC_PORTS, 0, |_| false), None);
    let p = s.pick_local_port(0, remote, local, DYNAMIC_PORTS, 0, |_| false).unwrap();
    assert_eq!(s.owner(remote.ip(), local, 80, p), 0);
    assert_eq!(s.pick_local_port(0, remote, local, DYNAMIC_PORTS, 0, |_| true), None);
}

#[test]
fn tcp_ports_span_the_whole_range_and_wrap() {
    let s = Steering::single();
    let remote: SocketAddr = "198.18.0.1:80".parse().unwrap();
    let local = ip("198.18.0.2");
    let pick = |start: u16, taken: &dyn Fn(u16) -> bool| s.pick_local_port(0, remote, local, TCP_EPHEMERAL_PORTS, start, taken);
    // RFC 6056 §3.2: 1024..=65535, the scan starting at the port asked for.
    assert_eq!(pick(1024, &|_| false), Some(1024));
    assert_eq!(pick(5000, &|_| false), Some(5000));
    assert_eq!(pick(65535, &|p| p == 65535), Some(1024), "wraps from 65535 to 1024");
    assert_eq!(pick(0, &|p| p != 2000), Some(2000), "the one free port of 64,512");
    assert_eq!(pick(0, &|_| true), None);
    assert!(pick(7, &|_| false).is_some_and(|p| p >= 1024), "a start below the range is taken modulo it");
    // UDP keeps the dynamic range.
    assert_eq!(s.pick_local_port(0, remote, local, DYNAMIC_PORTS, 5000, |_| false).map(|p| p >= EPHEMERAL_FIRST), Some(true));
}
