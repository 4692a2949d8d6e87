//! The IPv6 fixed header (RFC 8200 §3) and IPv6 address helpers: solicited-node
//! multicast (RFC 4291 §2.7.1), multicast MAC mapping (RFC 2464 §7) and link-local
//! addresses from a MAC via modified EUI-64 (RFC 4291 §2.5.1, Appendix A).
//!
//! Extension headers live in [`crate::ipv6ext`]; the chain walker there turns the
//! fixed header's `next_header` and payload into the upper-layer protocol.

use core::net::Ipv6Addr;

use crate::{Error, Result};

mod field {
    pub type Field = core::ops::Range<usize>;
    // RFC 8200 §3: version (4 bits), traffic class (8 bits), flow label (20 bits).
    pub const VER_TC_FLOW: Field = 0..4;
    pub const PAYLOAD_LEN: Field = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Field = 8..24;
    pub const DST_ADDR: Field = 24..40;
}

/// Length of the IPv6 fixed header (RFC 8200 §3).
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// The minimum link MTU every IPv6 link must carry (RFC 8200 §5).
pub const MIN_MTU: usize = 1280;

/// The all-nodes link-local multicast address `ff02::1` (RFC 4291 §2.7.1).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// The all-routers link-local multicast address `ff02::2` (RFC 4291 §2.7.1).
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// The all-MLDv2-capable-routers address `ff02::16` (RFC 3810 §5.2.14).
pub const ALL_MLDV2_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16);

/// A read/write view of an IPv6 packet (fixed header plus payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking its length. Getters may panic until
    /// [`check_len`](Self::check_len) has succeeded.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer and [`check_len`](Self::check_len) it.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Check that the buffer holds the fixed header and the payload length it
    /// announces.
    ///
    /// Returns `Truncated` if the buffer is shorter than 40 bytes or than
    /// `40 + payload_len`. Bytes beyond the payload (Ethernet padding) are allowed
    /// and ignored by [`payload`](Self::payload). The version is checked by
    /// [`Ipv6Repr::parse`], not here.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if len < HEADER_LEN + usize::from(self.payload_len()) {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Consume the view, returning the buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn word0(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::VER_TC_FLOW];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// The version field (6 for IPv6).
    #[inline]
    pub fn version(&self) -> u8 {
        (self.word0() >> 28) as u8
    }

    /// The traffic class (DSCP and ECN, RFC 2474 / RFC 3168).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.word0() >> 20) as u8
    }

    /// The 20-bit flow label (RFC 6437).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.word0() & 0x000f_ffff
    }

    /// The payload length: bytes after the fixed header, extension headers included.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::PAYLOAD_LEN];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The next-header field: the first extension header or upper-layer protocol.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    /// The hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// The source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        addr_at(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    /// The destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        addr_at(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// Fixed header plus payload: the packet without trailing link-layer padding.
    #[inline]
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len())
    }

    /// The payload (extension headers and upper-layer data), exactly
    /// `payload_len` bytes; trailing padding is excluded.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.total_len()]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload with the buffer's lifetime.
    #[inline]
    pub fn payload_ref(&self) -> &'a [u8] {
        let end = self.total_len();
        &self.buffer.as_ref()[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn set_word0(&mut self, w: u32) {
        self.buffer.as_mut()[field::VER_TC_FLOW].copy_from_slice(&w.to_be_bytes());
    }

    /// Set the version field (low 4 bits of `v`).
    #[inline]
    pub fn set_version(&mut self, v: u8) {
        let w = (self.word0() & 0x0fff_ffff) | (u32::from(v & 0xf) << 28);
        self.set_word0(w);
    }

    /// Set the traffic class.
    #[inline]
    pub fn set_traffic_class(&mut self, tc: u8) {
        let w = (self.word0() & 0xf00f_ffff) | (u32::from(tc) << 20);
        self.set_word0(w);
    }

    /// Set the flow label (low 20 bits of `label`).
    #[inline]
    pub fn set_flow_label(&mut self, label: u32) {
        let w = (self.word0() & 0xfff0_0000) | (label & 0x000f_ffff);
        self.set_word0(w);
    }

    /// Set the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, len: u16) {
        self.buffer.as_mut()[field::PAYLOAD_LEN].copy_from_slice(&len.to_be_bytes());
    }

    /// Set the next-header field.
    #[inline]
    pub fn set_next_header(&mut self, nh: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = nh;
    }

    /// Set the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, hl: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = hl;
    }

    /// Set the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    /// Set the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }

    /// The payload, mutably (`payload_len` bytes after the fixed header).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.total_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[inline]
fn addr_at(b: &[u8]) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&b[..16]);
    Ipv6Addr::from(o)
}

/// A validated IPv6 fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// Source address (never multicast, RFC 4291 §2.7).
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Next header: first extension header or upper-layer protocol
    /// ([`crate::ip::protocol`]).
    pub next_header: u8,
    /// Payload length in bytes (extension headers included).
    pub payload_len: u16,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// Parse and validate a fixed header.
    ///
    /// Errors: `Truncated` (see [`Packet::check_len`]); `Unsupported` for a version
    /// other than 6 (RFC 8200 §3) or a jumbogram (payload length 0 with a hop-by-hop
    /// header, RFC 2675, which cannot occur on Ethernet); `Malformed` for a
    /// multicast source address (RFC 4291 §2.7).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Ipv6Repr> {
        packet.check_len()?;
        if packet.version() != 6 {
            return Err(Error::Unsupported);
        }
        if packet.payload_len() == 0 && packet.next_header() == crate::ip::protocol::HOP_BY_HOP {
            return Err(Error::Unsupported);
        }
        let src = packet.src_addr();
        if src.is_multicast() {
            return Err(Error::Malformed);
        }
        Ok(Ipv6Repr {
            src,
            dst: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: packet.payload_len(),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// Bytes [`emit`](Self::emit) writes: the 40-byte fixed header.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the fixed header into the first 40 bytes of `packet`'s buffer. The
    /// payload is left to the caller.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let w = (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0x000f_ffff);
        packet.set_word0(w);
        packet.set_payload_len(self.payload_len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src);
        packet.set_dst_addr(self.dst);
    }
}

/// The solicited-node multicast address of `addr`: `ff02::1:ffXX:XXXX` with the
/// low 24 bits of `addr` (RFC 4291 §2.7.1).
pub fn solicited_node(addr: &Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

/// True if `addr` is a solicited-node multicast address (`ff02::1:ff00:0/104`,
/// RFC 4291 §2.7.1).
pub fn is_solicited_node(addr: &Ipv6Addr) -> bool {
    let o = addr.octets();
    o[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff]
}

/// The Ethernet multicast MAC for an IPv6 multicast address: `33:33` followed by
/// the address's last four bytes (RFC 2464 §7).
pub fn multicast_mac(addr: &Ipv6Addr) -> [u8; 6] {
    let o = addr.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// The modified EUI-64 interface identifier of a 48-bit MAC: `ff:fe` inserted in
/// the middle and the universal/local bit inverted (RFC 4291 §2.5.1, Appendix A).
pub fn eui64_interface_id(mac: [u8; 6]) -> [u8; 8] {
    [mac[0] ^ 0x02, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]]
}

/// The link-local address `fe80::/64` + modified EUI-64 of `mac` (RFC 4291 §2.5.6,
/// Appendix A; RFC 4862 §5.3).
pub fn link_local_from_mac(mac: [u8; 6]) -> Ipv6Addr {
    with_interface_id(&Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), eui64_interface_id(mac))
}

/// The address made of the first 64 bits of `prefix` and the interface
/// identifier `iid` (RFC 4862 §5.5.3 for SLAAC with a /64 prefix).
pub fn with_interface_id(prefix: &Ipv6Addr, iid: [u8; 8]) -> Ipv6Addr {
    let mut o = prefix.octets();
    o[8..].copy_from_slice(&iid);
    Ipv6Addr::from(o)
}

/// True if `addr` is a unicast link-local address (`fe80::/10`, RFC 4291 §2.5.6).
pub fn is_link_local(addr: &Ipv6Addr) -> bool {
    let s = addr.segments();
    s[0] & 0xffc0 == 0xfe80
}

#[cfg(test)]
pub(crate) mod captured {
    //! Captured IPv6 frames shared by the IPv6-side tests.
    use std::vec::Vec;

    /// Kernel-sent frames (testdata/capture-v6.sh, v6.pcap).
    pub const KERNEL: &[u8] = include_bytes!("../../../testdata/v6.pcap");
    /// Scapy-crafted frames plus the kernel's answers (v6-scapy.pcap).
    pub const SCAPY: &[u8] = include_bytes!("../../../testdata/v6-scapy.pcap");

    /// Every frame of both captures.
    pub fn frames() -> Vec<Vec<u8>> {
        let mut v = crate::testutil::read_pcap(KERNEL);
        v.extend(crate::testutil::read_pcap(SCAPY));
        v
    }

    /// The IPv6 packet inside an Ethernet frame (EtherType 0x86dd), parsed by hand.
    pub fn ipv6_of(frame: &[u8]) -> Option<&[u8]> {
        if frame.len() >= 14 && frame[12..14] == [0x86, 0xdd] {
            Some(&frame[14..])
        } else {
            None
        }
    }

    /// Every IPv6 packet of both captures (Ethernet header removed).
    pub fn packets() -> Vec<Vec<u8>> {
        frames().iter().filter_map(|f| ipv6_of(f).map(|p| p.to_vec())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec;

    #[test]
    fn captured_headers_round_trip() {
        let pkts = captured::packets();
        assert!(pkts.len() >= 40, "only {} IPv6 frames", pkts.len());
        for p in &pkts {
            let packet = Packet::new_checked(&p[..]).unwrap();
            let repr = Ipv6Repr::parse(&packet).unwrap();
            assert!(repr.src == Ipv6Addr::UNSPECIFIED || repr.src.segments()[0] == 0x2001 || is_link_local(&repr.src));
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            assert_eq!(&buf[..], &p[..HEADER_LEN]);
            assert_eq!(packet.payload().len(), usize::from(repr.payload_len));
        }
    }

    #[test]
    fn captured_echo_header_values() {
        // The first echo request of `ping -6 -c 2 2001:db8::2` (payload 8 + 56 bytes).
        let pkts = captured::packets();
        let p = pkts
            .iter()
            .find(|p| p[6] == 58 && p[40] == 128)
            .expect("an echo request");
        let r = Ipv6Repr::parse(&Packet::new_checked(&p[..]).unwrap()).unwrap();
        assert_eq!(r.src, "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(r.dst, "2001:db8::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(r.payload_len, 64);
        assert_eq!(r.hop_limit, 64);
        assert_ne!(r.flow_label, 0);
    }

    #[test]
    fn every_truncation_is_an_error() {
        for p in captured::packets() {
            for n in 0..p.len() {
                let r = Packet::new_checked(&p[..n]).and_then(|pk| Ipv6Repr::parse(&pk));
                if n < HEADER_LEN + usize::from(u16::from_be_bytes([p[4], p[5]])) {
                    assert_eq!(r, Err(Error::Truncated), "len {n}");
                }
            }
        }
    }

    #[test]
    fn padding_is_ignored() {
        let p = &captured::packets()[0];
        let mut padded = p.clone();
        padded.extend_from_slice(&[0u8; 10]);
        let pk = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(pk.payload(), &p[HEADER_LEN..]);
    }

    #[test]
    fn version_and_source_checks() {
        let mut p = captured::packets()[0].clone();
        p[0] = 0x40;
        assert_eq!(Ipv6Repr::parse(&Packet::new_checked(&p[..]).unwrap()), Err(Error::Unsupported));
        let mut p = captured::packets()[0].clone();
        p[8] = 0xff;
        assert_eq!(Ipv6Repr::parse(&Packet::new_checked(&p[..]).unwrap()), Err(Error::Malformed));
    }

    #[test]
    fn address_helpers() {
        // RFC 4291 §2.7.1 example shape; values from the capture (kernel's own).
        let a: Ipv6Addr = "fe80::6c64:a4ff:fee0:5167".parse().unwrap();
        assert_eq!(solicited_node(&a), "ff02::1:ffe0:5167".parse::<Ipv6Addr>().unwrap());
        assert!(is_solicited_node(&solicited_node(&a)));
        assert!(!is_solicited_node(&ALL_NODES));
        assert_eq!(multicast_mac(&solicited_node(&a)), [0x33, 0x33, 0xff, 0xe0, 0x51, 0x67]);
        assert_eq!(link_local_from_mac([0x6e, 0x64, 0xa4, 0xe0, 0x51, 0x67]), a);
        assert!(is_link_local(&a));
        assert!(!is_link_local(&ALL_NODES));
        assert_eq!(multicast_mac(&ALL_MLDV2_ROUTERS), [0x33, 0x33, 0, 0, 0, 0x16]);
    }

    #[test]
    fn link_local_matches_capture() {
        // Every link-local source in the captures is the EUI-64 of its frame's MAC
        // (the kernel's addr_gen_mode eui64 default).
        for f in captured::frames() {
            if let Some(p) = captured::ipv6_of(&f) {
                let src = Packet::new_checked(p).unwrap().src_addr();
                if is_link_local(&src) {
                    let mac: [u8; 6] = f[6..12].try_into().unwrap();
                    assert_eq!(link_local_from_mac(mac), src);
                }
            }
        }
    }

    fn arb_repr() -> impl Strategy<Value = Ipv6Repr> {
        (any::<u128>(), any::<u128>(), any::<u8>(), any::<u16>(), any::<u8>(), any::<u8>(), 0u32..(1 << 20))
            .prop_filter_map("multicast src", |(s, d, nh, pl, hl, tc, fl)| {
                let src = Ipv6Addr::from(s);
                if src.is_multicast() || (pl == 0 && nh == 0) {
                    return None;
                }
                Some(Ipv6Repr {
                    src,
                    dst: Ipv6Addr::from(d),
                    next_header: nh,
                    payload_len: pl,
                    hop_limit: hl,
                    traffic_class: tc,
                    flow_label: fl,
                })
            })
    }

    proptest! {
        #[test]
        fn emit_parse_identity(repr in arb_repr()) {
            let mut buf = vec![0u8; HEADER_LEN + usize::from(repr.payload_len)];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            let parsed = Ipv6Repr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap();
            prop_assert_eq!(parsed, repr);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = Ipv6Repr::parse(&p);
                let _ = (p.payload(), p.src_addr(), p.dst_addr(), p.flow_label());
            }
        }
    }
}
