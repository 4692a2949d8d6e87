//! TCP header and options (RFC 9293 §3.1, RFC 7323, RFC 2018, RFC 5482 §3).
//!
//! CONTRACT (fixed; the `proto` crate is written against it): the public types
//! `TcpFlags`, `SackBlocks`, `TcpOptions`, `TcpRepr` below keep these fields and
//! meanings. Implementation of the view and of parse/emit goes here.

/// TCP control bits (RFC 9293 §3.1), as the low byte of the flags field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push function.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// Acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// Urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN-Echo (RFC 3168).
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion Window Reduced (RFC 3168).
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// True if every bit of `other` is set in `self`.
    #[inline]
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Union of two flag sets.
    #[inline]
    pub const fn union(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | other.0)
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

/// Up to four SACK blocks (RFC 2018 §3), as `(left edge, right edge)` sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct SackBlocks {
    /// The blocks; only the first `len` are meaningful.
    pub blocks: [(u32, u32); 4],
    /// How many blocks are present (0..=4).
    pub len: u8,
}

impl SackBlocks {
    /// The meaningful blocks.
    #[inline]
    pub fn as_slice(&self) -> &[(u32, u32)] {
        &self.blocks[..(self.len as usize).min(4)]
    }
    /// Append a block; returns false if four are already present.
    pub fn push(&mut self, left: u32, right: u32) -> bool {
        if self.len as usize >= 4 {
            return false;
        }
        self.blocks[self.len as usize] = (left, right);
        self.len += 1;
        true
    }
}

/// The TCP options xdpstack understands. Unknown kinds are skipped by their length
/// on parse and never emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpOptions {
    /// Maximum segment size (kind 2, RFC 9293 §3.7.1).
    pub mss: Option<u16>,
    /// Window scale shift count (kind 3, RFC 7323 §2).
    pub window_scale: Option<u8>,
    /// SACK permitted (kind 4, RFC 2018 §2).
    pub sack_permitted: bool,
    /// SACK blocks (kind 5, RFC 2018 §3).
    pub sack: SackBlocks,
    /// Timestamps `(TSval, TSecr)` (kind 8, RFC 7323 §3).
    pub timestamps: Option<(u32, u32)>,
    /// TCP User Timeout Option (kind 28, RFC 5482 §3): the raw 16 bits, granularity
    /// bit G (top bit: 1 = minutes, 0 = seconds) and a 15-bit timeout; see
    /// [`user_timeout_to_raw`] and [`user_timeout_from_raw`]. Parsed and written on
    /// any segment (§3: "MAY be included in any segment").
    pub user_timeout: Option<u16>,
}

/// A validated TCP segment: header fields, options and a borrowed payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful when `flags` has ACK).
    pub ack: u32,
    /// Control bits.
    pub flags: TcpFlags,
    /// Window field as on the wire (not scaled).
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Options.
    pub options: TcpOptions,
    /// Segment payload.
    pub payload: &'a [u8],
}

// ---------------------------------------------------------------------------------
// Implementation: flags helpers, the header view, options, parse and emit.
// ---------------------------------------------------------------------------------

use core::net::IpAddr;

use crate::checksum;
use crate::ip::protocol;
use crate::udp::pseudo_header;
use crate::{ChecksumKind, ChecksumMode, Error, Result};

impl TcpFlags {
    /// No flags.
    pub const NONE: TcpFlags = TcpFlags(0);

    /// True if any bit of `other` is set in `self`.
    #[inline]
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }
    /// SYN is set.
    #[inline]
    pub const fn syn(self) -> bool {
        self.contains(TcpFlags::SYN)
    }
    /// ACK is set.
    #[inline]
    pub const fn ack(self) -> bool {
        self.contains(TcpFlags::ACK)
    }
    /// FIN is set.
    #[inline]
    pub const fn fin(self) -> bool {
        self.contains(TcpFlags::FIN)
    }
    /// RST is set.
    #[inline]
    pub const fn rst(self) -> bool {
        self.contains(TcpFlags::RST)
    }
}

impl core::ops::BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

impl core::ops::BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl SackBlocks {
    /// No blocks.
    pub const EMPTY: SackBlocks = SackBlocks { blocks: [(0, 0); 4], len: 0 };

    /// True if no block is present.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// TCP option kinds (RFC 9293 §3.2; IANA "TCP Option Kind Numbers").
pub mod option_kind {
    /// End of option list.
    pub const EOL: u8 = 0;
    /// No-operation.
    pub const NOP: u8 = 1;
    /// Maximum segment size.
    pub const MSS: u8 = 2;
    /// Window scale.
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK permitted.
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK.
    pub const SACK: u8 = 5;
    /// Timestamps.
    pub const TIMESTAMPS: u8 = 8;
    /// TCP User Timeout (RFC 5482 §3).
    pub const USER_TIMEOUT: u8 = 28;
}

/// Granularity bit of the User Timeout Option (RFC 5482 §3): set = minutes.
const UTO_MINUTES: u16 = 0x8000;
/// Largest 15-bit User Timeout value.
const UTO_MAX: u16 = 0x7fff;

/// The User Timeout Option field for `timeout` (RFC 5482 §3): whole seconds
/// (G = 0) up to 32,767 s, above that minutes (G = 1), rounded up so the peer
/// is never told less than our timeout, at most 32,767 minutes (about 22.75 days).
/// Fractions of a second are rounded up too; a zero timeout is sent as 0 seconds.
pub fn user_timeout_to_raw(timeout: core::time::Duration) -> u16 {
    let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() != 0);
    if secs <= u64::from(UTO_MAX) {
        secs as u16
    } else {
        UTO_MINUTES | secs.div_ceil(60).min(u64::from(UTO_MAX)) as u16
    }
}

/// The timeout a User Timeout Option field stands for (RFC 5482 §3).
pub fn user_timeout_from_raw(raw: u16) -> core::time::Duration {
    let v = u64::from(raw & UTO_MAX);
    core::time::Duration::from_secs(if raw & UTO_MINUTES != 0 { 60 * v } else { v })
}

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
    pub const OPTIONS: usize = 20;
}

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = 20;
/// Largest TCP header (data offset 15).
pub const MAX_HEADER_LEN: usize = 60;
/// Most option bytes a header can hold.
pub const MAX_OPTIONS_LEN: usize = MAX_HEADER_LEN - HEADER_LEN;

/// A view of a TCP segment, directly over the frame (e.g. a UMEM slice spanning
/// the IP payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wrap a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> TcpPacket<T> {
        TcpPacket { buffer }
    }

    /// Wrap a buffer and [`check_len`](Self::check_len) it.
    pub fn new_checked(buffer: T) -> Result<TcpPacket<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Check the fixed header is present, the data offset is at least 5
    /// (`BadLength`, RFC 9293 §3.1 "Data Offset") and the header it announces is
    /// present (`Truncated`).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let hl = self.header_len() as usize;
        if hl < HEADER_LEN {
            return Err(Error::BadLength);
        }
        if hl > len {
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
    #[inline]
    fn u32_at(&self, r: core::ops::Range<usize>) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[r.start], b[r.start + 1], b[r.start + 2], b[r.start + 3]])
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
    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        self.u32_at(field::SEQ_NUM)
    }
    /// Acknowledgment number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        self.u32_at(field::ACK_NUM)
    }
    /// Header length in bytes (data offset × 4).
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }
    /// The control bits (CWR ... FIN).
    #[inline]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[field::FLAGS])
    }
    /// The four bits between data offset and flags (reserved, and AccECN's AE).
    #[inline]
    pub fn reserved_bits(&self) -> u8 {
        self.buffer.as_ref()[field::DATA_OFF] & 0x0f
    }
    /// Window field (unscaled).
    #[inline]
    pub fn window_len(&self) -> u16 {
        self.u16_at(field::WINDOW)
    }
    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }
    /// Urgent pointer.
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        self.u16_at(field::URGENT)
    }
    /// The raw option bytes.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len() as usize]
    }
    /// An iterator over the options (stops after EOL, yields an error once and
    /// stops on a malformed option).
    #[inline]
    pub fn option_iter(&self) -> TcpOptionIter<'_> {
        TcpOptionIter::new(self.options())
    }
    /// The segment data: everything after the header (the buffer should end
    /// where the IP payload ends).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len() as usize..]
    }
    /// Sequence space the segment occupies: data length, plus one each for SYN and
    /// FIN (RFC 9293 §3.4).
    #[inline]
    pub fn segment_len(&self) -> usize {
        let f = self.flags();
        self.payload().len() + usize::from(f.syn()) + usize::from(f.fin())
    }
    /// True if the checksum over the pseudo-header of `src` → `dst` and the whole
    /// buffer verifies (RFC 9293 §3.1 "Checksum"). Mixed families never verify.
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        let b = self.buffer.as_ref();
        let Ok(ph) = pseudo_header(src, dst, protocol::TCP, b.len() as u32) else {
            return false;
        };
        checksum::combine(&[ph, checksum::data(b)]) == 0xffff
    }
    /// True if the checksum field holds exactly the pseudo-header sum of `src` →
    /// `dst` for this segment's length: the unfinished CHECKSUM_PARTIAL form Linux
    /// leaves for the device (`__tcp_v4_send_check` / `__tcp_v6_send_check`, see
    /// [`ChecksumKind::Partial`]). Mixed families never match.
    pub fn checksum_is_partial(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        let b = self.buffer.as_ref();
        match pseudo_header(src, dst, protocol::TCP, b.len() as u32) {
            Ok(ph) => self.checksum() == ph,
            Err(_) => false,
        }
    }
    /// Classify the checksum: the partial form first (one comparison), then the
    /// full sum over the pseudo-header and the whole buffer ([`checksum::classify`]).
    /// Mixed families are `Bad`.
    pub fn verify_checksum_kind(&self, src: &IpAddr, dst: &IpAddr) -> ChecksumKind {
        let b = self.buffer.as_ref();
        match pseudo_header(src, dst, protocol::TCP, b.len() as u32) {
            Ok(ph) => checksum::classify(ph, self.checksum(), b),
            Err(_) => ChecksumKind::Bad,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    #[inline]
    fn set_u16_at(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }
    #[inline]
    fn set_u32_at(&mut self, r: core::ops::Range<usize>, v: u32) {
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
    /// Set the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, v: u32) {
        self.set_u32_at(field::SEQ_NUM, v);
    }
    /// Set the acknowledgment number.
    #[inline]
    pub fn set_ack_number(&mut self, v: u32) {
        self.set_u32_at(field::ACK_NUM, v);
    }
    /// Set the header length in bytes (a multiple of 4, 20..=60); clears the
    /// reserved bits.
    #[inline]
    pub fn set_header_len(&mut self, len: u8) {
        self.buffer.as_mut()[field::DATA_OFF] = (len / 4) << 4;
    }
    /// Set the control bits.
    #[inline]
    pub fn set_flags(&mut self, f: TcpFlags) {
        self.buffer.as_mut()[field::FLAGS] = f.0;
    }
    /// Set the window field.
    #[inline]
    pub fn set_window_len(&mut self, v: u16) {
        self.set_u16_at(field::WINDOW, v);
    }
    /// Set the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.set_u16_at(field::CHECKSUM, v);
    }
    /// Set the urgent pointer.
    #[inline]
    pub fn set_urgent_at(&mut self, v: u16) {
        self.set_u16_at(field::URGENT, v);
    }
    /// The option bytes, mutable.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let h = self.header_len() as usize;
        &mut self.buffer.as_mut()[field::OPTIONS..h]
    }
    /// The data after the header, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let h = self.header_len() as usize;
        &mut self.buffer.as_mut()[h..]
    }
    /// Compute and store the checksum over the pseudo-header and the whole buffer
    /// (header and data). Mixed families leave the field zero.
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let Ok(ph) = pseudo_header(src, dst, protocol::TCP, b.len() as u32) else {
            return;
        };
        let c = !checksum::combine(&[ph, checksum::data(b)]);
        self.set_checksum(c);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for TcpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// [`TcpPacket`] under the name every other protocol module uses for its view.
pub type Packet<T> = TcpPacket<T>;

/// One TCP option as found on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// End of option list (kind 0).
    EndOfList,
    /// No-operation (kind 1).
    NoOperation,
    /// Maximum segment size (kind 2, length 4).
    Mss(u16),
    /// Window scale shift (kind 3, length 3), as sent (may exceed 14).
    WindowScale(u8),
    /// SACK permitted (kind 4, length 2).
    SackPermitted,
    /// SACK blocks (kind 5, length 2 + 8n, n in 1..=4).
    Sack(SackBlocks),
    /// Timestamps (kind 8, length 10).
    Timestamps(u32, u32),
    /// User Timeout (kind 28, length 4, RFC 5482 §3), the raw 16 bits.
    UserTimeout(u16),
    /// Any other kind, with its data (length − 2 bytes).
    Unknown {
        /// The option kind.
        kind: u8,
        /// The option data.
        data: &'a [u8],
    },
}

/// Iterator over the options of a header (RFC 9293 §3.2): yields `Err(Malformed)`
/// once (then ends) for a missing or short length byte, an option running past the
/// options area, or a known kind with the wrong length. Ends after EOL.
#[derive(Debug, Clone)]
pub struct TcpOptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptionIter<'a> {
    /// Iterate over `options` (the bytes between the fixed header and the data).
    pub fn new(options: &'a [u8]) -> TcpOptionIter<'a> {
        TcpOptionIter { rest: options }
    }

    fn fail(&mut self) -> Option<Result<TcpOption<'a>>> {
        self.rest = &[];
        Some(Err(Error::Malformed))
    }
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&kind, after) = self.rest.split_first()?;
        match kind {
            option_kind::EOL => {
                // RFC 9293 §3.2: the end of the options; what follows is padding.
                self.rest = &[];
                return Some(Ok(TcpOption::EndOfList));
            }
            option_kind::NOP => {
                self.rest = after;
                return Some(Ok(TcpOption::NoOperation));
            }
            _ => {}
        }
        // RFC 9293 §3.2 case 2: kind, length (counting kind and length), data.
        // RFC 9293 §3.7.1 / RFC 1122 §4.2.2.5: be prepared for any option with a
        // length byte; a length below 2 or past the header is malformed.
        let Some(&len) = after.first() else {
            return self.fail();
        };
        let len = len as usize;
        if len < 2 || len > self.rest.len() {
            return self.fail();
        }
        let data = &self.rest[2..len];
        self.rest = &self.rest[len..];
        let opt = match (kind, len) {
            (option_kind::MSS, 4) => TcpOption::Mss(be16(data)),
            (option_kind::WINDOW_SCALE, 3) => TcpOption::WindowScale(data[0]),
            (option_kind::SACK_PERMITTED, 2) => TcpOption::SackPermitted,
            // RFC 2018 §3: 2 + 8n bytes; at most 4 blocks fit in 40 bytes.
            (option_kind::SACK, l) if l >= 10 && (l - 2) & 7 == 0 && l <= 34 => {
                let mut s = SackBlocks::default();
                for c in data.chunks_exact(8) {
                    s.push(be32(&c[0..4]), be32(&c[4..8]));
                }
                TcpOption::Sack(s)
            }
            (option_kind::TIMESTAMPS, 10) => TcpOption::Timestamps(be32(&data[0..4]), be32(&data[4..8])),
            (option_kind::USER_TIMEOUT, 4) => TcpOption::UserTimeout(be16(data)),
            (
                option_kind::MSS
                | option_kind::WINDOW_SCALE
                | option_kind::SACK_PERMITTED
                | option_kind::SACK
                | option_kind::TIMESTAMPS
                | option_kind::USER_TIMEOUT,
                _,
            ) => return self.fail(),
            _ => TcpOption::Unknown { kind, data },
        };
        Some(Ok(opt))
    }
}

impl TcpOptions {
    /// Parse an options area. MSS, window scale and SACK-permitted are kept only
    /// when `syn` is set: RFC 9293 §3.7.1 (MSS "MUST only be sent in SYN"), RFC 7323
    /// §2.2 (window scale in a non-SYN segment "MUST be ignored") and RFC 2018 §2
    /// (SACK-permitted only in SYN). The User Timeout Option is kept on any
    /// segment (RFC 5482 §3). A repeated option: the last one counts.
    /// Unknown kinds are skipped by their length.
    pub fn parse(options: &[u8], syn: bool) -> Result<TcpOptions> {
        let mut o = TcpOptions::default();
        // Fast path for the layout almost every segment of an established
        // connection carries (Linux, BSD; RFC 7323 Appendix A's recommended
        // alignment): NOP, NOP, Timestamps.
        if let [1, 1, 8, 10, v0, v1, v2, v3, e0, e1, e2, e3] = *options {
            o.timestamps = Some((u32::from_be_bytes([v0, v1, v2, v3]), u32::from_be_bytes([e0, e1, e2, e3])));
            return Ok(o);
        }
        for opt in TcpOptionIter::new(options) {
            match opt? {
                TcpOption::Mss(m) if syn => o.mss = Some(m),
                TcpOption::WindowScale(w) if syn => o.window_scale = Some(w),
                TcpOption::SackPermitted if syn => o.sack_permitted = true,
                TcpOption::Sack(s) => o.sack = s,
                TcpOption::Timestamps(v, e) => o.timestamps = Some((v, e)),
                TcpOption::UserTimeout(u) => o.user_timeout = Some(u),
                _ => {}
            }
        }
        Ok(o)
    }
}

/// Option bytes of `opts` without SACK blocks in Linux's NOP-aligned layout
/// (plus the User Timeout Option, 4 bytes, aligned by itself).
fn aligned_len_without_sack(opts: &TcpOptions, syn: bool) -> usize {
    let mut n = if opts.user_timeout.is_some() { 4 } else { 0 };
    if syn {
        if opts.mss.is_some() {
            n += 4;
        }
        // SACK_PERM + TS (12) | NOP NOP TS (12) | NOP NOP SACK_PERM (4)
        if opts.timestamps.is_some() {
            n += 12;
        } else if opts.sack_permitted {
            n += 4;
        }
        if opts.window_scale.is_some() {
            n += 4;
        }
    } else if opts.timestamps.is_some() {
        n += 12;
    }
    n
}

/// Option bytes of `opts` without SACK blocks packed back to back (no NOPs).
fn packed_len_without_sack(opts: &TcpOptions, syn: bool) -> usize {
    let mut n = if opts.timestamps.is_some() { 10 } else { 0 };
    n += if opts.user_timeout.is_some() { 4 } else { 0 };
    if syn {
        n += if opts.mss.is_some() { 4 } else { 0 };
        n += if opts.sack_permitted { 2 } else { 0 };
        n += if opts.window_scale.is_some() { 3 } else { 0 };
    }
    n
}

/// How [`emit_options`] lays out `opts`: `(packed, SACK blocks written, bytes before
/// padding)`.
///
/// The promise: every option of `opts` that the segment kind carries is written,
/// in Linux's NOP-aligned layout when it fits in 40 bytes, else packed without
/// NOPs. Whatever [`TcpOptions::parse`] returned fits one of the two (each option
/// it kept took at least its packed size on the wire, in at most 40 bytes), so
/// parse, emit and parse again give the same options. Only a hand-built set can
/// exceed 40 bytes even packed; then SACK blocks are dropped from the end (RFC 2018
/// §4: the first block is the most recent, the others repeat older news) until it
/// fits. SACK blocks are the only thing ever dropped: every other option together
/// (MSS, SACK-permitted, timestamps, window scale, User Timeout) takes at most 23
/// bytes packed, so the User Timeout Option (RFC 5482 §3) ranks above SACK blocks
/// and is always written. [`TcpOptions::as_emitted`] tells what is written.
fn layout(opts: &TcpOptions, syn: bool) -> (bool, usize, usize) {
    let n = opts.sack.as_slice().len();
    let sack_len = |k: usize| if k == 0 { 0 } else { 2 + 8 * k };
    let packed = packed_len_without_sack(opts, syn);
    // Most blocks that fit at all (packed); 0 blocks always fit (at most 23 bytes).
    let k = (0..=n).rev().find(|&k| packed + sack_len(k) <= MAX_OPTIONS_LEN).unwrap_or(0);
    // Linux's layout puts NOP NOP before the SACK option.
    let aligned = aligned_len_without_sack(opts, syn) + if k == 0 { 0 } else { 2 + sack_len(k) };
    if aligned <= MAX_OPTIONS_LEN {
        (false, k, aligned)
    } else {
        (true, k, packed + sack_len(k))
    }
}

impl TcpOptions {
    /// The options as [`emit_options`] writes them on a segment with (`syn`) or
    /// without SYN, i.e. what the receiver parses back: MSS, window scale and
    /// SACK-permitted only with SYN, and SACK blocks as many as fit (see
    /// [`options_len`]). Equal to `self` for options [`TcpOptions::parse`] returned.
    pub fn as_emitted(&self, syn: bool) -> TcpOptions {
        let mut o = *self;
        if !syn {
            o.mss = None;
            o.window_scale = None;
            o.sack_permitted = false;
        }
        let (_, n, _) = layout(self, syn);
        o.sack = SackBlocks::default();
        for &(l, r) in &self.sack.as_slice()[..n] {
            o.sack.push(l, r);
        }
        o
    }
}

/// Length of the options [`TcpRepr::emit`] writes for `opts` on a segment with
/// (`syn`) or without SYN, padded to a multiple of 4 (at most 40). MSS, window
/// scale and SACK-permitted are written only on SYN segments. Every option is
/// written, in Linux's NOP-aligned layout when it fits in 40 bytes and packed
/// otherwise; only options that fit in no layout lose trailing SACK blocks
/// ([`TcpOptions::as_emitted`]).
pub fn options_len(opts: &TcpOptions, syn: bool) -> usize {
    let (_, _, n) = layout(opts, syn);
    (n + 3) & !3
}

/// Write `opts` into `buf` (at least [`options_len`] bytes) in the layout Linux's
/// `tcp_options_write` uses, so segments round-trip byte for byte:
///
/// * SYN: `MSS`, then `SACK_PERM TS` (both) | `NOP NOP TS` (TS only) |
///   `NOP NOP SACK_PERM` (SACK only), then `NOP WS`;
/// * every segment: `NOP NOP TS` (non-SYN), then `UTO` (RFC 5482 §3, 4 bytes; Linux
///   never sends it), then `NOP NOP SACK(blocks)`.
///
/// When that layout exceeds 40 bytes (a SYN with MSS, SACK-permitted and 4 SACK
/// blocks, say) the same options are packed without NOPs: `MSS SACK_PERM TS WS
/// UTO SACK`. Returns the number of bytes written (a multiple of 4; any padding is
/// NOP), always [`options_len`].
pub fn emit_options(opts: &TcpOptions, syn: bool, buf: &mut [u8]) -> usize {
    use option_kind::*;
    let (packed, s, _) = layout(opts, syn);
    let mut i = 0;
    let mut put = |bytes: &[u8], i: &mut usize| {
        buf[*i..*i + bytes.len()].copy_from_slice(bytes);
        *i += bytes.len();
    };
    let ts = |v: u32, e: u32| {
        let mut t = [0u8; 10];
        t[0] = TIMESTAMPS;
        t[1] = 10;
        t[2..6].copy_from_slice(&v.to_be_bytes());
        t[6..10].copy_from_slice(&e.to_be_bytes());
        t
    };
    if packed {
        if syn {
            if let Some(m) = opts.mss {
                let m = m.to_be_bytes();
                put(&[MSS, 4, m[0], m[1]], &mut i);
            }
            if opts.sack_permitted {
                put(&[SACK_PERMITTED, 2], &mut i);
            }
        }
        if let Some((v, e)) = opts.timestamps {
            put(&ts(v, e), &mut i);
        }
        if syn {
            if let Some(w) = opts.window_scale {
                put(&[WINDOW_SCALE, 3, w], &mut i);
            }
        }
        if let Some(u) = opts.user_timeout {
            let u = u.to_be_bytes();
            put(&[USER_TIMEOUT, 4, u[0], u[1]], &mut i);
        }
    } else if syn {
        if let Some(m) = opts.mss {
            let m = m.to_be_bytes();
            put(&[MSS, 4, m[0], m[1]], &mut i);
        }
        match (opts.timestamps, opts.sack_permitted) {
            (Some((v, e)), true) => {
                put(&[SACK_PERMITTED, 2], &mut i);
                put(&ts(v, e), &mut i);
            }
            (Some((v, e)), false) => {
                put(&[NOP, NOP], &mut i);
                put(&ts(v, e), &mut i);
            }
            (None, true) => put(&[NOP, NOP, SACK_PERMITTED, 2], &mut i),
            (None, false) => {}
        }
        if let Some(w) = opts.window_scale {
            put(&[NOP, WINDOW_SCALE, 3, w], &mut i);
        }
    } else if let Some((v, e)) = opts.timestamps {
        put(&[NOP, NOP], &mut i);
        put(&ts(v, e), &mut i);
    }
    if let (false, Some(u)) = (packed, opts.user_timeout) {
        let u = u.to_be_bytes();
        put(&[USER_TIMEOUT, 4, u[0], u[1]], &mut i);
    }
    if s > 0 {
        if !packed {
            put(&[NOP, NOP], &mut i);
        }
        put(&[SACK, (2 + 8 * s) as u8], &mut i);
        for &(l, r) in &opts.sack.as_slice()[..s] {
            put(&l.to_be_bytes(), &mut i);
            put(&r.to_be_bytes(), &mut i);
        }
    }
    while i & 3 != 0 {
        put(&[NOP], &mut i);
    }
    i
}

impl<'a> TcpRepr<'a> {
    /// Parse a segment sent from `src` to `dst`; `packet` must span exactly the IP
    /// payload.
    ///
    /// * lengths as in [`TcpPacket::check_len`];
    /// * checksum with the IPv4 or IPv6 pseudo-header when `checksum` is
    ///   [`ChecksumMode::Full`] (`BadChecksum`; mixed families are `Malformed`);
    ///   [`ChecksumMode::FullOrPartial`] also accepts a field holding only the
    ///   pseudo-header sum ([`TcpPacket::verify_checksum_kind`]);
    /// * a zero source or destination port is `Malformed` (port 0 is reserved and
    ///   never used by a connection);
    /// * options as in [`TcpOptions::parse`] (`Malformed` on a bad option length).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        src: &IpAddr,
        dst: &IpAddr,
        checksum: ChecksumMode,
    ) -> Result<TcpRepr<'a>> {
        packet.check_len()?;
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(Error::Malformed);
        }
        if packet.src_port() == 0 || packet.dst_port() == 0 {
            return Err(Error::Malformed);
        }
        let verified = match checksum {
            ChecksumMode::Full => packet.verify_checksum(src, dst),
            ChecksumMode::FullOrPartial => packet.verify_checksum_kind(src, dst) != ChecksumKind::Bad,
            ChecksumMode::Ignore => true,
        };
        if !verified {
            return Err(Error::BadChecksum);
        }
        let flags = packet.flags();
        let options = TcpOptions::parse(packet.options(), flags.syn())?;
        let b: &'a [u8] = packet.buffer.as_ref();
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq: packet.seq_number(),
            ack: packet.ack_number(),
            flags,
            window: packet.window_len(),
            urgent: packet.urgent_at(),
            options,
            payload: &b[packet.header_len() as usize..],
        })
    }

    /// Header length [`emit`](Self::emit) writes: 20 + options (padded to 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        HEADER_LEN + options_len(&self.options, self.flags.syn())
    }

    /// Header plus payload.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Sequence space the segment occupies: payload plus SYN and FIN (RFC 9293 §3.4).
    #[inline]
    pub fn segment_len(&self) -> usize {
        self.payload.len() + usize::from(self.flags.syn()) + usize::from(self.flags.fin())
    }

    /// Write header, options (Linux's layout, see [`emit_options`]) and payload, then
    /// the checksum over the pseudo-header of `src` → `dst` when `checksum` is
    /// [`ChecksumMode::Full`] or [`ChecksumMode::FullOrPartial`]. `packet` must be exactly [`buffer_len`](Self::buffer_len)
    /// bytes long (the checksum covers the whole buffer).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src: &IpAddr,
        dst: &IpAddr,
        checksum: ChecksumMode,
    ) {
        let hl = self.emit_header(packet);
        packet.buffer.as_mut()[hl..hl + self.payload.len()].copy_from_slice(self.payload);
        if checksum.computes() {
            packet.fill_checksum(src, dst);
        } else {
            packet.set_checksum(0);
        }
    }

    /// Write only header and options (checksum zero) and return the header length,
    /// for a payload already in place after it; finish with
    /// [`TcpPacket::fill_checksum`] on a view spanning header and payload.
    pub fn emit_header<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut TcpPacket<T>) -> usize {
        let syn = self.flags.syn();
        let hl = HEADER_LEN + options_len(&self.options, syn);
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq);
        packet.set_ack_number(self.ack);
        packet.set_header_len(hl as u8);
        packet.set_flags(self.flags);
        packet.set_window_len(self.window);
        packet.set_checksum(0);
        packet.set_urgent_at(self.urgent);
        emit_options(&self.options, syn, &mut packet.buffer.as_mut()[HEADER_LEN..hl]);
        hl
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipv4::chain::{self, L3, L4};
    use crate::ipv4::Packet as Ipv4Packet;
    use core::net::{Ipv4Addr, Ipv6Addr};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn v4(a: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, a))
    }

    /// (frame, TCP bytes) of every captured TCP segment.
    fn segments() -> Vec<(Vec<u8>, core::ops::Range<usize>)> {
        let mut v = vec![];
        for f in chain::frames() {
            if let Ok((_, L3::Ipv4(ip, L4::Tcp(_)))) = chain::parse(&f) {
                let start = 14 + 20;
                v.push((f.clone(), start..start + ip.payload_len));
            }
        }
        v
    }

    fn reprs(frames: &[(Vec<u8>, core::ops::Range<usize>)]) -> Vec<TcpRepr<'_>> {
        frames
            .iter()
            .map(|(f, r)| {
                TcpRepr::parse(&TcpPacket::new_checked(&f[r.clone()]).unwrap(), &v4(1), &v4(2), ChecksumMode::Ignore).unwrap()
            })
            .collect()
    }

    #[test]
    fn captured_syn_layouts() {
        let segs = segments();
        let rs = reprs(&segs);
        let syns: Vec<(usize, &TcpRepr)> = rs.iter().enumerate().filter(|(_, r)| r.flags.syn()).collect();
        // Four SYNs (defaults, no TS, no SACK, to a closed port) and three SYN-ACKs.
        assert_eq!(syns.len(), 7);
        let (i, syn) = syns[0];
        assert_eq!((syn.dst_port, syn.flags, syn.window, syn.ack), (5001, TcpFlags::SYN, 64240, 0));
        assert_eq!(syn.options.mss, Some(1460));
        assert_eq!(syn.options.window_scale, Some(10));
        assert!(syn.options.sack_permitted);
        assert_eq!(syn.options.timestamps.map(|t| t.1), Some(0));
        let raw = &segs[i].0[segs[i].1.clone()];
        // Linux: MSS, SACK_PERM, TS, NOP, WS (20 bytes).
        assert_eq!(&raw[20..24], &[2, 4, 0x05, 0xb4]);
        assert_eq!(&raw[24..28], &[4, 2, 8, 10]);
        assert_eq!(&raw[36..40], &[1, 3, 3, 10]);
        let synack = syns[1].1;
        assert_eq!(synack.flags, TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(synack.ack, syn.seq.wrapping_add(1));
        assert_eq!(synack.options.timestamps.map(|t| t.1), syn.options.timestamps.map(|t| t.0));
        // No timestamps: MSS NOP NOP SACK_PERM NOP WS.
        let (i, nots) = syns[2];
        assert_eq!(nots.options.timestamps, None);
        assert!(nots.options.sack_permitted);
        assert_eq!(&segs[i].0[segs[i].1.clone()][20..32], &[2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 3, 3, 10]);
        // No SACK: MSS NOP NOP TS NOP WS.
        let (i, nosack) = syns[4];
        assert!(!nosack.options.sack_permitted && nosack.options.timestamps.is_some());
        assert_eq!(&segs[i].0[segs[i].1.clone()][20..28], &[2, 4, 5, 0xb4, 1, 1, 8, 10]);
    }

    #[test]
    fn captured_data_fin_rst() {
        let segs = segments();
        let rs = reprs(&segs);
        // The first connection carries 3000 bytes from the client: (i*7+3) & 0xff.
        let client: Vec<u8> = rs
            .iter()
            .filter(|r| r.dst_port == 5001 && r.src_port == rs[0].src_port)
            .flat_map(|r| r.payload.iter().copied())
            .collect();
        assert_eq!(client.len(), 3000);
        assert!(client.iter().enumerate().all(|(i, &b)| b == ((i * 7 + 3) & 0xff) as u8));
        assert_eq!(rs.iter().filter(|r| r.payload.len() == 1448).count(), 2);
        // Non-SYN segments with timestamps: NOP NOP TS only.
        let data = rs.iter().find(|r| r.payload.len() == 1448).unwrap();
        assert_eq!(data.options.mss, None);
        assert!(data.options.timestamps.is_some());
        assert_eq!(data.header_len(), 32);
        assert_eq!(rs.iter().filter(|r| r.flags.fin()).count(), 6);
        let rst = rs.iter().find(|r| r.flags.rst()).unwrap();
        assert_eq!((rst.src_port, rst.flags, rst.window), (5009, TcpFlags::RST | TcpFlags::ACK, 0));
        let syn = rs.iter().find(|r| r.dst_port == 5009).unwrap();
        assert_eq!(rst.ack, syn.seq.wrapping_add(1));
    }

    #[test]
    fn captured_round_trip_v6_pseudo_header() {
        // Re-checksum a captured segment as if it crossed IPv6, round trip it.
        let segs = segments();
        let (f, r) = &segs[0];
        let (s6, d6) = (IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)), IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)));
        let mut b = f[r.clone()].to_vec();
        TcpPacket::new_unchecked(&mut b[..]).fill_checksum(&s6, &d6);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        let repr = TcpRepr::parse(&p, &s6, &d6, ChecksumMode::Full).unwrap();
        assert_eq!(TcpRepr::parse(&p, &v4(1), &v4(2), ChecksumMode::Full), Err(Error::BadChecksum));
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut TcpPacket::new_unchecked(&mut out[..]), &s6, &d6, ChecksumMode::Full);
        assert_eq!(out, b);
    }

    /// The TCP segments of testdata/v4-partial.pcap, sent by Linux with its default
    /// offloads on veth: (source, destination, segment bytes).
    fn partial_segments() -> Vec<(IpAddr, IpAddr, Vec<u8>)> {
        chain::partial_l4().into_iter().filter(|l| l.2 == protocol::TCP).map(|(s, d, _, b)| (s, d, b)).collect()
    }

    #[test]
    fn captured_partial_checksums_accepted_only_in_full_or_partial() {
        let segs = partial_segments();
        // SYN, ACK, 23 data bytes, FIN, ACK (capture-partial.sh).
        assert_eq!(segs.len(), 5);
        let mut data = 0;
        for (s, d, b) in &segs {
            let p = TcpPacket::new_checked(&b[..]).unwrap();
            // Linux's rule (__tcp_v4_send_check): the field is the folded,
            // non-complemented pseudo-header sum for this segment's length.
            let (IpAddr::V4(s4), IpAddr::V4(d4)) = (s, d) else { panic!("IPv4 capture") };
            assert_eq!(p.checksum(), checksum::pseudo_header_v4(s4, d4, protocol::TCP, b.len() as u32));
            assert!(p.checksum_is_partial(s, d));
            assert_eq!(p.verify_checksum_kind(s, d), ChecksumKind::Partial);
            assert!(!p.verify_checksum(s, d), "the full sum does not verify");
            assert_eq!(TcpRepr::parse(&p, s, d, ChecksumMode::Full), Err(Error::BadChecksum));
            let r = TcpRepr::parse(&p, s, d, ChecksumMode::FullOrPartial).unwrap();
            assert_eq!(Ok(r), TcpRepr::parse(&p, s, d, ChecksumMode::Ignore));
            data += r.payload.len();
            // Re-emitted under FullOrPartial: a full checksum, which Full accepts.
            let mut out = vec![0u8; r.buffer_len()];
            r.emit(&mut TcpPacket::new_unchecked(&mut out[..]), s, d, ChecksumMode::FullOrPartial);
            let q = TcpPacket::new_checked(&out[..]).unwrap();
            assert_eq!(q.verify_checksum_kind(s, d), ChecksumKind::Full);
            assert_eq!(TcpRepr::parse(&q, s, d, ChecksumMode::Full), Ok(r));
        }
        assert_eq!(data, 23);
        assert!(TcpRepr::parse(&TcpPacket::new_checked(&segs[0].2[..]).unwrap(), &segs[0].0, &segs[0].1, ChecksumMode::FullOrPartial).unwrap().flags.syn());
    }

    #[test]
    fn corrupted_partial_checksums_rejected_in_both_modes() {
        let (s, d, syn) = partial_segments().swap_remove(0);
        let data = partial_segments().into_iter().find(|x| x.2.len() == 32 + 23).unwrap().2;
        let both = |b: &[u8], s: &IpAddr, d: &IpAddr| {
            let p = TcpPacket::new_unchecked(b);
            (TcpRepr::parse(&p, s, d, ChecksumMode::Full).err(), TcpRepr::parse(&p, s, d, ChecksumMode::FullOrPartial).err())
        };
        let bad = (Some(Error::BadChecksum), Some(Error::BadChecksum));
        // A bit flipped in the checksum field itself.
        for bit in [0x0001u16, 0x0100, 0x8000] {
            let mut b = syn.clone();
            let c = u16::from_be_bytes([b[16], b[17]]) ^ bit;
            b[16..18].copy_from_slice(&c.to_be_bytes());
            assert_eq!(both(&b, &s, &d), bad, "field ^ {bit:#06x}");
        }
        // Delivered to another address, or from another one: the pseudo-header differs.
        let other = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 9));
        assert_eq!(both(&syn, &s, &other), bad);
        assert_eq!(both(&syn, &other, &d), bad);
        // A segment cut short (its length is in the pseudo-header).
        assert_eq!(both(&data[..data.len() - 1], &s, &d), bad);
        // The family must match too.
        let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        assert_eq!(TcpPacket::new_unchecked(&syn[..]).verify_checksum_kind(&v6, &v6), ChecksumKind::Bad);
        assert!(!TcpPacket::new_unchecked(&syn[..]).checksum_is_partial(&v6, &d));
        // What the partial form cannot catch, by construction: the bytes after the
        // pseudo-header are covered by no checksum. This is why the stack accepts
        // it only on veth (the sender's own buffer, no wire in between).
        let mut b = data.clone();
        *b.last_mut().unwrap() ^= 0x20;
        assert_eq!(both(&b, &s, &d).0, Some(Error::BadChecksum));
        assert!(TcpRepr::parse(&TcpPacket::new_unchecked(&b[..]), &s, &d, ChecksumMode::FullOrPartial).is_ok());
    }

    #[test]
    fn full_checksums_still_verify_in_full_or_partial() {
        // Every segment of the offloads-off capture: Full in both modes.
        for (f, r) in segments() {
            let p = TcpPacket::new_checked(&f[r.clone()]).unwrap();
            let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
            let (s, d) = (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr()));
            assert_eq!(p.verify_checksum_kind(&s, &d), ChecksumKind::Full);
            assert!(!p.checksum_is_partial(&s, &d));
            assert_eq!(TcpRepr::parse(&p, &s, &d, ChecksumMode::FullOrPartial), TcpRepr::parse(&p, &s, &d, ChecksumMode::Full));
        }
    }

    #[test]
    fn partial_form_over_ipv6_by_the_linux_rule() {
        // __tcp_v6_send_check: th->check = ~tcp_v6_check(len, saddr, daddr, 0). Built
        // here by that rule (no IPv6 capture with offloads): the field is the
        // pseudo-header sum of RFC 8200 §8.1.
        let (s6, d6) = (IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)), IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)));
        let mut b = segment_with_options(&[2, 4, 5, 0xa0]);
        let (IpAddr::V6(a), IpAddr::V6(z)) = (s6, d6) else { unreachable!() };
        let ph = checksum::pseudo_header_v6(&a, &z, protocol::TCP, b.len() as u32);
        TcpPacket::new_unchecked(&mut b[..]).set_checksum(ph);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.verify_checksum_kind(&s6, &d6), ChecksumKind::Partial);
        assert_eq!(TcpRepr::parse(&p, &s6, &d6, ChecksumMode::Full), Err(Error::BadChecksum));
        assert_eq!(TcpRepr::parse(&p, &s6, &d6, ChecksumMode::FullOrPartial).unwrap().options.mss, Some(1440));
        // The IPv4 pseudo-header sum in an IPv6 segment is not the partial form.
        assert_eq!(TcpRepr::parse(&p, &v4(1), &v4(2), ChecksumMode::FullOrPartial), Err(Error::BadChecksum));
    }

    fn segment_with_options(opts: &[u8]) -> Vec<u8> {
        let padded = (opts.len() + 3) & !3;
        let mut b = vec![0u8; 20 + padded + 3];
        let mut p = TcpPacket::new_unchecked(&mut b[..]);
        p.set_src_port(1000);
        p.set_dst_port(2000);
        p.set_header_len((20 + padded) as u8);
        p.set_flags(TcpFlags::SYN);
        p.options_mut()[..opts.len()].copy_from_slice(opts);
        p.payload_mut().copy_from_slice(b"abc");
        p.fill_checksum(&v4(1), &v4(2));
        b
    }

    fn parse(b: &[u8]) -> Result<TcpRepr<'_>> {
        TcpRepr::parse(&TcpPacket::new_unchecked(b), &v4(1), &v4(2), ChecksumMode::Full)
    }

    #[test]
    fn data_offset() {
        let good = segment_with_options(&[]);
        assert_eq!(parse(&good).unwrap().payload, b"abc");
        for off in 0..5u8 {
            let mut b = good.clone();
            b[12] = off << 4;
            assert_eq!(parse(&b), Err(Error::BadLength), "offset {off}");
        }
        let mut b = good.clone();
        b[12] = 6 << 4; // 24 > 23 bytes
        assert_eq!(parse(&b), Err(Error::Truncated));
        for len in 0..20 {
            assert_eq!(parse(&good[..len]), Err(Error::Truncated));
        }
    }

    #[test]
    fn bad_option_lengths() {
        // Length 0 and 1 (would loop forever or step backwards if trusted).
        assert_eq!(parse(&segment_with_options(&[2, 0, 0, 0])), Err(Error::Malformed));
        assert_eq!(parse(&segment_with_options(&[99, 1, 0, 0])), Err(Error::Malformed));
        // Overflows the options area.
        assert_eq!(parse(&segment_with_options(&[1, 1, 99, 12])), Err(Error::Malformed));
        // Kind without a length byte at the end of the area.
        assert_eq!(parse(&segment_with_options(&[1, 1, 1, 8])), Err(Error::Malformed));
        // Known kinds with wrong lengths.
        assert_eq!(parse(&segment_with_options(&[2, 3, 0, 1])), Err(Error::Malformed));
        assert_eq!(parse(&segment_with_options(&[3, 4, 7, 1])), Err(Error::Malformed));
        assert_eq!(parse(&segment_with_options(&[4, 3, 0, 1])), Err(Error::Malformed));
        assert_eq!(parse(&segment_with_options(&[5, 2, 1, 1])), Err(Error::Malformed));
        assert_eq!(parse(&segment_with_options(&[5, 6, 0, 0, 0, 0, 1, 1])), Err(Error::Malformed));
        assert_eq!(parse(&segment_with_options(&[8, 8, 0, 0, 0, 0, 0, 0])), Err(Error::Malformed));
        assert_eq!(parse(&segment_with_options(&[28, 3, 0, 1])), Err(Error::Malformed));
        assert_eq!(parse(&segment_with_options(&[28, 2, 1, 1])), Err(Error::Malformed));
        assert_eq!(parse(&segment_with_options(&[28, 6, 0, 0, 0, 0, 1, 1])), Err(Error::Malformed));
        // Unknown kinds are skipped by their length; EOL ends the list.
        let b = segment_with_options(&[30, 4, 0xaa, 0xbb, 2, 4, 1, 0, 0, 2, 4, 0]);
        let r = parse(&b).unwrap();
        assert_eq!(r.options.mss, Some(256));
        // Bad checksum.
        let mut b = segment_with_options(&[]);
        b[21] ^= 1;
        assert_eq!(parse(&b), Err(Error::BadChecksum));
        // Zero ports.
        let mut b = segment_with_options(&[]);
        b[0..2].fill(0);
        assert_eq!(TcpRepr::parse(&TcpPacket::new_unchecked(&b[..]), &v4(1), &v4(2), ChecksumMode::Ignore), Err(Error::Malformed));
    }

    #[test]
    fn option_iter_yields_all() {
        let opts = [2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 7, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 0, 9];
        let v: Vec<_> = TcpOptionIter::new(&opts).collect();
        let mut sack = SackBlocks::default();
        sack.push(1, 2);
        assert_eq!(
            v,
            [
                Ok(TcpOption::Mss(1460)),
                Ok(TcpOption::SackPermitted),
                Ok(TcpOption::Timestamps(1, 2)),
                Ok(TcpOption::NoOperation),
                Ok(TcpOption::WindowScale(7)),
                Ok(TcpOption::Sack(sack)),
                Ok(TcpOption::EndOfList),
            ]
        );
    }

    #[test]
    fn linux_layouts() {
        let mut o = TcpOptions { mss: Some(1460), window_scale: Some(7), sack_permitted: true, timestamps: Some((1, 0)), ..Default::default() };
        let mut buf = [0u8; 40];
        let n = emit_options(&o, true, &mut buf);
        assert_eq!(&buf[..n], &[2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]);
        assert_eq!(options_len(&o, true), 20);
        // Non-SYN: only TS, then SACK blocks after it.
        o.sack.push(10, 20);
        o.sack.push(30, 40);
        let n = emit_options(&o, false, &mut buf);
        assert_eq!(n, 12 + 4 + 16);
        assert_eq!(&buf[..4], &[1, 1, 8, 10]);
        assert_eq!(&buf[12..16], &[1, 1, 5, 18]);
        // Four blocks with TS: only three fit.
        o.sack.push(50, 60);
        o.sack.push(70, 80);
        assert_eq!(options_len(&o, false), 40);
        o.timestamps = None;
        assert_eq!(options_len(&o, false), 36);
        // Nothing: no options.
        assert_eq!(options_len(&TcpOptions::default(), true), 0);
        // MSS only on SYN.
        let m = TcpOptions { mss: Some(536), ..Default::default() };
        assert_eq!((options_len(&m, true), options_len(&m, false)), (4, 0));
    }

    /// RFC 5482 §3: kind 28, length 4, G bit (minutes) and 15 bits of timeout.
    #[test]
    fn user_timeout_option_round_trip() {
        use core::time::Duration;
        // Seconds (G = 0) and minutes (G = 1), on a SYN and on a data segment.
        for (raw, d) in [(200u16, 200u64), (0x7fff, 32767), (0x8000 | 600, 36000), (0xffff, 60 * 32767), (0, 0)] {
            assert_eq!(user_timeout_from_raw(raw), Duration::from_secs(d));
            for syn in [true, false] {
                let o = TcpOptions { mss: syn.then_some(1460), timestamps: Some((1, 2)), user_timeout: Some(raw), ..Default::default() };
                let r = TcpRepr { src_port: 1, dst_port: 2, seq: 3, ack: 4, flags: if syn { TcpFlags::SYN } else { TcpFlags::ACK }, window: 5, urgent: 0, options: o, payload: b"z" };
                let mut buf = vec![0u8; r.buffer_len()];
                r.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), &v4(1), &v4(2), ChecksumMode::Full);
                let u = raw.to_be_bytes();
                let at = if syn { 20 + 4 + 12 } else { 20 + 12 };
                assert_eq!(&buf[at..at + 4], &[28, 4, u[0], u[1]], "UTO after TS in Linux's layout");
                assert_eq!(r.header_len(), at + 4);
                assert_eq!(parse(&buf), Ok(r));
            }
        }
        // Raw bytes as another stack may lay them out: last option, minutes.
        let b = segment_with_options(&[2, 4, 5, 0xb4, 28, 4, 0x80, 0x0a]);
        let r = parse(&b).unwrap();
        assert_eq!((r.options.mss, r.options.user_timeout), (Some(1460), Some(0x800a)));
        assert_eq!(user_timeout_from_raw(0x800a), Duration::from_secs(600));
        // Encoding: seconds up to 32,767 s, minutes (rounded up) above, capped.
        assert_eq!(user_timeout_to_raw(Duration::from_secs(200)), 200);
        assert_eq!(user_timeout_to_raw(Duration::from_millis(1500)), 2);
        assert_eq!(user_timeout_to_raw(Duration::from_secs(32767)), 0x7fff);
        assert_eq!(user_timeout_to_raw(Duration::from_secs(32768)), 0x8000 | 547);
        assert_eq!(user_timeout_to_raw(Duration::from_secs(24 * 86400)), 0xffff);
        assert_eq!(TcpOptionIter::new(&[28, 4, 0x80, 1]).next(), Some(Ok(TcpOption::UserTimeout(0x8001))));
    }

    /// The fuzz input of issue 13 (`fuzz_targets/tcp.rs` format: an even first byte,
    /// then two IPv4 addresses, then the segment): a SYN whose 40 option bytes are
    /// MSS, SACK-permitted and 4 SACK blocks, packed without NOPs. It parses with 4
    /// blocks; emit must write all 4 back (not 3 in Linux's NOP-aligned layout).
    #[test]
    fn packed_syn_options_round_trip() {
        let hex = "0000000002d000fa00a9f041f60108040200021a00fafffff041f601080402052200d04100460108200000c6\
                   120012faf0de3312230000050204b4010101020000020405b4010109180403030a000000a002fa05121208d0\
                   41de320101d4";
        let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        let src = IpAddr::V4(Ipv4Addr::new(bytes[1], bytes[2], bytes[3], bytes[4]));
        let dst = IpAddr::V4(Ipv4Addr::new(bytes[5], bytes[6], bytes[7], bytes[8]));
        let p = TcpPacket::new_checked(&bytes[9..]).unwrap();
        let r = TcpRepr::parse(&p, &src, &dst, ChecksumMode::Ignore).unwrap();
        assert!(r.flags.syn() && r.options.mss.is_some() && r.options.sack_permitted);
        assert_eq!(r.options.sack.as_slice().len(), 4);
        assert_eq!(r.options.as_emitted(true), r.options, "a parsed option set is emitted whole");
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), &src, &dst, ChecksumMode::Full);
        let p2 = TcpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(p2.header_len() as usize, r.header_len());
        assert_eq!(r.header_len(), 60);
        assert_eq!(TcpRepr::parse(&p2, &src, &dst, ChecksumMode::Full), Ok(r));
    }

    /// When the options cannot fit in 40 bytes in any layout (only a hand-built set
    /// can be that large: MSS, window scale, timestamps, SACK-permitted and 4 SACK
    /// blocks need 53), emit drops SACK blocks from the end, `header_len` says what
    /// it writes and `as_emitted` says what the receiver parses.
    #[test]
    fn oversized_options_drop_trailing_sack_blocks() {
        let mut o = TcpOptions { mss: Some(1460), window_scale: Some(7), sack_permitted: true, timestamps: Some((5, 6)), ..Default::default() };
        for i in 0..4 {
            o.sack.push(100 * i, 100 * i + 50);
        }
        let e = o.as_emitted(true);
        assert_eq!(e.sack.as_slice(), &[(0, 50), (100, 150)]);
        assert_eq!((e.mss, e.window_scale, e.sack_permitted, e.timestamps), (o.mss, o.window_scale, true, o.timestamps));
        let r = TcpRepr { src_port: 1, dst_port: 2, seq: 3, ack: 4, flags: TcpFlags::SYN, window: 5, urgent: 0, options: o, payload: b"xy" };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), &v4(1), &v4(2), ChecksumMode::Full);
        let back = parse(&buf).unwrap();
        assert_eq!(back.options, e);
        assert_eq!(r.header_len(), 60);
        // Without SYN, MSS / window scale / SACK-permitted are not written: TS and
        // 3 blocks fit in Linux's layout, the fourth does not fit in any.
        let e = o.as_emitted(false);
        assert_eq!((e.mss, e.window_scale, e.sack_permitted, e.sack.as_slice().len()), (None, None, false, 3));
        // The User Timeout Option ranks above SACK blocks: one more block goes.
        o.user_timeout = Some(0x8001);
        let e = o.as_emitted(true);
        assert_eq!((e.sack.as_slice().len(), e.user_timeout), (1, Some(0x8001)));
        let r = TcpRepr { options: o, ..r };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), &v4(1), &v4(2), ChecksumMode::Full);
        assert_eq!(parse(&buf).unwrap().options, e);
        assert_eq!(o.as_emitted(false).sack.as_slice().len(), 3, "TS, UTO and 3 blocks fit packed");
    }

    fn arb_options(syn: bool) -> impl Strategy<Value = TcpOptions> {
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u8>()),
            any::<bool>(),
            proptest::option::of((any::<u32>(), any::<u32>())),
            proptest::collection::vec((any::<u32>(), any::<u32>()), 0..5),
            proptest::option::of(any::<u16>()),
        )
            .prop_map(move |(mss, ws, sp, ts, blocks, uto)| {
                let mut o = TcpOptions { timestamps: ts, user_timeout: uto, ..Default::default() };
                if syn {
                    o.mss = mss;
                    o.window_scale = ws;
                    o.sack_permitted = sp;
                }
                for (l, r) in blocks {
                    o.sack.push(l, r);
                }
                // Keep only the blocks emit can fit, so parse sees the same set.
                o.as_emitted(syn)
            })
    }

    fn arb_repr(payload: &'static [u8]) -> impl Strategy<Value = TcpRepr<'static>> {
        (any::<bool>(), 1u16.., 1u16.., any::<u32>(), any::<u32>(), any::<u8>(), any::<u16>(), any::<u16>())
            .prop_flat_map(move |(syn, sp, dp, seq, ack, flags, window, urgent)| {
                let flags = if syn { TcpFlags(flags | 0x02) } else { TcpFlags(flags & !0x02) };
                arb_options(syn).prop_map(move |options| TcpRepr {
                    src_port: sp,
                    dst_port: dp,
                    seq,
                    ack,
                    flags,
                    window,
                    urgent,
                    options,
                    payload,
                })
            })
    }

    fn arb_addrs() -> impl Strategy<Value = (IpAddr, IpAddr)> {
        prop_oneof![
            (any::<u32>(), any::<u32>()).prop_map(|(a, b)| (IpAddr::V4(a.into()), IpAddr::V4(b.into()))),
            (any::<u128>(), any::<u128>()).prop_map(|(a, b)| (IpAddr::V6(a.into()), IpAddr::V6(b.into()))),
        ]
    }

    proptest! {
        #[test]
        fn emit_parse_identity(
            r in proptest::collection::vec(any::<u8>(), 0..200)
                .prop_flat_map(|p| arb_repr(std::boxed::Box::leak(p.into_boxed_slice()))),
            (s, d) in arb_addrs(),
        ) {
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), &s, &d, ChecksumMode::Full);
            let p = TcpPacket::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(p.header_len() as usize, r.header_len());
            prop_assert_eq!(TcpRepr::parse(&p, &s, &d, ChecksumMode::Full), Ok(r));
        }

        /// The fuzz target's property: whatever parses (valid options in any order
        /// and any layout that fits 40 bytes) is emitted so that it parses the same.
        #[test]
        fn parsed_options_round_trip(
            syn in any::<bool>(),
            items in proptest::collection::vec((0u8..8, any::<u32>(), any::<u32>(), 1usize..5), 0..12),
            (s, d) in arb_addrs(),
        ) {
            let mut opts: Vec<u8> = Vec::new();
            for (kind, a, b, n) in items {
                let o: Vec<u8> = match kind {
                    0 => vec![2, 4, a as u8, b as u8],
                    1 => vec![3, 3, a as u8],
                    2 => vec![4, 2],
                    3 => { let mut t = vec![8, 10]; t.extend(a.to_be_bytes()); t.extend(b.to_be_bytes()); t }
                    4 => {
                        let mut t = vec![5, (2 + 8 * n) as u8];
                        for i in 0..n as u32 { t.extend(a.wrapping_add(i).to_be_bytes()); t.extend(b.wrapping_add(i).to_be_bytes()); }
                        t
                    }
                    5 => vec![1],
                    6 => vec![28, 4, a as u8, b as u8],
                    _ => vec![99, 3, a as u8],
                };
                if opts.len() + o.len() <= MAX_OPTIONS_LEN {
                    opts.extend(o);
                }
            }
            while !opts.len().is_multiple_of(4) {
                opts.push(0);
            }
            let mut b = vec![0u8; HEADER_LEN + opts.len()];
            b[20..].copy_from_slice(&opts);
            let mut p = TcpPacket::new_unchecked(&mut b[..]);
            p.set_src_port(1);
            p.set_dst_port(2);
            p.set_header_len((HEADER_LEN + opts.len()) as u8);
            p.set_flags(if syn { TcpFlags::SYN } else { TcpFlags::ACK });
            p.fill_checksum(&s, &d);
            let r = TcpRepr::parse(&TcpPacket::new_unchecked(&b[..]), &s, &d, ChecksumMode::Full).unwrap();
            prop_assert_eq!(r.options.as_emitted(syn), r.options);
            let mut out = vec![0u8; r.buffer_len()];
            r.emit(&mut TcpPacket::new_unchecked(&mut out[..]), &s, &d, ChecksumMode::Full);
            prop_assert_eq!(TcpRepr::parse(&TcpPacket::new_unchecked(&out[..]), &s, &d, ChecksumMode::Full), Ok(r));
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100), (s, d) in arb_addrs()) {
            for mode in [ChecksumMode::Full, ChecksumMode::FullOrPartial, ChecksumMode::Ignore] {
                let _ = TcpRepr::parse(&TcpPacket::new_unchecked(&bytes[..]), &s, &d, mode);
            }
            for _ in TcpOptionIter::new(&bytes) {}
        }

        #[test]
        fn options_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 20..80), opts in proptest::collection::vec(0u8..12, 0..40)) {
            // Header-shaped input with option-like bytes: exercise the option walker.
            let n = opts.len().min(bytes.len() - 20) & !3;
            bytes[20..20 + n].copy_from_slice(&opts[..n]);
            bytes[12] = (((20 + n) / 4) as u8) << 4;
            bytes[0] = 1;
            bytes[2] = 1;
            let _ = TcpRepr::parse(&TcpPacket::new_unchecked(&bytes[..]), &IpAddr::V4(0.into()), &IpAddr::V4(0.into()), ChecksumMode::Ignore);
        }
    }
}
