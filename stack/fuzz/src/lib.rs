//! The fuzz targets of xdpstack as library functions: `fuzz_targets/<name>.rs`
//! are one-line `fuzz_target!` wrappers around [`TARGETS`], and `tests/targets.rs`
//! runs every target on the empty input and on seeds made from `testdata/`.
//!
//! * [`parsers`]: one target per `wire` parser.
//! * [`iface`]: the interface under test and the raw-frame `iface` target;
//!   [`iface_ipv4`]: sequences of IPv4 packets and application calls;
//!   [`tcp_conn`]: one live connection driven by peer segments, application
//!   calls and time, held to a model of its sequence space.
//! * [`check`]: every frame the stack sends must parse back, checksums verified.
//! * [`addrs`] / [`addrs_v6`]: a pseudo-header address pair taken from the front of
//!   the fuzz input, for parsers whose checksum covers the IP addresses.

#![warn(missing_docs)]

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use libfuzzer_sys::arbitrary;

pub mod check;
pub mod iface;
pub mod iface_ipv4;
pub mod parsers;
pub mod tcp_conn;

/// A fuzz target's body: runs one input, panics on a finding.
pub type Target = fn(&[u8]);

/// Every fuzz target by name (the `[[bin]]` names of Cargo.toml) and its body.
pub const TARGETS: &[(&str, Target)] = &[
    ("ethernet", parsers::ethernet::run),
    ("arp", parsers::arp::run),
    ("ipv4", parsers::ipv4::run),
    ("icmpv4", parsers::icmpv4::run),
    ("udp", parsers::udp::run),
    ("tcp", parsers::tcp::run),
    ("ipv6", parsers::ipv6::run),
    ("icmpv6", parsers::icmpv6::run),
    ("iface", iface::raw::run),
    ("iface_ipv4", iface_ipv4::run),
    ("tcp_conn", tcp_conn::run),
];

/// Addresses for a pseudo-header from the front of `data`: an even first byte
/// takes two IPv4 addresses (1 + 8 bytes), an odd one two IPv6 addresses
/// (1 + 32 bytes). Returns them and the rest.
pub fn addrs(data: &[u8]) -> Option<(IpAddr, IpAddr, &[u8])> {
    let (&sel, rest) = data.split_first()?;
    if sel & 1 == 0 {
        let a: [u8; 8] = rest.get(..8)?.try_into().ok()?;
        let s = Ipv4Addr::from([a[0], a[1], a[2], a[3]]);
        let d = Ipv4Addr::from([a[4], a[5], a[6], a[7]]);
        Some((IpAddr::V4(s), IpAddr::V4(d), &rest[8..]))
    } else {
        let (s, d, rest) = addrs_v6(rest)?;
        Some((IpAddr::V6(s), IpAddr::V6(d), rest))
    }
}

/// Two IPv6 addresses (32 bytes) from the front of `data`, and the rest.
pub fn addrs_v6(data: &[u8]) -> Option<(Ipv6Addr, Ipv6Addr, &[u8])> {
    let s: [u8; 16] = data.get(..16)?.try_into().ok()?;
    let d: [u8; 16] = data.get(16..32)?.try_into().ok()?;
    Some((Ipv6Addr::from(s), Ipv6Addr::from(d), &data[32..]))
}

