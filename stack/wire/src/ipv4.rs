//! The IPv4 header (RFC 791 §3.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |  DSCP     |ECN|          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |Flags|      Fragment Offset    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! |                    Destination Address                        |
//! |                    Options (IHL > 5)                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Options are validated only as far as their extent (IHL) and skipped: they are not
//! kept in [`Ipv4Repr`], and [`Ipv4Repr::emit`] writes a 20-byte header.

use core::net::Ipv4Addr;

use crate::checksum;
use crate::{ChecksumMode, Error, Result};

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;
/// Largest IPv4 header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

// RFC 791 §3.1 "Flags": bit 0 reserved (must be zero), bit 1 DF, bit 2 MF.
const FLAG_RESERVED: u16 = 0x8000;
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet.
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

    /// Check the header's lengths against the buffer (RFC 791 §3.1, RFC 1122
    /// §3.2.1.1): the fixed header is present; IHL ≥ 5 (`BadLength` otherwise) and
    /// the IHL-long header is present; total length ≥ IHL·4 (`BadLength`) and ≤
    /// the buffer (`Truncated`). A buffer longer than the total length (Ethernet
    /// padding) is fine: [`payload`](Self::payload) ends at the total length.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let hl = self.header_len() as usize;
        if hl < HEADER_LEN {
            return Err(Error::BadLength);
        }
        if len < hl {
            return Err(Error::Truncated);
        }
        let tl = self.total_len() as usize;
        if tl < hl {
            return Err(Error::BadLength);
        }
        if len < tl {
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

    /// Version field (4).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }
    /// Header length in bytes (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }
    /// The DSCP and ECN byte (RFC 2474, RFC 3168), formerly "type of service".
    #[inline]
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }
    /// Differentiated services code point (RFC 2474).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.dscp_ecn() >> 2
    }
    /// ECN codepoint (RFC 3168).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.dscp_ecn() & 0x03
    }
    /// Total length of the datagram (header and payload).
    #[inline]
    pub fn total_len(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }
    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        self.u16_at(field::IDENT)
    }
    /// The reserved flag bit (must be zero, RFC 791 §3.1).
    #[inline]
    pub fn reserved_flag(&self) -> bool {
        self.u16_at(field::FLG_OFF) & FLAG_RESERVED != 0
    }
    /// Don't fragment.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.u16_at(field::FLG_OFF) & FLAG_DF != 0
    }
    /// More fragments.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.u16_at(field::FLG_OFF) & FLAG_MF != 0
    }
    /// Fragment offset in bytes (the field counts 8-byte units).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.u16_at(field::FLG_OFF) & OFFSET_MASK) << 3
    }
    /// True if this is a fragment (MF set or a non-zero offset).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }
    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    /// Protocol of the payload (see [`crate::ip::protocol`]).
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }
    /// Header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }
    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }
    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[16], b[17], b[18], b[19])
    }
    /// True if the header checksum verifies (RFC 791 §3.1, RFC 1071).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        let h = &self.buffer.as_ref()[..self.header_len() as usize];
        checksum::data(h) == 0xffff
    }
    /// The options bytes (IHL·4 − 20 of them), unparsed.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len() as usize]
    }
    /// The payload, from the end of the header to the total length (Ethernet
    /// padding after it is not included).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        &b[self.header_len() as usize..self.total_len() as usize]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn set_u16_at(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }
    /// Set the version field.
    #[inline]
    pub fn set_version(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (v << 4);
    }
    /// Set the header length in bytes (a multiple of 4, 20..=60).
    #[inline]
    pub fn set_header_len(&mut self, len: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) & 0x0f);
    }
    /// Set the DSCP/ECN byte.
    #[inline]
    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = v;
    }
    /// Set the total length.
    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        self.set_u16_at(field::LENGTH, v);
    }
    /// Set the identification.
    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        self.set_u16_at(field::IDENT, v);
    }
    /// Set flags and fragment offset at once (`frag_offset` in bytes, a multiple of 8).
    #[inline]
    pub fn set_frag(&mut self, dont_frag: bool, more_frags: bool, frag_offset: u16) {
        let mut v = (frag_offset >> 3) & OFFSET_MASK;
        if dont_frag {
            v |= FLAG_DF;
        }
        if more_frags {
            v |= FLAG_MF;
        }
        self.set_u16_at(field::FLG_OFF, v);
    }
    /// Set the time to live.
    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }
    /// Set the protocol.
    #[inline]
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v;
    }
    /// Set the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.set_u16_at(field::CHECKSUM, v);
    }
    /// Set the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }
    /// Set the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }
    /// Compute and store the header checksum (RFC 791 §3.1: the one's complement of
    /// the one's-complement sum of the header, checksum field taken as zero).
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len() as usize;
        let c = !checksum::data(&self.buffer.as_ref()[..hl]);
        self.set_checksum(c);
    }
    /// Decrement the TTL and update the checksum incrementally (RFC 1624 §3,
    /// RFC 1812 §5.3.1). Returns the new TTL.
    #[inline]
    pub fn decrement_ttl(&mut self) -> u8 {
        let old = self.u16_at(8..10);
        let ttl = self.ttl().wrapping_sub(1);
        self.set_ttl(ttl);
        let new = self.u16_at(8..10);
        let c = checksum::update(self.checksum(), old, new);
        self.set_checksum(c);
        ttl
    }
    /// The payload up to the total length, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (h, t) = (self.header_len() as usize, self.total_len() as usize);
        &mut self.buffer.as_mut()[h..t]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// An IPv4 header in validated form (options not kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Payload protocol (see [`crate::ip::protocol`]).
    pub protocol: u8,
    /// Payload length in bytes (total length − header length).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// Identification.
    pub ident: u16,
    /// Don't fragment.
    pub dont_frag: bool,
    /// More fragments.
    pub more_frags: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub frag_offset: u16,
    /// DSCP (high 6 bits) and ECN (low 2 bits).
    pub dscp_ecn: u8,
}

impl Ipv4Repr {
    /// Parse and validate a header.
    ///
    /// * lengths as in [`Packet::check_len`];
    /// * version 4, else `Unsupported` (RFC 791 §3.1);
    /// * header checksum, unless `checksum` is [`ChecksumMode::Ignore`]
    ///   (`BadChecksum`; there is no partial form: Linux always computes the header
    ///   checksum itself, `ip_send_check`);
    /// * the reserved flag clear, and a fragment that does not reach past 65535
    ///   bytes of reassembled datagram (RFC 791 §3.2), else `Malformed`.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>, checksum: ChecksumMode) -> Result<Ipv4Repr> {
        packet.check_len()?;
        if packet.version() != 4 {
            return Err(Error::Unsupported);
        }
        if checksum.verifies() && !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        let repr = Self::from_fields(packet, packet.total_len() as usize - packet.header_len() as usize)?;
        Ok(repr)
    }

    fn from_fields<T: AsRef<[u8]>>(packet: &Packet<T>, payload_len: usize) -> Result<Ipv4Repr> {
        if packet.reserved_flag() {
            return Err(Error::Malformed);
        }
        // RFC 791 §3.2: offsets count 8-byte units; the reassembled datagram must fit
        // the 16-bit total length (the "ping of death" check).
        if packet.frag_offset() as usize + payload_len > 0xffff - HEADER_LEN {
            return Err(Error::Malformed);
        }
        Ok(Ipv4Repr {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len,
            ttl: packet.ttl(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
            dscp_ecn: packet.dscp_ecn(),
        })
    }

    /// Parse the IPv4 header quoted in an ICMP error (RFC 792, RFC 1812 §4.3.2.3):
    /// the datagram is cut short, so only the header itself must be present; the
    /// total length is not checked against the buffer and the checksum is not
    /// verified (routers and NATs may have touched it). Returns the header and the
    /// quoted bytes after it (at least the first 8 bytes of the transport header
    /// when the sender followed RFC 792).
    pub fn parse_quoted(bytes: &[u8]) -> Result<(Ipv4Repr, &[u8])> {
        let packet = Packet::new_unchecked(bytes);
        if bytes.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if packet.version() != 4 {
            return Err(Error::Unsupported);
        }
        let hl = packet.header_len() as usize;
        if hl < HEADER_LEN {
            return Err(Error::BadLength);
        }
        if bytes.len() < hl {
            return Err(Error::Truncated);
        }
        let tl = packet.total_len() as usize;
        if tl < hl {
            return Err(Error::BadLength);
        }
        let repr = Self::from_fields(&packet, tl - hl)?;
        let end = tl.min(bytes.len());
        Ok((repr, &bytes[hl..end]))
    }

    /// Header length written by [`emit`](Self::emit): 20.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload length.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Write a 20-byte header (no options) into `packet`; the checksum is computed
    /// unless `checksum` is [`ChecksumMode::Ignore`]. `payload_len` must be at most
    /// 65515 and `frag_offset` a multiple of 8 (caller bugs otherwise: the fields
    /// are truncated).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>, checksum: ChecksumMode) {
        debug_assert!(self.payload_len <= 0xffff - HEADER_LEN);
        debug_assert!(self.frag_offset & 7 == 0);
        packet.set_version(4);
        packet.set_header_len(HEADER_LEN as u8);
        packet.set_dscp_ecn(self.dscp_ecn);
        packet.set_total_len((HEADER_LEN + self.payload_len) as u16);
        packet.set_ident(self.ident);
        packet.set_frag(self.dont_frag, self.more_frags, self.frag_offset);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src);
        packet.set_dst_addr(self.dst);
        if checksum.computes() {
            packet.fill_checksum();
        } else {
            packet.set_checksum(0);
        }
    }
}

/// Whole-frame parsing and emission of the IPv4 captures, shared by the tests of
/// every IPv4-side module.
#[cfg(test)]
pub(crate) mod chain {
    use super::*;
    use crate::arp::{self, ArpRepr};
    use crate::ethernet::{ethertype, EthernetRepr, Frame};
    use crate::icmpv4::{self, Icmpv4Repr};
    use crate::ip::protocol;
    use crate::tcp::{TcpPacket, TcpRepr};
    use crate::udp::{self, UdpRepr};
    use core::net::IpAddr;
    use std::vec;
    use std::vec::Vec;

    pub static V4: &[u8] = include_bytes!("../../../testdata/v4.pcap");
    pub static VLAN: &[u8] = include_bytes!("../../../testdata/v4-vlan.pcap");

    /// `capture-partial.sh`: TCP and UDP from a Linux peer with default offloads on
    /// veth, checksum fields holding only the pseudo-header sum (CHECKSUM_PARTIAL).
    pub static PARTIAL: &[u8] = include_bytes!("../../../testdata/v4-partial.pcap");

    /// The IPv4 packets of [`PARTIAL`] (IPv4 header checksum verified: Linux
    /// computes that one in software) as (source, destination, protocol, IP payload).
    pub fn partial_l4() -> Vec<(IpAddr, IpAddr, u8, Vec<u8>)> {
        let mut v = vec![];
        for f in crate::testutil::read_pcap(PARTIAL) {
            let fr = Frame::new_checked(&f[..]).unwrap();
            if EthernetRepr::parse(&fr).unwrap().ethertype != ethertype::IPV4 {
                continue;
            }
            let p = Packet::new_checked(fr.payload()).unwrap();
            let ip = Ipv4Repr::parse(&p, ChecksumMode::Full).unwrap();
            v.push((IpAddr::V4(ip.src), IpAddr::V4(ip.dst), ip.protocol, p.payload().to_vec()));
        }
        v
    }

    /// Every captured IPv4-side frame (untagged, then tagged).
    pub fn frames() -> Vec<Vec<u8>> {
        let mut v = crate::testutil::read_pcap(V4);
        v.extend(crate::testutil::read_pcap(VLAN));
        v
    }

    /// The transport layer of a parsed frame.
    #[derive(Debug, PartialEq)]
    pub enum L4<'a> {
        Icmp(Icmpv4Repr<'a>),
        Udp(UdpRepr<'a>),
        Tcp(TcpRepr<'a>),
        /// A fragment (or an unknown protocol): the payload as is.
        Raw(&'a [u8]),
    }

    /// Network layer of a parsed frame.
    #[derive(Debug, PartialEq)]
    pub enum L3<'a> {
        Arp(ArpRepr),
        Ipv4(Ipv4Repr, L4<'a>),
    }

    /// Parse a whole frame with every checksum verified.
    pub fn parse(frame: &[u8]) -> crate::Result<(EthernetRepr, L3<'_>)> {
        let f = Frame::new_checked(frame)?;
        let eth = EthernetRepr::parse(&f)?;
        let payload = &frame[f.header_len()..];
        match eth.ethertype {
            ethertype::ARP => {
                let r = ArpRepr::parse(&arp::Packet::new_checked(payload)?)?;
                Ok((eth, L3::Arp(r)))
            }
            ethertype::IPV4 => {
                let p = Packet::new_checked(payload)?;
                let ip = Ipv4Repr::parse(&p, ChecksumMode::Full)?;
                let hl = p.header_len() as usize;
                let l4b = &payload[hl..p.total_len() as usize];
                let (src, dst) = (IpAddr::V4(ip.src), IpAddr::V4(ip.dst));
                let l4 = if ip.more_frags || ip.frag_offset != 0 {
                    L4::Raw(l4b)
                } else {
                    match ip.protocol {
                        protocol::ICMP => {
                            let pk = icmpv4::Packet::new_checked(l4b)?;
                            L4::Icmp(Icmpv4Repr::parse(&pk, ChecksumMode::Full)?)
                        }
                        protocol::UDP => {
                            let pk = udp::Packet::new_checked(l4b)?;
                            L4::Udp(UdpRepr::parse(&pk, &src, &dst, ChecksumMode::Full)?)
                        }
                        protocol::TCP => {
                            let pk = TcpPacket::new_checked(l4b)?;
                            L4::Tcp(TcpRepr::parse(&pk, &src, &dst, ChecksumMode::Full)?)
                        }
                        _ => L4::Raw(l4b),
                    }
                };
                Ok((eth, L3::Ipv4(ip, l4)))
            }
            _ => Err(crate::Error::Unsupported),
        }
    }

    /// Emit a parsed frame into a fresh buffer, checksums computed.
    pub fn emit(eth: &EthernetRepr, l3: &L3<'_>) -> Vec<u8> {
        let l3_len = match l3 {
            L3::Arp(a) => a.buffer_len(),
            L3::Ipv4(ip, _) => ip.buffer_len(),
        };
        let mut buf = vec![0u8; eth.buffer_len(l3_len)];
        let mut f = Frame::new_unchecked(&mut buf[..]);
        eth.emit(&mut f);
        let payload = f.payload_mut();
        match l3 {
            L3::Arp(a) => a.emit(&mut arp::Packet::new_unchecked(payload)),
            L3::Ipv4(ip, l4) => {
                let mut p = Packet::new_unchecked(payload);
                ip.emit(&mut p, ChecksumMode::Full);
                let (src, dst) = (IpAddr::V4(ip.src), IpAddr::V4(ip.dst));
                let body = p.payload_mut();
                match l4 {
                    L4::Icmp(r) => {
                        assert_eq!(r.buffer_len(), body.len());
                        r.emit(&mut icmpv4::Packet::new_unchecked(body), ChecksumMode::Full)
                    }
                    L4::Udp(r) => {
                        assert_eq!(r.buffer_len(), body.len());
                        r.emit(&mut udp::Packet::new_unchecked(body), &src, &dst, ChecksumMode::Full)
                    }
                    L4::Tcp(r) => {
                        assert_eq!(r.buffer_len(), body.len());
                        r.emit(&mut TcpPacket::new_unchecked(body), &src, &dst, ChecksumMode::Full)
                    }
                    L4::Raw(b) => body.copy_from_slice(b),
                }
            }
        }
        buf
    }

    /// Parse every captured frame, emit it again, compare byte for byte (Ethernet
    /// padding excluded), and cut it at every shorter length: each cut that loses
    /// meaningful bytes must be an error, none may panic. Returns the parsed count.
    pub fn round_trip_all() -> usize {
        let frames = frames();
        for (i, frame) in frames.iter().enumerate() {
            let (eth, l3) = parse(frame).unwrap_or_else(|e| panic!("frame {i}: {e:?}"));
            let out = emit(&eth, &l3);
            assert!(out.len() <= frame.len(), "frame {i}");
            assert_eq!(&out[..], &frame[..out.len()], "frame {i} round trip");
            for len in 0..frame.len() {
                let r = parse(&frame[..len]);
                if len < out.len() {
                    assert!(r.is_err(), "frame {i} cut at {len} parsed: {r:?}");
                }
            }
            // Ethernet padding after the IP datagram changes nothing.
            let mut padded = frame.clone();
            padded.extend_from_slice(&[0xa5; 24]);
            assert_eq!(parse(&padded), Ok((eth, l3)), "frame {i} padded");
        }
        frames.len()
    }
}

#[cfg(test)]
mod tests {
    use super::chain::{self, L3, L4};
    use super::*;
    use crate::ip::protocol;
    use proptest::prelude::*;
    use std::vec;

    #[test]
    fn captures_round_trip_and_truncate() {
        let n = chain::round_trip_all();
        assert!(n >= 60, "{n} frames");
    }

    #[test]
    fn captured_fragments() {
        // ping -s 3000: 3008 bytes of ICMP in three fragments each way (RFC 791 §3.2).
        let frames = chain::frames();
        let mut frags = vec![];
        for f in &frames {
            if let (_, L3::Ipv4(ip, L4::Raw(b))) = chain::parse(f).unwrap() {
                assert_eq!(ip.protocol, protocol::ICMP);
                frags.push((ip, b.len()));
            }
        }
        assert_eq!(frags.len(), 6, "{frags:?}");
        for dir in frags.chunks(3) {
            let id = dir[0].0.ident;
            let shape: std::vec::Vec<_> = dir.iter().map(|(ip, n)| (ip.ident, ip.more_frags, ip.frag_offset, *n)).collect();
            assert_eq!(shape, [(id, true, 0, 1480), (id, true, 1480, 1480), (id, false, 2960, 48)]);
            assert!(dir.iter().all(|(ip, _)| !ip.dont_frag));
        }
    }

    #[test]
    fn captured_echo_header() {
        let frames = chain::frames();
        let (_, l3) = chain::parse(&frames[2]).unwrap();
        let L3::Ipv4(ip, _) = l3 else { panic!() };
        assert_eq!(ip.src, Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(ip.dst, Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!((ip.ttl, ip.protocol, ip.payload_len, ip.dont_frag), (64, protocol::ICMP, 64, true));
    }

    fn header() -> [u8; 24] {
        // 20-byte header + 4 bytes of payload, checksum filled.
        let r = Ipv4Repr {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(198, 18, 0, 2),
            protocol: 17,
            payload_len: 4,
            ttl: 64,
            ident: 7,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            dscp_ecn: 0,
        };
        let mut b = [0u8; 24];
        r.emit(&mut Packet::new_unchecked(&mut b[..]), ChecksumMode::Full);
        b
    }

    fn parse(b: &[u8]) -> Result<Ipv4Repr> {
        Ipv4Repr::parse(&Packet::new_unchecked(b), ChecksumMode::Full)
    }

    #[test]
    fn bad_ihl() {
        for ihl in 0..5u8 {
            let mut b = header();
            b[0] = 0x40 | ihl;
            assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::BadLength), "ihl {ihl}");
        }
        // IHL 6 is fine (24 bytes present, total length 24 ≥ 24) once re-checksummed.
        let mut b = header();
        b[0] = 0x46;
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.fill_checksum();
        let r = parse(&b).unwrap();
        assert_eq!(r.payload_len, 0);
        // IHL 15 = 60 bytes > 24: truncated.
        let mut b = header();
        b[0] = 0x4f;
        assert_eq!(parse(&b), Err(Error::Truncated));
    }

    #[test]
    fn bad_total_length() {
        let mut b = header();
        b[2..4].copy_from_slice(&25u16.to_be_bytes());
        assert_eq!(parse(&b), Err(Error::Truncated));
        b[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(parse(&b), Err(Error::BadLength));
    }

    #[test]
    fn padding_is_ignored() {
        let mut b = [0u8; 46];
        b[..24].copy_from_slice(&header());
        b[24..].fill(0xaa);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload().len(), 4);
        assert_eq!(parse(&b).unwrap().payload_len, 4);
    }

    #[test]
    fn bad_checksum_version_flags() {
        let mut b = header();
        b[8] ^= 1;
        assert_eq!(parse(&b), Err(Error::BadChecksum));
        assert!(Ipv4Repr::parse(&Packet::new_unchecked(&b[..]), ChecksumMode::Ignore).is_ok());
        let mut b = header();
        b[0] = 0x65;
        assert_eq!(parse(&b), Err(Error::Unsupported));
        let mut b = header();
        b[6] |= 0x80;
        Packet::new_unchecked(&mut b[..]).fill_checksum();
        assert_eq!(parse(&b), Err(Error::Malformed));
        // Offset 65528 with 4 bytes of payload overflows the reassembled datagram.
        let mut b = header();
        b[6..8].copy_from_slice(&0x1fffu16.to_be_bytes());
        Packet::new_unchecked(&mut b[..]).fill_checksum();
        assert_eq!(parse(&b), Err(Error::Malformed));
    }

    #[test]
    fn options_are_skipped() {
        // IHL 6 with a 4-byte option (NOP NOP NOP EOL) then 4 bytes of payload.
        let mut b = [0u8; 28];
        let h = header();
        b[..20].copy_from_slice(&h[..20]);
        b[0] = 0x46;
        b[2..4].copy_from_slice(&28u16.to_be_bytes());
        b[20..24].copy_from_slice(&[1, 1, 1, 0]);
        b[24..].copy_from_slice(&[9, 8, 7, 6]);
        Packet::new_unchecked(&mut b[..]).fill_checksum();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload(), &[9, 8, 7, 6]);
        assert_eq!(parse(&b).unwrap().payload_len, 4);
    }

    #[test]
    fn decrement_ttl_keeps_checksum_valid() {
        let mut b = header();
        let mut p = Packet::new_unchecked(&mut b[..]);
        assert_eq!(p.decrement_ttl(), 63);
        assert!(p.verify_checksum());
    }

    #[test]
    fn quoted_header() {
        let h = header();
        // Only the header and 2 bytes of the datagram quoted; checksum not checked.
        let mut q = [0u8; 22];
        q.copy_from_slice(&h[..22]);
        q[10] ^= 0xff;
        let (r, rest) = Ipv4Repr::parse_quoted(&q).unwrap();
        assert_eq!((r.payload_len, r.protocol), (4, 17));
        assert_eq!(rest, &h[20..22]);
        assert_eq!(Ipv4Repr::parse_quoted(&q[..19]), Err(Error::Truncated));
    }

    pub(crate) fn arb_repr() -> impl Strategy<Value = Ipv4Repr> {
        (
            (any::<u32>(), any::<u32>(), any::<u8>(), 0usize..1500, any::<u8>()),
            (any::<u16>(), any::<bool>(), any::<bool>(), 0u16..(8192 - 200), any::<u8>()),
        )
            .prop_map(|((s, d, protocol, payload_len, ttl), (ident, df, mf, off, dscp_ecn))| Ipv4Repr {
                src: Ipv4Addr::from(s),
                dst: Ipv4Addr::from(d),
                protocol,
                payload_len,
                ttl,
                ident,
                dont_frag: df,
                more_frags: mf,
                frag_offset: off * 8,
                dscp_ecn,
            })
    }

    proptest! {
        #[test]
        fn emit_parse_identity(r in arb_repr(), pad in 0usize..32) {
            let mut buf = vec![0u8; r.buffer_len() + pad];
            r.emit(&mut Packet::new_unchecked(&mut buf[..]), ChecksumMode::Full);
            let p = Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(p.payload().len(), r.payload_len);
            let parsed = Ipv4Repr::parse(&p, ChecksumMode::Full);
            if r.frag_offset as usize + r.payload_len > 0xffff - HEADER_LEN {
                prop_assert_eq!(parsed, Err(Error::Malformed));
            } else {
                prop_assert_eq!(parsed, Ok(r));
            }
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            for mode in [ChecksumMode::Full, ChecksumMode::Ignore] {
                let _ = Ipv4Repr::parse(&Packet::new_unchecked(&bytes[..]), mode);
            }
            let _ = Ipv4Repr::parse_quoted(&bytes);
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.options(), p.payload(), p.verify_checksum(), p.frag_offset());
            }
        }

        #[test]
        fn parse_never_panics_on_v4_like(mut bytes in proptest::collection::vec(any::<u8>(), 20..100), ihl in 0u8..16, tl in 0u16..120) {
            bytes[0] = 0x40 | ihl;
            bytes[2..4].copy_from_slice(&tl.to_be_bytes());
            let _ = Ipv4Repr::parse(&Packet::new_unchecked(&bytes[..]), ChecksumMode::Ignore);
            let _ = Ipv4Repr::parse_quoted(&bytes);
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                prop_assert!(p.payload().len() + p.header_len() as usize == tl as usize);
            }
        }
    }
}
