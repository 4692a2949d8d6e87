//! The sender's per-segment record of what is in flight, and RACK time-based
//! loss detection (RFC 8985 §6).
//!
//! [`SentLog`] keeps one record per segment sent and not yet cumulatively
//! acknowledged, sorted by sequence number: its span, when it was last
//! (re)transmitted and three flags (SACKed, lost, retransmitted), with the byte
//! counts RFC 6675's `pipe` needs (`sacked`, `lost`, `retrans`, as Linux's
//! `sacked_out`, `lost_out`, `retrans_out`). At most [`MAX_RECORDS`] records:
//! when they are all in use the connection sends no new segment until ACKs free
//! some (a bound on segments in flight, far above what the send buffer allows
//! with full-sized segments). The storage grows with the flight and is kept.
//!
//! RACK: every segment delivered (cumulatively or by SACK) that was not
//! retransmitted, or whose RTT sample is at least the minimum RTT (§6.2 step 2,
//! against spurious retransmissions), advances `RACK.xmit_ts` (the most
//! recent send time known delivered) and sets `RACK.rtt`. A segment sent before
//! that one and not delivered is lost once `now ≥ xmit_ts + RACK.rtt +
//! reo_wnd` (§6.2 step 5); until then the reordering timer waits for it.
//! `reo_wnd` is `min_rtt / 4` times a multiplier that each D-SACK round
//! raises by one and that falls back after 16 recoveries without one (§6.2
//! step 4), at most SRTT; applied from the start (we assume reordering may
//! happen rather than wait to see it).

use super::seq::SeqNum;
use crate::time::{Duration, Instant};
use std::collections::VecDeque;

/// Most segments in flight per connection (records in the [`SentLog`]).
pub const MAX_RECORDS: usize = 2048;

/// Smallest step of the reordering window once reordering was seen.
pub const REO_WND_FLOOR: Duration = Duration::from_millis(1);

const SACKED: u8 = 1;
const LOST: u8 = 2;
const RETRANS: u8 = 4;

/// One segment in flight.
#[derive(Debug, Clone, Copy)]
pub struct Record {
    /// First sequence number.
    pub start: SeqNum,
    /// Last sequence number + 1 (a FIN counts).
    pub end: SeqNum,
    /// When it was last sent.
    pub sent: Instant,
    flags: u8,
}

impl Record {
    /// SACKed by the peer.
    pub fn sacked(&self) -> bool {
        self.flags & SACKED != 0
    }
    /// Deemed lost.
    pub fn lost(&self) -> bool {
        self.flags & LOST != 0
    }
    /// Retransmitted since it was last deemed lost (or by a tail loss probe).
    pub fn retransmitted(&self) -> bool {
        self.flags & RETRANS != 0
    }
    fn len(&self) -> u32 {
        self.end.since(self.start)
    }
}

/// The RACK state that outlives a flight: kept in the connection (6 bytes)
/// while its [`SentLog`] goes back to the per-core pool between flights.
#[derive(Debug, Clone, Copy)]
pub struct RackMemory {
    /// RACK.min_RTT in µs, saturating; `u32::MAX` before the first sample.
    min_rtt_us: u32,
    /// RACK.reo_wnd_mult − 1.
    reo_extra: u8,
    /// RACK.reo_wnd_persist.
    reo_persist: u8,
}

impl Default for RackMemory {
    fn default() -> Self {
        RackMemory { min_rtt_us: u32::MAX, reo_extra: 0, reo_persist: 0 }
    }
}

/// Segments in flight and the RACK state of one connection.
#[derive(Debug)]
pub struct SentLog {
    recs: VecDeque<Record>,
    /// Bytes SACKed.
    sacked: u32,
    /// Bytes deemed lost (retransmitted or not).
    lost: u32,
    /// Bytes retransmitted and not yet delivered or deemed lost again.
    retrans: u32,
    /// RACK.xmit_ts / RACK.end_seq of the most recently sent segment known
    /// delivered.
    rack_xmit: Option<(Instant, SeqNum)>,
    /// RACK.rtt, in µs.
    rack_rtt_us: u64,
    /// RACK.min_RTT in µs, saturating; `u32::MAX` before the first sample.
    min_rtt_us: u32,
    /// RACK.reo_wnd_mult − 1 (§6.2 step 4: grows with D-SACKs).
    reo_extra: u32,
    /// RACK.dsack_round: SND.MAX when the multiplier last grew.
    dsack_round: Option<SeqNum>,
    /// RACK.reo_wnd_persist: recoveries left before the multiplier resets.
    reo_persist: u32,
    /// No record was sent again since the log was last empty: send times rise
    /// with sequence numbers, so the records sent before the most recently
    /// delivered one are a prefix of the log (RACK's scan stops at the first
    /// that is not).
    send_order: bool,
}

impl Default for SentLog {
    fn default() -> Self {
        SentLog {
            recs: VecDeque::new(),
            sacked: 0,
            lost: 0,
            retrans: 0,
            rack_xmit: None,
            rack_rtt_us: 0,
            min_rtt_us: u32::MAX,
            reo_extra: 0,
            dsack_round: None,
            reo_persist: 0,
            send_order: false,
        }
    }
}

impl SentLog {
    /// Forget everything (a new connection).
    pub fn clear(&mut self) {
        self.recs.clear();
        self.sacked = 0;
        self.lost = 0;
        self.retrans = 0;
        self.rack_xmit = None;
        self.rack_rtt_us = 0;
        self.min_rtt_us = u32::MAX;
        self.reo_extra = 0;
        self.dsack_round = None;
        self.reo_persist = 0;
        self.send_order = true;
    }

    /// Start a new flight with what RACK learnt before (an empty log taken
    /// from the pool).
    pub fn resume(&mut self, m: RackMemory) {
        self.clear();
        self.min_rtt_us = m.min_rtt_us;
        self.reo_extra = u32::from(m.reo_extra);
        self.reo_persist = u32::from(m.reo_persist);
    }

    /// What outlives this flight (see [`RackMemory`]).
    pub fn memory(&self) -> RackMemory {
        RackMemory { min_rtt_us: self.min_rtt_us, reo_extra: self.reo_extra.min(255) as u8, reo_persist: self.reo_persist.min(255) as u8 }
    }

    /// Bytes of record storage this log holds (kept across flights).
    pub fn storage_bytes(&self) -> usize {
        self.recs.capacity() * core::mem::size_of::<Record>()
    }

    /// A D-SACK arrived (RFC 8985 §6.2 step 4): a retransmission was needless,
    /// the reordering window was too small; widen it by one min_RTT/4, at
    /// most once per round trip, and keep it for the next 16 recoveries.
    pub fn on_dsack(&mut self, snd_una: SeqNum, snd_max: SeqNum) {
        if self.dsack_round.is_none_or(|r| snd_una >= r) {
            self.dsack_round = Some(snd_max);
            self.reo_extra = (self.reo_extra + 1).min(64);
            self.reo_persist = 16;
        }
    }

    /// A recovery ended (§6.2 step 4: after 16 without D-SACK the window
    /// shrinks back).
    pub fn on_recovery_end(&mut self) {
        if self.reo_persist > 0 {
            self.reo_persist -= 1;
            if self.reo_persist == 0 {
                self.reo_extra = 0;
            }
        }
    }

    /// RACK.reo_wnd: min_RTT/4 times the multiplier, at most SRTT. Once
    /// reordering was seen (the multiplier grew) the base is at least
    /// [`REO_WND_FLOOR`]: with netem-style reordering (a segment skips the
    /// whole delay) min_RTT can be a few microseconds, and a window built on
    /// it would never grow.
    pub fn reo_wnd(&self, srtt: Option<Duration>) -> Duration {
        let mut base = self.min_rtt().unwrap_or(Duration::ZERO) / 4;
        if self.reo_extra > 0 {
            base = base.max(REO_WND_FLOOR);
        }
        let mut reo = base * (1 + self.reo_extra);
        if let Some(s) = srtt {
            reo = reo.min(s);
        }
        reo
    }
    /// The records, in sequence order.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.recs.iter()
    }
    /// No room for another segment.
    pub fn full(&self) -> bool {
        self.recs.len() >= MAX_RECORDS
    }
    /// Bytes SACKed / deemed lost / retransmitted and in flight.
    pub fn counts(&self) -> (u32, u32, u32) {
        (self.sacked, self.lost, self.retrans)
    }
    /// Nothing SACKed, deemed lost or retransmitted, and send times follow
    /// sequence numbers: RACK can mark nothing lost and arms no reordering
    /// timer on a cumulative ACK (every record left was sent after the last
    /// one delivered). Header prediction relies on it.
    #[inline]
    pub fn quiet(&self) -> bool {
        self.send_order && (self.sacked | self.lost | self.retrans) == 0
    }
    /// RACK.min_RTT, if measured.
    pub fn min_rtt(&self) -> Option<Duration> {
        (self.min_rtt_us != u32::MAX).then(|| Duration::from_micros(u64::from(self.min_rtt_us)))
    }

    fn set(&mut self, i: usize, flags: u8) {
        let r = self.recs[i];
        if r.flags == flags {
            return;
        }
        let len = r.len();
        let (old, new) = (r.flags, flags);
        let delta = |bit: u8, counter: &mut u32| {
            if old & bit != 0 && new & bit == 0 {
                *counter -= len.min(*counter);
            } else if old & bit == 0 && new & bit != 0 {
                *counter += len;
            }
        };
        delta(SACKED, &mut self.sacked);
        delta(LOST, &mut self.lost);
        delta(RETRANS, &mut self.retrans);
        self.recs[i].flags = new;
    }

    /// A segment `[start, end)` was sent at `now`. New data (at or beyond the
    /// last record's end) gets a record; a retransmission updates the records it
    /// covers (marked retransmitted if they were deemed lost, or if `probe`).
    pub fn on_send(&mut self, start: SeqNum, end: SeqNum, now: Instant, probe: bool) {
        if end <= start {
            return;
        }
        let last_end = self.recs.back().map(|r| r.end);
        if last_end.is_none_or(|e| start >= e) {
            if last_end.is_none() {
                self.send_order = true;
            }
            if !self.full() {
                self.recs.push_back(Record { start, end, sent: now, flags: 0 });
            }
            return;
        }
        // A retransmission: send times no longer follow sequence numbers.
        self.send_order = false;
        let i = self.recs.partition_point(|r| r.end <= start);
        for k in i..self.recs.len() {
            let r = self.recs[k];
            if r.start >= end {
                break;
            }
            self.recs[k].sent = now;
            if r.lost() || probe {
                self.set(k, r.flags | RETRANS);
            }
        }
        if let Some(e) = last_end {
            if end > e && !self.full() {
                self.recs.push_back(Record { start: e, end, sent: now, flags: 0 });
            }
        }
    }

    /// Take the RTT of a delivered record into RACK (§6.2 steps 1-3).
    fn delivered(&mut self, r: Record, now: Instant) {
        // In µs (u32::MAX - 1 at most: u32::MAX means "none").
        let rtt = now.micros().saturating_sub(r.sent.micros()).min(u64::from(u32::MAX - 1));
        if r.retransmitted() && self.min_rtt_us != u32::MAX && rtt < u64::from(self.min_rtt_us) {
            // §6.2 step 2: possibly the ACK of the original transmission.
            return;
        }
        self.min_rtt_us = self.min_rtt_us.min(rtt as u32);
        let newer = match self.rack_xmit {
            None => true,
            Some((t, e)) => r.sent > t || (r.sent == t && r.end > e),
        };
        if newer {
            self.rack_xmit = Some((r.sent, r.end));
            self.rack_rtt_us = rtt;
        }
    }

    /// An RTT sample in µs for a cumulative ACK up to `ack` (before
    /// [`SentLog::on_cumulative`] drops what it covers): the time since the
    /// oldest newly acknowledged record was sent, if it was never deemed lost
    /// nor retransmitted (Karn, RFC 6298 §3: else the sample is ambiguous).
    #[inline]
    pub fn rtt_sample_us(&self, ack: SeqNum, now: Instant) -> Option<u64> {
        let r = self.recs.iter().find(|r| !r.sacked())?;
        (r.end <= ack && r.flags & (LOST | RETRANS) == 0).then(|| now.micros().saturating_sub(r.sent.micros()))
    }

    /// The cumulative ACK reached `snd_una`: drop what it covers.
    pub fn on_cumulative(&mut self, snd_una: SeqNum, now: Instant) {
        // The D-SACK round ends once SND.UNA passes it; forgotten then, it
        // cannot go stale (compared modulo 2^32) in a flight of several GiB.
        if self.dsack_round.is_some_and(|r| snd_una >= r) {
            self.dsack_round = None;
        }
        while let Some(&r) = self.recs.front() {
            if r.start >= snd_una {
                break;
            }
            if r.end > snd_una {
                // Partly acknowledged (a window probe, a peer acking mid-segment).
                self.set(0, 0);
                self.recs[0].start = snd_una;
                self.set(0, r.flags);
                break;
            }
            if !r.sacked() {
                self.delivered(r, now);
            }
            self.set(0, 0);
            self.recs.pop_front();
        }
    }

    /// `[l, r)` was SACKed: mark the records it covers whole. `fin` is the
    /// sequence number of our FIN: a block never covers it (the peer holds no
    /// FIN out of order as data), so a record ending with it counts as covered
    /// when its data is.
    pub fn on_sack(&mut self, l: SeqNum, r: SeqNum, fin: Option<SeqNum>, now: Instant) {
        let i = self.recs.partition_point(|x| x.end <= l);
        for k in i..self.recs.len() {
            let rec = self.recs[k];
            if rec.start >= r {
                break;
            }
            let covered = rec.end <= r || (fin == Some(r) && rec.end == r + 1);
            if rec.sacked() || rec.start < l || !covered {
                continue;
            }
            self.delivered(rec, now);
            self.set(k, SACKED);
        }
    }

    /// Every SACKed mark is void (the peer reneged, RFC 2018 §8).
    pub fn unsack_all(&mut self) {
        for k in 0..self.recs.len() {
            let f = self.recs[k].flags;
            self.set(k, f & !SACKED);
        }
    }

    /// Mark as lost every record not SACKed whose start `lost(start)` says is
    /// lost, scanning from the front while it says so (RFC 6675 IsLost is
    /// monotone). Returns the bytes newly marked.
    pub fn mark_lost_while(&mut self, mut lost: impl FnMut(SeqNum) -> bool) -> u32 {
        let mut n = 0;
        for k in 0..self.recs.len() {
            let r = self.recs[k];
            if r.sacked() || r.lost() {
                continue;
            }
            if !lost(r.start) {
                break;
            }
            self.set(k, r.flags | LOST);
            n += r.len();
        }
        n
    }

    /// Mark the first record not SACKed as lost if it was not retransmitted yet
    /// (a fast retransmit by duplicate ACKs, a NewReno partial ACK). Returns
    /// whether something was marked.
    pub fn mark_first_lost(&mut self) -> bool {
        for k in 0..self.recs.len() {
            let r = self.recs[k];
            if r.sacked() {
                continue;
            }
            if r.lost() {
                return false;
            }
            self.set(k, r.flags | LOST);
            return true;
        }
        false
    }

    /// The path MTU dropped below what was sent: every record not SACKed and
    /// longer than `mss` is lost (the router discarded it), as Linux's
    /// `tcp_simple_retransmit`. Returns the bytes newly marked.
    pub fn mark_longer_lost(&mut self, mss: u32) -> u32 {
        let mut n = 0;
        for k in 0..self.recs.len() {
            let r = self.recs[k];
            if r.sacked() || r.len() <= mss {
                continue;
            }
            if !r.lost() {
                n += r.len();
            }
            self.set(k, (r.flags | LOST) & !RETRANS);
        }
        n
    }

    /// The recovery was spurious: records deemed lost and not yet
    /// retransmitted are not lost after all.
    pub fn unmark_lost(&mut self) {
        for k in 0..self.recs.len() {
            let f = self.recs[k].flags;
            if f & LOST != 0 && f & RETRANS == 0 {
                self.set(k, f & !LOST);
            }
        }
    }

    /// A retransmission timeout (RFC 8985 §6.3): every record not SACKed is
    /// lost and none of its retransmissions is in flight.
    pub fn mark_all_lost(&mut self) {
        for k in 0..self.recs.len() {
            let f = self.recs[k].flags;
            if f & SACKED == 0 {
                self.set(k, (f | LOST) & !RETRANS);
            }
        }
    }

    /// The first record deemed lost and not retransmitted since (RFC 6675
    /// NextSeg rule 1).
    pub fn next_lost(&self) -> Option<Record> {
        if self.lost == 0 {
            // No record is marked lost (the counter follows the flags).
            return None;
        }
        self.recs.iter().find(|r| r.lost() && !r.retransmitted() && !r.sacked()).copied()
    }

    /// The last record (a tail loss probe resends it).
    pub fn last(&self) -> Option<Record> {
        self.recs.back().copied()
    }

    /// RACK loss detection (RFC 8985 §6.2 step 5) at `now` with the smoothed RTT
    /// `srtt`: marks lost the records sent before the most recently delivered
    /// one by more than RACK.rtt + reo_wnd. Returns the bytes newly marked, and
    /// when to look again (the reordering timer) if some records are not yet
    /// overdue.
    pub fn rack_detect(&mut self, now: Instant, srtt: Option<Duration>) -> (u32, Option<Instant>) {
        let Some((xmit, end_seq)) = self.rack_xmit else { return (0, None) };
        let reo = self.reo_wnd(srtt);
        let mut marked = 0;
        let mut wait: Option<Duration> = None;
        for k in 0..self.recs.len() {
            let r = self.recs[k];
            if r.sacked() || (r.lost() && !r.retransmitted()) {
                continue;
            }
            let before = r.sent < xmit || (r.sent == xmit && r.end < end_seq);
            if !before {
                if self.send_order {
                    // Every later record was sent later still.
                    break;
                }
                continue;
            }
            let due = r.sent.add_micros(self.rack_rtt_us) + reo;
            if due <= now {
                self.set(k, (r.flags | LOST) & !RETRANS);
                marked += r.len();
            } else {
                let w = due.saturating_duration_since(now);
                wait = Some(wait.map_or(w, |x| x.max(w)));
            }
        }
        (marked, wait.map(|w| now + w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: u32) -> SeqNum {
        SeqNum(x)
    }
    fn ms(x: u64) -> Instant {
        Instant::from_millis(x)
    }

    #[test]
    fn counters_follow_flags() {
        let mut l = SentLog::default();
        for k in 0..10u32 {
            l.on_send(s(1000 * k), s(1000 * k + 1000), ms(u64::from(k)), false);
        }
        assert_eq!(l.records().count(), 10);
        l.on_sack(s(3000), s(6000), None, ms(50));
        assert_eq!(l.counts(), (3000, 0, 0));
        assert_eq!(l.mark_lost_while(|q| q < s(2000)), 2000);
        assert_eq!(l.counts(), (3000, 2000, 0));
        let r = l.next_lost().unwrap();
        assert_eq!(r.start, s(0));
        l.on_send(r.start, r.end, ms(60), false);
        assert_eq!(l.counts(), (3000, 2000, 1000));
        assert_eq!(l.next_lost().unwrap().start, s(1000));
        l.on_cumulative(s(1500), ms(70));
        assert_eq!(l.counts(), (3000, 500, 0));
        l.mark_all_lost();
        assert_eq!(l.counts(), (3000, 500 + 1000 * 5, 0));
        l.unsack_all();
        assert_eq!(l.counts().0, 0);
        l.on_cumulative(s(10_000), ms(80));
        assert_eq!(l.counts(), (0, 0, 0));
        assert_eq!(l.records().count(), 0);
    }

    /// RACK: a segment sent before one that was delivered is lost once it is
    /// overdue by RACK.rtt + reo_wnd; until then the timer waits.
    #[test]
    fn rack_marks_by_time() {
        let mut l = SentLog::default();
        // Four segments sent 1 ms apart; RTT 10 ms.
        for k in 0..4u32 {
            l.on_send(s(1000 * k), s(1000 * k + 1000), ms(100 + u64::from(k)), false);
        }
        // The first is delivered at 110 (RTT 10): min_rtt 10, reo_wnd 2.5 ms.
        l.on_cumulative(s(1000), ms(110));
        // The fourth SACKed at 113: the second and third were sent before it.
        l.on_sack(s(3000), s(4000), None, ms(113));
        let (m, at) = l.rack_detect(ms(113), Some(Duration::from_millis(10)));
        assert_eq!(m, 0);
        // Second: sent at 101, due at 101 + 10 + 2.5 = 113.5; third at 114.5.
        assert_eq!(at, Some(Instant::from_micros(114_500)));
        let (m, _) = l.rack_detect(Instant::from_micros(113_600), Some(Duration::from_millis(10)));
        assert_eq!(m, 1000);
        let (m, at) = l.rack_detect(Instant::from_micros(114_500), Some(Duration::from_millis(10)));
        assert_eq!((m, at), (1000, None));
        assert_eq!(l.next_lost().unwrap().start, s(1000));
        // A retransmission delivered faster than min_rtt is not taken as a sample.
        let r = l.next_lost().unwrap();
        l.on_send(r.start, r.end, ms(120), false);
        l.on_cumulative(s(2000), ms(121));
        assert_eq!(l.min_rtt(), Some(Duration::from_millis(10)));
        // D-SACKs widen the window, once per round trip, up to SRTT.
        let srtt = Some(Duration::from_millis(10));
        assert_eq!(l.reo_wnd(srtt), Duration::from_micros(2500));
        l.on_dsack(s(2000), s(4000));
        l.on_dsack(s(2000), s(4000));
        assert_eq!(l.reo_wnd(srtt), Duration::from_millis(5));
        l.on_dsack(s(4000), s(5000));
        assert_eq!(l.reo_wnd(srtt), Duration::from_micros(7500));
        for _ in 0..10 {
            l.on_dsack(s(9000 + 1), s(9000));
        }
        assert_eq!(l.reo_wnd(srtt), Duration::from_millis(10));
        for _ in 0..16 {
            l.on_recovery_end();
        }
        assert_eq!(l.reo_wnd(srtt), Duration::from_micros(2500));
    }

    #[test]
    fn bounded() {
        let mut l = SentLog::default();
        for k in 0..(MAX_RECORDS as u32 + 10) {
            l.on_send(s(k), s(k + 1), ms(1), false);
        }
        assert!(l.full());
        assert_eq!(l.records().count(), MAX_RECORDS);
    }

    /// The D-SACK round (SND.MAX when the multiplier last grew) is compared
    /// with SND.UNA modulo 2^32: in one flight that moves 3 GiB after it, a
    /// D-SACK must still widen the window once per round (it was ignored for
    /// the 2 GiB in which the stale round read as "ahead").
    #[test]
    fn dsack_round_survives_a_long_flight() {
        let mut l = SentLog::default();
        l.on_dsack(s(0), s(100_000));
        assert_eq!(l.reo_extra, 1);
        l.on_dsack(s(50_000), s(150_000));
        assert_eq!(l.reo_extra, 1, "one widening per round");
        let mut una = 0u32;
        for _ in 0..3 {
            una = una.wrapping_add(1 << 30);
            l.on_cumulative(s(una), ms(1));
        }
        l.on_dsack(s(una), s(una.wrapping_add(100_000)));
        assert_eq!(l.reo_extra, 2, "a D-SACK 3 GiB later is a new round");
    }

    /// RTT samples come from the oldest newly acknowledged record, in µs, and
    /// never from one deemed lost or retransmitted (Karn).
    #[test]
    fn rtt_sample_from_the_send_log() {
        let mut l = SentLog::default();
        let t0 = Instant::from_micros(10_000);
        l.on_send(s(0), s(1000), t0, false);
        l.on_send(s(1000), s(2000), t0 + Duration::from_micros(50), false);
        let now = t0 + Duration::from_micros(180);
        assert_eq!(l.rtt_sample_us(s(500), now), None, "partly acknowledged");
        assert_eq!(l.rtt_sample_us(s(2000), now), Some(180));
        l.mark_first_lost();
        assert_eq!(l.rtt_sample_us(s(2000), now), None, "ambiguous");
    }
}
