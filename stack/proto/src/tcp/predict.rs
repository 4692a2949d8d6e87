//! Header prediction (Van Jacobson's fast path, RFC 9293 §3.10.7.4 restricted
//! to the common case, as Linux's `tcp_rcv_established`): on an ESTABLISHED
//! connection (or a half-closed one: FIN-WAIT-1/2 receiving, CLOSE-WAIT
//! taking ACKs), a segment that is exactly the next one expected (SEG.SEQ =
//! RCV.NXT), carries ACK (and maybe PSH) and nothing else, no SACK blocks and
//! no user-timeout option, passes PAWS, fits the window, and either carries
//! data in order or acknowledges new data, while no loss recovery of any
//! kind runs. For such a segment every check of the general path
//! ([`Conn::process`]) has a known answer: the segment is acceptable, nothing
//! is trimmed, no RST/SYN/FIN/URG step applies, the ACK lies in
//! `[SND.UNA, SND.MAX]`, and loss detection finds nothing (a quiet flight:
//! [`super::flight::Flight::quiet`]). What is left is the work itself, done by
//! the same functions as the general path: the outcome (state, segments,
//! timers, events, counters other than [`super::TcpStats::predicted`]) is the
//! same either way, which `tests/tcp_predict.rs` checks by running both.

use super::conn::{Conn, Env, Outcome};
use super::options::paws_rejects;
use super::seq::SeqNum;
use super::state::State;
use crate::time::Instant;
use wire::tcp::{TcpFlags, TcpRepr};

impl Conn {
    /// Process `repr` by header prediction if it has the predicted shape;
    /// `None` (nothing changed) sends it down the general path.
    #[inline(always)]
    pub(crate) fn predicted(&mut self, now: Instant, env: &mut Env<'_>, repr: &TcpRepr<'_>) -> Option<Outcome> {
        let seq = SeqNum(repr.seq);
        let ack = SeqNum(repr.ack);
        let payload = repr.payload;
        let o = &repr.options;
        // ESTABLISHED, and the half-closed states of a bulk transfer:
        // FIN-WAIT-1/2 (our FIN queued or sent, the peer's data still coming)
        // and CLOSE-WAIT (the peer's FIN taken, ACKs of our data still coming;
        // no data after a FIN).
        let state_ok = match self.state {
            State::Established | State::FinWait1 | State::FinWait2 => true,
            State::CloseWait => payload.is_empty(),
            _ => false,
        };
        // ACK, or ACK|PSH: no SYN, FIN, RST, URG (nor ECE/CWR).
        if !state_ok || repr.flags.0 & !TcpFlags::PSH.0 != TcpFlags::ACK.0 || seq != self.rcv_nxt {
            return None;
        }
        // RFC 5961 §5.2 / RFC 9293 §3.10.7.4: SND.UNA <= SEG.ACK <= SND.MAX; a
        // pure ACK must acknowledge new data (else it is a duplicate or a
        // window update: general path).
        if ack < self.snd_una || ack > self.snd_max || (payload.is_empty() && ack == self.snd_una) || o.sack.len != 0 || o.user_timeout.is_some() {
            return None;
        }
        // In order with no gap held, and within the window: acceptable and
        // not trimmed (RFC 9293 §3.10.7.4 first check).
        if !payload.is_empty() && (!self.ooo.is_empty() || payload.len() as u64 > u64::from(self.rwin.current(self.rcv_nxt))) {
            return None;
        }
        // RFC 7323 §3.2 and §5.3 R1: with timestamps, the segment carries one
        // that PAWS accepts (a missing or rejected one takes the general path).
        let tsval = match (&self.ts, o.timestamps) {
            (None, _) => None,
            (Some(ts), Some((v, _))) if !paws_rejects(v, ts.recent) => Some(v),
            _ => return None,
        };
        if self.loss.fl.as_deref().is_some_and(|f| !f.quiet()) {
            return None;
        }
        env.stats.predicted += 1;
        // The peer is alive (keepalive, RFC 1122 §4.2.3.6).
        self.last_rx = now;
        self.keepalive_sent = 0;
        // Fifth step (the ACK field).
        self.probes_unanswered = 0;
        if ack > self.snd_una {
            // In FIN-WAIT-1 this may acknowledge our FIN (to FIN-WAIT-2, as in
            // the general path: the transitions are in there); no state here
            // ends the connection on an ACK.
            if let Some(outcome) = self.on_new_ack(now, env, repr, ack) {
                return Some(outcome);
            }
        }
        // No SACK blocks and no duplicate on a quiet flight: `loss_on_ack`
        // would change nothing.
        self.update_send_window(now, repr);
        // RFC 7323 §5.3 R3, as in the general path (the ACK is not old).
        if let (Some(ts), Some(v)) = (self.ts.as_mut(), tsval) {
            if seq <= self.last_ack_sent {
                ts.recent = v;
                ts.recent_at = now;
            }
        }
        // Seventh step: segment text, in order.
        if !payload.is_empty() {
            self.receive_data(now, env, seq, payload);
        }
        // Eighth step: a FIN that came early (held while data was missing)
        // is taken once this data reaches it.
        self.take_fin(now, env);
        Some(Outcome::Keep)
    }
}
