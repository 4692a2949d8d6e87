//! Every fuzz target on the empty input, on seeds made from the captures under
//! `testdata/` (the same derivation as `seed.sh`), on the inputs that once made
//! it fail (`regressions/<target>/`, see docs/fuzzing.md) and on a fixed set of
//! pseudo-random inputs: what `make fuzz` starts from must not already crash.
//!
//!   cd stack/fuzz && cargo test --release

use std::path::{Path, PathBuf};
use xdpstack_fuzz::TARGETS;

/// The frames of a little-endian microsecond pcap.
fn pcap_frames(path: &Path) -> Vec<Vec<u8>> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(u32::from_le_bytes(b[..4].try_into().unwrap()), 0xa1b2_c3d4, "{}: little-endian pcap", path.display());
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= b.len() {
        let incl = u32::from_le_bytes(b[off + 8..off + 12].try_into().unwrap()) as usize;
        off += 16;
        out.push(b[off..(off + incl).min(b.len())].to_vec());
        off += incl;
    }
    out
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Seeds per target, as `seed.sh` writes them: `(target, name, input)`.
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut caps: Vec<PathBuf> = std::fs::read_dir(testdata())
        .expect("testdata/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    caps.sort();
    assert!(!caps.is_empty(), "no captures under testdata/");
    let be16 = |b: &[u8], i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    let mut out = Vec::new();
    for cap in caps {
        let stem = cap.file_stem().unwrap().to_string_lossy().into_owned();
        for (i, f) in pcap_frames(&cap).into_iter().enumerate() {
            let name = format!("{stem}-{i:03}");
            let mut put = |t: &'static str, d: Vec<u8>| out.push((t, name.clone(), d));
            put("ethernet", f.clone());
            put("iface", f.clone());
            if f.len() < 14 {
                continue;
            }
            let (mut et, mut l3) = (be16(&f, 12), &f[14..]);
            if et == 0x8100 && f.len() >= 18 {
                (et, l3) = (be16(&f, 16), &f[18..]);
            }
            if et == 0x0806 {
                put("arp", l3.to_vec());
            } else if et == 0x0800 && l3.len() >= 20 {
                put("ipv4", l3.to_vec());
                let ihl = usize::from(l3[0] & 15) * 4;
                let total = usize::from(be16(l3, 2)).min(l3.len());
                if be16(l3, 6) & 0x3fff != 0 || ihl > total {
                    continue;
                }
                let (proto, body) = (l3[9], &l3[ihl..total]);
                if proto == 1 {
                    put("icmpv4", body.to_vec());
                } else if proto == 6 || proto == 17 {
                    let mut d = vec![0u8];
                    d.extend_from_slice(&l3[12..20]);
                    d.extend_from_slice(body);
                    put(if proto == 6 { "tcp" } else { "udp" }, d);
                }
            } else if et == 0x86dd && l3.len() >= 40 {
                put("ipv6", l3.to_vec());
                let plen = usize::from(be16(l3, 4));
                let payload = &l3[40..(40 + plen).min(l3.len())];
                let (mut nh, mut p) = (l3[6], 0usize);
                while matches!(nh, 0 | 43 | 60) && p + 2 <= payload.len() {
                    (nh, p) = (payload[p], p + (usize::from(payload[p + 1]) + 1) * 8);
                }
                if nh == 44 || p > payload.len() {
                    continue;
                }
                if nh == 58 {
                    let mut d = l3[8..40].to_vec();
                    d.extend_from_slice(&payload[p..]);
                    put("icmpv6", d);
                } else if nh == 6 || nh == 17 {
                    let mut d = vec![1u8];
                    d.extend_from_slice(&l3[8..40]);
                    d.extend_from_slice(&payload[p..]);
                    put(if nh == 6 { "tcp" } else { "udp" }, d);
                }
            }
        }
    }
    out
}

/// xorshift64*: fixed pseudo-random inputs, the same on every run.
fn random_inputs(seed: u64, n: usize) -> Vec<Vec<u8>> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    (0..n)
        .map(|_| {
            let len = (next() % 600) as usize;
            (0..len).map(|_| (next() >> 56) as u8).collect()
        })
        .collect()
}

fn target(name: &str) -> fn(&[u8]) {
    TARGETS.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no target {name}")).1
}

/// Run `name` on the empty input, its seeds and the random inputs; report which
/// input failed.
fn run(name: &str) {
    let f = target(name);
    f(&[]);
    let mut n = 0;
    for (t, seed, d) in seeds() {
        if t == name {
            let r = std::panic::catch_unwind(|| f(&d));
            assert!(r.is_ok(), "target {name} panicked on seed {seed}: {d:02x?}");
            n += 1;
        }
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions").join(name);
    for e in std::fs::read_dir(&dir).into_iter().flatten() {
        let p = e.unwrap().path();
        let d = std::fs::read(&p).unwrap();
        let r = std::panic::catch_unwind(|| f(&d));
        assert!(r.is_ok(), "target {name} panicked on {}", p.display());
        n += 1;
    }
    for (i, d) in random_inputs(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64, 300).into_iter().enumerate() {
        let r = std::panic::catch_unwind(|| f(&d));
        assert!(r.is_ok(), "target {name} panicked on random input {i}: {d:02x?}");
    }
    eprintln!("{name}: empty input, {n} seeds and regressions, 300 random inputs");
}

macro_rules! targets {
    ($($t:ident),* $(,)?) => {
        $(#[test] fn $t() { run(stringify!($t)); })*
        /// Every target has a test here and a `[[bin]]` in Cargo.toml, and the
        /// other way round.
        #[test]
        fn every_target_is_tested_and_built() {
            let mut tested = vec![$(stringify!($t)),*];
            let mut listed: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
            let toml = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
            let mut bins: Vec<String> = toml
                .split("[[bin]]")
                .skip(1)
                .map(|b| b.lines().find_map(|l| l.strip_prefix("name = \"")).unwrap().trim_end_matches('"').to_string())
                .collect();
            tested.sort();
            listed.sort();
            bins.sort();
            assert_eq!(tested, listed, "tests vs TARGETS");
            assert_eq!(bins, listed, "Cargo.toml [[bin]] vs TARGETS");
        }
    };
}

targets!(ethernet, arp, ipv4, icmpv4, udp, tcp, ipv6, icmpv6, iface, iface_ipv4, tcp_conn);

/// Seeds exist for every raw-input target that has captures of its kind.
#[test]
fn seeds_cover_the_parsers() {
    let s = seeds();
    for t in ["ethernet", "iface", "arp", "ipv4", "icmpv4", "udp", "tcp", "ipv6", "icmpv6"] {
        assert!(s.iter().any(|(n, _, _)| *n == t), "no seed for {t}");
    }
}
