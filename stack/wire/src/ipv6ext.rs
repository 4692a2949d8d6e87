//! IPv6 extension headers (RFC 8200 §4): hop-by-hop options (next header 0),
//! routing (43), fragment (44) and destination options (60), their options
//! (RFC 8200 §4.2) and a bounded walker over the header chain.
//!
//! Hop-by-hop and destination options share one format, so they share one view
//! ([`OptionsHeader`]) and one repr ([`OptionsHeaderRepr`]).

use crate::ip::protocol;
use crate::{Error, Result};

/// Length of the fragment header (RFC 8200 §4.5).
pub const FRAGMENT_HEADER_LEN: usize = 8;

/// At most this many extension headers are walked before the chain is judged
/// [`Error::Malformed`] (RFC 8200 §4.1 allows each at most once, except
/// destination options twice; 8 leaves room for AH and friends).
pub const MAX_EXT_HEADERS: usize = 8;

// RFC 8200 §4.3/§4.4/§4.6: next header (1), header extension length in 8-octet
// units not counting the first 8 octets (1), then type-specific data.
mod field {
    pub const NEXT_HEADER: usize = 0;
    pub const LENGTH: usize = 1;
    // Routing header (RFC 8200 §4.4).
    pub const ROUTING_TYPE: usize = 2;
    pub const SEGMENTS_LEFT: usize = 3;
    pub const ROUTING_DATA: usize = 4;
    // Fragment header (RFC 8200 §4.5).
    pub const FRAG_OFFSET_M: core::ops::Range<usize> = 2..4;
    pub const FRAG_IDENT: core::ops::Range<usize> = 4..8;
}

/// True for the next-header values this module treats as extension headers.
#[inline]
pub const fn is_extension_header(next_header: u8) -> bool {
    matches!(
        next_header,
        protocol::HOP_BY_HOP | protocol::IPV6_ROUTE | protocol::IPV6_FRAG | protocol::IPV6_OPTS
    )
}

/// Length in bytes of the generic extension header at the start of `b`
/// (`(hdr_ext_len + 1) * 8`); `Truncated` if the buffer cannot hold it.
fn generic_len(b: &[u8]) -> Result<usize> {
    if b.len() < 2 {
        return Err(Error::Truncated);
    }
    let len = (usize::from(b[field::LENGTH]) + 1) * 8;
    if b.len() < len {
        return Err(Error::Truncated);
    }
    Ok(len)
}

// ---------------------------------------------------------------------------
// Options (RFC 8200 §4.2)

/// Option types with a meaning here (RFC 8200 §4.2, RFC 2711, RFC 2675).
pub mod option_type {
    /// Pad1: a single byte of padding, no length byte.
    pub const PAD1: u8 = 0x00;
    /// PadN: N bytes of padding.
    pub const PADN: u8 = 0x01;
    /// Router alert (RFC 2711), hop-by-hop only.
    pub const ROUTER_ALERT: u8 = 0x05;
    /// Jumbo payload (RFC 2675), hop-by-hop only.
    pub const JUMBO: u8 = 0xc2;
}

/// Router-alert value for MLD (RFC 2711 §2.1): 0.
pub const ROUTER_ALERT_MLD: u16 = 0;

/// The option bytes of the hop-by-hop header MLD messages carry: router alert
/// (value 0) and a PadN of length 0, as Linux sends them (RFC 3810 §5).
pub const MLD_HOP_BY_HOP_OPTIONS: [u8; 6] = [option_type::ROUTER_ALERT, 2, 0, 0, option_type::PADN, 0];

/// What a node must do with an option type it does not recognize: the two
/// high-order bits of the type (RFC 8200 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnknownAction {
    /// 00: skip the option.
    Skip,
    /// 01: discard the packet.
    Discard,
    /// 10: discard and send ICMP Parameter Problem code 2, pointer to the type.
    DiscardSendIcmp,
    /// 11: as above, but only if the destination was not multicast.
    DiscardSendIcmpUnlessMulticast,
}

/// One option of a hop-by-hop or destination-options header (Pad1 and PadN are
/// consumed by the iterator and never yielded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Option<'a> {
    /// Option type.
    pub kind: u8,
    /// Option data (the `length` bytes after the type and length bytes).
    pub data: &'a [u8],
    /// Offset of the type byte within the options area (add 2 for the offset in
    /// the extension header; used for the Parameter Problem pointer).
    pub offset: usize,
}

impl Ipv6Option<'_> {
    /// The router-alert value (RFC 2711 §2.1) if this is a well-formed router
    /// alert option.
    pub fn router_alert(&self) -> Option<u16> {
        match (self.kind, self.data) {
            (option_type::ROUTER_ALERT, [a, b]) => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        }
    }

    /// The action required if the type is not recognized (RFC 8200 §4.2).
    pub fn unknown_action(&self) -> UnknownAction {
        match self.kind >> 6 {
            0 => UnknownAction::Skip,
            1 => UnknownAction::Discard,
            2 => UnknownAction::DiscardSendIcmp,
            _ => UnknownAction::DiscardSendIcmpUnlessMulticast,
        }
    }

    /// The third-highest bit: the option data may change en route (RFC 8200 §4.2).
    pub fn may_change(&self) -> bool {
        self.kind & 0x20 != 0
    }
}

/// Iterator over the options of an options area (RFC 8200 §4.2), skipping Pad1
/// and PadN. Yields `Err(Malformed)` once if an option runs past the end, then
/// stops.
#[derive(Debug, Clone)]
pub struct Ipv6Options<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Ipv6Options<'a> {
    /// Iterate over the options in `bytes` (the area after next-header and length).
    pub const fn new(bytes: &'a [u8]) -> Ipv6Options<'a> {
        Ipv6Options { bytes, pos: 0 }
    }

    /// Check the whole area: every option fits (RFC 8200 §4.2).
    pub fn validate(bytes: &'a [u8]) -> Result<()> {
        for o in Ipv6Options::new(bytes) {
            o?;
        }
        Ok(())
    }
}

impl<'a> Iterator for Ipv6Options<'a> {
    type Item = Result<Ipv6Option<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest = self.bytes.get(self.pos..)?;
            let (&kind, rest) = rest.split_first()?;
            let offset = self.pos;
            if kind == option_type::PAD1 {
                self.pos += 1;
                continue;
            }
            let Some((&len, rest)) = rest.split_first() else {
                self.pos = self.bytes.len();
                return Some(Err(Error::Malformed));
            };
            let len = usize::from(len);
            let Some(data) = rest.get(..len) else {
                self.pos = self.bytes.len();
                return Some(Err(Error::Malformed));
            };
            self.pos += 2 + len;
            if kind == option_type::PADN {
                continue;
            }
            return Some(Ok(Ipv6Option { kind, data, offset }));
        }
    }
}

/// Write `n` bytes of padding: Pad1 for one byte, PadN otherwise (RFC 8200 §4.2).
/// `n` must be at most 257.
pub fn emit_padding(buf: &mut [u8], n: usize) {
    match n {
        0 => {}
        1 => buf[0] = option_type::PAD1,
        _ => {
            buf[0] = option_type::PADN;
            buf[1] = (n - 2) as u8;
            buf[2..n].fill(0);
        }
    }
}

// ---------------------------------------------------------------------------
// Hop-by-hop and destination options headers (RFC 8200 §4.3, §4.6)

/// A view of a hop-by-hop (RFC 8200 §4.3) or destination-options (§4.6) header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionsHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> OptionsHeader<T> {
    /// Wrap a buffer without checks.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        OptionsHeader { buffer }
    }

    /// Wrap a buffer and [`check_len`](Self::check_len) it.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    /// `Truncated` unless the buffer holds the whole header (`(len + 1) * 8`
    /// bytes); `Malformed` if an option runs past its end. The buffer may extend
    /// beyond the header (the rest of the packet).
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        let len = generic_len(b)?;
        Ipv6Options::validate(&b[2..len])
    }

    /// The next-header field.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    /// The header extension length field (8-octet units beyond the first 8).
    #[inline]
    pub fn header_ext_len(&self) -> u8 {
        self.buffer.as_ref()[field::LENGTH]
    }

    /// The header's length in bytes.
    #[inline]
    pub fn header_len(&self) -> usize {
        (usize::from(self.header_ext_len()) + 1) * 8
    }

    /// The raw options area.
    #[inline]
    pub fn options_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[2..self.header_len()]
    }

    /// The options (Pad1/PadN skipped).
    #[inline]
    pub fn options(&self) -> Ipv6Options<'_> {
        Ipv6Options::new(self.options_bytes())
    }

    /// Bytes after this header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> OptionsHeader<T> {
    /// Set the next-header field.
    #[inline]
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = v;
    }

    /// Set the header extension length field.
    #[inline]
    pub fn set_header_ext_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::LENGTH] = v;
    }

    /// The options area, mutably.
    #[inline]
    pub fn options_bytes_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[2..end]
    }
}

/// A validated hop-by-hop or destination-options header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OptionsHeaderRepr<'a> {
    /// The next-header field.
    pub next_header: u8,
    /// The encoded options (TLVs, padding included). On emit, the area is padded
    /// with Pad1/PadN to a multiple of 8 bytes; must be at most 2046 bytes.
    pub options: &'a [u8],
}

impl<'a> OptionsHeaderRepr<'a> {
    /// Parse a checked header.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(header: &OptionsHeader<&'a T>) -> Result<Self> {
        header.check_len()?;
        let b: &'a [u8] = header.buffer.as_ref();
        Ok(OptionsHeaderRepr { next_header: header.next_header(), options: &b[2..header.header_len()] })
    }

    /// The options (Pad1/PadN skipped).
    pub fn iter(&self) -> Ipv6Options<'a> {
        Ipv6Options::new(self.options)
    }

    /// The header's length: `2 + options` rounded up to a multiple of 8.
    pub const fn buffer_len(&self) -> usize {
        (2 + self.options.len()).div_ceil(8) * 8
    }

    /// Write the header into the start of `header`'s buffer.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, header: &mut OptionsHeader<T>) {
        let len = self.buffer_len();
        header.set_next_header(self.next_header);
        header.set_header_ext_len((len / 8 - 1) as u8);
        let area = header.options_bytes_mut();
        area[..self.options.len()].copy_from_slice(self.options);
        let pad = area.len() - self.options.len();
        emit_padding(&mut area[self.options.len()..], pad);
    }
}

// ---------------------------------------------------------------------------
// Routing header (RFC 8200 §4.4)

/// A view of a routing header (RFC 8200 §4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RoutingHeader<T> {
    /// Wrap a buffer without checks.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        RoutingHeader { buffer }
    }

    /// Wrap a buffer and [`check_len`](Self::check_len) it.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    /// `Truncated` unless the buffer holds the whole header.
    pub fn check_len(&self) -> Result<()> {
        generic_len(self.buffer.as_ref()).map(|_| ())
    }

    /// The next-header field.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    /// The header extension length field.
    #[inline]
    pub fn header_ext_len(&self) -> u8 {
        self.buffer.as_ref()[field::LENGTH]
    }

    /// The header's length in bytes.
    #[inline]
    pub fn header_len(&self) -> usize {
        (usize::from(self.header_ext_len()) + 1) * 8
    }

    /// The routing type (0 deprecated by RFC 5095, 2 for Mobile IPv6, 3 RPL, 4 SRH).
    #[inline]
    pub fn routing_type(&self) -> u8 {
        self.buffer.as_ref()[field::ROUTING_TYPE]
    }

    /// Segments left: route segments still to visit.
    #[inline]
    pub fn segments_left(&self) -> u8 {
        self.buffer.as_ref()[field::SEGMENTS_LEFT]
    }

    /// Type-specific data (after the first four bytes).
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::ROUTING_DATA..self.header_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RoutingHeader<T> {
    /// Set the next-header field.
    #[inline]
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = v;
    }

    /// Set the header extension length field.
    #[inline]
    pub fn set_header_ext_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::LENGTH] = v;
    }

    /// Set the routing type.
    #[inline]
    pub fn set_routing_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::ROUTING_TYPE] = v;
    }

    /// Set segments left.
    #[inline]
    pub fn set_segments_left(&mut self, v: u8) {
        self.buffer.as_mut()[field::SEGMENTS_LEFT] = v;
    }

    /// The type-specific data, mutably.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::ROUTING_DATA..end]
    }
}

/// A validated routing header, generic over the routing type. What to do with
/// it (RFC 8200 §4.4: ignore when segments left is 0, else Parameter Problem for
/// an unknown type) is the proto layer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoutingRepr<'a> {
    /// The next-header field.
    pub next_header: u8,
    /// The routing type.
    pub routing_type: u8,
    /// Segments left.
    pub segments_left: u8,
    /// Type-specific data; on emit its length must be 4 modulo 8 (at most 2044).
    pub data: &'a [u8],
}

impl<'a> RoutingRepr<'a> {
    /// Parse a routing header.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(header: &RoutingHeader<&'a T>) -> Result<Self> {
        header.check_len()?;
        let b: &'a [u8] = header.buffer.as_ref();
        Ok(RoutingRepr {
            next_header: header.next_header(),
            routing_type: header.routing_type(),
            segments_left: header.segments_left(),
            data: &b[field::ROUTING_DATA..header.header_len()],
        })
    }

    /// The header's length: `4 + data`, rounded up to a multiple of 8.
    pub const fn buffer_len(&self) -> usize {
        (4 + self.data.len()).div_ceil(8) * 8
    }

    /// Write the header; data shorter than the padded length is followed by zeros.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, header: &mut RoutingHeader<T>) {
        header.set_next_header(self.next_header);
        header.set_header_ext_len((self.buffer_len() / 8 - 1) as u8);
        header.set_routing_type(self.routing_type);
        header.set_segments_left(self.segments_left);
        let d = header.data_mut();
        d[..self.data.len()].copy_from_slice(self.data);
        d[self.data.len()..].fill(0);
    }
}

// ---------------------------------------------------------------------------
// Fragment header (RFC 8200 §4.5)

/// A view of a fragment header (RFC 8200 §4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FragmentHeader<T> {
    /// Wrap a buffer without checks.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        FragmentHeader { buffer }
    }

    /// Wrap a buffer and [`check_len`](Self::check_len) it.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    /// `Truncated` unless the buffer holds 8 bytes.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < FRAGMENT_HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// The next-header field (the protocol of the fragmentable part).
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    #[inline]
    fn offset_m(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::FRAG_OFFSET_M];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The fragment offset in bytes (the field counts 8-octet units).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        self.offset_m() & 0xfff8
    }

    /// The M flag: more fragments follow.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.offset_m() & 1 != 0
    }

    /// The identification.
    #[inline]
    pub fn ident(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::FRAG_IDENT];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Bytes after the fragment header (the fragment data).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[FRAGMENT_HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> FragmentHeader<T> {
    /// Set the next-header field.
    #[inline]
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = v;
    }

    /// Zero the two reserved fields.
    #[inline]
    pub fn clear_reserved(&mut self) {
        let b = self.buffer.as_mut();
        b[1] = 0;
        b[3] &= 0xf9;
    }

    /// Set the fragment offset in bytes (the low three bits are dropped).
    #[inline]
    pub fn set_frag_offset(&mut self, bytes: u16) {
        let v = (bytes & 0xfff8) | (self.offset_m() & 0x7);
        self.buffer.as_mut()[field::FRAG_OFFSET_M].copy_from_slice(&v.to_be_bytes());
    }

    /// Set the M flag.
    #[inline]
    pub fn set_more_frags(&mut self, more: bool) {
        let v = (self.offset_m() & !1) | u16::from(more);
        self.buffer.as_mut()[field::FRAG_OFFSET_M].copy_from_slice(&v.to_be_bytes());
    }

    /// Set the identification.
    #[inline]
    pub fn set_ident(&mut self, v: u32) {
        self.buffer.as_mut()[field::FRAG_IDENT].copy_from_slice(&v.to_be_bytes());
    }
}

/// A validated fragment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentRepr {
    /// The next-header field.
    pub next_header: u8,
    /// Offset of this fragment's data in bytes (a multiple of 8).
    pub frag_offset: u16,
    /// More fragments follow.
    pub more_frags: bool,
    /// The identification shared by all fragments of one packet.
    pub ident: u32,
}

impl FragmentRepr {
    /// Parse a fragment header. Reserved bits are ignored (RFC 8200 §4.5).
    pub fn parse<T: AsRef<[u8]>>(header: &FragmentHeader<T>) -> Result<Self> {
        header.check_len()?;
        Ok(FragmentRepr {
            next_header: header.next_header(),
            frag_offset: header.frag_offset(),
            more_frags: header.more_frags(),
            ident: header.ident(),
        })
    }

    /// True for an atomic fragment: offset 0 and no more fragments (RFC 6946).
    pub const fn is_atomic(&self) -> bool {
        self.frag_offset == 0 && !self.more_frags
    }

    /// 8 bytes.
    pub const fn buffer_len(&self) -> usize {
        FRAGMENT_HEADER_LEN
    }

    /// Write the header (reserved fields zero; offset's low three bits dropped).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, header: &mut FragmentHeader<T>) {
        let b = header.buffer.as_mut();
        b[field::NEXT_HEADER] = self.next_header;
        b[1] = 0;
        let v = (self.frag_offset & 0xfff8) | u16::from(self.more_frags);
        b[field::FRAG_OFFSET_M].copy_from_slice(&v.to_be_bytes());
        b[field::FRAG_IDENT].copy_from_slice(&self.ident.to_be_bytes());
    }
}

// ---------------------------------------------------------------------------
// The chain walker (RFC 8200 §4.1)

/// The result of walking an extension-header chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Chain {
    /// The upper-layer protocol (or [`protocol::IPV6_NONXT`], or an extension
    /// header this walker does not parse, such as ESP or AH). For a non-first
    /// fragment this is the fragment header's next header.
    pub upper: u8,
    /// Offset of the upper-layer data (or of the fragment data after a fragment
    /// header) within the IPv6 payload.
    pub offset: usize,
    /// The fragment header, if one was seen. The walk stops after it: what
    /// follows is fragment data, parsed only after reassembly.
    pub fragment: Option<FragmentRepr>,
    /// Offset of the fragment header within the payload, if one was seen.
    pub fragment_offset: usize,
    /// The router-alert value of the hop-by-hop header, if present (RFC 2711).
    pub router_alert: Option<u16>,
    /// Number of extension headers walked.
    pub headers: u8,
}

/// Walk the extension headers of an IPv6 payload, starting from the fixed
/// header's `next_header` (RFC 8200 §4.1).
///
/// Errors: `Truncated` if a header does not fit; `Malformed` for a hop-by-hop
/// header anywhere but first (RFC 8200 §4.3), an option overrunning its header,
/// or more than [`MAX_EXT_HEADERS`] headers. Options are not acted upon here:
/// options with an unknown type (and their [`UnknownAction`]) are the proto
/// layer's, as is the Parameter Problem for a routing header of unknown type
/// with segments left (RFC 8200 §4.4).
pub fn walk(next_header: u8, payload: &[u8]) -> Result<Chain> {
    let mut chain = Chain {
        upper: next_header,
        offset: 0,
        fragment: None,
        fragment_offset: 0,
        router_alert: None,
        headers: 0,
    };
    let mut nh = next_header;
    let mut off = 0usize;
    while is_extension_header(nh) {
        if usize::from(chain.headers) >= MAX_EXT_HEADERS {
            return Err(Error::Malformed);
        }
        let rest = payload.get(off..).ok_or(Error::Truncated)?;
        match nh {
            protocol::HOP_BY_HOP => {
                if chain.headers != 0 {
                    return Err(Error::Malformed);
                }
                let h = OptionsHeader::new_checked(rest)?;
                for o in h.options() {
                    if let Some(v) = o?.router_alert() {
                        chain.router_alert = Some(v);
                    }
                }
                nh = h.next_header();
                off += h.header_len();
            }
            protocol::IPV6_FRAG => {
                let h = FragmentHeader::new_checked(rest)?;
                let f = FragmentRepr::parse(&h)?;
                chain.headers += 1;
                chain.fragment = Some(f);
                chain.fragment_offset = off;
                chain.upper = f.next_header;
                chain.offset = off + FRAGMENT_HEADER_LEN;
                return Ok(chain);
            }
            protocol::IPV6_OPTS => {
                let h = OptionsHeader::new_checked(rest)?;
                nh = h.next_header();
                off += h.header_len();
            }
            _ => {
                // protocol::IPV6_ROUTE
                let h = RoutingHeader::new_checked(rest)?;
                nh = h.next_header();
                off += h.header_len();
            }
        }
        chain.headers += 1;
    }
    chain.upper = nh;
    chain.offset = off;
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipv6::{captured, Ipv6Repr, Packet};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// Emit every extension header of the chain again and compare with the bytes.
    fn reemit_chain(mut nh: u8, payload: &[u8], end: usize) {
        let mut off = 0;
        while off < end {
            let rest = &payload[off..];
            let mut out = vec![0u8; 2048];
            let len = match nh {
                protocol::HOP_BY_HOP | protocol::IPV6_OPTS => {
                    let r = OptionsHeaderRepr::parse(&OptionsHeader::new_checked(rest).unwrap()).unwrap();
                    r.emit(&mut OptionsHeader::new_unchecked(&mut out[..]));
                    nh = r.next_header;
                    r.buffer_len()
                }
                protocol::IPV6_ROUTE => {
                    let r = RoutingRepr::parse(&RoutingHeader::new_checked(rest).unwrap()).unwrap();
                    r.emit(&mut RoutingHeader::new_unchecked(&mut out[..]));
                    nh = r.next_header;
                    r.buffer_len()
                }
                protocol::IPV6_FRAG => {
                    let r = FragmentRepr::parse(&FragmentHeader::new_checked(rest).unwrap()).unwrap();
                    r.emit(&mut FragmentHeader::new_unchecked(&mut out[..]));
                    nh = r.next_header;
                    r.buffer_len()
                }
                _ => unreachable!(),
            };
            assert_eq!(&out[..len], &rest[..len]);
            off += len;
        }
    }

    #[test]
    fn captured_chains() {
        let mut frags = Vec::new();
        let mut hbh = 0;
        let mut full_chain = 0;
        for p in captured::packets() {
            let pk = Packet::new_checked(&p[..]).unwrap();
            let ip = Ipv6Repr::parse(&pk).unwrap();
            let c = walk(ip.next_header, pk.payload()).unwrap();
            let end = c.fragment.map_or(c.offset, |_| c.offset);
            reemit_chain(ip.next_header, pk.payload(), end);
            if let Some(f) = c.fragment {
                frags.push(f);
                assert_eq!(c.upper, protocol::ICMPV6);
            } else {
                // Everything in the captures ends in ICMPv6 or UDP.
                assert!(c.upper == protocol::ICMPV6 || c.upper == protocol::UDP, "{}", c.upper);
            }
            if ip.next_header == protocol::HOP_BY_HOP {
                hbh += 1;
                assert_eq!(c.router_alert, Some(ROUTER_ALERT_MLD));
            }
            if c.headers == 4 {
                // scapy: HBH (router alert, PadN) + dest opts + routing type 0 + dest opts.
                full_chain += 1;
                assert_eq!(c.offset, 8 + 8 + 24 + 8);
                let rh = RoutingHeader::new_checked(&pk.payload()[16..]).unwrap();
                assert_eq!((rh.routing_type(), rh.segments_left()), (0, 0));
                assert_eq!(&rh.data()[4..20], &"2001:db8::2".parse::<core::net::Ipv6Addr>().unwrap().octets());
            }
        }
        assert!(hbh >= 10);
        assert_eq!(full_chain, 1);
        // ping -s 3000: 3 fragments each way, 1448 bytes per full fragment.
        assert_eq!(frags.len(), 6);
        let offs: Vec<_> = frags.iter().map(|f| (f.frag_offset, f.more_frags)).collect();
        assert_eq!(offs, [(0, true), (1448, true), (2896, false), (0, true), (1448, true), (2896, false)]);
        assert_eq!(frags[0].ident, frags[2].ident);
        assert_ne!(frags[0].ident, frags[3].ident);
    }

    #[test]
    fn unknown_option_action() {
        // scapy: destination option 0x9e (action 10) provoking a Parameter Problem.
        let pkts = captured::packets();
        let p = pkts.iter().find(|p| p[6] == protocol::IPV6_OPTS).expect("dest-opts packet");
        let h = OptionsHeader::new_checked(&p[40..]).unwrap();
        let opts: Vec<_> = h.options().collect::<Result<_>>().unwrap();
        assert_eq!(opts.len(), 1);
        assert_eq!(opts[0].kind, 0x9e);
        assert_eq!(opts[0].unknown_action(), UnknownAction::DiscardSendIcmp);
        assert_eq!(opts[0].offset, 0);
    }

    #[test]
    fn every_truncation_is_an_error() {
        for p in captured::packets() {
            let nh = p[6];
            let pk = Packet::new_checked(&p[..]).unwrap();
            let full = walk(nh, pk.payload()).unwrap();
            for n in 0..full.offset {
                assert_eq!(walk(nh, &pk.payload()[..n]), Err(Error::Truncated), "len {n}");
            }
        }
    }

    #[test]
    fn hop_by_hop_not_first_is_malformed() {
        // dest opts -> hop-by-hop -> no next header
        let b = [protocol::HOP_BY_HOP, 0, 1, 4, 0, 0, 0, 0, protocol::IPV6_NONXT, 0, 1, 4, 0, 0, 0, 0];
        assert_eq!(walk(protocol::IPV6_OPTS, &b), Err(Error::Malformed));
        let c = walk(protocol::HOP_BY_HOP, &b[8..]).unwrap();
        assert_eq!((c.upper, c.offset, c.headers), (protocol::IPV6_NONXT, 8, 1));
    }

    #[test]
    fn too_many_headers_is_malformed() {
        let mut b = Vec::new();
        for _ in 0..MAX_EXT_HEADERS + 1 {
            b.extend_from_slice(&[protocol::IPV6_OPTS, 0, 1, 4, 0, 0, 0, 0]);
        }
        assert_eq!(walk(protocol::IPV6_OPTS, &b), Err(Error::Malformed));
        assert!(walk(protocol::IPV6_OPTS, &b[8..]).is_err());
        b[8 * (MAX_EXT_HEADERS - 1)] = protocol::UDP;
        assert_eq!(walk(protocol::IPV6_OPTS, &b).unwrap().headers as usize, MAX_EXT_HEADERS);
    }

    #[test]
    fn option_overrun_is_malformed() {
        let b = [protocol::UDP, 0, 0x1e, 5, 0, 0, 0, 0];
        assert_eq!(OptionsHeader::new_checked(&b[..]).err(), Some(Error::Malformed));
        let b = [protocol::UDP, 0, 0, 0, 0, 0, 0, 0x1e];
        assert_eq!(OptionsHeader::new_checked(&b[..]).err(), Some(Error::Malformed));
        let b = [protocol::UDP, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(OptionsHeader::new_checked(&b[..]).unwrap().options().count(), 0);
    }

    #[test]
    fn mld_options_emit_like_linux() {
        let r = OptionsHeaderRepr { next_header: protocol::ICMPV6, options: &MLD_HOP_BY_HOP_OPTIONS };
        let mut out = [0u8; 8];
        r.emit(&mut OptionsHeader::new_unchecked(&mut out[..]));
        assert_eq!(out, [0x3a, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00]);
        let h = OptionsHeader::new_checked(&out[..]).unwrap();
        assert_eq!(h.options().next().unwrap().unwrap().router_alert(), Some(0));
    }

    fn arb_options() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec((1u8..=255, proptest::collection::vec(any::<u8>(), 0..12)), 0..5).prop_map(|opts| {
            let mut v = Vec::new();
            for (k, d) in opts {
                v.push(k);
                v.push(d.len() as u8);
                v.extend_from_slice(&d);
            }
            // Pad so the round trip is exact.
            let pad = (2 + v.len()).div_ceil(8) * 8 - 2 - v.len();
            let at = v.len();
            v.resize(at + pad, 0);
            emit_padding(&mut v[at..], pad);
            v
        })
    }

    proptest! {
        #[test]
        fn options_header_identity(nh in any::<u8>(), opts in arb_options()) {
            let r = OptionsHeaderRepr { next_header: nh, options: &opts };
            let mut out = vec![0u8; r.buffer_len()];
            r.emit(&mut OptionsHeader::new_unchecked(&mut out[..]));
            let p = OptionsHeaderRepr::parse(&OptionsHeader::new_checked(&out[..]).unwrap()).unwrap();
            prop_assert_eq!(p, r);
        }

        #[test]
        fn routing_identity(nh in any::<u8>(), t in any::<u8>(), sl in any::<u8>(), words in 0usize..10, fill in any::<u8>()) {
            let data = vec![fill; 4 + 8 * words];
            let r = RoutingRepr { next_header: nh, routing_type: t, segments_left: sl, data: &data };
            let mut out = vec![0u8; r.buffer_len()];
            r.emit(&mut RoutingHeader::new_unchecked(&mut out[..]));
            prop_assert_eq!(RoutingRepr::parse(&RoutingHeader::new_checked(&out[..]).unwrap()).unwrap(), r);
        }

        #[test]
        fn fragment_identity(nh in any::<u8>(), off in 0u16..8192, m in any::<bool>(), id in any::<u32>()) {
            let r = FragmentRepr { next_header: nh, frag_offset: off * 8, more_frags: m, ident: id };
            let mut out = [0xffu8; 8];
            r.emit(&mut FragmentHeader::new_unchecked(&mut out[..]));
            prop_assert_eq!(FragmentRepr::parse(&FragmentHeader::new_checked(&out[..]).unwrap()).unwrap(), r);
        }

        #[test]
        fn walk_never_panics(nh in prop_oneof![Just(0u8), Just(43), Just(44), Just(60), any::<u8>()],
                             bytes in proptest::collection::vec(prop_oneof![Just(0u8), Just(43), Just(44), Just(60), any::<u8>()], 0..120)) {
            if let Ok(c) = walk(nh, &bytes) {
                prop_assert!(c.offset <= bytes.len());
            }
            let _ = OptionsHeader::new_checked(&bytes[..]).map(|h| h.options().count());
            let _ = RoutingHeader::new_checked(&bytes[..]).map(|h| RoutingRepr::parse(&h));
            let _ = FragmentHeader::new_checked(&bytes[..]).map(|h| FragmentRepr::parse(&h));
            let _ = Ipv6Options::new(&bytes).count();
        }
    }
}
