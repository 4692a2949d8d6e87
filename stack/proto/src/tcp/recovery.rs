//! Loss recovery of one connection: which segments are lost and when they go
//! again.
//!
//! * Loss detection: SACK by RFC 6675 (IsLost over the [`Scoreboard`]),
//!   duplicate ACKs (RFC 5681 §3.2, DupThresh 3, also without SACK), RACK by
//!   time (RFC 8985 §6, [`SentLog::rack_detect`]) with its reordering timer,
//!   and the retransmission timer (every segment not SACKed is lost, RFC 8985
//!   §6.3).
//! * Recovery (RFC 6675 §5): entered once per window of data (not before the
//!   previous recovery point is acknowledged, RFC 6582 §3.2 step 2): the
//!   controller sets ssthresh and cwnd, the first unacknowledged segment is
//!   retransmitted at once, then lost segments (NextSeg rule 1) and new data
//!   (rule 2) go while `cwnd − pipe ≥ 1 SMSS`. Without SACK, each duplicate
//!   ACK counts one segment out of the pipe and a partial ACK marks the next
//!   segment lost (RFC 6582's NewReno).
//! * Limited transmit (RFC 3042): the first two duplicate ACKs each let one new
//!   segment go beyond cwnd.
//! * Tail loss probe (RFC 8985 §7): with SACK, when new data is sent or an ACK
//!   advances, a probe timeout PTO = 2·SRTT (+200 ms with one segment in
//!   flight), at most the RTO, is armed; when it fires, one new segment (or the
//!   last one again) goes, so that the ACK it draws lets RACK find the tail's
//!   losses without a retransmission timeout.
//! * Restart after idle (RFC 5681 §4.1): nothing sent for more than an RTO,
//!   cwnd goes back to min(IW, cwnd).
//!
//! Not implemented: NextSeg rules 3 and 4 (rescue retransmission), TLP's
//! congestion response when a probe repaired a loss (§7.4), PRR (RFC 6937),
//! undoing spurious retransmissions from D-SACK (RFC 3708).

use super::conn::{Conn, Env};
use super::congestion::CongestionControl;
use super::flight::Flight;
use super::rack::RackMemory;
use super::sack::{SackGen, Scoreboard, DUP_THRESH, MAX_BLOCKS, MAX_BLOCKS_WITH_TS};
use super::seq::SeqNum;
use super::SegmentSink;
use crate::time::{Duration, Instant};
use wire::tcp::{SackBlocks, TcpRepr};

/// RFC 8985 §7.2 WCDelAckT: the worst-case delayed-ACK time added to the PTO
/// when one segment is in flight.
const WC_DEL_ACK: Duration = Duration::from_millis(200);
/// What the probe timeout adds to 2·SRTT with more than one segment in
/// flight: RFC 8985 §7.2 leaves room for timer granularity and ACK
/// processing; Linux adds `TCP_TIMEOUT_MIN` (2 ms). Without it, on a link of a
/// few microseconds (veth, a rack), any peer that takes longer than two RTTs
/// to send its ACK (scheduling, GRO, a delayed ACK for an odd segment) draws a
/// spurious probe; at the end of a connection the probe's duplicate FIN then
/// meets a peer that has closed.
const PTO_MIN_EXTRA: Duration = Duration::from_millis(2);

/// Loss-recovery state of one connection: what an idle connection keeps
/// inline, and the [`Flight`] lent by the endpoint's pool while data is in
/// flight (`flight.rs`).
#[derive(Debug, Default)]
pub(crate) struct LossState {
    /// Which blocks we reported (receiver side).
    pub gen: SackGen,
    /// When data was last sent (RFC 5681 §4.1 restart after idle).
    pub last_send: Option<Instant>,
    /// What RACK learnt in earlier flights (min_RTT, reordering window).
    pub rack: RackMemory,
    /// The in-flight state: scoreboard, send log, recovery, TLP; `None` when
    /// nothing is outstanding, or when the pool had none for this flight.
    pub fl: Option<Box<Flight>>,
}

impl LossState {
    /// A fresh state.
    pub fn new() -> LossState {
        LossState::default()
    }
    /// In fast recovery (RFC 6675 §5).
    #[inline]
    pub fn in_recovery(&self) -> bool {
        self.fl.as_ref().is_some_and(|f| f.in_recovery)
    }
    /// No room in the send log for another segment.
    #[inline]
    pub fn log_full(&self) -> bool {
        self.fl.as_ref().is_some_and(|f| f.log.full())
    }
    /// The probe timeout, if armed.
    #[inline]
    pub fn tlp_at(&self) -> Option<Instant> {
        self.fl.as_ref().and_then(|f| f.tlp_at)
    }
    /// RACK's reordering timer, if armed.
    #[inline]
    pub fn rack_at(&self) -> Option<Instant> {
        self.fl.as_ref().and_then(|f| f.rack_at)
    }
}

impl Conn {
    /// New data goes out with nothing outstanding: take a [`Flight`] from the
    /// pool (counted when there is none: this flight goes without).
    pub(crate) fn start_flight(&mut self, env: &mut Env<'_>) {
        if self.loss.fl.is_some() {
            return;
        }
        match env.flights.take(self.snd_una, self.loss.rack) {
            Some(f) => self.loss.fl = Some(f),
            None => env.stats.flight_state_exhausted += 1,
        }
    }

    /// Everything sent is acknowledged and no recovery runs: give the
    /// [`Flight`] back (keeping what RACK learnt).
    fn end_flight(&mut self, env: &mut Env<'_>) {
        if self.snd_una == self.snd_max && !self.loss.in_recovery() {
            if let Some(f) = self.loss.fl.take() {
                self.loss.rack = env.flights.put(f);
            }
        }
    }

    /// RFC 6675 §4 SetPipe: the bytes believed in the network, as Linux's
    /// `packets_out − (sacked_out + lost_out) + retrans_out`. Without a
    /// [`Flight`], what lies between SND.UNA and SND.NXT (SND.NXT goes back to
    /// SND.UNA on a timeout then).
    pub(crate) fn pipe(&self) -> u32 {
        let Some(f) = self.loss.fl.as_deref() else { return self.snd_nxt.since(self.snd_una) };
        let flight = self.snd_max.since(self.snd_una);
        let (sacked, lost, retrans) = f.log.counts();
        flight.saturating_sub(sacked.saturating_add(lost).saturating_add(f.reno_sacked)).saturating_add(retrans)
    }

    /// Room the congestion window leaves for new data: `cwnd − pipe` in
    /// recovery; outside it RFC 3042's limited transmit lets each of the first
    /// two duplicate ACKs send one segment beyond cwnd.
    pub(crate) fn cwnd_room(&self) -> u32 {
        let cwnd = self.cc.window();
        let Some(f) = self.loss.fl.as_deref() else { return cwnd.saturating_sub(self.pipe()) };
        if f.in_recovery {
            return cwnd.saturating_sub(self.pipe());
        }
        let mss = u32::from(self.neg.send_mss);
        let (_, lost, retrans) = f.log.counts();
        let flight = self.snd_max.since(self.snd_una).saturating_sub(lost).saturating_add(retrans);
        cwnd.saturating_add(f.dup_acks.min(2) * mss).saturating_sub(flight)
    }

    /// After a transmit: remember whether cwnd was what stopped it, and the
    /// most bytes outstanding, for the current window of data (Linux's
    /// `tcp_cwnd_validate`). `unsent`: bytes queued and not sent.
    pub(crate) fn note_cwnd_use(&mut self, unsent: u32) {
        let mss = u32::from(self.neg.send_mss);
        let limited = unsent > 0 && self.cwnd_room() < unsent.min(mss);
        let (snd_una, snd_nxt) = (self.snd_una, self.snd_nxt);
        let Some(f) = self.loss.fl.as_deref_mut() else { return };
        let out = snd_nxt.since(snd_una);
        if snd_una >= f.usage_seq || limited || (!f.cwnd_limited && out > f.max_flight) {
            f.cwnd_limited = limited;
            f.max_flight = out;
            f.usage_seq = snd_nxt;
        }
    }

    /// May an ACK grow cwnd? Only while the flow uses it (RFC 9438 §4.6: cwnd
    /// must not grow while the bytes in flight stay below it, rwnd- or
    /// application-limited; RFC 7661): in slow start while cwnd is below twice
    /// the most outstanding in this window, in congestion avoidance when the
    /// last transmit was stopped by cwnd (Linux's `tcp_is_cwnd_limited`).
    /// Without a [`Flight`] (the pool had none) it may.
    fn cwnd_limited(&self) -> bool {
        let Some(f) = self.loss.fl.as_deref() else { return true };
        let cwnd = self.cc.window();
        if cwnd < self.cc.ssthresh() {
            u64::from(cwnd) < 2 * u64::from(f.max_flight)
        } else {
            f.cwnd_limited
        }
    }

    /// The SACK blocks for an ACK we send now (RFC 2018 §4): none unless SACK
    /// was negotiated and something is held out of order (or a D-SACK pends).
    pub(crate) fn sack_blocks(&mut self) -> SackBlocks {
        if !self.neg.sack {
            return SackBlocks::default();
        }
        let max = if self.ts.is_some() { MAX_BLOCKS_WITH_TS } else { MAX_BLOCKS };
        self.loss.gen.build(self.rcv_nxt, self.ooo.ranges(), max)
    }

    /// A cumulative ACK advanced SND.UNA (already applied) by `acked` bytes of
    /// data; `flight` was outstanding before it.
    pub(crate) fn loss_on_cumulative(&mut self, now: Instant, env: &mut Env<'_>, acked: u32, flight: u32, tsecr: Option<u32>) {
        let snd_una = self.snd_una;
        let Some(f) = self.loss.fl.as_deref_mut() else {
            // No flight state: never in recovery.
            if acked > 0 {
                self.cc.on_ack(now, acked, flight, self.rtt.srtt());
            }
            return;
        };
        // Eifel (RFC 3522 §3.2): the ACK that covers the first segment deemed
        // lost echoes a timestamp from before its retransmission, so the
        // original arrived: the recovery was spurious (reordering), undo its
        // window reduction and stop retransmitting.
        if f.undo.as_ref().is_some_and(|u| snd_una >= u.2) {
            if let Some((prior, ts_start, _)) = f.undo.take() {
                if tsecr.is_some_and(|ecr| ecr != 0 && (ecr.wrapping_sub(ts_start) as i32) < 0) && f.in_recovery {
                    env.stats.spurious_recoveries += 1;
                    // Reordering fooled RACK: widen its window as a D-SACK would.
                    f.log.on_dsack(snd_una, self.snd_max);
                    self.cc = prior;
                    f.in_recovery = false;
                    f.point = snd_una;
                    f.log.unmark_lost();
                }
            }
        }
        f.log.on_cumulative(snd_una, now);
        f.board.prune(snd_una);
        f.dup_acks = 0;
        f.reno_sacked = f.reno_sacked.saturating_sub(acked);
        if f.tlp_end.is_some_and(|e| snd_una >= e) {
            f.tlp_end = None;
        }
        if f.in_recovery {
            if snd_una >= f.point {
                // RFC 6675 §5 / RFC 6582 §3.2 step 5: recovery ends.
                f.in_recovery = false;
                f.reno_sacked = 0;
                f.log.on_recovery_end();
                let left = self.snd_max.since(snd_una);
                self.cc.on_recovery_end(now, left);
            } else if !self.neg.sack {
                // RFC 6582 §3.2 step 5, partial ACK: the next segment is lost too.
                f.log.mark_first_lost();
            }
        } else {
            // Outside recovery only `SND.UNA >= point` matters; RecoveryPoint is
            // compared modulo 2^32, so it follows SND.UNA: a flight that stays
            // open for more than 2 GiB must not make the comparison read
            // "before the point" and keep every later loss out of recovery.
            if snd_una > f.point {
                f.point = snd_una;
            }
            if acked > 0 && self.cwnd_limited() {
                self.cc.on_ack(now, acked, flight, self.rtt.srtt());
            }
        }
        self.end_flight(env);
    }

    /// Take the ACK's SACK blocks (RFC 2018, RFC 6675 §5) and run loss
    /// detection; `dup` says whether it is a duplicate ACK (RFC 5681 §2) by the
    /// header alone.
    pub(crate) fn loss_on_ack(&mut self, now: Instant, env: &mut Env<'_>, repr: &TcpRepr<'_>, mut dup: bool) {
        let blocks = repr.options.sack.as_slice();
        let fin = self.fin_seq();
        let (snd_una, snd_max) = (self.snd_una, self.snd_max);
        let Some(f) = self.loss.fl.as_deref_mut() else {
            if self.neg.sack && !blocks.is_empty() {
                // Nothing in flight (or no flight state): the blocks are only
                // checked and counted, against an empty scoreboard.
                env.stats.sack_blocks_received += blocks.len() as u64;
                let u = Scoreboard::default().update(snd_una, snd_max, blocks);
                env.stats.sack_invalid += u64::from(u.invalid);
                env.stats.dsack_received += u64::from(u.dsack);
            }
            if dup && !self.neg.sack {
                env.stats.dup_acks += 1;
            }
            return;
        };
        if self.neg.sack && !blocks.is_empty() {
            env.stats.sack_blocks_received += blocks.len() as u64;
            let u = f.board.update(snd_una, snd_max, blocks);
            env.stats.sack_invalid += u64::from(u.invalid);
            env.stats.dsack_received += u64::from(u.dsack);
            if u.dsack {
                f.log.on_dsack(snd_una, snd_max);
            }
            if u.newly_sacked > 0 {
                for &(l, r) in f.board.ranges() {
                    f.log.on_sack(l, r, fin, now);
                }
                // RFC 6675 §2: an ACK SACKing new data is a duplicate.
                dup |= repr.ack == snd_una.get() && snd_max != snd_una;
            }
        } else if dup && self.neg.sack {
            // RFC 6675 §2 counts only ACKs that SACK new data (a window update
            // or a D-SACK is no duplicate here).
            dup = false;
        }
        if dup {
            env.stats.dup_acks += 1;
            f.dup_acks += 1;
            if !self.neg.sack && f.in_recovery {
                let mss = u32::from(self.neg.send_mss);
                let flight = snd_max.since(snd_una);
                f.reno_sacked = (f.reno_sacked + mss).min(flight.saturating_sub(mss));
            }
        }
        self.detect_losses(now, env);
    }

    /// Mark lost what SACK (IsLost), RACK or DupThresh say is, and enter
    /// recovery if that is new (RFC 6675 §5 step 4).
    pub(crate) fn detect_losses(&mut self, now: Instant, env: &mut Env<'_>) {
        let mss = u32::from(self.neg.send_mss);
        let srtt = self.rtt.srtt();
        let Some(f) = self.loss.fl.as_deref_mut() else { return };
        let mut marked = 0;
        // With SACK and RACK (the default) losses are found by time alone, as
        // Linux does (tcp_time_to_recover skips the duplicate-ACK rules with
        // RACK): a reordering shorter than the window is no loss. Otherwise
        // RFC 6675's IsLost and DupThresh.
        let rack_only = self.neg.sack && env.cfg.rack;
        if self.neg.sack && !rack_only && !f.board.is_empty() {
            let board = &f.board;
            marked += f.log.mark_lost_while(|s| board.is_lost(s, mss));
        }
        let (rack, at) = f.log.rack_detect(now, srtt);
        f.rack_at = at;
        if rack > 0 {
            env.stats.rack_marked_lost += 1;
        }
        marked += rack;
        let dupthresh = !rack_only && f.dup_acks >= DUP_THRESH;
        if (marked > 0 || dupthresh) && !f.in_recovery && self.snd_una >= f.point && self.snd_una != self.snd_max {
            // RFC 6675 §5 step 4: RecoveryPoint = HighData, ssthresh and cwnd
            // from the controller, retransmit the first segment at once.
            env.stats.fast_retransmits += 1;
            env.stats.recoveries += 1;
            f.in_recovery = true;
            f.point = self.snd_max;
            let flight = self.snd_max.since(self.snd_una);
            let prior = self.cc.clone();
            self.cc.on_congestion(now, flight);
            // Eifel needs timestamps (RFC 3522 §2); keep one undo at a time.
            if let Some(ts) = self.ts.as_ref() {
                let first_end = f.log.records().find(|r| !r.sacked()).map_or(self.snd_una + 1, |r| r.end);
                f.undo = Some((prior, super::options::ts_clock(now, ts.offset), first_end));
            }
            f.log.mark_first_lost();
            f.force_first = true;
            f.tlp_at = None;
        }
    }

    /// Retransmit lost segments while the window allows (RFC 6675 NextSeg rule
    /// 1). Returns whether anything was sent.
    pub(crate) fn send_lost(&mut self, now: Instant, env: &mut Env<'_>, out: &mut impl SegmentSink) -> bool {
        let mss = u32::from(self.neg.send_mss);
        let mut sent = false;
        while let Some((r, force)) = self.loss.fl.as_deref().and_then(|f| Some((f.log.next_lost()?, f.force_first))) {
            let len = r.end.since(r.start);
            if !force && self.pipe().saturating_add(len.min(mss)) > self.cc.window() {
                break;
            }
            if let Some(f) = self.loss.fl.as_deref_mut() {
                f.force_first = false;
            }
            if !self.resend_range(now, env, out, r.start, r.end) {
                self.tx_blocked = true;
                break;
            }
            sent = true;
        }
        sent
    }

    /// Send `[start, end)` again (a FIN at its end included), in pieces of at
    /// most the MSS (which a lower path MTU may have cut since the range was
    /// first sent) and where the send ring wraps. Returns `false` if the sink
    /// was full.
    fn resend_range(&mut self, now: Instant, env: &mut Env<'_>, out: &mut impl SegmentSink, start: SeqNum, end: SeqNum) -> bool {
        let fin_in = self.fin_seq().is_some_and(|f| f >= start && f < end);
        let data_end = if fin_in { end - 1 } else { end };
        let mut seq = start;
        let mut first = true;
        while seq < data_end || (first && fin_in && seq == data_end) {
            first = false;
            let off = seq.since(self.tx_seq) as usize;
            let want = (data_end.since(seq) as usize).min(usize::from(self.neg.send_mss));
            let chunk = self.tx.available(off, want);
            if chunk == 0 && !(fin_in && seq == data_end) {
                // Nothing left to send in the ring (acknowledged meanwhile).
                break;
            }
            let fin = fin_in && seq + chunk as u32 == data_end;
            if !self.send_data(now, env, out, seq, off, chunk, fin) {
                return false;
            }
            seq += chunk as u32;
            if fin || chunk == 0 {
                break;
            }
        }
        true
    }

    /// Arm the probe timeout after new data or an advancing ACK (RFC 8985 §7.2).
    pub(crate) fn arm_tlp(&mut self, now: Instant, cfg_tlp: bool) {
        let mss = u32::from(self.neg.send_mss);
        let outstanding = self.snd_max.since(self.snd_una);
        let (srtt, rto) = (self.rtt.srtt_us(), self.rtt.rto_us());
        let usable = self.state.is_synchronized() && self.snd_wnd != 0;
        let Some(f) = self.loss.fl.as_deref_mut() else { return };
        f.tlp_at = None;
        if !cfg_tlp || !self.neg.sack || f.in_recovery || f.tlp_end.is_some() || outstanding == 0 || !usable {
            return;
        }
        let Some(srtt) = srtt else { return };
        // In µs (the hot path avoids `Duration` arithmetic).
        let extra = if outstanding <= mss { WC_DEL_ACK } else { PTO_MIN_EXTRA };
        let pto = (2 * u64::from(srtt) + extra.as_micros() as u64).min(u64::from(rto));
        f.tlp_at = Some(now.add_micros(pto));
    }

    /// The probe timeout fired (RFC 8985 §7.3): send one new segment if the
    /// receive window allows, else the last segment again; then the RTO runs.
    pub(crate) fn on_tlp(&mut self, now: Instant, env: &mut Env<'_>, out: &mut impl SegmentSink) {
        let Some(f) = self.loss.fl.as_deref_mut() else { return };
        f.tlp_at = None;
        if self.snd_una == self.snd_max || f.in_recovery || f.tlp_end.is_some() {
            return;
        }
        let (log_full, last) = (f.log.full(), f.log.last());
        let mss = u32::from(self.neg.send_mss);
        let off = self.snd_max.since(self.tx_seq) as usize;
        let unsent = self.tx.len().saturating_sub(off) as u32;
        let rwnd_room = self.snd_wnd.saturating_sub(self.snd_max.since(self.snd_una));
        env.stats.tlp_probes += 1;
        let len = unsent.min(mss).min(rwnd_room);
        if len > 0 && !log_full {
            let chunk = self.tx.available(off, len as usize);
            let fin = self.fin_seq() == Some(self.snd_max + chunk as u32);
            let seq = self.snd_max;
            self.send_data(now, env, out, seq, off, chunk, fin);
        } else if let Some(last) = last {
            self.resend_range(now, env, out, last.start, last.end);
            if let Some(f) = self.loss.fl.as_deref_mut() {
                f.log.on_send(last.start, last.end, now, true);
            }
        }
        if let Some(f) = self.loss.fl.as_deref_mut() {
            f.tlp_end = Some(self.snd_max);
        }
        self.rto_at = Some(self.rto_deadline(now));
    }

    /// RACK's reordering timer fired: look again (RFC 8985 §6.2).
    pub(crate) fn on_rack_timer(&mut self, now: Instant, env: &mut Env<'_>) {
        if let Some(f) = self.loss.fl.as_deref_mut() {
            f.rack_at = None;
        }
        self.detect_losses(now, env);
    }

    /// The retransmission timer expired on a synchronized connection: every
    /// segment not SACKed is lost (RFC 8985 §6.3); if the peer dropped data it
    /// had SACKed (SND.UNA itself SACKed), the SACK information is void
    /// (RFC 2018 §8). Recovery ends; RFC 6582 §3.2 step 4: no new fast
    /// recovery until SND.MAX of now is acknowledged. Without a [`Flight`],
    /// go back to SND.UNA (RFC 5681 §3.1: everything after it goes again as
    /// cwnd allows).
    pub(crate) fn loss_on_rto(&mut self, env: &mut Env<'_>) {
        let Some(f) = self.loss.fl.as_deref_mut() else {
            self.snd_nxt = self.snd_una;
            return;
        };
        if f.board.is_sacked(self.snd_una) {
            env.stats.sack_reneged += 1;
            f.board.clear();
            f.log.unsack_all();
        }
        f.log.mark_all_lost();
        f.undo = None;
        f.in_recovery = false;
        f.point = self.snd_max;
        f.dup_acks = 0;
        f.reno_sacked = 0;
        f.tlp_at = None;
        f.tlp_end = None;
        f.force_first = true;
    }

    /// RFC 5681 §4.1: before new data goes with nothing in flight, restart
    /// from the restart window if nothing was sent for more than an RTO.
    pub(crate) fn restart_after_idle(&mut self, now: Instant, env: &mut Env<'_>) {
        if self.snd_una != self.snd_max {
            return;
        }
        if let Some(t) = self.loss.last_send {
            if now.micros().saturating_sub(t.micros()) > u64::from(self.rtt.rto_us()) {
                self.cc.on_idle_restart(now);
                env.stats.cwnd_restarts += 1;
                self.loss.last_send = Some(now);
            }
        }
    }
}
