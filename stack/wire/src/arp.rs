//! The Address Resolution Protocol for IPv4 over Ethernet (RFC 826).
//!
//! ```text
//!  0       2       4   5   6       8          8+hlen     8+hlen+plen
//! +-------+-------+---+---+-------+----------+----------+----------+----------+
//! | htype | ptype |hln|pln|  oper | sha      | spa      | tha      | tpa      |
//! +-------+-------+---+---+-------+----------+----------+----------+----------+
//! ```
//!
//! The view handles any hardware / protocol lengths; [`ArpRepr`] accepts only
//! Ethernet (htype 1, hlen 6) with IPv4 (ptype 0x0800, plen 4), 28 bytes.

use core::net::Ipv4Addr;

use crate::ethernet::{ethertype, EthernetAddress};
use crate::{Error, Result};

/// Hardware type Ethernet (RFC 826; IANA "Hardware Types").
pub const HTYPE_ETHERNET: u16 = 1;

mod field {
    use core::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const ADDRS: usize = 8;

    #[inline]
    pub const fn sha(hlen: u8) -> Range<usize> {
        ADDRS..ADDRS + hlen as usize
    }
    #[inline]
    pub const fn spa(hlen: u8, plen: u8) -> Range<usize> {
        let s = sha(hlen).end;
        s..s + plen as usize
    }
    #[inline]
    pub const fn tha(hlen: u8, plen: u8) -> Range<usize> {
        let s = spa(hlen, plen).end;
        s..s + hlen as usize
    }
    #[inline]
    pub const fn tpa(hlen: u8, plen: u8) -> Range<usize> {
        let s = tha(hlen, plen).end;
        s..s + plen as usize
    }
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const ETHERNET_IPV4_LEN: usize = 28;

/// ARP operation (RFC 826; IANA "ARP Operation Codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    /// `ares_op$REQUEST` (1).
    Request,
    /// `ares_op$REPLY` (2).
    Reply,
    /// Any other operation code (RARP, InARP, ...), kept as is.
    Unknown(u16),
}

impl From<u16> for ArpOperation {
    fn from(v: u16) -> Self {
        match v {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            v => ArpOperation::Unknown(v),
        }
    }
}

impl From<ArpOperation> for u16 {
    fn from(op: ArpOperation) -> u16 {
        match op {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Unknown(v) => v,
        }
    }
}

/// A view of an ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer and check that the fixed part and the four addresses (of the
    /// lengths the packet announces) are present.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Err(Truncated)` if the buffer is shorter than 8 bytes plus the addresses.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < field::ADDRS {
            return Err(Error::Truncated);
        }
        if b.len() < field::tpa(self.hardware_len(), self.protocol_len()).end {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, r: core::ops::Range<usize>) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[r.start], b[r.start + 1]])
    }

    /// Hardware type (1 = Ethernet).
    pub fn hardware_type(&self) -> u16 {
        self.u16_at(field::HTYPE)
    }
    /// Protocol type (an EtherType, 0x0800 = IPv4).
    pub fn protocol_type(&self) -> u16 {
        self.u16_at(field::PTYPE)
    }
    /// Hardware address length.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }
    /// Protocol address length.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }
    /// Operation code.
    pub fn operation(&self) -> ArpOperation {
        self.u16_at(field::OPER).into()
    }
    /// Sender hardware address bytes.
    pub fn source_hardware_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::sha(self.hardware_len())]
    }
    /// Sender protocol address bytes.
    pub fn source_protocol_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::spa(self.hardware_len(), self.protocol_len())]
    }
    /// Target hardware address bytes.
    pub fn target_hardware_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::tha(self.hardware_len(), self.protocol_len())]
    }
    /// Target protocol address bytes.
    pub fn target_protocol_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::tpa(self.hardware_len(), self.protocol_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the hardware type.
    pub fn set_hardware_type(&mut self, v: u16) {
        self.buffer.as_mut()[field::HTYPE].copy_from_slice(&v.to_be_bytes());
    }
    /// Set the protocol type.
    pub fn set_protocol_type(&mut self, v: u16) {
        self.buffer.as_mut()[field::PTYPE].copy_from_slice(&v.to_be_bytes());
    }
    /// Set the hardware address length.
    pub fn set_hardware_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v;
    }
    /// Set the protocol address length.
    pub fn set_protocol_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v;
    }
    /// Set the operation code.
    pub fn set_operation(&mut self, op: ArpOperation) {
        self.buffer.as_mut()[field::OPER].copy_from_slice(&u16::from(op).to_be_bytes());
    }
    /// Set the sender hardware address (`addr.len()` must equal the hardware length).
    pub fn set_source_hardware_addr(&mut self, addr: &[u8]) {
        let r = field::sha(self.hardware_len());
        self.buffer.as_mut()[r].copy_from_slice(addr);
    }
    /// Set the sender protocol address (`addr.len()` must equal the protocol length).
    pub fn set_source_protocol_addr(&mut self, addr: &[u8]) {
        let r = field::spa(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[r].copy_from_slice(addr);
    }
    /// Set the target hardware address.
    pub fn set_target_hardware_addr(&mut self, addr: &[u8]) {
        let r = field::tha(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[r].copy_from_slice(addr);
    }
    /// Set the target protocol address.
    pub fn set_target_protocol_addr(&mut self, addr: &[u8]) {
        let r = field::tpa(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[r].copy_from_slice(addr);
    }
}

/// An Ethernet/IPv4 ARP packet in validated form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Request, reply or another code.
    pub operation: ArpOperation,
    /// Sender hardware address.
    pub source_hw: EthernetAddress,
    /// Sender IPv4 address.
    pub source_ip: Ipv4Addr,
    /// Target hardware address (all zeros in a request, RFC 826 / RFC 5227).
    pub target_hw: EthernetAddress,
    /// Target IPv4 address.
    pub target_ip: Ipv4Addr,
}

fn ipv4(b: &[u8]) -> Ipv4Addr {
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    Ipv4Addr::from(a)
}

fn mac(b: &[u8]) -> EthernetAddress {
    let mut a = [0u8; 6];
    a.copy_from_slice(b);
    EthernetAddress(a)
}

impl ArpRepr {
    /// Parse an ARP packet. Anything but Ethernet (htype 1, hlen 6) / IPv4
    /// (ptype 0x0800, plen 4) is `Unsupported` (RFC 826: "?Do I have the hardware
    /// type in ar$hrd? ... ?Do I speak the protocol in ar$pro?"). Bytes after the
    /// 28 (Ethernet padding) are ignored.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<ArpRepr> {
        packet.check_len()?;
        if packet.hardware_type() != HTYPE_ETHERNET
            || packet.protocol_type() != ethertype::IPV4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(Error::Unsupported);
        }
        Ok(ArpRepr {
            operation: packet.operation(),
            source_hw: mac(packet.source_hardware_addr()),
            source_ip: ipv4(packet.source_protocol_addr()),
            target_hw: mac(packet.target_hardware_addr()),
            target_ip: ipv4(packet.target_protocol_addr()),
        })
    }

    /// Length of the packet: 28.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        ETHERNET_IPV4_LEN
    }

    /// Write the 28-byte packet.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_hardware_type(HTYPE_ETHERNET);
        packet.set_protocol_type(ethertype::IPV4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_source_hardware_addr(&self.source_hw.0);
        packet.set_source_protocol_addr(&self.source_ip.octets());
        packet.set_target_hardware_addr(&self.target_hw.0);
        packet.set_target_protocol_addr(&self.target_ip.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ethernet::{EthernetRepr, Frame};
    use crate::testutil::read_pcap;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    static V4: &[u8] = include_bytes!("../../../testdata/v4.pcap");
    static VLAN: &[u8] = include_bytes!("../../../testdata/v4-vlan.pcap");

    fn arp_frames() -> Vec<Vec<u8>> {
        let mut v = read_pcap(V4);
        v.extend(read_pcap(VLAN));
        v.retain(|f| {
            let fr = Frame::new_checked(&f[..]).unwrap();
            EthernetRepr::parse(&fr).unwrap().ethertype == ethertype::ARP
        });
        v
    }

    #[test]
    fn captured_arp() {
        let frames = arp_frames();
        assert_eq!(frames.len(), 3, "request, reply, tagged request");
        let mut seen_request = false;
        let mut seen_reply = false;
        for f in &frames {
            let fr = Frame::new_checked(&f[..]).unwrap();
            let eth = EthernetRepr::parse(&fr).unwrap();
            let p = Packet::new_checked(fr.payload()).unwrap();
            let r = ArpRepr::parse(&p).unwrap();
            assert_eq!(r.source_hw, eth.src);
            match r.operation {
                ArpOperation::Request => {
                    seen_request = true;
                    assert_eq!(r.target_hw, EthernetAddress([0; 6]));
                    assert!(eth.dst.is_broadcast());
                    if eth.vlan.is_none() {
                        assert_eq!(r.source_ip, Ipv4Addr::new(198, 18, 0, 1));
                        assert_eq!(r.target_ip, Ipv4Addr::new(198, 18, 0, 2));
                    } else {
                        assert_eq!(r.target_ip, Ipv4Addr::new(198, 19, 7, 2));
                    }
                }
                ArpOperation::Reply => {
                    seen_reply = true;
                    assert_eq!(r.source_ip, Ipv4Addr::new(198, 18, 0, 2));
                    assert_eq!(r.target_ip, Ipv4Addr::new(198, 18, 0, 1));
                    assert_eq!(r.target_hw, eth.dst);
                }
                ArpOperation::Unknown(_) => panic!("unexpected op"),
            }
            let mut out = vec![0u8; r.buffer_len()];
            r.emit(&mut Packet::new_unchecked(&mut out[..]));
            assert_eq!(&out[..], &fr.payload()[..28]);
            for len in 0..28 {
                let t = &fr.payload()[..len];
                assert!(Packet::new_checked(t).is_err());
                assert_eq!(ArpRepr::parse(&Packet::new_unchecked(t)), Err(Error::Truncated));
            }
        }
        assert!(seen_request && seen_reply);
    }

    #[test]
    fn unsupported_kinds() {
        let r = ArpRepr {
            operation: ArpOperation::Request,
            source_hw: EthernetAddress([2, 0, 0, 0, 0, 1]),
            source_ip: Ipv4Addr::new(198, 18, 0, 1),
            target_hw: EthernetAddress([0; 6]),
            target_ip: Ipv4Addr::new(198, 18, 0, 2),
        };
        let mut good = [0u8; 28];
        r.emit(&mut Packet::new_unchecked(&mut good[..]));
        for (i, v) in [(1usize, 6u8), (3, 0xdd), (4, 8), (5, 16)] {
            let mut b = good;
            b[i] = v;
            let p = Packet::new_unchecked(&b[..]);
            let e = ArpRepr::parse(&p);
            assert!(e == Err(Error::Unsupported) || e == Err(Error::Truncated), "{i}: {e:?}");
        }
        // hlen 16 needs 8 + 2*(16+4) = 48 bytes: truncated, never out of bounds.
        let mut b = good;
        b[4] = 16;
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::Truncated));
    }

    fn arb_repr() -> impl Strategy<Value = ArpRepr> {
        (any::<u16>(), any::<[u8; 6]>(), any::<u32>(), any::<[u8; 6]>(), any::<u32>()).prop_map(
            |(op, sh, si, th, ti)| ArpRepr {
                operation: ArpOperation::from(op),
                source_hw: EthernetAddress(sh),
                source_ip: Ipv4Addr::from(si),
                target_hw: EthernetAddress(th),
                target_ip: Ipv4Addr::from(ti),
            },
        )
    }

    proptest! {
        #[test]
        fn emit_parse_identity(r in arb_repr()) {
            let mut buf = [0u8; 28];
            r.emit(&mut Packet::new_unchecked(&mut buf[..]));
            prop_assert_eq!(ArpRepr::parse(&Packet::new_checked(&buf[..]).unwrap()), Ok(r));
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = ArpRepr::parse(&Packet::new_unchecked(&bytes[..]));
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.operation(), p.source_hardware_addr(), p.source_protocol_addr(),
                         p.target_hardware_addr(), p.target_protocol_addr());
            }
        }
    }
}
