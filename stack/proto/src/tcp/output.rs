//! Output of one connection: building segments, sending new data as the windows
//! allow (Nagle, sender SWS avoidance), pure and delayed ACKs, FIN, and the timers:
//! retransmission (RFC 6298), persist (RFC 9293 §3.8.6.1), delayed ACK
//! (RFC 9293 §3.8.6.3) and TIME-WAIT.

use super::conn::{Conn, Env, Outcome, PendingReset};
use super::congestion::CongestionControl;
use super::options::ts_clock;
use super::seq::SeqNum;
use super::state::State;
use super::window::may_send;
use super::{CloseReason, SegmentSink};
use super::TcpStats;
use crate::time::{Duration, Instant};
use core::net::SocketAddr;
use wire::tcp::{TcpFlags, TcpOptions, TcpRepr};

impl Conn {
    /// Build one segment carrying `len` bytes of `tx` from offset `off` and send it.
    /// Every segment with ACK carries RCV.NXT and our (scaled) window.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send_segment(&mut self, now: Instant, env: &mut Env<'_>, out: &mut impl SegmentSink, seq: SeqNum, off: usize, len: usize, flags: TcpFlags) -> bool {
        let syn = flags.contains(TcpFlags::SYN);
        let has_ack = flags.contains(TcpFlags::ACK);
        let room = self.rx_window_room(env.pool);
        let window = self.rwin.advertise(self.rcv_nxt, room, self.rx.capacity() as u32, u32::from(self.neg.send_mss), syn);
        let options = if syn {
            let (tsval, tsecr) = match &self.ts {
                Some(ts) => (ts_clock(now, ts.offset), if has_ack { ts.recent } else { 0 }),
                None => (0, 0),
            };
            // RFC 5482 §3: ADV_UTO in our SYN / SYN-ACK when a local user
            // timeout is set (never by default: the SYN-ACK stays Linux's).
            TcpOptions { user_timeout: self.adv_uto(), ..self.offer.syn_options(tsval, tsecr) }
        } else {
            let timestamps = self.ts.as_ref().map(|ts| (ts_clock(now, ts.offset), ts.recent));
            // RFC 2018 §4: SACK blocks in every ACK while data is held out of order.
            let mut sack = if has_ack { self.sack_blocks() } else { Default::default() };
            if len > 0 && sack.len > 0 {
                // RFC 9293 §3.7.1 / RFC 6691: data plus options beyond the ones
                // SEND.MSS already leaves room for (timestamps) must fit the MSS;
                // a data segment carries as many SACK blocks as its data leaves
                // room for (the first, most recent one kept, RFC 2018 §4).
                let base = wire::tcp::options_len(&TcpOptions { timestamps, ..TcpOptions::default() }, false);
                let room = (usize::from(self.neg.send_mss) + base).saturating_sub(len);
                while sack.len > 0 && wire::tcp::options_len(&TcpOptions { timestamps, sack, ..TcpOptions::default() }, false) > room {
                    sack.len -= 1;
                }
            }
            env.stats.sack_blocks_sent += u64::from(sack.len);
            // RFC 5482 §3: after a change of the local user timeout, ADV_UTO
            // once more, on a segment without data (the MSS leaves no room).
            let user_timeout = if self.uto_pending() && len == 0 { self.adv_uto() } else { None };
            if user_timeout.is_some() && has_ack {
                self.set_uto_pending(false);
            }
            TcpOptions { timestamps, sack, user_timeout, ..TcpOptions::default() }
        };
        let payload = if len > 0 { self.tx.read_at(&mut *env.pool, off, len) } else { &[] };
        let repr = TcpRepr {
            src_port: self.local_port,
            dst_port: self.remote_port,
            seq: seq.get(),
            ack: if has_ack { self.rcv_nxt.get() } else { 0 },
            flags,
            window,
            urgent: 0,
            options,
            payload,
        };
        let ok = out.send_segment(self.local_ip, self.remote_ip, &repr);
        env.stats.segments_out += 1;
        if !ok {
            env.stats.send_failed += 1;
        }
        env.stats.bytes_out += payload.len() as u64;
        if has_ack {
            self.last_ack_sent = self.rcv_nxt;
            self.ack_now = false;
            self.delack_at = None;
            self.unacked_bytes = 0;
        }
        ok
    }

    /// Send (or resend) our SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED).
    pub(crate) fn send_syn(&mut self, now: Instant, env: &mut Env<'_>, out: &mut impl SegmentSink) {
        let flags = if self.state == State::SynSent { TcpFlags::SYN } else { TcpFlags::SYN | TcpFlags::ACK };
        self.send_segment(now, env, out, self.iss, 0, 0, flags);
        if self.snd_max == self.iss {
            self.snd_max = self.iss + 1;
            self.snd_nxt = self.iss + 1;
            self.rtt.start_timing((self.iss + 1).get(), now);
        } else {
            env.stats.retransmits += 1;
            self.rtt.cancel_timing();
        }
        if self.rto_at.is_none() {
            self.rto_at = Some(self.rto_deadline(now));
        }
    }

    /// Send a data and/or FIN segment at `seq` (`off` into `tx`), and account for it.
    #[allow(clippy::too_many_arguments)]
    ///
    /// Returns `false` when the sink had no room (no transmit frame, next hop not
    /// resolved). New data that could not go out is then not accounted as sent:
    /// SND.NXT stays, so the next transmit opportunity sends it, instead of a
    /// retransmission timeout later treating a local shortage as network loss.
    pub(crate) fn send_data(&mut self, now: Instant, env: &mut Env<'_>, out: &mut impl SegmentSink, seq: SeqNum, off: usize, len: usize, fin: bool) -> bool {
        let mut flags = TcpFlags::ACK;
        if fin {
            flags = flags.union(TcpFlags::FIN);
        }
        if len > 0 && off + len == self.tx.len() {
            flags = flags.union(TcpFlags::PSH);
        }
        let ok = self.send_segment(now, env, out, seq, off, len, flags);
        if !ok && seq >= self.snd_max {
            return false;
        }
        let end = seq + len as u32 + u32::from(fin);
        let old_max = self.snd_max;
        if seq < self.snd_max {
            env.stats.retransmits += 1;
            // Karn (RFC 6298 §3): a retransmission spoils the running measurement.
            self.rtt.cancel_timing();
        }
        if end > self.snd_max {
            if seq >= self.snd_max {
                self.rtt.start_timing(end.get(), now);
            }
            self.snd_max = end;
        }
        if end > self.snd_nxt {
            self.snd_nxt = end;
        }
        // The segment's record (RACK, the scoreboard's pipe) and the idle clock;
        // new data with nothing outstanding starts a flight (`flight.rs`).
        if old_max == self.snd_una && seq >= old_max {
            self.start_flight(env);
            // The user timeout counts from here (RFC 9293 §3.8.3).
            self.una_since_ms = now.millis() as u32;
        }
        if let Some(f) = self.loss.fl.as_deref_mut() {
            f.log.on_send(seq, end, now, false);
        }
        self.loss.last_send = Some(now);
        if seq >= old_max && self.loss.fl.as_ref().is_some_and(|f| f.tlp_end.is_none()) {
            // RFC 8985 §7.2: new data (re)arms the probe timeout.
            self.arm_tlp(now, env.cfg.tail_loss_probe);
        }
        // RFC 6298 §5.1: start the timer when data goes out and it is not running
        // (with a closed window the persist timer is in charge instead).
        if self.rto_at.is_none() && self.snd_wnd != 0 {
            self.rto_at = Some(self.rto_deadline(now));
        }
        ok
    }

    /// A pure ACK `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`. SND.NXT here is the highest
    /// sequence number sent (our SND.NXT goes back after a timeout, and a pure ACK
    /// with such an old sequence number would be unacceptable to the peer, RFC 9293
    /// §3.10.7.4, which would then ignore its ACK field); with a closed window the
    /// peer only accepts SEQ = RCV.NXT, which is our SND.UNA.
    pub(crate) fn send_ack(&mut self, now: Instant, env: &mut Env<'_>, out: &mut impl SegmentSink) {
        env.stats.acks_sent += 1;
        let seq = if self.snd_wnd == 0 { self.snd_una } else { self.snd_max };
        self.send_segment(now, env, out, seq, 0, 0, TcpFlags::ACK);
    }

    /// A RST `<SEQ=seq><CTL=RST>`, or `<SEQ=seq><ACK=ack><CTL=RST,ACK>` when `ack` is
    /// given (RFC 9293 §3.10.7).
    pub(crate) fn send_reset(&mut self, env: &mut Env<'_>, out: &mut impl SegmentSink, seq: SeqNum, ack: Option<SeqNum>) {
        emit_reset(env.stats, out, self.local(), self.remote(), seq.get(), ack.map(SeqNum::get));
    }

    /// Retransmit the first unacknowledged segment (fast retransmit, NewReno partial
    /// ACK, RTO), without pulling SND.NXT back.
    pub(crate) fn retransmit_first(&mut self, now: Instant, env: &mut Env<'_>, out: &mut impl SegmentSink) {
        if matches!(self.state, State::SynSent | State::SynReceived) {
            self.send_syn(now, env, out);
            return;
        }
        if self.snd_una == self.snd_max {
            return;
        }
        let off = self.snd_una.since(self.tx_seq) as usize;
        let sent_data = (self.snd_max.since(self.tx_seq) as usize).min(self.tx.len());
        let outstanding = sent_data.saturating_sub(off);
        let len = outstanding.min(usize::from(self.neg.send_mss));
        let chunk = self.tx.available(off, len);
        let fin = self.fin_sent() && self.fin_seq() == Some(self.snd_una + chunk as u32);
        if chunk == 0 && !fin {
            return;
        }
        self.send_data(now, env, out, self.snd_una, off, chunk, fin);
    }

    /// Send what is due: new data within `min(SND.WND, cwnd)` subject to Nagle and
    /// SWS avoidance, go-back-N retransmission after a timeout, FIN, and an ACK if
    /// one is owed and nothing carried it.
    pub(crate) fn transmit(&mut self, now: Instant, env: &mut Env<'_>, out: &mut impl SegmentSink) {
        self.tx_blocked = false;
        match self.state {
            State::SynSent | State::SynReceived => {
                if self.syn_resend {
                    self.syn_resend = false;
                    self.send_syn(now, env, out);
                }
                return;
            }
            State::Closed | State::Listen => return,
            State::TimeWait => {
                if self.ack_now {
                    self.send_ack(now, env, out);
                }
                return;
            }
            _ => {}
        }
        let mss = u32::from(self.neg.send_mss);
        // RFC 6675 NextSeg rule 1: lost segments first.
        let mut sent = self.send_lost(now, env, out);
        if self.tx_blocked {
            return;
        }
        if self.snd_nxt == self.snd_max && self.snd_nxt.since(self.tx_seq) < self.tx.len() as u32 {
            self.restart_after_idle(now, env);
        }
        loop {
            let off = self.snd_nxt.since(self.tx_seq) as usize;
            let unsent = self.tx.len().saturating_sub(off) as u32;
            let in_flight = self.snd_nxt.since(self.snd_una);
            // The receive window bounds what is outstanding; the congestion
            // window what is in the pipe (RFC 6675 rule 2, RFC 3042).
            let usable = self.snd_wnd.saturating_sub(in_flight).min(self.cwnd_room());
            let retrans = self.snd_nxt < self.snd_max;
            let len = if self.loss.log_full() && !retrans { 0 } else { unsent.min(usable).min(mss) };
            if len > 0 {
                // The segment that carries our FIN goes without waiting for
                // Nagle (nothing more will fill it; Linux's tcp_nagle_test).
                let ends_with_fin = len == unsent && self.fin_seq() == Some(self.snd_nxt + unsent);
                if !retrans && !may_send(len, unsent, mss, self.max_snd_wnd, in_flight, self.nodelay || ends_with_fin || self.push_to > self.snd_nxt) {
                    break;
                }
                let chunk = self.tx.available(off, len as usize);
                let fin = self.fin_seq() == Some(self.snd_nxt + chunk as u32);
                if !self.send_data(now, env, out, self.snd_nxt, off, chunk, fin) {
                    // No room below us: stop here; the endpoint retries at its next
                    // poll_transmit.
                    self.tx_blocked = true;
                    break;
                }
                sent = true;
            } else if unsent == 0 && self.fin_seq() == Some(self.snd_nxt) && !self.loss.log_full() {
                // The FIN alone; it needs no window (it takes no buffer space).
                if !self.send_data(now, env, out, self.snd_nxt, off, 0, true) {
                    self.tx_blocked = true;
                    break;
                }
                sent = true;
            } else {
                break;
            }
        }
        let unsent = self.tx.len().saturating_sub(self.snd_nxt.since(self.tx_seq) as usize) as u32;
        self.note_cwnd_use(unsent);
        if self.ack_now && !sent {
            self.send_ack(now, env, out);
        }
        self.arm_persist(now);
    }

    /// RFC 9293 §3.8.6.1: with a zero send window and something to send, the persist
    /// timer (not the RTO) probes the window. The same timer is the override timeout
    /// of sender SWS avoidance (RFC 9293 §3.8.6.2.1): nothing in flight, data waiting,
    /// and the window too small to send it.
    fn arm_persist(&mut self, now: Instant) {
        if self.rto_at.is_some() || self.persist_at.is_some() {
            return;
        }
        let off = self.snd_nxt.since(self.tx_seq) as usize;
        let unsent = self.tx.len().saturating_sub(off);
        let zero_window = self.snd_wnd == 0 && (!self.tx.is_empty() || (self.fin_seq().is_some() && !self.fin_acked()));
        let sws_blocked = unsent > 0 && self.snd_nxt == self.snd_una;
        if zero_window || sws_blocked {
            let backoff = 1u32 << self.persist_probes.min(16);
            let d = self.rtt.rto().saturating_mul(backoff).min(self.rtt.max_rto());
            self.persist_at = Some(self.uto_clamp(now, now + d));
        }
    }

    /// The retransmission timer expired (RFC 6298 §5.4–5.6): back off, collapse the
    /// congestion window, go back to SND.UNA; give up after the retry limit.
    fn on_rto(&mut self, now: Instant, env: &mut Env<'_>, out: &mut impl SegmentSink) -> Outcome {
        self.rto_at = None;
        if self.snd_una == self.snd_max && !self.syn_pending() {
            return Outcome::Keep;
        }
        env.stats.rto_expired += 1;
        self.retries = self.retries.saturating_add(1);
        let limit = match self.state.is_synchronized() {
            true => env.cfg.max_retries,
            // A half-open entry of a listener whose SYN queue is more than half
            // full gives up sooner (Linux's pruning in reqsk_timer_handler).
            false if env.syn_pressure => env.cfg.syn_retries.min(super::SYN_RETRIES_UNDER_PRESSURE),
            false => env.cfg.syn_retries,
        };
        if u32::from(self.retries) > limit {
            env.stats.timeouts += 1;
            // RFC 1122 §4.2.3.9, RFC 5461: a soft error heard meanwhile is what
            // the application learns, rather than a bare timeout.
            return Outcome::Free(self.soft_error.map_or(CloseReason::Timeout, CloseReason::Unreachable));
        }
        self.rtt.on_timeout();
        let flight = self.snd_max.since(self.snd_una);
        self.cc.on_rto(now, flight);
        if self.state.is_synchronized() {
            // Every segment not SACKed is lost (RFC 8985 §6.3) and goes again
            // as cwnd allows, SACKed ones are skipped (RFC 6675 §5.1); the
            // first one now.
            self.loss_on_rto(env);
            self.send_lost(now, env, out);
        } else {
            self.retransmit_first(now, env, out);
        }
        self.rto_at = Some(self.rto_deadline(now));
        Outcome::Keep
    }

    /// The retransmission timer's deadline from `now`: the RTO, or sooner the
    /// end of the user timeout (as Linux's `tcp_clamp_rto_to_user_timeout`).
    pub(crate) fn rto_deadline(&self, now: Instant) -> Instant {
        self.uto_clamp(now, now.add_micros(u64::from(self.rtt.rto_us())))
    }

    /// `at`, or the end of the user timeout if sooner (data outstanding,
    /// window probes included).
    pub(crate) fn uto_clamp(&self, now: Instant, at: Instant) -> Instant {
        if self.user_timeout_ms() == 0 || !self.state.is_synchronized() || self.snd_una == self.snd_max {
            return at;
        }
        let elapsed = (now.millis() as u32).wrapping_sub(self.una_since_ms);
        let left = self.user_timeout_ms().saturating_sub(elapsed);
        at.min(now + Duration::from_millis(u64::from(left)))
    }

    /// The user timeout changed: bring the armed retransmission or persist
    /// timer forward to its end if sooner. No clock is at hand here: the
    /// armed deadline itself is the reference (it lies within the 24 days the
    /// millisecond counters cover).
    pub(crate) fn reclamp_user_timeout(&mut self) {
        if self.user_timeout_ms() == 0 || !self.state.is_synchronized() || self.snd_una == self.snd_max {
            return;
        }
        let uto = self.user_timeout_ms();
        for t in [&mut self.rto_at, &mut self.persist_at] {
            if let Some(at) = *t {
                let since = (at.millis() as u32).wrapping_sub(self.una_since_ms);
                let end = if since >= uto {
                    Instant::from_micros(at.micros().saturating_sub(1000 * u64::from(since - uto)))
                } else {
                    at
                };
                *t = Some(end);
            }
        }
    }

    /// RFC 9293 §3.10.8 USER TIMEOUT: data sent has stayed unacknowledged
    /// longer than the user timeout: "flush all queues, signal the user
    /// 'error: connection aborted due to user timeout' ..., delete the TCB,
    /// enter the CLOSED state". The peer gets the RST an ABORT sends
    /// (§3.10.5; FreeBSD's `tcp_drop` does the same), so it does not keep a
    /// half-open connection.
    fn check_user_timeout(&mut self, now: Instant, env: &mut Env<'_>, out: &mut impl SegmentSink) -> Option<Outcome> {
        if self.user_timeout_ms() == 0 || !self.state.is_synchronized() {
            return None;
        }
        // Nothing outstanding (a closed window not probed yet): no clock runs;
        // the first probe starts it.
        if self.snd_una == self.snd_max {
            return None;
        }
        let elapsed = (now.millis() as u32).wrapping_sub(self.una_since_ms);
        if elapsed < self.user_timeout_ms() {
            return None;
        }
        env.stats.user_timeouts += 1;
        env.stats.timeouts += 1;
        self.abort(env, out);
        Some(Outcome::Free(CloseReason::UserTimeout))
    }

    fn syn_pending(&self) -> bool {
        matches!(self.state, State::SynSent | State::SynReceived) && self.snd_una == self.iss
    }

    /// The persist timer expired: send a one-byte window probe (RFC 9293 §3.8.6.1)
    /// and back off.
    fn on_persist(&mut self, now: Instant, env: &mut Env<'_>, out: &mut impl SegmentSink) -> Outcome {
        self.persist_at = None;
        if self.snd_wnd > 0 {
            // SWS override: send what the window allows even if it is small.
            let off = self.snd_nxt.since(self.tx_seq) as usize;
            let unsent = self.tx.len().saturating_sub(off);
            if unsent > 0 && self.snd_nxt == self.snd_una {
                let len = unsent.min(self.snd_wnd as usize).min(usize::from(self.neg.send_mss));
                let chunk = self.tx.available(off, len);
                let fin = self.fin_seq() == Some(self.snd_nxt + chunk as u32);
                self.send_data(now, env, out, self.snd_nxt, off, chunk, fin);
            }
            return Outcome::Keep;
        }
        self.persist_probes = self.persist_probes.saturating_add(1);
        self.probes_unanswered = self.probes_unanswered.saturating_add(1);
        // RFC 9293 §3.8.6.1: keep probing as long as the peer answers; give up only
        // when it stopped answering altogether.
        if u32::from(self.probes_unanswered) > env.cfg.max_retries {
            env.stats.timeouts += 1;
            return Outcome::Free(CloseReason::Timeout);
        }
        env.stats.window_probes += 1;
        let off = self.snd_una.since(self.tx_seq) as usize;
        if self.tx.len() > off {
            let fin = self.fin_seq() == Some(self.snd_una + 1);
            self.send_data(now, env, out, self.snd_una, off, 1, fin);
        } else if let Some(f) = self.fin_seq() {
            if !self.fin_acked() {
                self.send_data(now, env, out, f, off, 0, true);
            }
        }
        self.arm_persist(now);
        Outcome::Keep
    }

    /// Run the timers due at `now`, then send what is due.
    pub(crate) fn on_timer(&mut self, now: Instant, env: &mut Env<'_>, out: &mut impl SegmentSink) -> Outcome {
        if matches!(self.timewait_at, Some(t) if t <= now) {
            self.timewait_at = None;
            return Outcome::Free(CloseReason::Normal);
        }
        if matches!(self.loss.rack_at(), Some(t) if t <= now) {
            self.on_rack_timer(now, env);
        }
        // RFC 8985 §7.2: an armed probe timeout stands in for the RTO (it is
        // never later); the probe re-arms the RTO.
        if matches!(self.loss.tlp_at(), Some(t) if t <= now) {
            self.on_tlp(now, env, out);
        }
        if matches!(self.rto_at, Some(t) if t <= now) || matches!(self.persist_at, Some(t) if t <= now) {
            if let Some(o) = self.check_user_timeout(now, env, out) {
                return o;
            }
        }
        if matches!(self.rto_at, Some(t) if t <= now) {
            if let Outcome::Free(r) = self.on_rto(now, env, out) {
                return Outcome::Free(r);
            }
        }
        if matches!(self.persist_at, Some(t) if t <= now) {
            if let Outcome::Free(r) = self.on_persist(now, env, out) {
                return Outcome::Free(r);
            }
        }
        if matches!(self.fin_wait2_at, Some(t) if t <= now) {
            if let Outcome::Free(r) = self.on_fin_wait2(now, env) {
                return Outcome::Free(r);
            }
        }
        if matches!(self.keepalive_at, Some(t) if t <= now) {
            if let Outcome::Free(r) = self.on_keepalive(now, env, out) {
                return Outcome::Free(r);
            }
        }
        if matches!(self.delack_at, Some(t) if t <= now) {
            self.delack_at = None;
            if !self.ack_now {
                env.stats.delayed_acks += 1;
            }
            self.ack_now = true;
        }
        self.transmit(now, env, out);
        Outcome::Keep
    }

    /// abort(): RST `<SEQ=SND.MAX><ACK=RCV.NXT><CTL=RST,ACK>` in the states that have
    /// a peer to tell (RFC 9293 §3.10.5).
    pub(crate) fn abort(&mut self, env: &mut Env<'_>, out: &mut impl SegmentSink) {
        if let Some(r) = self.abort_reset() {
            emit_reset(env.stats, out, r.local, r.remote, r.seq, r.ack);
        }
    }

    /// The RST an abort owes the peer, if the state has a peer to tell (RFC 9293
    /// §3.10.5: SYN-RECEIVED, ESTABLISHED, FIN-WAIT-1/2, CLOSE-WAIT).
    pub(crate) fn abort_reset(&self) -> Option<PendingReset> {
        matches!(
            self.state,
            State::SynReceived | State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait
        )
        .then(|| {
            // SND.NXT (our highest), unless it lies beyond the peer's window
            // (probed bytes of a closed window): then the window's right edge,
            // which the peer's RFC 5961 §3.2 check accepts (Linux's
            // `tcp_acceptable_seq`).
            let edge = self.snd_una + self.snd_wnd;
            let seq = if self.snd_max > edge { edge } else { self.snd_max };
            PendingReset { local: self.local(), remote: self.remote(), seq: seq.get(), ack: Some(self.rcv_nxt.get()) }
        })
    }
}

/// Send `<SEQ=seq><CTL=RST>`, or `<SEQ=seq><ACK=ack><CTL=RST,ACK>` when `ack` is given
/// (RFC 9293 §3.10.7), from `local` to `remote`, and count it. Shared by connections
/// and by the answers to segments that have none.
pub(crate) fn emit_reset(stats: &mut TcpStats, out: &mut impl SegmentSink, local: SocketAddr, remote: SocketAddr, seq: u32, ack: Option<u32>) {
    let repr = TcpRepr {
        src_port: local.port(),
        dst_port: remote.port(),
        seq,
        ack: ack.unwrap_or(0),
        flags: if ack.is_some() { TcpFlags::RST | TcpFlags::ACK } else { TcpFlags::RST },
        window: 0,
        urgent: 0,
        options: TcpOptions::default(),
        payload: &[],
    };
    stats.segments_out += 1;
    stats.rst_sent += 1;
    if !out.send_segment(local.ip(), remote.ip(), &repr) {
        stats.send_failed += 1;
    }
}
