//! Congestion control behind one trait, chosen per connection
//! ([`super::TcpConfig::congestion`]): NewReno ([`NewReno`], RFC 5681 slow start
//! and congestion avoidance with RFC 6582's window on leaving recovery) and CUBIC
//! ([`super::cubic::Cubic`], RFC 9438, the default as in Linux).
//!
//! The controller only sizes the window; *when* a loss happened is decided by the
//! connection's loss recovery (`recovery.rs`: duplicate ACKs, SACK by
//! RFC 6675, RACK-TLP by RFC 8985, the retransmission timer), which calls
//! [`CongestionControl::on_congestion`] once per recovery episode. Time and the
//! RTT are passed in (sans-IO): the controller reads no clock.

use crate::time::{Duration, Instant};

/// Which congestion controller a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// NewReno: RFC 5681 + RFC 6582 (with SACK, the loss recovery is RFC 6675's).
    NewReno,
    /// CUBIC, RFC 9438 (the default, as in Linux).
    #[default]
    Cubic,
}

impl Algorithm {
    /// Parse `newreno` / `reno` / `cubic` (the CLI's `--cc` values).
    pub fn parse(s: &str) -> Option<Algorithm> {
        match s {
            "newreno" | "reno" => Some(Algorithm::NewReno),
            "cubic" => Some(Algorithm::Cubic),
            _ => None,
        }
    }
    /// The name `parse` takes.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::NewReno => "newreno",
            Algorithm::Cubic => "cubic",
        }
    }
}

/// What a congestion controller must answer. `flight` is the number of bytes
/// outstanding (RFC 5681 FlightSize) before the event; `now` the current time.
pub trait CongestionControl {
    /// Congestion window, bytes.
    fn window(&self) -> u32;
    /// Slow-start threshold, bytes.
    fn ssthresh(&self) -> u32;
    /// A cumulative ACK acknowledged `acked` new bytes outside loss recovery
    /// (window growth). `rtt` is the smoothed RTT if known.
    fn on_ack(&mut self, now: Instant, acked: u32, flight: u32, rtt: Option<Duration>);
    /// A loss was detected (fast retransmit, SACK or RACK): enter recovery, set
    /// ssthresh and cwnd (RFC 5681 §3.2 eq. 4, RFC 6675 §5 step 4.2,
    /// RFC 9438 §4.6). Called once per recovery episode.
    fn on_congestion(&mut self, now: Instant, flight: u32);
    /// Loss recovery ended (the recovery point was acknowledged); `flight` is
    /// what remains outstanding.
    fn on_recovery_end(&mut self, now: Instant, flight: u32);
    /// The retransmission timer expired (RFC 5681 §3.1 eq. 4, loss window of one
    /// SMSS).
    fn on_rto(&mut self, now: Instant, flight: u32);
    /// Nothing was sent for more than an RTO: restart from the restart window
    /// (RFC 5681 §4.1).
    fn on_idle_restart(&mut self, now: Instant);
    /// The sender MSS changed (after option negotiation).
    fn set_mss(&mut self, mss: u32);
}

/// The initial window of RFC 6928 §2: `min(10*MSS, max(2*MSS, 14600))`.
pub fn initial_window(mss: u32) -> u32 {
    (10 * mss).min((2 * mss).max(14600))
}

/// RFC 5681 §4.1 restart window: `min(IW, cwnd)`.
pub fn restart_window(mss: u32, cwnd: u32) -> u32 {
    initial_window(mss).min(cwnd)
}

/// NewReno's window (RFC 5681 + RFC 6582).
#[derive(Debug, Clone)]
pub struct NewReno {
    mss: u32,
    cwnd: u32,
    ssthresh: u32,
}

impl NewReno {
    /// A controller with the initial window for `mss`.
    pub fn new(mss: u32) -> NewReno {
        NewReno { mss, cwnd: initial_window(mss), ssthresh: u32::MAX }
    }
}

impl CongestionControl for NewReno {
    fn window(&self) -> u32 {
        self.cwnd
    }
    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    fn on_ack(&mut self, _now: Instant, acked: u32, _flight: u32, _rtt: Option<Duration>) {
        if self.cwnd < self.ssthresh {
            // RFC 5681 §3.1 slow start, with RFC 3465 appropriate byte counting (L = 2).
            self.cwnd = self.cwnd.saturating_add(acked.min(2 * self.mss));
        } else {
            // RFC 5681 §3.1 eq. 3: cwnd += SMSS*SMSS/cwnd per ACK, at least 1 byte.
            let inc = ((self.mss as u64 * self.mss as u64) / self.cwnd.max(1) as u64).max(1) as u32;
            self.cwnd = self.cwnd.saturating_add(inc);
        }
    }

    fn on_congestion(&mut self, _now: Instant, flight: u32) {
        // RFC 5681 §3.2 eq. 4: ssthresh = max(FlightSize/2, 2*SMSS); RFC 6675
        // §5 step 4.2: cwnd = ssthresh (the pipe algorithm replaces inflation).
        self.ssthresh = (flight / 2).max(2 * self.mss);
        self.cwnd = self.ssthresh;
    }

    fn on_recovery_end(&mut self, _now: Instant, flight: u32) {
        // RFC 6582 §3.2 step 5, full acknowledgment:
        // cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
        self.cwnd = self.ssthresh.min(flight.max(self.mss) + self.mss);
    }

    fn on_rto(&mut self, _now: Instant, flight: u32) {
        // RFC 5681 §3.1 eq. 4 and the loss window of one SMSS.
        self.ssthresh = (flight / 2).max(2 * self.mss);
        self.cwnd = self.mss;
    }

    fn on_idle_restart(&mut self, _now: Instant) {
        self.cwnd = restart_window(self.mss, self.cwnd);
    }

    fn set_mss(&mut self, mss: u32) {
        let was_initial = self.cwnd == initial_window(self.mss);
        self.mss = mss.max(1);
        if was_initial {
            self.cwnd = initial_window(self.mss);
        }
    }
}

/// The controller of one connection: one of the [`Algorithm`]s, dispatched
/// without allocation.
#[derive(Debug, Clone)]
pub enum Controller {
    /// NewReno.
    NewReno(NewReno),
    /// CUBIC.
    Cubic(super::cubic::Cubic),
}

impl Controller {
    /// A controller of kind `alg` with the initial window for `mss`.
    pub fn new(alg: Algorithm, mss: u32) -> Controller {
        match alg {
            Algorithm::NewReno => Controller::NewReno(NewReno::new(mss)),
            Algorithm::Cubic => Controller::Cubic(super::cubic::Cubic::new(mss)),
        }
    }
    /// Which algorithm this is.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Controller::NewReno(_) => Algorithm::NewReno,
            Controller::Cubic(_) => Algorithm::Cubic,
        }
    }
}

/// Static dispatch to the controller inside (a `match`, inlined: no virtual
/// call on the per-segment path).
macro_rules! dispatch {
    ($self:expr, $c:ident => $e:expr) => {
        match $self {
            Controller::NewReno($c) => $e,
            Controller::Cubic($c) => $e,
        }
    };
}

impl CongestionControl for Controller {
    #[inline]
    fn window(&self) -> u32 {
        dispatch!(self, c => c.window())
    }
    #[inline]
    fn ssthresh(&self) -> u32 {
        dispatch!(self, c => c.ssthresh())
    }
    #[inline]
    fn on_ack(&mut self, now: Instant, acked: u32, flight: u32, rtt: Option<Duration>) {
        dispatch!(self, c => c.on_ack(now, acked, flight, rtt))
    }
    fn on_congestion(&mut self, now: Instant, flight: u32) {
        dispatch!(self, c => c.on_congestion(now, flight))
    }
    fn on_recovery_end(&mut self, now: Instant, flight: u32) {
        dispatch!(self, c => c.on_recovery_end(now, flight))
    }
    fn on_rto(&mut self, now: Instant, flight: u32) {
        dispatch!(self, c => c.on_rto(now, flight))
    }
    fn on_idle_restart(&mut self, now: Instant) {
        dispatch!(self, c => c.on_idle_restart(now))
    }
    fn set_mss(&mut self, mss: u32) {
        dispatch!(self, c => c.set_mss(mss))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Instant = Instant::ZERO;

    #[test]
    fn slow_start_then_avoidance() {
        let mut c = NewReno::new(1000);
        assert_eq!(c.window(), 10_000);
        c.on_ack(T, 1000, 10_000, None);
        assert_eq!(c.window(), 11_000);
        c.on_rto(T, 10_000);
        assert_eq!(c.window(), 1000);
        assert_eq!(c.ssthresh(), 5000);
        for _ in 0..4 {
            c.on_ack(T, 1000, 1000, None);
        }
        assert_eq!(c.window(), 5000);
        c.on_ack(T, 1000, 5000, None);
        assert_eq!(c.window(), 5200);
    }

    #[test]
    fn recovery_window() {
        let mut c = NewReno::new(1000);
        c.on_congestion(T, 10_000);
        assert_eq!(c.ssthresh(), 5000);
        assert_eq!(c.window(), 5000);
        // RFC 6582 full ACK with little left in flight: FlightSize + SMSS.
        c.on_recovery_end(T, 1000);
        assert_eq!(c.window(), 2000);
        c.on_congestion(T, 10_000);
        c.on_recovery_end(T, 9000);
        assert_eq!(c.window(), 5000);
        // RFC 5681 §4.1: after idle, min(IW, cwnd).
        let mut c = NewReno::new(1000);
        for _ in 0..100 {
            c.on_ack(T, 2000, 0, None);
        }
        assert!(c.window() > 10_000);
        c.on_idle_restart(T);
        assert_eq!(c.window(), 10_000);
        assert_eq!(Algorithm::parse("cubic"), Some(Algorithm::Cubic));
        assert_eq!(Algorithm::parse("newreno"), Some(Algorithm::NewReno));
        assert_eq!(Algorithm::parse("bbr"), None);
        assert_eq!(Algorithm::default(), Algorithm::Cubic);
    }
}
