//! Retransmission timeout per RFC 6298: SRTT/RTTVAR estimation, Karn's algorithm
//! (no samples from retransmitted segments unless timestamps disambiguate them),
//! exponential backoff, and a retry limit.
//!
//! Bounds: RTO is clamped to [`MIN_RTO`] (200 ms) .. [`MAX_RTO`] (60 s), both
//! configurable (`TcpConfig::min_rto`, `max_rto`). RFC 6298 §2.4 asks for a 1 s
//! minimum; like Linux (`TCP_RTO_MIN`) we use 200 ms, because 1 s is far too
//! long on the LANs and data-centre paths this stack runs on (the rule is a
//! "SHOULD"; set `min_rto` to 1 s for the RFC's value).
//!
//! Implemented: §2 (initial 1 s, SRTT/RTTVAR, G = 1 ms, bounds), §3 (Karn: no
//! sample from a retransmitted segment unless timestamps tell, RFC 7323 §4:
//! with timestamps every ACK that advances SND.UNA gives a sample from its
//! TSecr), §5.1–5.6 (timer start/stop/restart, backoff by doubling, capped),
//! §5.7 (3 s after a SYN timeout until a sample). Not implemented: RFC 7323
//! Appendix G's per-ACK gain adjustment (each sample weighs 1/8 as in RFC 6298).

use crate::time::{Duration, Instant};

/// Lower bound on the RTO (see the module doc for why not 1 s).
pub const MIN_RTO: Duration = Duration::from_millis(200);
/// Upper bound on the RTO (RFC 6298 §2.5 allows a maximum of at least 60 s).
pub const MAX_RTO: Duration = Duration::from_secs(60);
/// RTO before any RTT sample (RFC 6298 §2.1).
pub const INITIAL_RTO: Duration = Duration::from_secs(1);
/// RTO when data starts after a SYN timed out and no RTT was measured
/// (RFC 6298 §5.7).
pub const SYN_TIMEOUT_RTO: Duration = Duration::from_secs(3);
/// Clock granularity `G` of RFC 6298 §2 in µs (our clock is in microseconds; 1 ms
/// keeps the variance term from collapsing to zero).
const GRANULARITY_US: u64 = 1000;

/// RTT estimator and RTO timer state of one connection (RFC 6298). Kept in
/// microseconds as `u32` (up to 71 minutes, beyond any RTO bound; 36 bytes:
/// the per-connection state is kept small), the interface speaks
/// [`Duration`].
#[derive(Debug, Clone)]
pub struct Rtt {
    /// Smoothed RTT, µs; `u32::MAX` before the first sample.
    srtt: u32,
    /// RTT variation, µs.
    rttvar: u32,
    /// The current RTO, µs.
    rto: u32,
    /// Bounds, µs.
    min_rto: u32,
    max_rto: u32,
    /// Karn: the segment being timed, its end sequence number and the low 32
    /// bits of its send time in µs (valid when `timing`).
    timed_seq: u32,
    timed_at: u32,
    timing: bool,
    /// Consecutive expirations without progress (backoff exponent), saturating.
    backoffs: u8,
}

impl Default for Rtt {
    fn default() -> Self {
        Rtt::new(MIN_RTO, MAX_RTO)
    }
}

const NO_SRTT: u32 = u32::MAX;

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u128::from(u32::MAX - 1)) as u32
}

impl Rtt {
    /// A fresh estimator with the given bounds.
    pub fn new(min_rto: Duration, max_rto: Duration) -> Rtt {
        Rtt { srtt: NO_SRTT, rttvar: 0, rto: micros(INITIAL_RTO.clamp(min_rto, max_rto)), backoffs: 0, min_rto: micros(min_rto), max_rto: micros(max_rto), timed_seq: 0, timed_at: 0, timing: false }
    }
    /// The smoothed RTT, if measured.
    pub fn srtt(&self) -> Option<Duration> {
        (self.srtt != NO_SRTT).then(|| Duration::from_micros(u64::from(self.srtt)))
    }
    /// The current (backed-off) RTO.
    pub fn rto(&self) -> Duration {
        Duration::from_micros(u64::from(self.rto))
    }
    /// The configured upper bound of the RTO.
    pub fn max_rto(&self) -> Duration {
        Duration::from_micros(u64::from(self.max_rto))
    }
    /// The smoothed RTT in µs, if measured (the hot path's integer form).
    #[inline]
    pub fn srtt_us(&self) -> Option<u32> {
        (self.srtt != NO_SRTT).then_some(self.srtt)
    }
    /// The current (backed-off) RTO in µs.
    #[inline]
    pub fn rto_us(&self) -> u32 {
        self.rto
    }
    /// Consecutive timeouts since the last progress.
    pub fn backoffs(&self) -> u32 {
        u32::from(self.backoffs)
    }

    /// Feed one RTT measurement (RFC 6298 §2.2, §2.3).
    pub fn sample(&mut self, r: Duration) {
        self.sample_us(u64::from(micros(r)));
    }

    /// [`Rtt::sample`] of a measurement in µs (the hot path's unit).
    #[inline]
    pub fn sample_us(&mut self, r: u64) {
        let r = r.min(u64::from(u32::MAX - 1));
        if self.srtt == NO_SRTT {
            // RFC 6298 §2.2: SRTT <- R, RTTVAR <- R/2.
            self.srtt = r as u32;
            self.rttvar = (r / 2) as u32;
        } else {
            // RFC 6298 §2.3: RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|, SRTT <- 7/8 SRTT + 1/8 R'.
            let srtt = u64::from(self.srtt);
            let delta = srtt.abs_diff(r);
            self.rttvar = ((u64::from(self.rttvar) * 3 + delta) / 4) as u32;
            self.srtt = ((srtt * 7 + r) / 8) as u32;
        }
        self.recompute();
    }

    fn recompute(&mut self) {
        // RFC 6298 §2.3: RTO <- SRTT + max(G, K*RTTVAR), K = 4; §2.4/2.5 bounds.
        let base = match self.srtt {
            NO_SRTT => u64::from(micros(INITIAL_RTO)),
            srtt => u64::from(srtt).saturating_add(u64::from(self.rttvar).saturating_mul(4).max(GRANULARITY_US)),
        };
        // RFC 6298 §2.4 bound first, then §5.5 doubling per expiration, capped (§2.5).
        let (min, max) = (u64::from(self.min_rto), u64::from(self.max_rto));
        let bounded = base.clamp(min, max.max(min));
        self.rto = bounded.saturating_mul(1u64 << self.backoffs.min(16)).min(max) as u32;
    }

    /// Start timing the segment ending at `end_seq` if none is being timed (RFC 6298
    /// §3: one measurement per RTT).
    pub fn start_timing(&mut self, end_seq: u32, now: Instant) {
        if !self.timing {
            self.timing = true;
            self.timed_seq = end_seq;
            self.timed_at = now.micros() as u32;
        }
    }

    /// Karn's algorithm (RFC 6298 §3): a retransmission makes the timed sample
    /// ambiguous, so drop it.
    pub fn cancel_timing(&mut self) {
        self.timing = false;
    }

    /// A cumulative ACK up to `ack` arrived at `now`: take the sample if it covers the
    /// timed segment. `ack` and the timed sequence number compare modulo 2^32.
    pub fn on_ack(&mut self, ack: u32, now: Instant) {
        if self.timing && (ack.wrapping_sub(self.timed_seq) as i32) >= 0 {
            self.timing = false;
            self.sample_us(u64::from((now.micros() as u32).wrapping_sub(self.timed_at)));
        }
    }

    /// New data was acknowledged: forget the backoff (RFC 6298 §5.7 note and Karn's
    /// rule: keep the backed-off RTO until a new sample or progress).
    pub fn on_progress(&mut self) {
        if self.backoffs != 0 {
            self.backoffs = 0;
            self.recompute();
        }
    }

    /// The handshake's SYN timed out (RFC 6298 §5.7): without an RTT sample,
    /// data transmission starts with an RTO of 3 s (within the bounds) and no
    /// backoff.
    pub fn after_syn_timeout(&mut self) {
        self.backoffs = 0;
        if self.srtt == NO_SRTT {
            self.rto = micros(SYN_TIMEOUT_RTO).clamp(self.min_rto, self.max_rto.max(self.min_rto));
        } else {
            self.recompute();
        }
    }

    /// The retransmission timer expired (RFC 6298 §5.5: RTO <- RTO * 2, capped).
    pub fn on_timeout(&mut self) {
        self.backoffs = self.backoffs.saturating_add(1);
        self.timing = false;
        self.recompute();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_and_later_samples() {
        let mut r = Rtt::default();
        assert_eq!(r.rto(), INITIAL_RTO);
        r.sample(Duration::from_millis(100));
        // SRTT 100, RTTVAR 50 -> RTO 300 ms.
        assert_eq!(r.rto(), Duration::from_millis(300));
        r.sample(Duration::from_millis(100));
        // RTTVAR 37.5 -> RTO 250 ms.
        assert_eq!(r.rto(), Duration::from_micros(250_000));
        for _ in 0..50 {
            r.sample(Duration::from_micros(50));
        }
        assert_eq!(r.rto(), MIN_RTO);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let mut r = Rtt::default();
        r.on_timeout();
        assert_eq!(r.rto(), Duration::from_secs(2));
        r.on_timeout();
        assert_eq!(r.rto(), Duration::from_secs(4));
        for _ in 0..20 {
            r.on_timeout();
        }
        assert_eq!(r.rto(), MAX_RTO);
        r.on_progress();
        assert_eq!(r.rto(), INITIAL_RTO);
    }

    #[test]
    fn three_seconds_after_syn_timeout() {
        let mut r = Rtt::default();
        r.on_timeout();
        r.after_syn_timeout();
        assert_eq!(r.rto(), SYN_TIMEOUT_RTO);
        r.sample(Duration::from_millis(10));
        assert_eq!(r.rto(), MIN_RTO);
        // With a sample already, the estimate stands.
        r.after_syn_timeout();
        assert_eq!(r.rto(), MIN_RTO);
    }

    #[test]
    fn karn_discards_ambiguous() {
        let mut r = Rtt::default();
        r.start_timing(1000, Instant::from_millis(0));
        r.cancel_timing();
        r.on_ack(1000, Instant::from_millis(500));
        assert!(r.srtt().is_none());
        r.start_timing(2000, Instant::from_millis(1000));
        r.on_ack(1500, Instant::from_millis(1010));
        assert!(r.srtt().is_none());
        r.on_ack(2000, Instant::from_millis(1020));
        assert_eq!(r.srtt(), Some(Duration::from_millis(20)));
    }
}
