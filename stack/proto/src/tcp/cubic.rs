//! CUBIC congestion control (RFC 9438), the default as in Linux.
//!
//! Implemented: slow start below ssthresh (RFC 3465 byte counting, L = 2), the
//! cubic window `W_cubic(t) = C·(t − K)³ + W_max` (§4.2, C = 0.4, targets
//! `W_cubic(t + RTT)` clamped to [cwnd, 1.5·cwnd], §4.4–4.5), the Reno-friendly
//! region with `α_cubic = 3(1 − β)/(1 + β)` until the estimate reaches the window
//! before the last reduction, then α = 1 (§4.3), multiplicative decrease with
//! β = 0.7 (§4.6), fast convergence (§4.7), the timeout rule (§4.8: cwnd of one
//! segment, a new epoch after slow start) and the RFC 5681 §4.1 restart after
//! idle. Not implemented: HyStart++ (RFC 9406), spurious-loss undo (§4.9).

use super::congestion::{initial_window, restart_window, CongestionControl};
use crate::time::{Duration, Instant};

/// RFC 9438 §5.1 C.
const C: f64 = 0.4;
/// RFC 9438 §4.6 β_cubic.
const BETA: f64 = 0.7;

/// CUBIC's state of one connection. Windows in bytes. Kept in 36 bytes (the
/// per-connection state is kept small): the values set only at a reduction
/// in `f32` (W_max, cwnd_prior, K: 24 bits of precision), the accumulated
/// W_est in full `f64` precision (stored as two words, 4-byte aligned), the
/// epoch start in milliseconds modulo 2^32 (0: no epoch; an epoch longer than
/// 49 days restarts its clock, the target stays clamped to [cwnd, 1.5 cwnd]).
#[derive(Debug, Clone)]
pub struct Cubic {
    mss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// W_max, bytes: the window before the last reduction (after fast convergence).
    w_max: f32,
    /// cwnd_prior: the window before the last reduction.
    cwnd_prior: f32,
    /// K, seconds.
    k: f32,
    /// Start of the current congestion-avoidance epoch, ms modulo 2^32; 0: none.
    epoch_ms: u32,
    /// W_est, bytes (the Reno-friendly estimate): the bits of an `f64`.
    w_est: [u32; 2],
}

impl Cubic {
    /// A controller with the initial window for `mss`.
    pub fn new(mss: u32) -> Cubic {
        Cubic { mss: mss.max(1), cwnd: initial_window(mss), ssthresh: u32::MAX, w_max: 0.0, cwnd_prior: 0.0, k: 0.0, epoch_ms: 0, w_est: [0, 0] }
    }

    fn w_est(&self) -> f64 {
        f64::from_bits(u64::from(self.w_est[0]) | (u64::from(self.w_est[1]) << 32))
    }

    fn set_w_est(&mut self, v: f64) {
        let b = v.to_bits();
        self.w_est = [b as u32, (b >> 32) as u32];
    }

    /// W_cubic(t) in bytes, `t` in seconds (RFC 9438 §4.2 eq. 1).
    fn w_cubic(&self, t: f64) -> f64 {
        let seg = f64::from(self.mss);
        (C * (t - f64::from(self.k)).powi(3) + f64::from(self.w_max) / seg) * seg
    }

    /// Multiplicative decrease and fast convergence (RFC 9438 §4.6, §4.7).
    /// A congestion event with `flight` bytes outstanding. RFC 9438 §4.6:
    /// ssthresh = flight_size · β (an implementation that takes cwnd instead
    /// must keep cwnd from growing above the flight; we do both, see
    /// `Conn::cwnd_limited`): the window the flow really used, never above cwnd.
    fn reduce(&mut self, flight: u32) {
        let cwnd = f64::from(self.cwnd.min(flight.max(2 * self.mss)));
        self.cwnd_prior = cwnd as f32;
        // §4.7 fast convergence: a flow whose window shrank releases bandwidth.
        self.w_max = if cwnd < f64::from(self.w_max) { (cwnd * (1.0 + BETA) / 2.0) as f32 } else { cwnd as f32 };
        self.ssthresh = ((cwnd * BETA) as u32).max(2 * self.mss);
        self.epoch_ms = 0;
    }
}

impl CongestionControl for Cubic {
    fn window(&self) -> u32 {
        self.cwnd
    }
    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    fn on_ack(&mut self, now: Instant, acked: u32, _flight: u32, rtt: Option<Duration>) {
        if self.cwnd < self.ssthresh {
            // Slow start (RFC 9438 §4.10 keeps RFC 5681's), RFC 3465 L = 2.
            self.cwnd = self.cwnd.saturating_add(acked.min(2 * self.mss)).min(self.ssthresh.max(self.cwnd));
            if self.cwnd < self.ssthresh {
                return;
            }
        }
        let seg = f64::from(self.mss);
        let cwnd = f64::from(self.cwnd);
        let now_ms = (now.millis() as u32).max(1);
        if self.epoch_ms == 0 {
            // A new epoch (§4.2): K from W_max and the window now.
            self.epoch_ms = now_ms;
            let w_max = f64::from(self.w_max);
            if cwnd < w_max {
                self.k = ((w_max - cwnd) / seg / C).cbrt() as f32;
            } else {
                self.k = 0.0;
                self.w_max = cwnd as f32;
            }
            self.set_w_est(cwnd);
        }
        let t = f64::from(now_ms.wrapping_sub(self.epoch_ms)) / 1000.0;
        let rtt = rtt.map_or(0.1, |r| r.as_secs_f64());
        // §4.3 Reno-friendly estimate.
        let alpha = if self.w_est() >= f64::from(self.cwnd_prior) { 1.0 } else { 3.0 * (1.0 - BETA) / (1.0 + BETA) };
        let w_est = self.w_est() + alpha * seg * f64::from(acked) / cwnd;
        self.set_w_est(w_est);
        if self.w_cubic(t) < w_est {
            // §4.3: the Reno-friendly region.
            self.cwnd = (w_est as u32).max(self.cwnd);
            return;
        }
        // §4.4/§4.5: grow towards W_cubic(t + RTT), clamped to [cwnd, 1.5 cwnd].
        let target = self.w_cubic(t + rtt).clamp(cwnd, 1.5 * cwnd);
        let inc = ((target - cwnd) * f64::from(acked) / cwnd) as u32;
        self.cwnd = self.cwnd.saturating_add(inc);
    }

    fn on_congestion(&mut self, _now: Instant, flight: u32) {
        self.reduce(flight);
        self.cwnd = self.ssthresh;
    }

    fn on_recovery_end(&mut self, _now: Instant, _flight: u32) {
        // The window stays at ssthresh (as Linux's tcp_end_cwnd_reduction).
        if self.ssthresh != u32::MAX {
            self.cwnd = self.ssthresh;
        }
    }

    fn on_rto(&mut self, _now: Instant, flight: u32) {
        // §4.8: reduce as for a loss, then one segment; slow start follows.
        self.reduce(flight);
        self.cwnd = self.mss;
    }

    fn on_idle_restart(&mut self, _now: Instant) {
        self.cwnd = restart_window(self.mss, self.cwnd);
        self.epoch_ms = 0;
    }

    fn set_mss(&mut self, mss: u32) {
        let was_initial = self.cwnd == initial_window(self.mss);
        self.mss = mss.max(1);
        if was_initial {
            self.cwnd = initial_window(self.mss);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After a loss at W_max the window drops to β·W_max, grows back concavely
    /// to W_max around K seconds later, then convexly beyond it.
    #[test]
    fn cubic_curve() {
        let mss = 1000;
        let mut c = Cubic::new(mss);
        c.ssthresh = 0;
        c.cwnd = 100_000;
        let t0 = Instant::from_millis(1000);
        c.on_congestion(t0, 100_000);
        assert_eq!(c.window(), 70_000);
        assert_eq!(c.ssthresh(), 70_000);
        // K = cbrt(W_max (1 - β) / C) = cbrt(100 · 0.3 / 0.4) ≈ 4.2 s.
        let rtt = Duration::from_millis(100);
        let mut now = t0;
        let mut at_k = 0;
        for step in 0..100 {
            now = t0 + Duration::from_millis(100 * step);
            // One window of ACKs per RTT.
            for _ in 0..(c.window() / mss) {
                c.on_ack(now, mss, c.window(), Some(rtt));
            }
            if step == 42 {
                at_k = c.window();
            }
        }
        assert!((4.1..4.3).contains(&c.k), "K {}", c.k);
        assert!((95_000..106_000).contains(&at_k), "window at K: {at_k}");
        assert!(c.window() > 150_000, "convex growth after K: {}", c.window());
        let _ = now;
        // Fast convergence: a second loss below W_max lowers W_max further.
        c.cwnd = 80_000;
        c.w_max = 100_000.0;
        c.on_congestion(now, 80_000);
        assert_eq!(c.w_max as u32, 68_000);
        // Timeout: one segment, then slow start up to ssthresh.
        c.on_rto(now, 50_000);
        assert_eq!(c.window(), mss);
        c.on_ack(now, mss, mss, Some(rtt));
        assert_eq!(c.window(), 2 * mss);
    }

    /// Reno-friendly region: with a tiny RTT-independent cubic growth, the window
    /// still grows at least like AIMD with α_cubic.
    #[test]
    fn reno_friendly() {
        let mss = 1000;
        let mut c = Cubic::new(mss);
        c.cwnd = 20_000;
        c.on_congestion(Instant::ZERO, 20_000);
        let w0 = c.window();
        let now = Instant::from_millis(10);
        for _ in 0..(w0 / mss) {
            c.on_ack(now, mss, w0, Some(Duration::from_millis(1)));
        }
        assert!(c.window() > w0, "{} <= {w0}", c.window());
    }
}
