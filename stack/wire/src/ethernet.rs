//! Ethernet II frames (IEEE 802.3 clause 3, "DIX" framing) with at most one IEEE
//! 802.1Q VLAN tag.
//!
//! ```text
//!  0                   6                  12      14      16      18
//! +-------------------+-------------------+-------+-------+-------+---------
//! | destination       | source            | type  | (TCI  | type) | payload
//! +-------------------+-------------------+-------+-------+-------+---------
//! ```
//!
//! When the first type field is [`ethertype::VLAN`] (0x8100) the frame carries an
//! 802.1Q tag: a 16-bit TCI (PCP 3 bits, DEI 1 bit, VID 12 bits) followed by the type
//! of the payload. [`Frame::payload`] skips the tag.

use core::fmt;
use core::net::Ipv6Addr;

use crate::{Error, Result};

/// EtherType values (IEEE "EtherType" registry) xdpstack knows.
pub mod ethertype {
    /// Internet Protocol version 4 (RFC 894).
    pub const IPV4: u16 = 0x0800;
    /// Address Resolution Protocol (RFC 826).
    pub const ARP: u16 = 0x0806;
    /// IEEE 802.1Q VLAN tag (C-tag).
    pub const VLAN: u16 = 0x8100;
    /// IEEE 802.1ad service tag (S-tag, "QinQ"); recognised, not handled.
    pub const QINQ: u16 = 0x88a8;
    /// Internet Protocol version 6 (RFC 2464).
    pub const IPV6: u16 = 0x86dd;
    /// Smallest value that is an EtherType rather than an IEEE 802.3 length.
    pub const MIN: u16 = 0x0600;
}

/// A 48-bit IEEE MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// The broadcast address `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);

    /// The address in `bytes`, which must be exactly six bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Option<EthernetAddress> {
        let a: [u8; 6] = bytes.try_into().ok()?;
        Some(EthernetAddress(a))
    }

    /// The six octets.
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// True for an individual (unicast) address: I/G bit clear.
    pub const fn is_unicast(&self) -> bool {
        self.0[0] & 0x01 == 0
    }

    /// True for a group (multicast, including broadcast) address: I/G bit set.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// True for `ff:ff:ff:ff:ff:ff`.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// True for a locally administered address (U/L bit set).
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }

    /// The MAC address an IPv6 multicast group maps to: `33:33` followed by the
    /// group's low 32 bits (RFC 2464 §7).
    pub fn from_ipv6_multicast(group: &Ipv6Addr) -> EthernetAddress {
        let o = group.octets();
        EthernetAddress([0x33, 0x33, o[12], o[13], o[14], o[15]])
    }

    /// The MAC address an IPv4 multicast group maps to: `01:00:5e` followed by the
    /// group's low 23 bits (RFC 1112 §6.4).
    pub fn from_ipv4_multicast(group: &core::net::Ipv4Addr) -> EthernetAddress {
        let o = group.octets();
        EthernetAddress([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

mod field {
    use core::ops::Range;
    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const TCI: Range<usize> = 14..16;
    pub const INNER_ETHERTYPE: Range<usize> = 16..18;
}

/// Length of an untagged Ethernet II header.
pub const HEADER_LEN: usize = 14;
/// Length of an Ethernet II header with one 802.1Q tag.
pub const VLAN_HEADER_LEN: usize = 18;

/// A view of an Ethernet II frame (without the FCS, as AF_XDP and pcap deliver it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wrap a buffer without checking its length: getters may panic until
    /// [`check_len`](Self::check_len) has succeeded.
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wrap a buffer and check that the header (including a VLAN tag, if the
    /// type field announces one) is present.
    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// `Err(Truncated)` if the buffer is shorter than the header it announces.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if len < self.header_len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination MAC address.
    #[inline]
    pub fn dst_addr(&self) -> EthernetAddress {
        let mut a = [0u8; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::DESTINATION]);
        EthernetAddress(a)
    }

    /// Source MAC address.
    #[inline]
    pub fn src_addr(&self) -> EthernetAddress {
        let mut a = [0u8; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::SOURCE]);
        EthernetAddress(a)
    }

    /// The first type field, as on the wire (0x8100 for a tagged frame).
    #[inline]
    pub fn outer_ethertype(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::ETHERTYPE.start], b[field::ETHERTYPE.start + 1]])
    }

    /// True if the frame carries an 802.1Q tag.
    #[inline]
    pub fn has_vlan(&self) -> bool {
        self.outer_ethertype() == ethertype::VLAN
    }

    /// The 802.1Q tag control information (PCP, DEI, VID), if tagged.
    #[inline]
    pub fn vlan_tci(&self) -> Option<u16> {
        if self.has_vlan() {
            let b = self.buffer.as_ref();
            Some(u16::from_be_bytes([b[field::TCI.start], b[field::TCI.start + 1]]))
        } else {
            None
        }
    }

    /// The type of the payload: the inner type field of a tagged frame, the
    /// (only) type field otherwise.
    #[inline]
    pub fn ethertype(&self) -> u16 {
        if self.has_vlan() {
            let b = self.buffer.as_ref();
            u16::from_be_bytes([b[field::INNER_ETHERTYPE.start], b[field::INNER_ETHERTYPE.start + 1]])
        } else {
            self.outer_ethertype()
        }
    }

    /// Header length: 18 with a VLAN tag, 14 without.
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.has_vlan() {
            VLAN_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// The payload after the header (and tag). It may include Ethernet padding:
    /// the network layer bounds it by its own length field.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Set the destination MAC address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr.0);
    }

    /// Set the source MAC address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr.0);
    }

    /// Set the first type field (use [`set_vlan`](Self::set_vlan) for tags).
    #[inline]
    pub fn set_outer_ethertype(&mut self, value: u16) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&value.to_be_bytes());
    }

    /// Write an 802.1Q tag with `tci` and the payload type `inner`: the header becomes
    /// 18 bytes long.
    #[inline]
    pub fn set_vlan(&mut self, tci: u16, inner: u16) {
        let b = self.buffer.as_mut();
        b[field::ETHERTYPE].copy_from_slice(&ethertype::VLAN.to_be_bytes());
        b[field::TCI].copy_from_slice(&tci.to_be_bytes());
        b[field::INNER_ETHERTYPE].copy_from_slice(&inner.to_be_bytes());
    }

    /// Set the payload type: the inner type field of a tagged frame, the type field
    /// otherwise.
    #[inline]
    pub fn set_ethertype(&mut self, value: u16) {
        if self.has_vlan() {
            self.buffer.as_mut()[field::INNER_ETHERTYPE].copy_from_slice(&value.to_be_bytes());
        } else {
            self.set_outer_ethertype(value);
        }
    }

    /// The payload, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let h = self.header_len();
        &mut self.buffer.as_mut()[h..]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Frame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The header of an Ethernet II frame in validated form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Source MAC address.
    pub src: EthernetAddress,
    /// Destination MAC address.
    pub dst: EthernetAddress,
    /// The 802.1Q tag control information (PCP 3 bits, DEI 1 bit, VID 12 bits), if tagged.
    pub vlan: Option<u16>,
    /// The payload's EtherType (never [`ethertype::VLAN`]).
    pub ethertype: u16,
}

impl EthernetRepr {
    /// Parse a frame header.
    ///
    /// `Unsupported` for an IEEE 802.3 length field (< 0x0600, i.e. not Ethernet II)
    /// and for a second tag (802.1ad / QinQ): xdpstack handles one 802.1Q tag.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(frame: &Frame<&T>) -> Result<EthernetRepr> {
        frame.check_len()?;
        let ethertype = frame.ethertype();
        if frame.outer_ethertype() == ethertype::QINQ
            || ethertype == ethertype::VLAN
            || ethertype == ethertype::QINQ
        {
            return Err(Error::Unsupported);
        }
        if ethertype < ethertype::MIN {
            return Err(Error::Unsupported);
        }
        Ok(EthernetRepr {
            src: frame.src_addr(),
            dst: frame.dst_addr(),
            vlan: frame.vlan_tci(),
            ethertype,
        })
    }

    /// Header length: 18 with a VLAN tag, 14 without.
    #[inline]
    pub const fn header_len(&self) -> usize {
        if self.vlan.is_some() {
            VLAN_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Length of a frame carrying `payload_len` bytes (no padding, no FCS).
    #[inline]
    pub const fn buffer_len(&self, payload_len: usize) -> usize {
        self.header_len() + payload_len
    }

    /// Write the header (14 or 18 bytes) into `frame`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
        frame.set_dst_addr(self.dst);
        frame.set_src_addr(self.src);
        match self.vlan {
            Some(tci) => frame.set_vlan(tci, self.ethertype),
            None => frame.set_outer_ethertype(self.ethertype),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::read_pcap;
    use proptest::prelude::*;
    use std::format;
    use std::vec;

    static V4: &[u8] = include_bytes!("../../../testdata/v4.pcap");
    static VLAN: &[u8] = include_bytes!("../../../testdata/v4-vlan.pcap");

    #[test]
    fn address_kinds() {
        assert!(EthernetAddress::BROADCAST.is_broadcast());
        assert!(EthernetAddress::BROADCAST.is_multicast());
        let a = EthernetAddress([0x02, 0, 0, 0, 0, 1]);
        assert!(a.is_unicast() && a.is_local() && !a.is_multicast());
        assert_eq!(format!("{a}"), "02:00:00:00:00:01");
        let g: Ipv6Addr = "ff02::1:ff00:1234".parse().unwrap();
        assert_eq!(
            EthernetAddress::from_ipv6_multicast(&g),
            EthernetAddress([0x33, 0x33, 0xff, 0x00, 0x12, 0x34])
        );
        let g4 = core::net::Ipv4Addr::new(224, 129, 2, 3);
        assert_eq!(
            EthernetAddress::from_ipv4_multicast(&g4),
            EthernetAddress([0x01, 0x00, 0x5e, 0x01, 2, 3])
        );
        assert_eq!(EthernetAddress::from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn captured_frames_round_trip() {
        for frame in read_pcap(V4) {
            let f = Frame::new_checked(&frame[..]).unwrap();
            let r = EthernetRepr::parse(&f).unwrap();
            assert_eq!(r.vlan, None);
            assert!(matches!(r.ethertype, ethertype::IPV4 | ethertype::ARP));
            let mut out = vec![0u8; r.header_len()];
            r.emit(&mut Frame::new_unchecked(&mut out[..]));
            assert_eq!(&out[..], &frame[..r.header_len()]);
            for len in 0..r.header_len() {
                assert_eq!(EthernetRepr::parse(&Frame::new_unchecked(&frame[..len])), Err(Error::Truncated));
            }
        }
    }

    #[test]
    fn captured_vlan_frames() {
        let frames = read_pcap(VLAN);
        assert_eq!(frames.len(), 3);
        let types = [ethertype::ARP, ethertype::IPV4, ethertype::IPV4];
        for (frame, ty) in frames.iter().zip(types) {
            let f = Frame::new_checked(&frame[..]).unwrap();
            let r = EthernetRepr::parse(&f).unwrap();
            assert_eq!(r.vlan, Some(7));
            assert_eq!(r.ethertype, ty);
            assert_eq!(r.dst, EthernetAddress::BROADCAST);
            assert_eq!(f.header_len(), 18);
            assert_eq!(f.payload(), &frame[18..]);
            let mut out = [0u8; 18];
            r.emit(&mut Frame::new_unchecked(&mut out[..]));
            assert_eq!(&out[..], &frame[..18]);
            // A tagged frame cut inside the tag is truncated.
            for len in 0..18 {
                assert_eq!(Frame::new_checked(&frame[..len]).err(), Some(Error::Truncated));
            }
        }
    }

    #[test]
    fn rejects_length_field_and_qinq() {
        let mut b = [0u8; 60];
        b[12..14].copy_from_slice(&0x05dcu16.to_be_bytes());
        assert_eq!(EthernetRepr::parse(&Frame::new_unchecked(&b[..])), Err(Error::Unsupported));
        b[12..14].copy_from_slice(&ethertype::QINQ.to_be_bytes());
        assert_eq!(EthernetRepr::parse(&Frame::new_unchecked(&b[..])), Err(Error::Unsupported));
        b[12..14].copy_from_slice(&ethertype::VLAN.to_be_bytes());
        b[16..18].copy_from_slice(&ethertype::VLAN.to_be_bytes());
        assert_eq!(EthernetRepr::parse(&Frame::new_unchecked(&b[..])), Err(Error::Unsupported));
    }

    fn arb_repr() -> impl Strategy<Value = EthernetRepr> {
        (any::<[u8; 6]>(), any::<[u8; 6]>(), proptest::option::of(any::<u16>()), ethertype::MIN..=u16::MAX)
            .prop_filter("single tag", |t| t.3 != ethertype::VLAN && t.3 != ethertype::QINQ)
            .prop_map(|(s, d, vlan, ethertype)| EthernetRepr {
                src: EthernetAddress(s),
                dst: EthernetAddress(d),
                vlan,
                ethertype,
            })
    }

    proptest! {
        #[test]
        fn emit_parse_identity(r in arb_repr(), extra in 0usize..64) {
            let mut buf = vec![0u8; r.buffer_len(extra)];
            r.emit(&mut Frame::new_unchecked(&mut buf[..]));
            let f = Frame::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(EthernetRepr::parse(&f), Ok(r));
            prop_assert_eq!(f.payload().len(), extra);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(f) = Frame::new_checked(&bytes[..]) {
                let _ = (f.src_addr(), f.dst_addr(), f.vlan_tci(), f.ethertype(), f.payload());
                let _ = EthernetRepr::parse(&f);
            }
            let _ = EthernetRepr::parse(&Frame::new_unchecked(&bytes[..]));
        }
    }
}
