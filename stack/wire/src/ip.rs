//! Shared IP-level definitions: protocol numbers (IANA "Assigned Internet Protocol
//! Numbers"), used by IPv4's protocol field and IPv6's next-header chain.

pub use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol / IPv6 next-header numbers xdpstack knows.
pub mod protocol {
    /// IPv6 hop-by-hop options (RFC 8200 §4.3).
    pub const HOP_BY_HOP: u8 = 0;
    /// ICMP for IPv4 (RFC 792).
    pub const ICMP: u8 = 1;
    /// TCP (RFC 9293).
    pub const TCP: u8 = 6;
    /// UDP (RFC 768).
    pub const UDP: u8 = 17;
    /// IPv6 routing header (RFC 8200 §4.4).
    pub const IPV6_ROUTE: u8 = 43;
    /// IPv6 fragment header (RFC 8200 §4.5).
    pub const IPV6_FRAG: u8 = 44;
    /// ICMP for IPv6 (RFC 4443).
    pub const ICMPV6: u8 = 58;
    /// No next header (RFC 8200 §4.7).
    pub const IPV6_NONXT: u8 = 59;
    /// IPv6 destination options (RFC 8200 §4.6).
    pub const IPV6_OPTS: u8 = 60;
}
