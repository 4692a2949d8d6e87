//! The User Datagram Protocol (RFC 768), over IPv4 or IPv6.
//!
//! ```text
//!  0      7 8     15 16    23 24    31
//! +--------+--------+--------+--------+
//! |   source port   |    dest port    |
//! +--------+--------+--------+--------+
//! |     length      |    checksum     |
//! +--------+--------+--------+--------+
//! |          data octets ...
//! ```
//!
//! The checksum covers a pseudo-header (RFC 768 for IPv4, RFC 8200 §8.1 for IPv6),
//! the header and the data. Over IPv4 a zero checksum means "none was computed";
//! over IPv6 it is invalid (RFC 8200 §8.1).

use core::net::IpAddr;

use crate::checksum;
use crate::ip::protocol;
use crate::{ChecksumKind, ChecksumMode, Error, Result};

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

/// Sum of the pseudo-header for `src`/`dst` of one family (IPv4: RFC 9293 §3.1 /
/// RFC 768; IPv6: RFC 8200 §8.1). `Malformed` when the families differ.
#[inline]
pub(crate) fn pseudo_header(src: &IpAddr, dst: &IpAddr, next_header: u8, length: u32) -> Result<u16> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Ok(checksum::pseudo_header_v4(s, d, next_header, length)),
        (IpAddr::V6(s), IpAddr::V6(d)) => Ok(checksum::pseudo_header_v6(s, d, next_header, length)),
        _ => Err(Error::Malformed),
    }
}

/// A view of a UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer and [`check_len`](Self::check_len) it.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Check the header is present and the length field is consistent (RFC 768:
    /// "Length is the length in octets of this user datagram including this
    /// header"): below 8 is `BadLength`, beyond the buffer `Truncated`. A buffer
    /// longer than the length field is allowed; [`payload`](Self::payload) ends at it.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let l = self.len() as usize;
        if l < HEADER_LEN {
            return Err(Error::BadLength);
        }
        if l > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn u16_at(&self, r: core::ops::Range<usize>) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[r.start], b[r.start + 1]])
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT)
    }
    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT)
    }
    /// Length field (header and data).
    #[inline]
    pub fn len(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }
    /// True if the length field says there is no data.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() as usize <= HEADER_LEN
    }
    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }
    /// The data, up to the length field.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.len() as usize]
    }
    /// True if the checksum verifies with the pseudo-header of `src` → `dst`. A zero
    /// field over IPv4 ("no checksum", RFC 768) verifies; over IPv6 it does not
    /// (RFC 8200 §8.1). Mixed address families never verify.
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        if self.checksum() == 0 {
            return src.is_ipv4() && dst.is_ipv4();
        }
        let len = self.len();
        let Ok(ph) = pseudo_header(src, dst, protocol::UDP, u32::from(len)) else {
            return false;
        };
        let d = checksum::data(&self.buffer.as_ref()[..len as usize]);
        checksum::combine(&[ph, d]) == 0xffff
    }
    /// True if the checksum field holds exactly the pseudo-header sum of `src` →
    /// `dst` for the length field: the unfinished CHECKSUM_PARTIAL form Linux leaves
    /// for the device (`udp4_hwcsum`: `uh->check = ~csum_tcpudp_magic(src, dst,
    /// len, IPPROTO_UDP, 0)`, net/ipv4/udp.c; `udp6_hwcsum_outgoing` with
    /// `csum_ipv6_magic`, net/ipv6/udp.c; see [`ChecksumKind::Partial`]). That sum
    /// is never zero, so it cannot be mistaken for "no checksum". Mixed families
    /// never match.
    pub fn checksum_is_partial(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        match pseudo_header(src, dst, protocol::UDP, u32::from(self.len())) {
            Ok(ph) => self.checksum() == ph,
            Err(_) => false,
        }
    }
    /// Classify the checksum: the partial form first (one comparison), then the
    /// full sum over the pseudo-header and the datagram up to the length field
    /// ([`checksum::classify`]). A zero field is `Full` over IPv4 ("no checksum",
    /// as [`verify_checksum`](Self::verify_checksum) accepts it) and `Bad` over IPv6
    /// (RFC 8200 §8.1). Mixed families are `Bad`.
    pub fn verify_checksum_kind(&self, src: &IpAddr, dst: &IpAddr) -> ChecksumKind {
        let field = self.checksum();
        if field == 0 {
            return if src.is_ipv4() && dst.is_ipv4() { ChecksumKind::Full } else { ChecksumKind::Bad };
        }
        let len = self.len();
        match pseudo_header(src, dst, protocol::UDP, u32::from(len)) {
            Ok(ph) => checksum::classify(ph, field, &self.buffer.as_ref()[..len as usize]),
            Err(_) => ChecksumKind::Bad,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn set_u16_at(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }
    /// Set the source port.
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        self.set_u16_at(field::SRC_PORT, v);
    }
    /// Set the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        self.set_u16_at(field::DST_PORT, v);
    }
    /// Set the length field.
    #[inline]
    pub fn set_len(&mut self, v: u16) {
        self.set_u16_at(field::LENGTH, v);
    }
    /// Set the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.set_u16_at(field::CHECKSUM, v);
    }
    /// The data up to the length field, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let l = self.len() as usize;
        &mut self.buffer.as_mut()[HEADER_LEN..l]
    }
    /// Compute and store the checksum over the pseudo-header of `src` → `dst`, the
    /// header and the data up to the length field. A computed zero is sent as
    /// `0xffff` (RFC 768: "If the computed checksum is zero, it is transmitted as
    /// all ones"). Mixed address families leave the field zero.
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let len = self.len();
        let Ok(ph) = pseudo_header(src, dst, protocol::UDP, u32::from(len)) else {
            return;
        };
        let d = checksum::data(&self.buffer.as_ref()[..len as usize]);
        let c = !checksum::combine(&[ph, d]);
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// A UDP datagram in validated form, with a borrowed payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The data.
    pub payload: &'a [u8],
}

impl<'a> UdpRepr<'a> {
    /// Parse a datagram sent from `src` to `dst`; `packet` should span the IP
    /// payload (bytes after the length field are ignored).
    ///
    /// With [`ChecksumMode::Full`]: over IPv4 a zero checksum is accepted (none was
    /// sent, RFC 768), over IPv6 it is `Malformed` (RFC 8200 §8.1); a wrong one is
    /// `BadChecksum`. [`ChecksumMode::FullOrPartial`] also accepts a field holding
    /// only the pseudo-header sum ([`Packet::verify_checksum_kind`]). A destination port of 0 is `Malformed` (reserved, not
    /// addressable). Mixed address families are `Malformed`.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
        src: &IpAddr,
        dst: &IpAddr,
        checksum: ChecksumMode,
    ) -> Result<UdpRepr<'a>> {
        packet.check_len()?;
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(Error::Malformed);
        }
        if packet.dst_port() == 0 {
            return Err(Error::Malformed);
        }
        if checksum.verifies() {
            if packet.checksum() == 0 && src.is_ipv6() {
                // RFC 8200 §8.1: "IPv6 receivers must discard UDP packets containing
                // a zero checksum".
                return Err(Error::Malformed);
            }
            let verified = match checksum {
                ChecksumMode::FullOrPartial => packet.verify_checksum_kind(src, dst) != ChecksumKind::Bad,
                _ => packet.verify_checksum(src, dst),
            };
            if !verified {
                return Err(Error::BadChecksum);
            }
        }
        let b: &'a [u8] = packet.buffer.as_ref();
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload: &b[HEADER_LEN..packet.len() as usize],
        })
    }

    /// Header length: 8.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Write header and payload; with [`ChecksumMode::Full`] (or
    /// [`ChecksumMode::FullOrPartial`]) compute the checksum
    /// (never zero: a computed zero is sent as `0xffff`, RFC 768). The payload must
    /// fit the 16-bit length field (≤ 65527 bytes).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src: &IpAddr,
        dst: &IpAddr,
        checksum: ChecksumMode,
    ) {
        self.emit_header(packet, self.payload.len());
        packet.payload_mut().copy_from_slice(self.payload);
        if checksum.computes() {
            packet.fill_checksum(src, dst);
        } else {
            packet.set_checksum(0);
        }
    }

    /// Write only the header for `payload_len` bytes of data (checksum zero), for a
    /// payload already in place in the frame; finish with
    /// [`Packet::fill_checksum`] once the data is written.
    pub fn emit_header<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>, payload_len: usize) {
        debug_assert!(payload_len <= usize::from(u16::MAX) - HEADER_LEN);
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len((HEADER_LEN + payload_len) as u16);
        packet.set_checksum(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipv4::chain::{self, L3, L4};
    use core::net::{Ipv4Addr, Ipv6Addr};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn v4(a: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, a))
    }

    #[test]
    fn captured_datagrams() {
        let mut seen: Vec<(u16, u16, Vec<u8>)> = vec![];
        for f in chain::frames() {
            if let Ok((_, L3::Ipv4(ip, L4::Udp(u)))) = chain::parse(&f) {
                // Check the checksums really are there (offload was off).
                assert_ne!(u16::from_be_bytes([f[f.len() - u.payload.len() - 2], f[f.len() - u.payload.len() - 1]]), 0);
                let _ = ip;
                seen.push((u.src_port, u.dst_port, u.payload.to_vec()));
            }
        }
        assert_eq!(
            seen,
            [
                (40000, 5002, b"hello xdpstack".to_vec()),
                (5002, 40000, b"HELLO XDPSTACK".to_vec()),
                (40000, 5003, b"nobody home".to_vec()),
                (40001, 5004, b"tagged".to_vec()),
            ]
        );
    }

    #[test]
    fn length_field() {
        let r = UdpRepr { src_port: 1, dst_port: 2, payload: b"xyz" };
        let mut b = [0u8; 11];
        r.emit(&mut Packet::new_unchecked(&mut b[..]), &v4(1), &v4(2), ChecksumMode::Full);
        let parse = |b: &[u8]| UdpRepr::parse(&Packet::new_unchecked(b), &v4(1), &v4(2), ChecksumMode::Full).map(|r| r.payload.to_vec());
        assert_eq!(parse(&b), Ok(b"xyz".to_vec()));
        // Trailing bytes beyond the length field are not payload.
        let mut long = [0u8; 14];
        long[..11].copy_from_slice(&b);
        assert_eq!(parse(&long), Ok(b"xyz".to_vec()));
        let mut bad = b;
        bad[4..6].copy_from_slice(&12u16.to_be_bytes());
        assert_eq!(parse(&bad), Err(Error::Truncated));
        bad[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(parse(&bad), Err(Error::BadLength));
        for len in 0..11 {
            assert!(parse(&b[..len]).is_err());
        }
        let mut bad = b;
        bad[10] ^= 1;
        assert_eq!(parse(&bad), Err(Error::BadChecksum));
    }

    #[test]
    fn zero_checksum_rules() {
        let r = UdpRepr { src_port: 1, dst_port: 2, payload: b"xyz" };
        let mut b = [0u8; 11];
        r.emit(&mut Packet::new_unchecked(&mut b[..]), &v4(1), &v4(2), ChecksumMode::Ignore);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(UdpRepr::parse(&p, &v4(1), &v4(2), ChecksumMode::Full), Ok(r));
        let (s6, d6) = (IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)), IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)));
        assert_eq!(UdpRepr::parse(&p, &s6, &d6, ChecksumMode::Full), Err(Error::Malformed));
        assert_eq!(UdpRepr::parse(&p, &v4(1), &d6, ChecksumMode::Full), Err(Error::Malformed));
        // Over IPv6 with a real checksum.
        r.emit(&mut Packet::new_unchecked(&mut b[..]), &s6, &d6, ChecksumMode::Full);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(UdpRepr::parse(&p, &s6, &d6, ChecksumMode::Full), Ok(r));
        assert_eq!(UdpRepr::parse(&p, &d6, &s6, ChecksumMode::Full), Ok(r), "pseudo-header is symmetric");
        assert_eq!(UdpRepr::parse(&p, &v4(1), &v4(2), ChecksumMode::Full), Err(Error::BadChecksum));
    }

    #[test]
    fn computed_zero_is_sent_as_ffff() {
        // Find a payload whose checksum computes to zero: the sum must be 0xffff.
        let (s, d) = (v4(1), v4(2));
        let mut payload = [0u8, 0];
        let r = UdpRepr { src_port: 1, dst_port: 2, payload: &payload };
        let mut b = [0u8; 10];
        r.emit(&mut Packet::new_unchecked(&mut b[..]), &s, &d, ChecksumMode::Full);
        // Adjust the data word so the total sum becomes 0xffff.
        let c = u16::from_be_bytes([b[6], b[7]]);
        payload = c.to_be_bytes();
        let r = UdpRepr { src_port: 1, dst_port: 2, payload: &payload };
        r.emit(&mut Packet::new_unchecked(&mut b[..]), &s, &d, ChecksumMode::Full);
        assert_eq!(&b[6..8], &[0xff, 0xff]);
        assert_eq!(UdpRepr::parse(&Packet::new_unchecked(&b[..]), &s, &d, ChecksumMode::Full), Ok(r));
    }

    #[test]
    fn captured_partial_checksum_accepted_only_in_full_or_partial() {
        // testdata/v4-partial.pcap (capture-partial.sh): a datagram from Linux with
        // its default offloads on veth. udp4_hwcsum left the field as
        // ~csum_tcpudp_magic(src, dst, len, IPPROTO_UDP, 0): the pseudo-header sum.
        let dgrams: Vec<_> = chain::partial_l4().into_iter().filter(|l| l.2 == protocol::UDP).collect();
        assert_eq!(dgrams.len(), 1);
        let (s, d, _, b) = &dgrams[0];
        let p = Packet::new_checked(&b[..]).unwrap();
        let (IpAddr::V4(s4), IpAddr::V4(d4)) = (s, d) else { panic!("IPv4 capture") };
        assert_eq!(p.checksum(), checksum::pseudo_header_v4(s4, d4, protocol::UDP, u32::from(p.len())));
        assert!(p.checksum_is_partial(s, d));
        assert_eq!(p.verify_checksum_kind(s, d), ChecksumKind::Partial);
        assert!(!p.verify_checksum(s, d));
        assert_eq!(UdpRepr::parse(&p, s, d, ChecksumMode::Full), Err(Error::BadChecksum));
        let r = UdpRepr::parse(&p, s, d, ChecksumMode::FullOrPartial).unwrap();
        assert_eq!((r.src_port, r.dst_port, r.payload), (40002, 5006, &b"partial checksum udp"[..]));
        // Corrupted field, another destination, a shortened length: rejected by both.
        let both = |b: &[u8], d: &IpAddr| {
            let p = Packet::new_unchecked(b);
            (UdpRepr::parse(&p, s, d, ChecksumMode::Full).err(), UdpRepr::parse(&p, s, d, ChecksumMode::FullOrPartial).err())
        };
        let bad = (Some(Error::BadChecksum), Some(Error::BadChecksum));
        let mut c = b.clone();
        c[7] ^= 0x04;
        assert_eq!(both(&c, d), bad);
        assert_eq!(both(b, &v4(9)), bad);
        let mut short = b.clone();
        short[4..6].copy_from_slice(&(p.len() - 1).to_be_bytes());
        assert_eq!(both(&short, d), bad);
        // Re-emitted under FullOrPartial: full checksum.
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut out[..]), s, d, ChecksumMode::FullOrPartial);
        assert_eq!(Packet::new_checked(&out[..]).unwrap().verify_checksum_kind(s, d), ChecksumKind::Full);
    }

    #[test]
    fn full_or_partial_keeps_the_zero_and_full_rules() {
        // Full checksums of the offloads-off capture: Full in both modes.
        for f in chain::frames() {
            if let Ok((_, L3::Ipv4(ip, L4::Udp(u)))) = chain::parse(&f) {
                let (s, d) = (IpAddr::V4(ip.src), IpAddr::V4(ip.dst));
                let start = f.len() - u.payload.len() - HEADER_LEN;
                let p = Packet::new_checked(&f[start..]).unwrap();
                assert_eq!(p.verify_checksum_kind(&s, &d), ChecksumKind::Full);
                assert_eq!(UdpRepr::parse(&p, &s, &d, ChecksumMode::FullOrPartial), Ok(u));
            }
        }
        // Zero field: "no checksum" over IPv4, Malformed over IPv6 (RFC 8200 §8.1).
        let r = UdpRepr { src_port: 1, dst_port: 2, payload: b"xyz" };
        let mut b = [0u8; 11];
        r.emit(&mut Packet::new_unchecked(&mut b[..]), &v4(1), &v4(2), ChecksumMode::Ignore);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.verify_checksum_kind(&v4(1), &v4(2)), ChecksumKind::Full);
        assert_eq!(UdpRepr::parse(&p, &v4(1), &v4(2), ChecksumMode::FullOrPartial), Ok(r));
        let (s6, d6) = (IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)), IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)));
        assert_eq!(p.verify_checksum_kind(&s6, &d6), ChecksumKind::Bad);
        assert_eq!(UdpRepr::parse(&p, &s6, &d6, ChecksumMode::FullOrPartial), Err(Error::Malformed));
        // The IPv6 partial form, built by udp6_hwcsum_outgoing's rule
        // (~csum_ipv6_magic(saddr, daddr, len, IPPROTO_UDP, 0)).
        let (IpAddr::V6(a), IpAddr::V6(z)) = (s6, d6) else { unreachable!() };
        b[6..8].copy_from_slice(&checksum::pseudo_header_v6(&a, &z, protocol::UDP, 11).to_be_bytes());
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.verify_checksum_kind(&s6, &d6), ChecksumKind::Partial);
        assert_eq!(UdpRepr::parse(&p, &s6, &d6, ChecksumMode::Full), Err(Error::BadChecksum));
        assert_eq!(UdpRepr::parse(&p, &s6, &d6, ChecksumMode::FullOrPartial), Ok(r));
    }

    fn arb_addrs() -> impl Strategy<Value = (IpAddr, IpAddr)> {
        prop_oneof![
            (any::<u32>(), any::<u32>()).prop_map(|(a, b)| (IpAddr::V4(a.into()), IpAddr::V4(b.into()))),
            (any::<u128>(), any::<u128>()).prop_map(|(a, b)| (IpAddr::V6(a.into()), IpAddr::V6(b.into()))),
        ]
    }

    proptest! {
        #[test]
        fn emit_parse_identity(sp in any::<u16>(), dp in 1u16.., payload in proptest::collection::vec(any::<u8>(), 0..300), (s, d) in arb_addrs()) {
            let r = UdpRepr { src_port: sp, dst_port: dp, payload: &payload };
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(&mut Packet::new_unchecked(&mut buf[..]), &s, &d, ChecksumMode::Full);
            prop_assert_ne!(u16::from_be_bytes([buf[6], buf[7]]), 0);
            prop_assert_eq!(UdpRepr::parse(&Packet::new_checked(&buf[..]).unwrap(), &s, &d, ChecksumMode::Full), Ok(r));
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64), (s, d) in arb_addrs()) {
            for mode in [ChecksumMode::Full, ChecksumMode::FullOrPartial, ChecksumMode::Ignore] {
                let _ = UdpRepr::parse(&Packet::new_unchecked(&bytes[..]), &s, &d, mode);
            }
        }
    }
}
