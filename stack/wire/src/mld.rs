//! Multicast Listener Discovery: the MLDv2 report with its multicast address
//! records (RFC 3810 §5.2), queries of both versions (RFC 2710 §3, RFC 3810
//! §5.1), and the MLDv1 report and done messages (RFC 2710 §3).
//!
//! Nothing allocates: records and source lists are borrowed, either as wire bytes
//! (after parse) or as slices of reprs (to emit), behind [`Records`] and
//! [`Sources`].
//!
//! Checks left to the proto layer (RFC 3810 §5.1.14, §5.2.13, §6.2, §7.4): hop
//! limit 1, a hop-by-hop router alert (see [`crate::ipv6ext::Chain::router_alert`]),
//! and a link-local source for queries.

use core::net::Ipv6Addr;

use crate::icmpv6::{self, message};
use crate::{Error, Result};

mod field {
    // Query (RFC 3810 §5.1) and MLDv1 messages (RFC 2710 §3).
    pub const MAX_RESP_CODE: usize = 4;
    pub const MCAST_ADDR: usize = 8;
    pub const V1_LEN: usize = 24;
    pub const QUERY_SQRV: usize = 24;
    pub const QUERY_QQIC: usize = 25;
    pub const QUERY_NUM_SOURCES: usize = 26;
    pub const QUERY_SOURCES: usize = 28;
    // Report (RFC 3810 §5.2).
    pub const REPORT_NUM_RECORDS: usize = 6;
    pub const REPORT_RECORDS: usize = 8;
    // Multicast address record (RFC 3810 §5.2.4).
    pub const REC_TYPE: usize = 0;
    pub const REC_AUX_LEN: usize = 1;
    pub const REC_NUM_SOURCES: usize = 2;
    pub const REC_MCAST_ADDR: core::ops::Range<usize> = 4..20;
    pub const REC_SOURCES: usize = 20;
}

/// Length of an MLDv1 message and of a query without sources' v2 part (24).
pub const V1_LEN: usize = field::V1_LEN;
/// Minimum length of an MLDv2 query (RFC 3810 §5.1).
pub const V2_QUERY_MIN_LEN: usize = field::QUERY_SOURCES;
/// Length of a multicast address record without sources or aux data.
pub const RECORD_HEADER_LEN: usize = field::REC_SOURCES;

/// Multicast address record types (RFC 3810 §5.2.12).
pub mod record_type {
    /// Current state: INCLUDE mode.
    pub const MODE_IS_INCLUDE: u8 = 1;
    /// Current state: EXCLUDE mode.
    pub const MODE_IS_EXCLUDE: u8 = 2;
    /// Filter mode change to INCLUDE.
    pub const CHANGE_TO_INCLUDE: u8 = 3;
    /// Filter mode change to EXCLUDE (a join in ASM terms).
    pub const CHANGE_TO_EXCLUDE: u8 = 4;
    /// Source list change: allow new sources.
    pub const ALLOW_NEW_SOURCES: u8 = 5;
    /// Source list change: block old sources.
    pub const BLOCK_OLD_SOURCES: u8 = 6;
}

/// Decode a Maximum Response Code into milliseconds (RFC 3810 §5.1.3): below
/// 32768 it is the value; above, a 3-bit exponent and 12-bit mantissa.
pub const fn max_resp_delay_ms(code: u16) -> u32 {
    if code < 0x8000 {
        code as u32
    } else {
        let exp = (code >> 12) & 0x7;
        let mant = (code & 0x0fff) as u32;
        (mant | 0x1000) << (exp + 3)
    }
}

/// Decode a Querier's Query Interval Code into seconds (RFC 3810 §5.1.9).
pub const fn qqi_seconds(qqic: u8) -> u32 {
    if qqic < 0x80 {
        qqic as u32
    } else {
        let exp = (qqic >> 4) & 0x7;
        let mant = (qqic & 0x0f) as u32;
        (mant | 0x10) << (exp + 3)
    }
}

// ---------------------------------------------------------------------------
// Source lists

/// A list of IPv6 source addresses: borrowed wire bytes (16 per address) or a
/// slice of addresses to emit. Equality compares the addresses.
#[derive(Debug, Clone, Copy)]
pub enum Sources<'a> {
    /// Wire bytes; the length is a multiple of 16.
    Wire(&'a [u8]),
    /// Addresses given by the caller.
    Slice(&'a [Ipv6Addr]),
}

impl<'a> Sources<'a> {
    /// No sources.
    pub const EMPTY: Sources<'static> = Sources::Slice(&[]);

    /// Number of addresses.
    pub fn len(&self) -> usize {
        match self {
            Sources::Wire(b) => b.len() / 16,
            Sources::Slice(s) => s.len(),
        }
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The addresses.
    pub fn iter(&self) -> SourcesIter<'a> {
        SourcesIter { sources: *self, pos: 0 }
    }

    fn emit(&self, buf: &mut [u8]) {
        for (i, a) in self.iter().enumerate() {
            buf[16 * i..16 * i + 16].copy_from_slice(&a.octets());
        }
    }
}

impl PartialEq for Sources<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Sources<'_> {}

/// Iterator over [`Sources`].
#[derive(Debug, Clone)]
pub struct SourcesIter<'a> {
    sources: Sources<'a>,
    pos: usize,
}

impl Iterator for SourcesIter<'_> {
    type Item = Ipv6Addr;

    fn next(&mut self) -> Option<Ipv6Addr> {
        let a = match self.sources {
            Sources::Wire(b) => {
                let o: [u8; 16] = b.get(16 * self.pos..16 * self.pos + 16)?.try_into().ok()?;
                Ipv6Addr::from(o)
            }
            Sources::Slice(s) => *s.get(self.pos)?,
        };
        self.pos += 1;
        Some(a)
    }
}

// ---------------------------------------------------------------------------
// Multicast address records (RFC 3810 §5.2.4)

/// A view of one multicast address record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressRecord<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> AddressRecord<T> {
    /// Wrap a buffer without checks.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        AddressRecord { buffer }
    }

    /// Wrap a buffer and [`check_len`](Self::check_len) it.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let r = Self::new_unchecked(buffer);
        r.check_len()?;
        Ok(r)
    }

    /// `Truncated` unless the buffer holds the record header, its sources and its
    /// auxiliary data. The buffer may continue with further records.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < RECORD_HEADER_LEN || len < self.record_len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The record type ([`record_type`]).
    #[inline]
    pub fn record_type(&self) -> u8 {
        self.buffer.as_ref()[field::REC_TYPE]
    }

    /// Auxiliary data length in 32-bit words.
    #[inline]
    pub fn aux_data_len(&self) -> u8 {
        self.buffer.as_ref()[field::REC_AUX_LEN]
    }

    /// Number of sources.
    #[inline]
    pub fn num_sources(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::REC_NUM_SOURCES], b[field::REC_NUM_SOURCES + 1]])
    }

    /// The multicast address.
    #[inline]
    pub fn mcast_addr(&self) -> Ipv6Addr {
        let o: [u8; 16] = self.buffer.as_ref()[field::REC_MCAST_ADDR].try_into().unwrap_or([0; 16]);
        Ipv6Addr::from(o)
    }

    /// The record's length: 20 + 16 × sources + 4 × aux words.
    #[inline]
    pub fn record_len(&self) -> usize {
        RECORD_HEADER_LEN + 16 * usize::from(self.num_sources()) + 4 * usize::from(self.aux_data_len())
    }

    /// The source addresses (wire bytes).
    #[inline]
    pub fn sources_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[field::REC_SOURCES..field::REC_SOURCES + 16 * usize::from(self.num_sources())]
    }

    /// The auxiliary data.
    #[inline]
    pub fn aux_data(&self) -> &[u8] {
        let start = field::REC_SOURCES + 16 * usize::from(self.num_sources());
        &self.buffer.as_ref()[start..self.record_len()]
    }
}

/// A multicast address record (RFC 3810 §5.2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRecordRepr<'a> {
    /// Record type ([`record_type`]).
    pub record_type: u8,
    /// The multicast address.
    pub mcast_addr: Ipv6Addr,
    /// Source addresses (at most 65535).
    pub sources: Sources<'a>,
    /// Auxiliary data; length a multiple of 4, at most 1020 bytes (RFC 3810
    /// §5.2.6: MLDv2 defines none, receivers ignore it).
    pub aux_data: &'a [u8],
}

impl<'a> AddressRecordRepr<'a> {
    /// Parse a record.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(rec: &AddressRecord<&'a T>) -> Result<Self> {
        rec.check_len()?;
        let b: &'a [u8] = rec.buffer.as_ref();
        let s = field::REC_SOURCES + 16 * usize::from(rec.num_sources());
        Ok(AddressRecordRepr {
            record_type: rec.record_type(),
            mcast_addr: rec.mcast_addr(),
            sources: Sources::Wire(&b[field::REC_SOURCES..s]),
            aux_data: &b[s..rec.record_len()],
        })
    }

    /// The record's length in bytes.
    pub fn buffer_len(&self) -> usize {
        RECORD_HEADER_LEN + 16 * self.sources.len() + self.aux_data.len().div_ceil(4) * 4
    }

    /// Write the record at the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        let len = self.buffer_len();
        let b = &mut buf[..len];
        b[field::REC_TYPE] = self.record_type;
        b[field::REC_AUX_LEN] = (self.aux_data.len().div_ceil(4)) as u8;
        b[field::REC_NUM_SOURCES..field::REC_NUM_SOURCES + 2].copy_from_slice(&(self.sources.len() as u16).to_be_bytes());
        b[field::REC_MCAST_ADDR].copy_from_slice(&self.mcast_addr.octets());
        self.sources.emit(&mut b[field::REC_SOURCES..]);
        let aux = field::REC_SOURCES + 16 * self.sources.len();
        b[aux..aux + self.aux_data.len()].copy_from_slice(self.aux_data);
        b[aux + self.aux_data.len()..].fill(0);
    }
}

/// The records of an MLDv2 report: validated wire bytes with a count, or a slice
/// of reprs to emit. Equality compares the records.
#[derive(Debug, Clone, Copy)]
pub enum Records<'a> {
    /// Wire bytes holding `count` well-formed records.
    Wire {
        /// The bytes from the first record on.
        bytes: &'a [u8],
        /// The number of records.
        count: u16,
    },
    /// Records given by the caller.
    Slice(&'a [AddressRecordRepr<'a>]),
}

impl<'a> Records<'a> {
    /// Number of records.
    pub fn len(&self) -> usize {
        match self {
            Records::Wire { count, .. } => usize::from(*count),
            Records::Slice(s) => s.len(),
        }
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The records.
    pub fn iter(&self) -> RecordsIter<'a> {
        RecordsIter { records: *self, pos: 0, offset: 0 }
    }

    /// Check that `bytes` holds `count` records; returns the bytes they span.
    fn validate(bytes: &[u8], count: u16) -> Result<usize> {
        let mut off = 0;
        for _ in 0..count {
            let r = AddressRecord::new_checked(bytes.get(off..).ok_or(Error::Truncated)?)?;
            off += r.record_len();
        }
        Ok(off)
    }
}

impl PartialEq for Records<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Records<'_> {}

/// Iterator over [`Records`]. For wire bytes that were not validated (a `Records`
/// built by hand), it stops at the first record that does not fit.
#[derive(Debug, Clone)]
pub struct RecordsIter<'a> {
    records: Records<'a>,
    pos: usize,
    offset: usize,
}

impl<'a> Iterator for RecordsIter<'a> {
    type Item = AddressRecordRepr<'a>;

    fn next(&mut self) -> Option<AddressRecordRepr<'a>> {
        if self.pos >= self.records.len() {
            return None;
        }
        let r = match self.records {
            Records::Wire { bytes, .. } => {
                let rec = AddressRecord::new_checked(bytes.get(self.offset..)?).ok()?;
                self.offset += rec.record_len();
                AddressRecordRepr::parse(&rec).ok()?
            }
            Records::Slice(s) => *s.get(self.pos)?,
        };
        self.pos += 1;
        Some(r)
    }
}

// ---------------------------------------------------------------------------
// Messages

/// The MLD-specific fields of an ICMPv6 message. Meaningful for the matching
/// message type; a field beyond the buffer reads as 0 (never panics).
impl<T: AsRef<[u8]>> icmpv6::Packet<T> {
    /// Query: Maximum Response Code (RFC 3810 §5.1.3); MLDv1: maximum response
    /// delay in milliseconds.
    #[inline]
    pub fn max_resp_code(&self) -> u16 {
        self.u16_at(field::MAX_RESP_CODE)
    }

    /// Query and MLDv1 messages: the multicast address.
    #[inline]
    pub fn mcast_addr(&self) -> Ipv6Addr {
        self.addr_at(field::MCAST_ADDR)
    }

    /// MLDv2 query: S flag (suppress router-side processing, RFC 3810 §5.1.7).
    #[inline]
    pub fn query_s_flag(&self) -> bool {
        self.byte_at(field::QUERY_SQRV) & 0x08 != 0
    }

    /// MLDv2 query: Querier's Robustness Variable (RFC 3810 §5.1.8).
    #[inline]
    pub fn query_qrv(&self) -> u8 {
        self.byte_at(field::QUERY_SQRV) & 0x07
    }

    /// MLDv2 query: Querier's Query Interval Code (RFC 3810 §5.1.9).
    #[inline]
    pub fn query_qqic(&self) -> u8 {
        self.byte_at(field::QUERY_QQIC)
    }

    /// MLDv2 query: number of sources.
    #[inline]
    pub fn query_num_sources(&self) -> u16 {
        self.u16_at(field::QUERY_NUM_SOURCES)
    }

    /// MLDv2 report: number of multicast address records.
    #[inline]
    pub fn num_records(&self) -> u16 {
        self.u16_at(field::REPORT_NUM_RECORDS)
    }

    /// MLDv2 report: the records' bytes (empty if the buffer is short).
    #[inline]
    pub fn records_bytes(&self) -> &[u8] {
        self.bytes().get(field::REPORT_RECORDS..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> icmpv6::Packet<T> {
    /// Set the Maximum Response Code.
    #[inline]
    pub fn set_max_resp_code(&mut self, v: u16) {
        self.set_u16_at(field::MAX_RESP_CODE, v);
    }

    /// Set the multicast address (query, MLDv1).
    #[inline]
    pub fn set_mcast_addr(&mut self, a: Ipv6Addr) {
        self.set_addr_at(field::MCAST_ADDR, &a);
    }

    /// Set the number of records (MLDv2 report).
    #[inline]
    pub fn set_num_records(&mut self, n: u16) {
        self.set_u16_at(field::REPORT_NUM_RECORDS, n);
    }
}

/// The MLDv2 part of a query (RFC 3810 §5.1.7–§5.1.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryV2<'a> {
    /// S flag: suppress router-side processing.
    pub s_flag: bool,
    /// Querier's robustness variable (3 bits).
    pub qrv: u8,
    /// Querier's query interval code ([`qqi_seconds`]).
    pub qqic: u8,
    /// Sources of a multicast-address-and-source-specific query.
    pub sources: Sources<'a>,
}

/// A validated MLD message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MldRepr<'a> {
    /// Multicast Listener Query (type 130), MLDv1 (24 bytes) or MLDv2 (≥ 28).
    Query {
        /// Maximum Response Code ([`max_resp_delay_ms`]; MLDv1: milliseconds).
        max_resp_code: u16,
        /// `::` for a general query, else the group queried.
        mcast_addr: Ipv6Addr,
        /// The MLDv2 fields, `None` for an MLDv1 query.
        v2: Option<QueryV2<'a>>,
    },
    /// MLDv1 Multicast Listener Report (type 131, RFC 2710 §3).
    ReportV1 {
        /// The group joined.
        mcast_addr: Ipv6Addr,
    },
    /// MLDv1 Multicast Listener Done (type 132, RFC 2710 §3).
    Done {
        /// The group left.
        mcast_addr: Ipv6Addr,
    },
    /// Version 2 Multicast Listener Report (type 143, RFC 3810 §5.2).
    Report {
        /// The multicast address records.
        records: Records<'a>,
    },
}

impl<'a> MldRepr<'a> {
    /// Parse an MLD message (the checksum is [`crate::icmpv6::Icmpv6Repr::parse`]'s).
    ///
    /// Errors: `Unsupported` for a non-MLD type; `Truncated` for a message
    /// shorter than 24 bytes (8 for a report), or sources/records past the end;
    /// `Malformed` for a query of 25–27 bytes (RFC 3810 §8.1) and for a multicast
    /// address field that is neither `::` (general query) nor multicast.
    /// Codes and reserved fields are ignored (RFC 3810 §5.1.2, §5.2.2).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &icmpv6::Packet<&'a T>) -> Result<MldRepr<'a>> {
        packet.check_len()?;
        let bytes = packet.bytes_ref();
        let ty = packet.msg_type();
        match ty {
            message::MLDV2_REPORT => {
                let count = packet.num_records();
                let recs = &bytes[field::REPORT_RECORDS..];
                let used = Records::validate(recs, count)?;
                Ok(MldRepr::Report { records: Records::Wire { bytes: &recs[..used], count } })
            }
            message::MLD_QUERY | message::MLD_REPORT | message::MLD_DONE => {
                if bytes.len() < V1_LEN {
                    return Err(Error::Truncated);
                }
                let mcast_addr = packet.mcast_addr();
                let general = ty == message::MLD_QUERY && mcast_addr.is_unspecified();
                if !mcast_addr.is_multicast() && !general {
                    return Err(Error::Malformed);
                }
                match ty {
                    message::MLD_REPORT => Ok(MldRepr::ReportV1 { mcast_addr }),
                    message::MLD_DONE => Ok(MldRepr::Done { mcast_addr }),
                    _ => {
                        let max_resp_code = packet.max_resp_code();
                        // RFC 3810 §8.1: 24 bytes is MLDv1, ≥ 28 MLDv2, else invalid.
                        let v2 = match bytes.len() {
                            V1_LEN => None,
                            25..=27 => return Err(Error::Malformed),
                            _ => {
                                let n = usize::from(packet.query_num_sources());
                                let end = field::QUERY_SOURCES + 16 * n;
                                let srcs = bytes.get(field::QUERY_SOURCES..end).ok_or(Error::Truncated)?;
                                Some(QueryV2 {
                                    s_flag: packet.query_s_flag(),
                                    qrv: packet.query_qrv(),
                                    qqic: packet.query_qqic(),
                                    sources: Sources::Wire(srcs),
                                })
                            }
                        };
                        Ok(MldRepr::Query { max_resp_code, mcast_addr, v2 })
                    }
                }
            }
            _ => Err(Error::Unsupported),
        }
    }

    /// The ICMPv6 message type.
    pub const fn msg_type(&self) -> u8 {
        match self {
            MldRepr::Query { .. } => message::MLD_QUERY,
            MldRepr::ReportV1 { .. } => message::MLD_REPORT,
            MldRepr::Done { .. } => message::MLD_DONE,
            MldRepr::Report { .. } => message::MLDV2_REPORT,
        }
    }

    /// The message's length in bytes.
    pub fn buffer_len(&self) -> usize {
        match self {
            MldRepr::Query { v2: None, .. } | MldRepr::ReportV1 { .. } | MldRepr::Done { .. } => V1_LEN,
            MldRepr::Query { v2: Some(q), .. } => V2_QUERY_MIN_LEN + 16 * q.sources.len(),
            MldRepr::Report { records } => field::REPORT_RECORDS + records.iter().map(|r| r.buffer_len()).sum::<usize>(),
        }
    }

    /// Write the message (reserved fields zero). The checksum is left to
    /// [`crate::icmpv6::Icmpv6Repr::emit`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut icmpv6::Packet<T>) {
        packet.set_msg_type(self.msg_type());
        packet.set_msg_code(0);
        packet.bytes_mut()[4..8].fill(0);
        match *self {
            MldRepr::Query { max_resp_code, mcast_addr, v2 } => {
                packet.set_max_resp_code(max_resp_code);
                packet.set_mcast_addr(mcast_addr);
                if let Some(q) = v2 {
                    let b = packet.bytes_mut();
                    b[field::QUERY_SQRV] = (u8::from(q.s_flag) << 3) | (q.qrv & 0x7);
                    b[field::QUERY_QQIC] = q.qqic;
                    b[field::QUERY_NUM_SOURCES..field::QUERY_SOURCES]
                        .copy_from_slice(&(q.sources.len() as u16).to_be_bytes());
                    q.sources.emit(&mut b[field::QUERY_SOURCES..]);
                }
            }
            MldRepr::ReportV1 { mcast_addr } | MldRepr::Done { mcast_addr } => packet.set_mcast_addr(mcast_addr),
            MldRepr::Report { records } => {
                packet.set_num_records(records.len() as u16);
                let b = packet.bytes_mut();
                let mut off = field::REPORT_RECORDS;
                for r in records.iter() {
                    r.emit(&mut b[off..]);
                    off += r.buffer_len();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::icmpv6::tests::{messages, parse_round_trip};
    use crate::icmpv6::Icmpv6Repr;
    use crate::ChecksumMode;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn captured_mld() {
        let msgs = messages();
        let mut reports = 0;
        let mut queries = (0, 0);
        let mut v1_reports = Vec::new();
        for c in &msgs {
            let Icmpv6Repr::Mld(m) = parse_round_trip(c) else { continue };
            // The proto layer's checks; every captured MLD message passes them.
            assert_eq!(c.hop_limit, 1);
            assert_eq!(c.router_alert, Some(crate::ipv6ext::ROUTER_ALERT_MLD));
            match m {
                MldRepr::Report { records } => {
                    reports += 1;
                    assert_eq!(c.dst, crate::ipv6::ALL_MLDV2_ROUTERS);
                    let n = records.len();
                    assert_eq!(records.iter().count(), n);
                    assert!((1..=5).contains(&n));
                    for r in records.iter() {
                        // Linux joins in ASM: EXCLUDE mode (change or current state), no sources.
                        assert!(r.record_type == record_type::CHANGE_TO_EXCLUDE || r.record_type == record_type::MODE_IS_EXCLUDE);
                        assert!(r.sources.is_empty() && r.aux_data.is_empty());
                        assert!(r.mcast_addr.is_multicast());
                    }
                    // The router namespace's full report: both solicited-node groups,
                    // all-routers (ff02::2), site-local all-routers (ff05::2), and
                    // the subnet-router anycast's solicited node ff02::1:ff00:0.
                    if n == 5 {
                        let addrs: Vec<_> = records.iter().map(|r| r.mcast_addr).collect();
                        for a in ["ff02::2", "ff05::2", "ff02::1:ff00:2", "ff02::1:ff00:0"] {
                            assert!(addrs.contains(&addr(a)), "{a} missing from {addrs:?}");
                        }
                    }
                    if c.src.is_unspecified() {
                        // Sent during DAD, before any address is valid (RFC 3810 §5.2.13).
                        assert!(records.iter().all(|r| crate::ipv6::is_solicited_node(&r.mcast_addr)
                            || r.mcast_addr == addr("ff02::2")
                            || r.mcast_addr == addr("ff05::2")));
                    }
                }
                MldRepr::Query { max_resp_code, mcast_addr, v2 } => {
                    // scapy's queries: general, 1000 ms.
                    assert_eq!(mcast_addr, Ipv6Addr::UNSPECIFIED);
                    assert_eq!(max_resp_delay_ms(max_resp_code), 1000);
                    match v2 {
                        Some(q) => {
                            queries.0 += 1;
                            assert!(q.sources.is_empty());
                        }
                        None => queries.1 += 1,
                    }
                }
                MldRepr::ReportV1 { mcast_addr } => {
                    // Answers to the MLDv1 query: sent to the group itself.
                    assert_eq!(c.dst, mcast_addr);
                    v1_reports.push(mcast_addr);
                }
                MldRepr::Done { .. } => {}
            }
        }
        assert!(reports >= 6, "{reports} MLDv2 reports");
        assert_eq!(queries, (1, 1));
        assert!(v1_reports.contains(&addr("ff02::2")));
    }

    #[test]
    fn emit_report_from_slice_matches_linux() {
        // Rebuild the first captured MLDv2 report from reprs given as slices.
        let msgs = messages();
        let c = msgs.iter().find(|c| c.msg[0] == message::MLDV2_REPORT).unwrap();
        let Icmpv6Repr::Mld(MldRepr::Report { records }) = parse_round_trip(c) else { unreachable!() };
        let owned: Vec<AddressRecordRepr<'_>> = records
            .iter()
            .map(|r| AddressRecordRepr { record_type: r.record_type, mcast_addr: r.mcast_addr, sources: Sources::EMPTY, aux_data: &[] })
            .collect();
        let repr = Icmpv6Repr::Mld(MldRepr::Report { records: Records::Slice(&owned) });
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&c.src, &c.dst, &mut icmpv6::Packet::new_unchecked(&mut out[..]), ChecksumMode::Full);
        assert_eq!(out, c.msg);
    }

    #[test]
    fn query_lengths() {
        let mut q = vec![130u8, 0, 0, 0, 0x03, 0xe8, 0, 0];
        q.extend_from_slice(&[0; 16]);
        fn p(b: &[u8]) -> Result<MldRepr<'_>> {
            MldRepr::parse(&icmpv6::Packet::new_checked(b).unwrap())
        }
        assert!(matches!(p(&q), Ok(MldRepr::Query { v2: None, .. })));
        q.push(0);
        assert_eq!(p(&q), Err(Error::Malformed));
        q.extend_from_slice(&[0, 0, 1]); // one source announced, none present
        assert_eq!(p(&q), Err(Error::Truncated));
        q.extend_from_slice(&[0x20; 16]);
        let Ok(MldRepr::Query { v2: Some(v2), .. }) = p(&q) else { panic!() };
        assert_eq!(v2.sources.iter().collect::<Vec<_>>(), [Ipv6Addr::from([0x20; 16])]);
        // Unicast group address is malformed.
        q[8] = 0x20;
        assert_eq!(p(&q), Err(Error::Malformed));
    }

    #[test]
    fn delay_codes() {
        assert_eq!(max_resp_delay_ms(10000), 10000);
        assert_eq!(max_resp_delay_ms(0x8000), 0x1000 << 3);
        assert_eq!(max_resp_delay_ms(0xffff), 0x1fff << 10);
        assert_eq!(qqi_seconds(125), 125);
        assert_eq!(qqi_seconds(0x80), 0x10 << 3);
        assert_eq!(qqi_seconds(0xff), 0x1f << 10);
    }

    fn arb_addr() -> impl Strategy<Value = Ipv6Addr> {
        any::<u128>().prop_map(Ipv6Addr::from)
    }

    fn arb_mcast() -> impl Strategy<Value = Ipv6Addr> {
        any::<u128>().prop_map(|a| Ipv6Addr::from(a | (0xffu128 << 120)))
    }

    proptest! {
        #[test]
        fn report_identity(recs in proptest::collection::vec((1u8..=6, arb_mcast(), proptest::collection::vec(arb_addr(), 0..3), 0usize..3), 0..4)) {
            let aux = [0xa5u8; 8];
            let reprs: Vec<AddressRecordRepr<'_>> = recs.iter().map(|(t, a, s, n)| AddressRecordRepr {
                record_type: *t, mcast_addr: *a, sources: Sources::Slice(s), aux_data: &aux[..4 * n],
            }).collect();
            let r = Icmpv6Repr::Mld(MldRepr::Report { records: Records::Slice(&reprs) });
            let (src, dst) = (addr("fe80::1"), crate::ipv6::ALL_MLDV2_ROUTERS);
            let mut out = vec![0u8; r.buffer_len()];
            r.emit(&src, &dst, &mut icmpv6::Packet::new_unchecked(&mut out[..]), ChecksumMode::Full);
            let p = Icmpv6Repr::parse(&src, &dst, &icmpv6::Packet::new_checked(&out[..]).unwrap(), ChecksumMode::Full).unwrap();
            prop_assert_eq!(p, r);
        }

        #[test]
        fn query_identity(code in any::<u16>(), general in any::<bool>(), group in arb_mcast(), v2 in any::<bool>(),
                          s in any::<bool>(), qrv in 0u8..8, qqic in any::<u8>(), srcs in proptest::collection::vec(arb_addr(), 0..4)) {
            let r = Icmpv6Repr::Mld(MldRepr::Query {
                max_resp_code: code,
                mcast_addr: if general { Ipv6Addr::UNSPECIFIED } else { group },
                v2: v2.then_some(QueryV2 { s_flag: s, qrv, qqic, sources: Sources::Slice(&srcs) }),
            });
            let (src, dst) = (addr("fe80::1"), crate::ipv6::ALL_NODES);
            let mut out = vec![0u8; r.buffer_len()];
            r.emit(&src, &dst, &mut icmpv6::Packet::new_unchecked(&mut out[..]), ChecksumMode::Full);
            let p = Icmpv6Repr::parse(&src, &dst, &icmpv6::Packet::new_checked(&out[..]).unwrap(), ChecksumMode::Full).unwrap();
            prop_assert_eq!(p, r);
        }

        #[test]
        fn parse_never_panics(ty in prop_oneof![Just(130u8), Just(131), Just(132), Just(143)], rest in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(2), any::<u8>()], 0..160)) {
            let mut m = vec![ty, 0];
            m.extend_from_slice(&rest);
            if let Ok(p) = icmpv6::Packet::new_checked(&m[..]) {
                if let Ok(r) = MldRepr::parse(&p) {
                    if let MldRepr::Report { records } = r {
                        for rec in records.iter() {
                            let _ = rec.sources.iter().count();
                        }
                    }
                    let _ = r.buffer_len();
                }
            }
            let _ = AddressRecord::new_checked(&rest[..]).map(|r| (r.sources_bytes().len(), r.aux_data().len(), r.mcast_addr()));
        }
    }
}
