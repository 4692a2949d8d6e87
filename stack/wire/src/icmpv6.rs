//! ICMPv6 (RFC 4443): echo, the four error messages, and the dispatch to
//! Neighbor Discovery ([`crate::ndp`], RFC 4861) and MLD ([`crate::mld`],
//! RFC 2710 / RFC 3810), which are ICMPv6 messages too.
//!
//! The checksum covers the IPv6 pseudo-header (RFC 8200 §8.1, next header 58) and
//! the whole message (RFC 4443 §2.3), so parse and emit take the addresses.

use core::net::Ipv6Addr;

use crate::ip::protocol;
use crate::mld::MldRepr;
use crate::ndp::NdiscRepr;
use crate::{checksum, ChecksumMode, Error, Result};

pub(crate) mod field {
    pub type Field = core::ops::Range<usize>;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    // RFC 4443 §4.1/§4.2: identifier, sequence number.
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQ_NO: Field = 6..8;
    // RFC 4443 §3.2: MTU; §3.4: pointer. Both occupy the 32-bit word at 4.
    pub const WORD1: Field = 4..8;
    pub const HEADER_END: usize = 8;
}

/// Length of the fixed part every message handled here has: type, code,
/// checksum and one 32-bit word (RFC 4443 §2.1).
pub const HEADER_LEN: usize = field::HEADER_END;

/// The most invoking-packet bytes an error message should carry so that it fits
/// the minimum MTU: 1280 − 40 (IPv6) − 8 (ICMPv6) (RFC 4443 §2.4 (c)). [`emit`]
/// does not truncate; the caller slices the invoking packet to this length.
///
/// [`emit`]: Icmpv6Repr::emit
pub const MAX_ERROR_DATA: usize = crate::ipv6::MIN_MTU - crate::ipv6::HEADER_LEN - HEADER_LEN;

/// ICMPv6 message types (IANA "ICMPv6 Parameters").
pub mod message {
    /// Destination Unreachable (RFC 4443 §3.1).
    pub const DST_UNREACHABLE: u8 = 1;
    /// Packet Too Big (RFC 4443 §3.2).
    pub const PKT_TOO_BIG: u8 = 2;
    /// Time Exceeded (RFC 4443 §3.3).
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter Problem (RFC 4443 §3.4).
    pub const PARAM_PROBLEM: u8 = 4;
    /// Echo Request (RFC 4443 §4.1).
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo Reply (RFC 4443 §4.2).
    pub const ECHO_REPLY: u8 = 129;
    /// Multicast Listener Query, MLDv1 and v2 (RFC 2710 §3, RFC 3810 §5.1).
    pub const MLD_QUERY: u8 = 130;
    /// MLDv1 Multicast Listener Report (RFC 2710 §3).
    pub const MLD_REPORT: u8 = 131;
    /// MLDv1 Multicast Listener Done (RFC 2710 §3).
    pub const MLD_DONE: u8 = 132;
    /// Router Solicitation (RFC 4861 §4.1).
    pub const ROUTER_SOLICIT: u8 = 133;
    /// Router Advertisement (RFC 4861 §4.2).
    pub const ROUTER_ADVERT: u8 = 134;
    /// Neighbor Solicitation (RFC 4861 §4.3).
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    /// Neighbor Advertisement (RFC 4861 §4.4).
    pub const NEIGHBOR_ADVERT: u8 = 136;
    /// Redirect (RFC 4861 §4.5).
    pub const REDIRECT: u8 = 137;
    /// Version 2 Multicast Listener Report (RFC 3810 §5.2).
    pub const MLDV2_REPORT: u8 = 143;

    /// True for error messages (type < 128, RFC 4443 §2.1).
    pub const fn is_error(msg_type: u8) -> bool {
        msg_type < 128
    }
}

/// Destination Unreachable codes (RFC 4443 §3.1).
pub mod dst_unreachable {
    /// No route to destination.
    pub const NO_ROUTE: u8 = 0;
    /// Communication administratively prohibited.
    pub const ADMIN_PROHIBITED: u8 = 1;
    /// Beyond scope of source address.
    pub const BEYOND_SCOPE: u8 = 2;
    /// Address unreachable.
    pub const ADDR_UNREACHABLE: u8 = 3;
    /// Port unreachable.
    pub const PORT_UNREACHABLE: u8 = 4;
    /// Source address failed ingress/egress policy.
    pub const FAILED_POLICY: u8 = 5;
    /// Reject route to destination.
    pub const REJECT_ROUTE: u8 = 6;
}

/// Time Exceeded codes (RFC 4443 §3.3).
pub mod time_exceeded {
    /// Hop limit exceeded in transit.
    pub const HOP_LIMIT: u8 = 0;
    /// Fragment reassembly time exceeded.
    pub const FRAG_REASSEMBLY: u8 = 1;
}

/// Parameter Problem codes (RFC 4443 §3.4).
pub mod param_problem {
    /// Erroneous header field encountered.
    pub const ERRONEOUS_FIELD: u8 = 0;
    /// Unrecognized Next Header type encountered.
    pub const UNRECOGNIZED_NEXT_HEADER: u8 = 1;
    /// Unrecognized IPv6 option encountered.
    pub const UNRECOGNIZED_OPTION: u8 = 2;
}

/// A read/write view of an ICMPv6 message. NDP and MLD add their getters to this
/// view in [`crate::ndp`] and [`crate::mld`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    pub(crate) buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checks.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer and [`check_len`](Self::check_len) it.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` if the buffer is shorter than the fixed part of its message
    /// type: [`HEADER_LEN`] (8) for most, 16 for a Router Advertisement, 24 for a
    /// Neighbor Solicitation / Advertisement and MLD queries, reports and dones
    /// of version 1, 40 for a Redirect. The buffer is the whole message: the
    /// upper-layer part of the IPv6 payload.
    ///
    /// Every getter is in bounds after this (getters of fields another message
    /// type defines read as 0 where the buffer is too short for them).
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let min = match b[field::TYPE] {
            message::ROUTER_ADVERT => 16,
            message::NEIGHBOR_SOLICIT | message::NEIGHBOR_ADVERT => 24,
            message::MLD_QUERY | message::MLD_REPORT | message::MLD_DONE => 24,
            message::REDIRECT => 40,
            _ => HEADER_LEN,
        };
        if b.len() < min {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Consume the view, returning the buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    // The field readers below never panic: a field beyond the buffer reads as
    // zero. `check_len` guarantees the fields of the message's own type exist.

    #[inline]
    pub(crate) fn byte_at(&self, at: usize) -> u8 {
        self.buffer.as_ref().get(at).copied().unwrap_or(0)
    }

    #[inline]
    pub(crate) fn u16_at(&self, at: usize) -> u16 {
        match self.buffer.as_ref().get(at..at + 2) {
            Some(&[a, b]) => u16::from_be_bytes([a, b]),
            _ => 0,
        }
    }

    #[inline]
    pub(crate) fn u32_at(&self, at: usize) -> u32 {
        match self.buffer.as_ref().get(at..at + 4) {
            Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
            _ => 0,
        }
    }

    #[inline]
    pub(crate) fn addr_at(&self, at: usize) -> Ipv6Addr {
        let mut o = [0u8; 16];
        if let Some(b) = self.buffer.as_ref().get(at..at + 16) {
            o.copy_from_slice(b);
        }
        Ipv6Addr::from(o)
    }

    /// The message type ([`message`]).
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// The message code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// The checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM.start)
    }

    /// Echo identifier (RFC 4443 §4.1).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        self.u16_at(field::ECHO_IDENT.start)
    }

    /// Echo sequence number (RFC 4443 §4.1).
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        self.u16_at(field::ECHO_SEQ_NO.start)
    }

    /// The MTU of a Packet Too Big message (RFC 4443 §3.2).
    #[inline]
    pub fn pkt_too_big_mtu(&self) -> u32 {
        self.u32_at(field::WORD1.start)
    }

    /// The pointer of a Parameter Problem message (RFC 4443 §3.4).
    #[inline]
    pub fn param_problem_ptr(&self) -> u32 {
        self.u32_at(field::WORD1.start)
    }

    /// The bytes after the first 8: echo data, or the invoking packet of an error.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::HEADER_END..]
    }

    /// True if the checksum verifies for this source and destination
    /// (RFC 4443 §2.3).
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let b = self.buffer.as_ref();
        let Ok(len) = u32::try_from(b.len()) else { return false };
        let sum = checksum::combine(&[checksum::pseudo_header_v6(src, dst, protocol::ICMPV6, len), checksum::data(b)]);
        sum == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The bytes after the first 8, with the buffer's lifetime.
    #[inline]
    pub fn payload_ref(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::HEADER_END..]
    }

    #[inline]
    pub(crate) fn bytes_ref(&self) -> &'a [u8] {
        self.buffer.as_ref()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub(crate) fn set_u16_at(&mut self, at: usize, v: u16) {
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }

    #[inline]
    pub(crate) fn set_u32_at(&mut self, at: usize, v: u32) {
        self.buffer.as_mut()[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }

    #[inline]
    pub(crate) fn set_addr_at(&mut self, at: usize, a: &Ipv6Addr) {
        self.buffer.as_mut()[at..at + 16].copy_from_slice(&a.octets());
    }

    #[inline]
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Set the message type.
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    /// Set the message code.
    #[inline]
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    /// Set the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.set_u16_at(field::CHECKSUM.start, v);
    }

    /// Set the echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, v: u16) {
        self.set_u16_at(field::ECHO_IDENT.start, v);
    }

    /// Set the echo sequence number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, v: u16) {
        self.set_u16_at(field::ECHO_SEQ_NO.start, v);
    }

    /// Set the Packet Too Big MTU.
    #[inline]
    pub fn set_pkt_too_big_mtu(&mut self, v: u32) {
        self.set_u32_at(field::WORD1.start, v);
    }

    /// Set the Parameter Problem pointer.
    #[inline]
    pub fn set_param_problem_ptr(&mut self, v: u32) {
        self.set_u32_at(field::WORD1.start, v);
    }

    /// The bytes after the first 8, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::HEADER_END..]
    }

    /// Compute and store the checksum over the whole buffer (RFC 4443 §2.3).
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        let len = self.buffer.as_ref().len();
        self.fill_checksum_len(src, dst, len);
    }

    /// Compute and store the checksum over the first `len` bytes.
    fn fill_checksum_len(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr, len: usize) {
        self.set_checksum(0);
        let b = &self.buffer.as_ref()[..len];
        let sum = checksum::combine(&[checksum::pseudo_header_v6(src, dst, protocol::ICMPV6, len as u32), checksum::data(b)]);
        self.set_checksum(!sum);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// A validated ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv6Repr<'a> {
    /// Destination Unreachable (RFC 4443 §3.1) with its invoking packet.
    DstUnreachable {
        /// Code ([`dst_unreachable`]).
        code: u8,
        /// As much of the invoking packet as fits (starts with its IPv6 header).
        data: &'a [u8],
    },
    /// Packet Too Big (RFC 4443 §3.2).
    PktTooBig {
        /// The MTU of the next-hop link.
        mtu: u32,
        /// The invoking packet.
        data: &'a [u8],
    },
    /// Time Exceeded (RFC 4443 §3.3).
    TimeExceeded {
        /// Code ([`time_exceeded`]).
        code: u8,
        /// The invoking packet.
        data: &'a [u8],
    },
    /// Parameter Problem (RFC 4443 §3.4).
    ParamProblem {
        /// Code ([`param_problem`]).
        code: u8,
        /// Byte offset in the invoking packet where the error was found.
        pointer: u32,
        /// The invoking packet.
        data: &'a [u8],
    },
    /// Echo Request (RFC 4443 §4.1).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data.
        data: &'a [u8],
    },
    /// Echo Reply (RFC 4443 §4.2).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data.
        data: &'a [u8],
    },
    /// A Neighbor Discovery message (types 133–137, RFC 4861).
    Ndisc(NdiscRepr<'a>),
    /// An MLD message (types 130–132 and 143, RFC 2710 / RFC 3810).
    Mld(MldRepr<'a>),
}

impl<'a> Icmpv6Repr<'a> {
    /// Parse a message received from `src` for `dst`.
    ///
    /// Errors: `Truncated` for a message shorter than its type needs;
    /// `BadChecksum` (unless [`ChecksumMode::Ignore`]; Linux checksums ICMPv6 in
    /// software, `icmpv6_push_pending_frames`, so there is no partial form);
    /// `Unsupported` for a type not
    /// listed in [`Icmpv6Repr`] (RFC 4443 §2.4 (a)/(b): the caller passes unknown
    /// errors up and drops unknown informational messages); `Malformed` for NDP or
    /// MLD messages that break a format rule (see those modules).
    ///
    /// Codes of Packet Too Big and echo messages and the unused words of errors are
    /// ignored on receipt (RFC 4443 §3, §4).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        packet: &Packet<&'a T>,
        mode: ChecksumMode,
    ) -> Result<Icmpv6Repr<'a>> {
        packet.check_len()?;
        if mode.verifies() && !packet.verify_checksum(src, dst) {
            return Err(Error::BadChecksum);
        }
        let data = packet.payload_ref();
        let code = packet.msg_code();
        Ok(match packet.msg_type() {
            message::DST_UNREACHABLE => Icmpv6Repr::DstUnreachable { code, data },
            message::PKT_TOO_BIG => Icmpv6Repr::PktTooBig { mtu: packet.pkt_too_big_mtu(), data },
            message::TIME_EXCEEDED => Icmpv6Repr::TimeExceeded { code, data },
            message::PARAM_PROBLEM => Icmpv6Repr::ParamProblem { code, pointer: packet.param_problem_ptr(), data },
            message::ECHO_REQUEST => {
                Icmpv6Repr::EchoRequest { ident: packet.echo_ident(), seq_no: packet.echo_seq_no(), data }
            }
            message::ECHO_REPLY => {
                Icmpv6Repr::EchoReply { ident: packet.echo_ident(), seq_no: packet.echo_seq_no(), data }
            }
            message::ROUTER_SOLICIT..=message::REDIRECT => Icmpv6Repr::Ndisc(NdiscRepr::parse(src, dst, packet)?),
            message::MLD_QUERY..=message::MLD_DONE | message::MLDV2_REPORT => {
                Icmpv6Repr::Mld(MldRepr::parse(packet)?)
            }
            _ => return Err(Error::Unsupported),
        })
    }

    /// The invoking packet of an error message, `None` for other messages.
    pub fn invoking_packet(&self) -> Option<&'a [u8]> {
        match *self {
            Icmpv6Repr::DstUnreachable { data, .. }
            | Icmpv6Repr::PktTooBig { data, .. }
            | Icmpv6Repr::TimeExceeded { data, .. }
            | Icmpv6Repr::ParamProblem { data, .. } => Some(data),
            _ => None,
        }
    }

    /// The message's length in bytes.
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmpv6Repr::DstUnreachable { data, .. }
            | Icmpv6Repr::PktTooBig { data, .. }
            | Icmpv6Repr::TimeExceeded { data, .. }
            | Icmpv6Repr::ParamProblem { data, .. }
            | Icmpv6Repr::EchoRequest { data, .. }
            | Icmpv6Repr::EchoReply { data, .. } => HEADER_LEN + data.len(),
            Icmpv6Repr::Ndisc(n) => n.buffer_len(),
            Icmpv6Repr::Mld(m) => m.buffer_len(),
        }
    }

    /// Write the message into the first [`buffer_len`](Self::buffer_len) bytes of
    /// `packet` and, unless [`ChecksumMode::Ignore`], compute the checksum over them.
    /// Panics if the buffer is shorter than `buffer_len`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        packet: &mut Packet<T>,
        mode: ChecksumMode,
    ) {
        fn simple<T: AsRef<[u8]> + AsMut<[u8]>>(packet: &mut Packet<T>, ty: u8, code: u8, word: u32, data: &[u8]) {
            packet.set_msg_type(ty);
            packet.set_msg_code(code);
            packet.set_u32_at(field::WORD1.start, word);
            packet.payload_mut()[..data.len()].copy_from_slice(data);
        }
        match *self {
            Icmpv6Repr::DstUnreachable { code, data } => simple(packet, message::DST_UNREACHABLE, code, 0, data),
            Icmpv6Repr::PktTooBig { mtu, data } => simple(packet, message::PKT_TOO_BIG, 0, mtu, data),
            Icmpv6Repr::TimeExceeded { code, data } => simple(packet, message::TIME_EXCEEDED, code, 0, data),
            Icmpv6Repr::ParamProblem { code, pointer, data } => simple(packet, message::PARAM_PROBLEM, code, pointer, data),
            Icmpv6Repr::EchoRequest { ident, seq_no, data } => {
                simple(packet, message::ECHO_REQUEST, 0, (u32::from(ident) << 16) | u32::from(seq_no), data)
            }
            Icmpv6Repr::EchoReply { ident, seq_no, data } => {
                simple(packet, message::ECHO_REPLY, 0, (u32::from(ident) << 16) | u32::from(seq_no), data)
            }
            Icmpv6Repr::Ndisc(n) => n.emit(packet),
            Icmpv6Repr::Mld(m) => m.emit(packet),
        }
        if mode.computes() {
            packet.fill_checksum_len(src, dst, self.buffer_len());
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ipv6::{captured, Ipv6Repr};
    use crate::ipv6ext;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// One captured ICMPv6 message with its addresses (unfragmented packets only).
    pub(crate) struct Captured {
        pub src: Ipv6Addr,
        pub dst: Ipv6Addr,
        pub hop_limit: u8,
        pub router_alert: Option<u16>,
        pub eth_src: [u8; 6],
        pub msg: Vec<u8>,
    }

    /// Every unfragmented ICMPv6 message of the captures.
    pub(crate) fn messages() -> Vec<Captured> {
        let mut out = Vec::new();
        for f in captured::frames() {
            let Some(p) = captured::ipv6_of(&f) else { continue };
            let pk = crate::ipv6::Packet::new_checked(p).unwrap();
            let ip = Ipv6Repr::parse(&pk).unwrap();
            let chain = ipv6ext::walk(ip.next_header, pk.payload()).unwrap();
            if chain.upper != protocol::ICMPV6 || chain.fragment.is_some() {
                continue;
            }
            out.push(Captured {
                src: ip.src,
                dst: ip.dst,
                hop_limit: ip.hop_limit,
                router_alert: chain.router_alert,
                eth_src: f[6..12].try_into().unwrap(),
                msg: pk.payload()[chain.offset..].to_vec(),
            });
        }
        out
    }

    /// Parse with checksum verification, re-emit, compare byte for byte.
    pub(crate) fn parse_round_trip(c: &Captured) -> Icmpv6Repr<'_> {
        let repr = Icmpv6Repr::parse(&c.src, &c.dst, &Packet::new_checked(&c.msg[..]).unwrap(), ChecksumMode::Full)
            .unwrap_or_else(|e| panic!("type {}: {e}", c.msg[0]));
        assert_eq!(repr.buffer_len(), c.msg.len(), "type {}", c.msg[0]);
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&c.src, &c.dst, &mut Packet::new_unchecked(&mut out[..]), ChecksumMode::Full);
        assert_eq!(out, c.msg, "round trip of type {}", c.msg[0]);
        repr
    }

    #[test]
    fn every_captured_message_round_trips() {
        let msgs = messages();
        let mut types = [0usize; 256];
        for c in &msgs {
            parse_round_trip(c);
            types[usize::from(c.msg[0])] += 1;
        }
        // Kinds present in the captures (see testdata/capture-v6.sh).
        for t in [1, 2, 3, 4, 128, 129, 130, 131, 133, 134, 135, 136, 137, 143] {
            assert!(types[t] > 0, "no ICMPv6 type {t} in the captures");
        }
    }

    #[test]
    fn captured_echo_and_errors() {
        let msgs = messages();
        let reprs: Vec<_> = msgs.iter().map(|c| (c, parse_round_trip(c))).collect();
        // ping -6 -c 2 (56 bytes): requests and replies with seq 1 and 2, one identifier.
        let echo: Vec<_> = reprs
            .iter()
            .filter_map(|(c, r)| match r {
                Icmpv6Repr::EchoRequest { ident, seq_no, data }
                    if data.len() == 56 && c.dst == "2001:db8::2".parse::<Ipv6Addr>().unwrap() =>
                {
                    Some((*ident, *seq_no))
                }
                _ => None,
            })
            .collect();
        assert_eq!(echo.len(), 2);
        assert_eq!((echo[0].1, echo[1].1), (1, 2));
        assert_eq!(echo[0].0, echo[1].0);
        let replies = reprs
            .iter()
            .filter(|(_, r)| matches!(r, Icmpv6Repr::EchoReply { ident, data, .. } if *ident == echo[0].0 && data.len() == 56))
            .count();
        assert_eq!(replies, 2);
        // ping -s 1452 fills the 1500-byte MTU exactly.
        assert!(reprs.iter().any(|(c, r)| matches!(r, Icmpv6Repr::EchoRequest { data, .. } if data.len() == 1452) && c.msg.len() + 40 == 1500));
        // scapy's echo behind four extension headers, and the kernel's reply.
        assert!(reprs.iter().any(|(_, r)| matches!(r, Icmpv6Repr::EchoRequest { ident: 0x1234, seq_no: 7, data } if *data == b"extension headers")));
        assert!(reprs.iter().any(|(_, r)| matches!(r, Icmpv6Repr::EchoReply { ident: 0x1234, seq_no: 7, .. })));

        for (c, r) in &reprs {
            match *r {
                Icmpv6Repr::DstUnreachable { code, data } => {
                    // UDP to closed port 9: the invoking packet is the whole UDP datagram.
                    assert_eq!(code, dst_unreachable::PORT_UNREACHABLE);
                    let inner = crate::ipv6::Packet::new_checked(data).unwrap();
                    assert_eq!(inner.next_header(), protocol::UDP);
                    assert_eq!(&inner.payload()[2..4], &9u16.to_be_bytes());
                    assert_eq!(&inner.payload()[8..], b"xdpstack");
                }
                Icmpv6Repr::PktTooBig { mtu, data } => {
                    // Route `mtu lock 1280`; invoking packet cut to fit 1280 bytes.
                    assert_eq!(mtu, 1280);
                    assert_eq!(data.len(), MAX_ERROR_DATA);
                    assert_eq!(c.msg.len() + 40, 1280);
                    let inner = crate::ipv6::Packet::new_unchecked(data);
                    assert_eq!(inner.dst_addr(), "2001:db8:1::7".parse::<Ipv6Addr>().unwrap());
                    assert_eq!(inner.payload_len(), 1408);
                }
                Icmpv6Repr::TimeExceeded { code, data } => {
                    assert_eq!(code, time_exceeded::HOP_LIMIT);
                    let inner = crate::ipv6::Packet::new_checked(data).unwrap();
                    assert_eq!(inner.dst_addr(), "2001:db8:1::5".parse::<Ipv6Addr>().unwrap());
                    assert_eq!(inner.hop_limit(), 1);
                }
                Icmpv6Repr::ParamProblem { code, pointer, data } => {
                    // Unknown destination option 0x9e at offset 40 + 2.
                    assert_eq!(code, param_problem::UNRECOGNIZED_OPTION);
                    assert_eq!(pointer, 42);
                    assert_eq!(data[pointer as usize], 0x9e);
                }
                _ => {}
            }
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        for c in messages() {
            for n in 0..c.msg.len() {
                let r = Packet::new_checked(&c.msg[..n])
                    .and_then(|p| Icmpv6Repr::parse(&c.src, &c.dst, &p, ChecksumMode::Full));
                assert!(r.is_err(), "type {} truncated to {n} parsed", c.msg[0]);
                // Without the checksum, a truncation must still never panic.
                if let Ok(p) = Packet::new_checked(&c.msg[..n]) {
                    let _ = Icmpv6Repr::parse(&c.src, &c.dst, &p, ChecksumMode::Ignore);
                }
            }
        }
    }

    #[test]
    fn bad_checksum_detected() {
        let c = &messages()[0];
        let mut m = c.msg.clone();
        m[2] ^= 1;
        assert_eq!(
            Icmpv6Repr::parse(&c.src, &c.dst, &Packet::new_checked(&m[..]).unwrap(), ChecksumMode::Full),
            Err(Error::BadChecksum)
        );
        assert!(Icmpv6Repr::parse(&c.src, &c.dst, &Packet::new_checked(&m[..]).unwrap(), ChecksumMode::Ignore).is_ok());
    }

    #[test]
    fn emit_into_longer_buffer() {
        // The checksum covers buffer_len bytes, not the whole buffer.
        for c in messages() {
            let r = parse_round_trip(&c);
            let mut out = vec![0xeeu8; r.buffer_len() + 7];
            r.emit(&c.src, &c.dst, &mut Packet::new_unchecked(&mut out[..]), ChecksumMode::Full);
            assert_eq!(&out[..c.msg.len()], &c.msg[..]);
            assert_eq!(&out[c.msg.len()..], &[0xee; 7]);
        }
    }

    #[test]
    fn unknown_type_unsupported() {
        let src = Ipv6Addr::LOCALHOST;
        let mut m = [200u8, 0, 0, 0, 0, 0, 0, 0];
        Packet::new_unchecked(&mut m[..]).fill_checksum(&src, &src);
        assert_eq!(
            Icmpv6Repr::parse(&src, &src, &Packet::new_checked(&m[..]).unwrap(), ChecksumMode::Full),
            Err(Error::Unsupported)
        );
    }

    fn arb_simple() -> impl Strategy<Value = (u8, u8, u32, Vec<u8>)> {
        (0usize..6, any::<u8>(), any::<u32>(), proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(k, c, w, d)| ([1u8, 2, 3, 4, 128, 129][k], c, w, d))
    }

    fn make(t: u8, code: u8, w: u32, data: &[u8]) -> Icmpv6Repr<'_> {
        match t {
            1 => Icmpv6Repr::DstUnreachable { code, data },
            2 => Icmpv6Repr::PktTooBig { mtu: w, data },
            3 => Icmpv6Repr::TimeExceeded { code, data },
            4 => Icmpv6Repr::ParamProblem { code, pointer: w, data },
            128 => Icmpv6Repr::EchoRequest { ident: (w >> 16) as u16, seq_no: w as u16, data },
            _ => Icmpv6Repr::EchoReply { ident: (w >> 16) as u16, seq_no: w as u16, data },
        }
    }

    proptest! {
        #[test]
        fn emit_parse_identity((t, code, w, data) in arb_simple(), s in any::<u128>(), d in any::<u128>()) {
            let (src, dst) = (Ipv6Addr::from(s), Ipv6Addr::from(d));
            let r = make(t, code, w, &data);
            let mut out = vec![0u8; r.buffer_len()];
            r.emit(&src, &dst, &mut Packet::new_unchecked(&mut out[..]), ChecksumMode::Full);
            let p = Icmpv6Repr::parse(&src, &dst, &Packet::new_checked(&out[..]).unwrap(), ChecksumMode::Full).unwrap();
            prop_assert_eq!(p, r);
        }

        #[test]
        fn parse_never_panics(ty in prop_oneof![128u8..=143, any::<u8>()], rest in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut m = vec![ty];
            m.extend_from_slice(&rest);
            let src = Ipv6Addr::UNSPECIFIED;
            let dst = crate::ipv6::ALL_NODES;
            if let Ok(p) = Packet::new_checked(&m[..]) {
                // Every getter, whatever the type, is in bounds after check_len.
                let _ = (p.msg_code(), p.checksum(), p.echo_ident(), p.echo_seq_no(), p.pkt_too_big_mtu(), p.param_problem_ptr(), p.payload());
                let _ = (p.current_hop_limit(), p.router_flags(), p.router_lifetime(), p.reachable_time(), p.retrans_time());
                let _ = (p.neighbor_flags(), p.target_addr(), p.dest_addr(), p.ndisc_options());
                let _ = (p.max_resp_code(), p.mcast_addr(), p.query_s_flag(), p.query_qrv(), p.query_qqic(), p.query_num_sources());
                let _ = (p.num_records(), p.records_bytes(), p.verify_checksum(&src, &dst));
                let _ = Icmpv6Repr::parse(&src, &dst, &p, ChecksumMode::Ignore);
                let _ = Icmpv6Repr::parse(&"fe80::1".parse().unwrap(), &dst, &p, ChecksumMode::Ignore);
            }
        }
    }
}
