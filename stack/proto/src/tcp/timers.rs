//! The timers that watch a quiet connection: keepalive (RFC 1122 §4.2.3.6) and
//! the FIN-WAIT-2 orphan timeout (Linux's `tcp_fin_timeout`; RFC 9293 has none).
//! Both are lazy: receiving only records the time (`last_rx`, `fin_wait2_from`);
//! the timer, when it fires, re-arms itself if the connection was not quiet.

use super::conn::{Conn, Env, Outcome};
use super::seq::SeqNum;
use super::state::State;
use super::{CloseReason, Keepalive, SegmentSink};
use crate::time::Instant;
use wire::tcp::TcpFlags;

impl Conn {
    /// Turn keepalive on (with these parameters) or off.
    pub(crate) fn set_keepalive(&mut self, keepalive: Option<Keepalive>) {
        self.keepalive = super::conn::PackedKeepalive::new(keepalive);
        self.keepalive_sent = 0;
        self.keepalive_at = None;
        self.arm_keepalive();
    }

    /// Arm the keepalive timer `idle` after the peer was last heard.
    pub(crate) fn arm_keepalive(&mut self) {
        if let Some(ka) = self.keepalive.get() {
            if self.keepalive_at.is_none() && matches!(self.state, State::Established | State::CloseWait) {
                self.keepalive_at = Some(self.last_rx + ka.idle);
            }
        }
    }

    /// Our FIN was acknowledged: FIN-WAIT-2 until the peer's FIN, for at most
    /// `fin_timeout` without new data.
    pub(crate) fn enter_fin_wait2(&mut self, now: Instant, env: &mut Env<'_>) {
        self.fin_wait2_from = now;
        self.fin_wait2_at = Some(now + env.cfg.fin_timeout);
        self.keepalive_at = None;
    }

    /// The protocol is over for `reason`: free the connection, or, if received
    /// data is still unread, keep it in CLOSED until the application has read it
    /// (`Tcp::after` frees it then and reports `reason`).
    pub(crate) fn linger_or_free(&mut self, reason: CloseReason) -> Outcome {
        if self.rx.is_empty() {
            return Outcome::Free(reason);
        }
        self.state = State::Closed;
        self.close_reason = reason;
        self.rto_at = None;
        self.persist_at = None;
        self.delack_at = None;
        self.keepalive_at = None;
        self.fin_wait2_at = None;
        self.timewait_at = None;
        Outcome::Keep
    }

    /// The FIN-WAIT-2 timer fired: re-arm if data came since, else give up
    /// (`Closed{Timeout}`; the peer is not told, as in Linux).
    pub(crate) fn on_fin_wait2(&mut self, now: Instant, env: &mut Env<'_>) -> Outcome {
        self.fin_wait2_at = None;
        if self.state != State::FinWait2 {
            return Outcome::Keep;
        }
        let deadline = self.fin_wait2_from + env.cfg.fin_timeout;
        if now < deadline {
            self.fin_wait2_at = Some(deadline);
            return Outcome::Keep;
        }
        env.stats.fin_wait2_timeouts += 1;
        env.stats.timeouts += 1;
        self.linger_or_free(CloseReason::Timeout)
    }

    /// The keepalive timer fired (RFC 1122 §4.2.3.6). Only a quiet connection is
    /// probed: nothing in flight or waiting to be sent (the retransmission and
    /// persist timers watch the peer then) and nothing heard for `idle`.
    pub(crate) fn on_keepalive(&mut self, now: Instant, env: &mut Env<'_>, out: &mut impl SegmentSink) -> Outcome {
        self.keepalive_at = None;
        let Some(ka) = self.keepalive.get() else { return Outcome::Keep };
        if !matches!(self.state, State::Established | State::CloseWait) {
            return Outcome::Keep;
        }
        let unsent = self.tx.len() > self.snd_max.since(self.tx_seq) as usize;
        if self.snd_max != self.snd_una || unsent || self.persist_at.is_some() {
            self.keepalive_at = Some(now + ka.idle);
            return Outcome::Keep;
        }
        let heard = self.last_rx + ka.idle;
        if now < heard {
            self.keepalive_at = Some(heard);
            return Outcome::Keep;
        }
        if u32::from(self.keepalive_sent) >= ka.probes {
            env.stats.keepalive_timeouts += 1;
            env.stats.timeouts += 1;
            return self.linger_or_free(CloseReason::Timeout);
        }
        // <SEQ=SND.NXT-1><ACK=RCV.NXT><CTL=ACK>, no data: a sequence number the
        // peer has seen, so it answers with an ACK (RFC 9293 §3.10.7.4 first check).
        env.stats.keepalive_probes += 1;
        self.keepalive_sent = self.keepalive_sent.saturating_add(1);
        let seq: SeqNum = self.snd_max - 1;
        self.send_segment(now, env, out, seq, 0, 0, TcpFlags::ACK);
        self.keepalive_at = Some(now + ka.interval);
        Outcome::Keep
    }
}
