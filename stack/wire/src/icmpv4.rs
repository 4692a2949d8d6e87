//! ICMP for IPv4 (RFC 792): echo request / reply, destination unreachable (with the
//! RFC 1191 next-hop MTU of "fragmentation needed") and time exceeded.
//!
//! ```text
//!  0       1       2               4                               8
//! +-------+-------+---------------+---------------+---------------+--------
//! | type  | code  |   checksum    | identifier    | sequence      | data      (echo)
//! | type  | code  |   checksum    |    unused     | next-hop MTU  | quote     (unreachable)
//! | type  | code  |   checksum    |            unused             | quote     (time exceeded)
//! +-------+-------+---------------+---------------+---------------+--------
//! ```
//!
//! The checksum covers the whole ICMP message (RFC 792, "Checksum"). Error messages
//! quote the invoking datagram's IPv4 header and at least the first 8 bytes of its
//! payload (RFC 792; RFC 1812 §4.3.2.3 allows more: Linux quotes up to 576 bytes of
//! ICMP message); [`Quote`] keeps the bytes and their parsed header.

use crate::checksum;
use crate::ipv4::Ipv4Repr;
use crate::{ChecksumMode, Error, Result};

/// ICMPv4 message types (RFC 792; IANA "ICMP Type Numbers").
pub mod msg_type {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DST_UNREACHABLE: u8 = 3;
    /// Redirect.
    pub const REDIRECT: u8 = 5;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 12;
}

/// Destination-unreachable codes (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1).
pub mod unreachable {
    /// Network unreachable.
    pub const NET: u8 = 0;
    /// Host unreachable.
    pub const HOST: u8 = 1;
    /// Protocol unreachable.
    pub const PROTOCOL: u8 = 2;
    /// Port unreachable.
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set; carries the next-hop MTU (RFC 1191 §4).
    pub const FRAG_NEEDED: u8 = 4;
    /// Source route failed.
    pub const SOURCE_ROUTE: u8 = 5;
    /// Communication administratively prohibited (RFC 1812).
    pub const ADMIN_PROHIBITED: u8 = 13;
}

/// Time-exceeded codes (RFC 792).
pub mod time_exceeded {
    /// Time to live exceeded in transit.
    pub const TTL: u8 = 0;
    /// Fragment reassembly time exceeded.
    pub const REASSEMBLY: u8 = 1;
}

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQNO: Range<usize> = 6..8;
    pub const UNUSED: Range<usize> = 4..8;
    pub const MTU: Range<usize> = 6..8;
    pub const DATA: usize = 8;
}

/// Length of the ICMPv4 header (type, code, checksum, 4 type-specific bytes).
pub const HEADER_LEN: usize = 8;

/// A view of an ICMPv4 message (the whole IPv4 payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer and check that the 8-byte header is present.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Err(Truncated)` if the buffer is shorter than 8 bytes.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
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

    /// Message type (see [`msg_type`]).
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    /// Message code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }
    /// Echo identifier (echo messages).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        self.u16_at(field::ECHO_IDENT)
    }
    /// Echo sequence number (echo messages).
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        self.u16_at(field::ECHO_SEQNO)
    }
    /// Next-hop MTU of "fragmentation needed" (RFC 1191 §4; 0 from old routers).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        self.u16_at(field::MTU)
    }
    /// The four type-specific bytes after the checksum.
    #[inline]
    pub fn rest_of_header(&self) -> [u8; 4] {
        let b = self.buffer.as_ref();
        [b[4], b[5], b[6], b[7]]
    }
    /// Everything after the 8-byte header: echo data, or the quoted datagram.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }
    /// True if the checksum over the whole message verifies.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn set_u16_at(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }
    /// Set the type.
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }
    /// Set the code.
    #[inline]
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }
    /// Set the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.set_u16_at(field::CHECKSUM, v);
    }
    /// Set the echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, v: u16) {
        self.set_u16_at(field::ECHO_IDENT, v);
    }
    /// Set the echo sequence number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, v: u16) {
        self.set_u16_at(field::ECHO_SEQNO, v);
    }
    /// Set the four type-specific bytes.
    #[inline]
    pub fn set_rest_of_header(&mut self, v: [u8; 4]) {
        self.buffer.as_mut()[field::UNUSED].copy_from_slice(&v);
    }
    /// Set the next-hop MTU (and clear the unused bytes before it).
    #[inline]
    pub fn set_next_hop_mtu(&mut self, v: u16) {
        let m = v.to_be_bytes();
        self.set_rest_of_header([0, 0, m[0], m[1]]);
    }
    /// The data after the header, mutable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA..]
    }
    /// Compute and store the checksum over the whole message.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = !checksum::data(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// The invoking datagram quoted in an ICMP error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote<'a> {
    /// The quoted bytes as received: IPv4 header and the start of its payload.
    pub data: &'a [u8],
    /// The quoted IPv4 header, if it parses (see [`Ipv4Repr::parse_quoted`]).
    pub header: Option<Ipv4Repr>,
}

impl<'a> Quote<'a> {
    /// Quote `data`, parsing its header if it can be.
    pub fn new(data: &'a [u8]) -> Quote<'a> {
        Quote { data, header: Ipv4Repr::parse_quoted(data).ok().map(|(h, _)| h) }
    }

    /// The quoted bytes after the IPv4 header (the transport header's start: ports
    /// for UDP and TCP), if the header parsed.
    pub fn transport(&self) -> Option<&'a [u8]> {
        Ipv4Repr::parse_quoted(self.data).ok().map(|(_, t)| t)
    }
}

/// An ICMPv4 message in validated form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv4Repr<'a> {
    /// Echo request (type 8).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Echo reply (type 0).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Destination unreachable (type 3).
    DstUnreachable {
        /// Code (see [`unreachable`]).
        code: u8,
        /// Next-hop MTU for code 4 (RFC 1191 §4); 0 for every other code.
        next_hop_mtu: u16,
        /// The quoted datagram.
        quote: Quote<'a>,
    },
    /// Time exceeded (type 11).
    TimeExceeded {
        /// Code (see [`time_exceeded`]).
        code: u8,
        /// The quoted datagram.
        quote: Quote<'a>,
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Parse an ICMPv4 message; `packet` must span exactly the IPv4 payload.
    ///
    /// The checksum is verified when `checksum` is [`ChecksumMode::Full`] or
    /// [`ChecksumMode::FullOrPartial`] (`BadChecksum`; Linux computes ICMP checksums
    /// in software, so there is no partial form). Types other than echo request / reply, destination
    /// unreachable and time exceeded are `Unsupported`. An error message must quote
    /// at least an IPv4 header (RFC 792: "Internet Header + 64 bits of Original Data
    /// Datagram"), else `Truncated`.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>, checksum: ChecksumMode) -> Result<Icmpv4Repr<'a>> {
        packet.check_len()?;
        if checksum.verifies() && !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        let data = &packet.buffer.as_ref()[field::DATA..];
        match packet.msg_type() {
            // RFC 792 "Echo or Echo Reply Message": code 0; we accept any code.
            msg_type::ECHO_REQUEST => Ok(Icmpv4Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            msg_type::ECHO_REPLY => Ok(Icmpv4Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            msg_type::DST_UNREACHABLE => {
                if data.len() < crate::ipv4::HEADER_LEN {
                    return Err(Error::Truncated);
                }
                let code = packet.msg_code();
                // RFC 1191 §4: the low-order 16 bits of the unused field carry the
                // next-hop MTU for code 4; it is unused (zero) for the other codes.
                let next_hop_mtu = if code == unreachable::FRAG_NEEDED { packet.next_hop_mtu() } else { 0 };
                Ok(Icmpv4Repr::DstUnreachable { code, next_hop_mtu, quote: Quote::new(data) })
            }
            msg_type::TIME_EXCEEDED => {
                if data.len() < crate::ipv4::HEADER_LEN {
                    return Err(Error::Truncated);
                }
                Ok(Icmpv4Repr::TimeExceeded { code: packet.msg_code(), quote: Quote::new(data) })
            }
            _ => Err(Error::Unsupported),
        }
    }

    /// Length of the message: 8 + data / quote.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => data.len(),
                Icmpv4Repr::DstUnreachable { quote, .. } | Icmpv4Repr::TimeExceeded { quote, .. } => quote.data.len(),
            }
    }

    /// Write the message (header, data, and the checksum when `checksum` is
    /// [`ChecksumMode::Full`]); `packet` must be exactly [`buffer_len`](Self::buffer_len)
    /// bytes long for the checksum to be right.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>, checksum: ChecksumMode) {
        let data = match *self {
            Icmpv4Repr::EchoRequest { ident, seq_no, data } | Icmpv4Repr::EchoReply { ident, seq_no, data } => {
                let t = if matches!(self, Icmpv4Repr::EchoRequest { .. }) {
                    msg_type::ECHO_REQUEST
                } else {
                    msg_type::ECHO_REPLY
                };
                packet.set_msg_type(t);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
                data
            }
            Icmpv4Repr::DstUnreachable { code, next_hop_mtu, quote } => {
                packet.set_msg_type(msg_type::DST_UNREACHABLE);
                packet.set_msg_code(code);
                packet.set_next_hop_mtu(if code == unreachable::FRAG_NEEDED { next_hop_mtu } else { 0 });
                quote.data
            }
            Icmpv4Repr::TimeExceeded { code, quote } => {
                packet.set_msg_type(msg_type::TIME_EXCEEDED);
                packet.set_msg_code(code);
                packet.set_rest_of_header([0; 4]);
                quote.data
            }
        };
        packet.data_mut()[..data.len()].copy_from_slice(data);
        if checksum.computes() {
            packet.fill_checksum();
        } else {
            packet.set_checksum(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipv4::chain::{self, L3, L4};
    use crate::ip::protocol;
    use core::net::Ipv4Addr;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn icmp_frames() -> Vec<Vec<u8>> {
        chain::frames()
            .into_iter()
            .filter(|f| matches!(chain::parse(f), Ok((_, L3::Ipv4(_, L4::Icmp(_))))))
            .collect()
    }

    #[test]
    fn captured_messages() {
        let frames = icmp_frames();
        let mut echo_req = 0;
        let mut echo_rep = 0;
        let mut port_unreach = 0;
        let mut frag_needed = 0;
        let mut ttl = 0;
        for f in &frames {
            let (eth, L3::Ipv4(ip, L4::Icmp(r))) = chain::parse(f).unwrap() else { unreachable!() };
            match r {
                Icmpv4Repr::EchoRequest { seq_no, data, .. } => {
                    echo_req += 1;
                    assert!(seq_no == 1 || seq_no == 2);
                    // iputils ping: a 16-byte struct timeval, then bytes 0x10, 0x11, ...
                    if data.len() == 56 && eth.vlan.is_none() {
                        assert_eq!(&data[16..20], &[0x10, 0x11, 0x12, 0x13][..]);
                    }
                }
                Icmpv4Repr::EchoReply { .. } => echo_rep += 1,
                Icmpv4Repr::DstUnreachable { code: unreachable::PORT, next_hop_mtu, quote } => {
                    port_unreach += 1;
                    assert_eq!(next_hop_mtu, 0);
                    assert_eq!(ip.src, Ipv4Addr::new(198, 18, 0, 2));
                    let h = quote.header.unwrap();
                    assert_eq!((h.protocol, h.dst), (protocol::UDP, Ipv4Addr::new(198, 18, 0, 2)));
                    let t = quote.transport().unwrap();
                    assert_eq!(u16::from_be_bytes([t[0], t[1]]), 40000);
                    assert_eq!(u16::from_be_bytes([t[2], t[3]]), 5003);
                    // Linux quotes the whole (short) datagram: 8 + 11 bytes of UDP.
                    assert_eq!(t.len(), 19);
                }
                Icmpv4Repr::DstUnreachable { code: unreachable::FRAG_NEEDED, next_hop_mtu, quote } => {
                    frag_needed += 1;
                    assert_eq!(next_hop_mtu, 1280);
                    let h = quote.header.unwrap();
                    assert!(h.dont_frag);
                    assert_eq!((h.dst, h.payload_len), (Ipv4Addr::new(198, 18, 5, 5), 1408));
                    // RFC 1812 §4.3.2.3: no more than 576 bytes of ICMP datagram.
                    assert_eq!(ip.payload_len + 20, 576);
                }
                Icmpv4Repr::TimeExceeded { code, quote } => {
                    ttl += 1;
                    assert_eq!(code, time_exceeded::TTL);
                    assert_eq!(quote.header.unwrap().ttl, 1);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // 2 small + 1 MTU-sized ping (the fragmented one is not parsed as ICMP),
        // the frag-needed and TTL probes, the tagged echo request.
        assert_eq!((echo_req, echo_rep, port_unreach, frag_needed, ttl), (6, 3, 1, 1, 1));
    }

    #[test]
    fn first_echo_request() {
        let frames = icmp_frames();
        let (_, L3::Ipv4(_, L4::Icmp(r))) = chain::parse(&frames[0]).unwrap() else { unreachable!() };
        let Icmpv4Repr::EchoRequest { seq_no, data, .. } = r else { panic!("{r:?}") };
        assert_eq!((seq_no, data.len()), (1, 56));
        // The tagged request built by capture-v4.sh.
        let (eth, L3::Ipv4(_, L4::Icmp(r))) = chain::parse(frames.last().unwrap()).unwrap() else { unreachable!() };
        assert_eq!(eth.vlan, Some(7));
        assert_eq!(r, Icmpv4Repr::EchoRequest { ident: 0x1234, seq_no: 1, data: &(0x10..0x38).collect::<Vec<u8>>() });
    }

    #[test]
    fn bad_checksum_and_short_quote() {
        let r = Icmpv4Repr::EchoRequest { ident: 1, seq_no: 2, data: b"abcdef" };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut b[..]), ChecksumMode::Full);
        assert_eq!(Icmpv4Repr::parse(&Packet::new_checked(&b[..]).unwrap(), ChecksumMode::Full), Ok(r));
        b[9] ^= 0x40;
        assert_eq!(Icmpv4Repr::parse(&Packet::new_unchecked(&b[..]), ChecksumMode::Full), Err(Error::BadChecksum));
        // A time exceeded quoting 12 bytes: not even an IPv4 header.
        let mut b = [0u8; 20];
        b[0] = msg_type::TIME_EXCEEDED;
        Packet::new_unchecked(&mut b[..]).fill_checksum();
        assert_eq!(Icmpv4Repr::parse(&Packet::new_unchecked(&b[..]), ChecksumMode::Full), Err(Error::Truncated));
        b[0] = msg_type::REDIRECT;
        Packet::new_unchecked(&mut b[..]).fill_checksum();
        assert_eq!(Icmpv4Repr::parse(&Packet::new_unchecked(&b[..]), ChecksumMode::Full), Err(Error::Unsupported));
        for len in 0..8 {
            assert_eq!(Icmpv4Repr::parse(&Packet::new_unchecked(&b[..len]), ChecksumMode::Full), Err(Error::Truncated));
        }
    }

    fn arb_repr(bytes: Vec<u8>) -> impl Strategy<Value = Icmpv4Repr<'static>> {
        let data: &'static [u8] = std::boxed::Box::leak(bytes.into_boxed_slice());
        (0u8..4, any::<u16>(), any::<u16>(), any::<u8>()).prop_map(move |(k, a, b, code)| match k {
            0 => Icmpv4Repr::EchoRequest { ident: a, seq_no: b, data },
            1 => Icmpv4Repr::EchoReply { ident: a, seq_no: b, data },
            2 => Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu: if code == unreachable::FRAG_NEEDED { a } else { 0 },
                quote: Quote::new(data),
            },
            _ => Icmpv4Repr::TimeExceeded { code, quote: Quote::new(data) },
        })
    }

    proptest! {
        #[test]
        fn emit_parse_identity(r in proptest::collection::vec(any::<u8>(), 20..120).prop_flat_map(arb_repr)) {
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(&mut Packet::new_unchecked(&mut buf[..]), ChecksumMode::Full);
            prop_assert_eq!(Icmpv4Repr::parse(&Packet::new_checked(&buf[..]).unwrap(), ChecksumMode::Full), Ok(r));
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120), t in 0u8..13) {
            let mut b = bytes.clone();
            if !b.is_empty() {
                b[0] = t;
            }
            for x in [&bytes, &b] {
                for mode in [ChecksumMode::Full, ChecksumMode::Ignore] {
                    if let Ok(Icmpv4Repr::DstUnreachable { quote, .. } | Icmpv4Repr::TimeExceeded { quote, .. }) =
                        Icmpv4Repr::parse(&Packet::new_unchecked(&x[..]), mode)
                    {
                        let _ = quote.transport();
                    }
                }
            }
        }
    }
}
