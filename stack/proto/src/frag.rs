//! IPv4 reassembly (RFC 791 §3.2, with the hole list of RFC 815) for one core.
//!
//! A datagram in progress is keyed by (source, destination, protocol,
//! identification) (RFC 791 §3.2: "the identification field is used to
//! distinguish the fragments of one datagram from those of another"). Its
//! bytes live in fixed-size chunks taken from a pool allocated once, up to the
//! configured memory bound, and given back when the datagram completes, times
//! out or is dropped: no allocation per fragment. What is missing is tracked as
//! a sorted list of holes (RFC 815 §3), at most [`MAX_HOLES`] of them.
//!
//! Rules, each a drop counted by its [`DropReason`]:
//! * **Overlap** (`ipv4_frag_overlap`): a fragment that covers some bytes
//!   already received and some not drops the whole datagram. RFC 791 lets the
//!   later copy win; Linux discards IPv4 datagrams with overlapping fragments
//!   since 2018 (v4.19, "ip: discard IPv4 datagrams with overlapping segments.",
//!   net/ipv4/ip_fragment.c, following RFC 5722 §4 for IPv6), since overlaps
//!   serve only to evade inspection.
//! * **Duplicate** (`ipv4_frag_duplicate`): a fragment all of whose bytes were
//!   received already (an exact duplicate, or one inside a stretch already
//!   received) is dropped alone; the datagram goes on and the first copy's bytes
//!   stand (Linux: "net: ipv4: do not handle duplicate fragments as overlapping").
//! * **Invalid** (`ipv4_frag_invalid`): an empty fragment, a fragment with MF
//!   set whose length is not a multiple of 8 (RFC 791 §3.2: offsets count
//!   8-octet units, so every fragment but the last carries a multiple of 8), a
//!   fragment beyond the end a last fragment fixed, or a second last fragment
//!   with another end: the datagram is dropped (as Linux's `ip_frag_queue`).
//! * **Too big** (`ipv4_frag_too_big`): the datagram would exceed 65535 bytes
//!   with its header (RFC 791 §3.1 total length): dropped.
//! * **Memory** (`ipv4_frag_memory`): no free datagram slot or not enough free
//!   chunks for a new datagram's first fragment: the fragment is refused (the
//!   datagrams in progress are kept, as Linux refuses new queues above
//!   `ipfrag_high_thresh`); a datagram in progress that cannot get a chunk for
//!   its next fragment is dropped.
//! * **Holes** (`ipv4_frag_holes`): a fragment that would leave more than
//!   [`MAX_HOLES`] holes drops the datagram (a bound against tiny-fragment
//!   floods).
//! * **Timeout** (`ipv4_frag_timeout`): a datagram not complete by its deadline
//!   (first fragment's arrival plus the time limit, not refreshed, as Linux's
//!   `ipfrag_time`; RFC 791 §3.2 suggests 15 s, Linux uses 30 s) is dropped;
//!   if its first fragment (offset 0) had arrived, the caller sends ICMP time
//!   exceeded, code 1 (RFC 792, RFC 1122 §3.2.1.4) quoting it.
//!
//! Sans-IO like the rest: time is passed in; [`Reassembler::expire`] is due at
//! [`Reassembler::poll_timeout`] and the interface also calls it on input.
//!
//! **IPv6** (RFC 8200 §4.5) uses the same machinery ([`Reassembler::new_v6`],
//! [`Reassembler::input6`]): a datagram is keyed by (source, destination,
//! identification); the reassembled packet is the first fragment's
//! unfragmentable part (its next-header field already pointing past the fragment
//! header) followed by the fragmentable part, with the payload length fixed.
//! Overlapping fragments drop the whole datagram (RFC 5722 §4: "the entire
//! datagram (and any constituent fragments, including those not yet received)
//! MUST be silently discarded"); a fragment that would make the payload longer
//! than 65535 bytes, or a non-last fragment whose length is not a multiple of 8
//! (RFC 8200 §4.5), drops the datagram. The drops are counted under the
//! `ipv6_frag_*` reasons. Atomic fragments (RFC 6946) never get here: the
//! interface processes them as whole packets.

use crate::stats::DropReason;
use crate::time::{Duration, Instant};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use hashbrown::HashMap;
use wire::ipv4::{Ipv4Repr, MAX_HEADER_LEN};

/// Default time limit of a datagram in reassembly (Linux `ipfrag_time`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default bytes of fragment data held per core (Linux `ipfrag_high_thresh`).
pub const DEFAULT_MAX_BYTES: usize = 4 << 20;
/// Default most datagrams in reassembly at once per core.
pub const DEFAULT_MAX_DATAGRAMS: usize = 256;
/// Size of one chunk of the data pool.
pub const CHUNK: usize = 2048;
/// Most holes one datagram in progress may have (RFC 815 hole descriptors).
pub const MAX_HOLES: usize = 32;
/// Largest IPv4 datagram, header included (RFC 791 §3.1: 16-bit total length).
pub const MAX_DATAGRAM: usize = 65535;
/// Room kept for the first fragment's header: an IPv4 header with options, or
/// an IPv6 header with the extension headers of its unfragmentable part.
pub const HEADER_CAP: usize = 128;
/// Largest reassembled IPv6 packet: a 65535-byte payload and the fixed header.
pub const MAX_DATAGRAM_V6: usize = 65535 + wire::ipv6::HEADER_LEN;
/// Chunks a datagram's payload can span.
const CHUNKS_PER_DATAGRAM: usize = MAX_DATAGRAM.div_ceil(CHUNK);
/// No chunk.
const NONE: u16 = u16::MAX;
/// The end of the last hole while the last fragment has not arrived ("infinity"
/// in RFC 815 §3).
const OPEN: u32 = u32::MAX;

/// Configuration of the reassembler of one core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragConfig {
    /// How long a datagram may take to complete, from its first fragment.
    pub timeout: Duration,
    /// Bytes of fragment data held at most (rounded down to whole [`CHUNK`]s,
    /// at most 65535 chunks); allocated once.
    pub max_bytes: usize,
    /// Most datagrams in reassembly at once.
    pub max_datagrams: usize,
}

impl Default for FragConfig {
    fn default() -> Self {
        FragConfig { timeout: DEFAULT_TIMEOUT, max_bytes: DEFAULT_MAX_BYTES, max_datagrams: DEFAULT_MAX_DATAGRAMS }
    }
}

/// What identifies the fragments of one datagram (RFC 791 §3.2; RFC 8200 §4.5:
/// source, destination and identification, `protocol` 0 for IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragKey {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Protocol (IPv4 only).
    pub protocol: u8,
    /// Identification (16 bits in IPv4, 32 in IPv6).
    pub ident: u32,
}

impl FragKey {
    /// The key of an IPv4 fragment's header.
    pub fn of(ip: &Ipv4Repr) -> FragKey {
        FragKey { src: IpAddr::V4(ip.src), dst: IpAddr::V4(ip.dst), protocol: ip.protocol, ident: u32::from(ip.ident) }
    }

    /// The key of an IPv6 fragment (RFC 8200 §4.5).
    pub fn of_v6(src: Ipv6Addr, dst: Ipv6Addr, ident: u32) -> FragKey {
        FragKey { src: IpAddr::V6(src), dst: IpAddr::V6(dst), protocol: 0, ident }
    }
}

/// What became of one fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragInput {
    /// Kept; the datagram is not complete yet.
    Held,
    /// The datagram is complete: header (the first fragment's, with total
    /// length, flags, offset and checksum fixed) and payload are in the output
    /// buffer.
    Complete,
    /// Dropped, for this reason (the whole datagram, except for
    /// [`DropReason::Ipv4FragDuplicate`] and a refused first fragment).
    Dropped(DropReason),
}

/// One datagram in progress.
#[derive(Debug, Clone)]
struct Slot {
    key: FragKey,
    deadline: Instant,
    /// Missing byte ranges `[start, end)`, sorted; the last one ends at `OPEN`
    /// until the last fragment arrives.
    holes: [(u32, u32); MAX_HOLES],
    nholes: usize,
    /// Payload length, once the last fragment (MF clear) arrived.
    total: Option<u32>,
    /// Pool chunk of each `CHUNK`-sized stretch of the payload.
    chunks: [u16; CHUNKS_PER_DATAGRAM],
    /// The first fragment's header as received (for the reassembled header and
    /// the ICMP quote); `header_len` 0 until it arrives.
    header: [u8; HEADER_CAP],
    header_len: usize,
}

impl Slot {
    fn empty() -> Slot {
        Slot {
            key: FragKey { src: IpAddr::V4(Ipv4Addr::UNSPECIFIED), dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED), protocol: 0, ident: 0 },
            deadline: Instant::ZERO,
            holes: [(0, 0); MAX_HOLES],
            nholes: 0,
            total: None,
            chunks: [NONE; CHUNKS_PER_DATAGRAM],
            header: [0; HEADER_CAP],
            header_len: 0,
        }
    }

    /// The end of the bytes received so far (the start of the open hole, or
    /// the total).
    fn received_end(&self) -> u32 {
        match self.total {
            Some(t) => t,
            None => self.holes[self.nholes - 1].0,
        }
    }
}

/// The IPv4 reassembler of one core (see the module documentation).
#[derive(Debug)]
pub struct Reassembler {
    cfg: FragConfig,
    slots: Vec<Slot>,
    free_slots: Vec<u16>,
    map: HashMap<FragKey, u16>,
    pool: Vec<u8>,
    free_chunks: Vec<u16>,
    nchunks: usize,
    /// No datagram's deadline is before this (may be early: then a scan finds
    /// nothing due and moves it).
    earliest: Option<Instant>,
    /// Reassembles IPv6 (RFC 8200 §4.5) rather than IPv4.
    v6: bool,
}

impl Reassembler {
    /// A reassembler with every buffer allocated up to the bounds of `cfg`.
    pub fn new(cfg: FragConfig) -> Reassembler {
        let nchunks = (cfg.max_bytes / CHUNK).min(usize::from(NONE));
        let max_datagrams = cfg.max_datagrams.min(usize::from(NONE));
        Reassembler {
            cfg,
            slots: vec![Slot::empty(); max_datagrams],
            free_slots: (0..max_datagrams as u16).rev().collect(),
            map: HashMap::with_capacity(max_datagrams),
            // Zeroed memory from the allocator: pages are touched only when used.
            pool: vec![0u8; nchunks * CHUNK],
            free_chunks: (0..nchunks as u16).rev().collect(),
            nchunks,
            earliest: None,
            v6: false,
        }
    }

    /// An IPv6 reassembler (RFC 8200 §4.5) with the same bounds.
    pub fn new_v6(cfg: FragConfig) -> Reassembler {
        Reassembler { v6: true, ..Reassembler::new(cfg) }
    }

    /// The drop reason `r` (an `ipv4_frag_*` one) for this reassembler's family.
    pub fn reason(&self, r: DropReason) -> DropReason {
        if !self.v6 {
            return r;
        }
        match r {
            DropReason::Ipv4FragOverlap => DropReason::Ipv6FragOverlap,
            DropReason::Ipv4FragDuplicate => DropReason::Ipv6FragDuplicate,
            DropReason::Ipv4FragTimeout => DropReason::Ipv6FragTimeout,
            DropReason::Ipv4FragMemory => DropReason::Ipv6FragMemory,
            DropReason::Ipv4FragTooBig => DropReason::Ipv6FragTooBig,
            DropReason::Ipv4FragInvalid => DropReason::Ipv6FragInvalid,
            DropReason::Ipv4FragHoles => DropReason::Ipv6FragHoles,
            other => other,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &FragConfig {
        &self.cfg
    }

    /// Datagrams in reassembly now.
    pub fn in_progress(&self) -> usize {
        self.map.len()
    }

    /// Bytes of the data pool held by datagrams in progress now.
    pub fn bytes_held(&self) -> usize {
        (self.nchunks - self.free_chunks.len()) * CHUNK
    }

    /// Bytes of the data pool (the memory bound, in whole chunks).
    pub fn capacity_bytes(&self) -> usize {
        self.nchunks * CHUNK
    }

    /// The earliest deadline of a datagram in progress: call
    /// [`Reassembler::expire`] then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.earliest
    }

    /// Drop every datagram whose deadline is `now` or earlier. `timed_out` is
    /// called once for each, with the quote for an ICMP time exceeded (the first
    /// fragment's header and the first 8 bytes of its data, RFC 792) when the
    /// first fragment had arrived, else `None`. Returns how many were dropped.
    pub fn expire(&mut self, now: Instant, mut timed_out: impl FnMut(Option<&[u8]>)) -> usize {
        if self.earliest.is_none_or(|e| e > now) {
            return 0;
        }
        let (slots, free_slots, free_chunks, pool) = (&mut self.slots, &mut self.free_slots, &mut self.free_chunks, &self.pool);
        let mut earliest: Option<Instant> = None;
        let mut dropped = 0;
        self.map.retain(|_, i| {
            let s = &mut slots[usize::from(*i)];
            if s.deadline > now {
                earliest = Some(earliest.map_or(s.deadline, |e| e.min(s.deadline)));
                return true;
            }
            dropped += 1;
            if s.header_len > 0 {
                // RFC 792: the internet header plus the first 64 bits of the data.
                let mut quote = [0u8; HEADER_CAP + 8];
                let hl = s.header_len;
                quote[..hl].copy_from_slice(&s.header[..hl]);
                // The first fragment carries at least 8 bytes (MF set: a non-zero
                // multiple of 8), all in chunk 0.
                let c = usize::from(s.chunks[0]);
                if s.chunks[0] != NONE {
                    quote[hl..hl + 8].copy_from_slice(&pool[c * CHUNK..c * CHUNK + 8]);
                }
                timed_out(Some(&quote[..hl + 8]));
            } else {
                timed_out(None);
            }
            release_chunks(s, free_chunks);
            free_slots.push(*i);
            false
        });
        self.earliest = earliest;
        dropped
    }

    /// Forget the datagram `key` if it is in progress (its data is freed).
    /// Returns whether it was.
    pub fn discard(&mut self, key: &FragKey) -> bool {
        match self.map.get(key).copied() {
            Some(i) => {
                self.release(i);
                true
            }
            None => false,
        }
    }

    fn release(&mut self, i: u16) {
        let s = &mut self.slots[usize::from(i)];
        self.map.remove(&s.key);
        release_chunks(s, &mut self.free_chunks);
        self.free_slots.push(i);
        if self.map.is_empty() {
            self.earliest = None;
        }
    }

    /// Take one fragment (`ip` its parsed header, `header` its header bytes as
    /// received, options included, `payload` its data). Call
    /// [`Reassembler::expire`] first: this does not look at deadlines. On
    /// [`FragInput::Complete`] the datagram is in `out` (cleared first; give it a
    /// capacity of [`MAX_DATAGRAM`] and it never grows).
    pub fn input(&mut self, now: Instant, header: &[u8], ip: &Ipv4Repr, payload: &[u8], out: &mut Vec<u8>) -> FragInput {
        debug_assert!(!self.v6);
        if header.len() > MAX_HEADER_LEN {
            return FragInput::Dropped(DropReason::Ipv4FragInvalid);
        }
        self.input_at(now, FragKey::of(ip), header, u32::from(ip.frag_offset), ip.more_frags, payload, out)
    }

    /// Take one IPv6 fragment (RFC 8200 §4.5) of the packet `src → dst`:
    /// `unfragmentable` is its fixed header and the extension headers before the
    /// fragment header, with the next-header field that named the fragment header
    /// already set to the fragment header's next header; `frag` the fragment
    /// header; `payload` the fragment data. As [`Reassembler::input`] otherwise;
    /// the reasons are the `ipv6_frag_*` ones.
    #[allow(clippy::too_many_arguments)]
    pub fn input6(
        &mut self,
        now: Instant,
        unfragmentable: &[u8],
        src: Ipv6Addr,
        dst: Ipv6Addr,
        frag: &wire::ipv6ext::FragmentRepr,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> FragInput {
        debug_assert!(self.v6);
        let key = FragKey::of_v6(src, dst, frag.ident);
        if unfragmentable.len() > HEADER_CAP || unfragmentable.len() < wire::ipv6::HEADER_LEN {
            if let Some(i) = self.map.get(&key).copied() {
                self.release(i);
            }
            return FragInput::Dropped(DropReason::Ipv6FragInvalid);
        }
        match self.input_at(now, key, unfragmentable, u32::from(frag.frag_offset), frag.more_frags, payload, out) {
            FragInput::Dropped(r) => FragInput::Dropped(self.reason(r)),
            other => other,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn input_at(&mut self, now: Instant, key: FragKey, header: &[u8], off: u32, more: bool, payload: &[u8], out: &mut Vec<u8>) -> FragInput {
        let existing = self.map.get(&key).copied();
        let len = payload.len() as u32;
        let end = off + len;
        let drop_all = |me: &mut Reassembler, reason: DropReason| {
            if let Some(i) = existing {
                me.release(i);
            }
            FragInput::Dropped(reason)
        };
        // RFC 791 §3.2 / RFC 8200 §4.5: fragment offsets count 8-octet units, so
        // every fragment but the last carries a non-zero multiple of 8 octets.
        if len == 0 || (more && !len.is_multiple_of(8)) {
            return drop_all(self, DropReason::Ipv4FragInvalid);
        }
        // RFC 791 §3.1: total length is 16 bits; the reassembled datagram carries
        // the first fragment's header. RFC 8200 §4.5: the reassembled payload
        // length (unfragmentable extension headers included) is 16 bits.
        let base = if self.v6 { wire::ipv6::HEADER_LEN } else { wire::ipv4::HEADER_LEN };
        let hl = match existing.map(|i| self.slots[usize::from(i)].header_len) {
            _ if off == 0 => header.len(),
            Some(h) if h > 0 => h,
            _ => base,
        };
        let longest = match existing {
            Some(i) if off == 0 => end.max(self.slots[usize::from(i)].received_end()),
            _ => end,
        };
        let max = if self.v6 { MAX_DATAGRAM_V6 } else { MAX_DATAGRAM };
        if hl + longest as usize > max {
            return drop_all(self, DropReason::Ipv4FragTooBig);
        }
        let i = match existing {
            Some(i) => i,
            None => {
                // A new datagram: refused when the bounds are reached (the ones in
                // progress are kept).
                let need = chunk_span(off, end);
                if self.free_chunks.len() < need {
                    return FragInput::Dropped(DropReason::Ipv4FragMemory);
                }
                let Some(i) = self.free_slots.pop() else {
                    return FragInput::Dropped(DropReason::Ipv4FragMemory);
                };
                let s = &mut self.slots[usize::from(i)];
                s.key = key;
                s.deadline = now + self.cfg.timeout;
                s.holes[0] = (0, OPEN);
                s.nholes = 1;
                s.total = None;
                s.header_len = 0;
                debug_assert!(s.chunks.iter().all(|c| *c == NONE));
                self.map.insert(key, i);
                self.earliest = Some(self.earliest.map_or(s.deadline, |e| e.min(s.deadline)));
                i
            }
        };
        match self.place(usize::from(i), header, off, end, more, payload) {
            Err(reason) => {
                self.release(i);
                FragInput::Dropped(reason)
            }
            Ok(duplicate) => {
                if self.slots[usize::from(i)].nholes == 0 {
                    self.assemble(usize::from(i), out);
                    self.release(i);
                    FragInput::Complete
                } else if duplicate {
                    FragInput::Dropped(DropReason::Ipv4FragDuplicate)
                } else {
                    FragInput::Held
                }
            }
        }
    }

    /// Put `[off, end)` into slot `i`. `Ok(true)`: all of it was there already.
    fn place(&mut self, i: usize, header: &[u8], off: u32, end: u32, more: bool, payload: &[u8]) -> Result<bool, DropReason> {
        let s = &mut self.slots[i];
        match s.total {
            // The end is fixed: nothing beyond it, and one end only.
            Some(t) if end > t || (!more && end != t) => return Err(DropReason::Ipv4FragInvalid),
            Some(_) => {}
            None if !more => {
                // The last fragment: no data received beyond its end. The open hole
                // (the last one) now ends there (RFC 815 §3 step 5 for the last
                // fragment: no new hole after it).
                let last = s.nholes - 1;
                if s.holes[last].0 > end {
                    return Err(DropReason::Ipv4FragInvalid);
                }
                s.total = Some(end);
                if s.holes[last].0 == end {
                    s.nholes -= 1;
                } else {
                    s.holes[last].1 = end;
                }
            }
            None => {}
        }
        // RFC 815 §3 steps 2-3: the holes this fragment meets. None: every byte was
        // received (a duplicate). One that contains it: new data. Anything else
        // covers received and missing bytes at once: an overlap.
        let mut hit = None;
        for (k, h) in s.holes[..s.nholes].iter().enumerate() {
            if h.0 < end && off < h.1 {
                if hit.is_some() {
                    return Err(DropReason::Ipv4FragOverlap);
                }
                hit = Some(k);
            }
        }
        let Some(k) = hit else { return Ok(true) };
        let (h_start, h_end) = s.holes[k];
        if off < h_start || end > h_end {
            return Err(DropReason::Ipv4FragOverlap);
        }
        // RFC 815 §3 steps 4-6: the hole is replaced by what is left before and
        // after the fragment.
        match (h_start < off, end < h_end) {
            (false, false) => {
                s.holes.copy_within(k + 1..s.nholes, k);
                s.nholes -= 1;
            }
            (true, false) => s.holes[k].1 = off,
            (false, true) => s.holes[k].0 = end,
            (true, true) => {
                if s.nholes == MAX_HOLES {
                    return Err(DropReason::Ipv4FragHoles);
                }
                s.holes.copy_within(k + 1..s.nholes, k + 2);
                s.holes[k] = (h_start, off);
                s.holes[k + 1] = (end, h_end);
                s.nholes += 1;
            }
        }
        // The chunks under the fragment, then its bytes.
        let (first, last) = (off as usize / CHUNK, (end as usize - 1) / CHUNK);
        for c in first..=last {
            if s.chunks[c] == NONE {
                s.chunks[c] = self.free_chunks.pop().ok_or(DropReason::Ipv4FragMemory)?;
            }
        }
        let mut at = off as usize;
        let mut rest = payload;
        while !rest.is_empty() {
            let (c, within) = (at / CHUNK, at % CHUNK);
            let n = rest.len().min(CHUNK - within);
            let base = usize::from(s.chunks[c]) * CHUNK + within;
            self.pool[base..base + n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            at += n;
        }
        if off == 0 {
            s.header[..header.len()].copy_from_slice(header);
            s.header_len = header.len();
        }
        Ok(false)
    }

    /// Write the complete datagram of slot `i` into `out`.
    fn assemble(&self, i: usize, out: &mut Vec<u8>) {
        let s = &self.slots[i];
        let total = s.total.unwrap_or(0) as usize;
        let hl = s.header_len;
        out.clear();
        out.extend_from_slice(&s.header[..hl]);
        if self.v6 {
            // RFC 8200 §4.5: "The Payload Length of the reassembled packet is
            // computed from the length of the Per-Fragment headers and the length
            // and offset of the last fragment."
            out[4..6].copy_from_slice(&((hl - wire::ipv6::HEADER_LEN + total) as u16).to_be_bytes());
        } else {
            self.fix_v4_header(out, hl, total);
        }
        let mut at = 0;
        while at < total {
            let c = usize::from(s.chunks[at / CHUNK]) * CHUNK;
            let n = (total - at).min(CHUNK);
            out.extend_from_slice(&self.pool[c..c + n]);
            at += n;
        }
    }

    fn fix_v4_header(&self, out: &mut [u8], hl: usize, total: usize) {
        // RFC 791 §3.2 (reassembly): the first fragment's header, with the total
        // length of the whole datagram and no fragment fields.
        out[2..4].copy_from_slice(&((hl + total) as u16).to_be_bytes());
        out[6] &= 0x40; // keep DF; MF and the offset are cleared
        out[7] = 0;
        let mut p = wire::ipv4::Packet::new_unchecked(&mut out[..hl]);
        p.fill_checksum();
    }
}

/// Whether `packet` (whose header [`Ipv4Repr::parse`] refused) is a fragment
/// that reaches past 65535 bytes of datagram (RFC 791 §3.1: the "ping of
/// death"), as opposed to some other malformation.
pub fn reaches_past_65535<T: AsRef<[u8]>>(packet: &wire::ipv4::Packet<T>) -> bool {
    packet.check_len().is_ok()
        && packet.version() == 4
        && !packet.reserved_flag()
        && packet.is_fragment()
        && usize::from(packet.header_len()) + usize::from(packet.frag_offset()) + packet.payload().len() > MAX_DATAGRAM
}

/// Chunks that bytes `[off, end)` touch.
fn chunk_span(off: u32, end: u32) -> usize {
    (end as usize - 1) / CHUNK - off as usize / CHUNK + 1
}

fn release_chunks(s: &mut Slot, free: &mut Vec<u16>) {
    for c in s.chunks.iter_mut() {
        if *c != NONE {
            free.push(*c);
            *c = NONE;
        }
    }
    s.header_len = 0;
}

#[cfg(test)]
#[path = "frag_tests.rs"]
mod tests;
