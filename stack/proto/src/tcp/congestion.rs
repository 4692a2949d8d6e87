//! Congestion control behind a small trait; NewReno (RFC 5681 slow start and
//! congestion avoidance, RFC 6582 fast retransmit / fast recovery) is the one we
//! have. The TCB calls the trait on every ACK, duplicate ACK and timeout, and never
//! sends more than [`CongestionControl::window`] bytes in flight.

use super::seq::SeqNum;

/// What a congestion controller must answer. `flight` is always the number of bytes
/// outstanding (`SND.MAX - SND.UNA`, RFC 5681 FlightSize) before the event.
pub trait CongestionControl {
    /// Congestion window, bytes.
    fn window(&self) -> u32;
    /// Slow-start threshold, bytes.
    fn ssthresh(&self) -> u32;
    /// In fast recovery?
    fn in_recovery(&self) -> bool;
    /// A cumulative ACK acknowledged `acked` new bytes; `snd_una` is the new SND.UNA.
    /// Returns `true` when the first unacknowledged segment must be retransmitted
    /// now (a partial ACK during fast recovery, RFC 6582 §3.2 step 5).
    fn on_ack(&mut self, acked: u32, snd_una: SeqNum, flight: u32) -> bool;
    /// A duplicate ACK (RFC 5681 §2 definition). Returns `true` when the segment at
    /// SND.UNA must be fast-retransmitted now.
    fn on_dup_ack(&mut self, snd_una: SeqNum, snd_max: SeqNum, flight: u32) -> bool;
    /// The retransmission timer expired (RFC 5681 §3.1 eq. 4, RFC 6582 §3.2 step 4).
    fn on_rto(&mut self, snd_max: SeqNum, flight: u32);
    /// The sender MSS changed (after option negotiation).
    fn set_mss(&mut self, mss: u32);
}

/// The initial window of RFC 6928 §2: `min(10*MSS, max(2*MSS, 14600))`.
pub fn initial_window(mss: u32) -> u32 {
    (10 * mss).min((2 * mss).max(14600))
}

/// NewReno (RFC 5681 + RFC 6582).
#[derive(Debug, Clone)]
pub struct NewReno {
    mss: u32,
    cwnd: u32,
    ssthresh: u32,
    dup_acks: u32,
    recover: SeqNum,
    recovering: bool,
}

impl NewReno {
    /// A controller for a connection whose ISS is `iss` (RFC 6582 §3.2 step 1:
    /// `recover` starts at the initial send sequence number).
    pub fn new(mss: u32, iss: SeqNum) -> NewReno {
        NewReno { mss, cwnd: initial_window(mss), ssthresh: u32::MAX, dup_acks: 0, recover: iss, recovering: false }
    }
    /// Duplicate ACKs counted in a row.
    pub fn dup_acks(&self) -> u32 {
        self.dup_acks
    }
}

impl CongestionControl for NewReno {
    fn window(&self) -> u32 {
        self.cwnd
    }
    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
    fn in_recovery(&self) -> bool {
        self.recovering
    }

    fn on_ack(&mut self, acked: u32, snd_una: SeqNum, flight: u32) -> bool {
        self.dup_acks = 0;
        if self.recovering {
            if snd_una >= self.recover {
                // RFC 6582 §3.2 step 5, full acknowledgment: deflate the window,
                // cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
                let flight_after = flight.saturating_sub(acked);
                self.cwnd = self.ssthresh.min(flight_after.max(self.mss) + self.mss);
                self.recovering = false;
                return false;
            }
            // RFC 6582 §3.2 step 5, partial acknowledgment: retransmit the first
            // unacknowledged segment, deflate cwnd by the data acknowledged and add
            // back one SMSS if at least one SMSS was acknowledged.
            self.cwnd = self.cwnd.saturating_sub(acked);
            if acked >= self.mss {
                self.cwnd += self.mss;
            }
            self.cwnd = self.cwnd.max(self.mss);
            return true;
        }
        // Keep `recover` trailing SND.UNA so that it never falls 2^31 behind and
        // flips the comparison above on a long connection.
        self.recover = self.recover.max(snd_una);
        if self.cwnd < self.ssthresh {
            // RFC 5681 §3.1 slow start, with RFC 3465 appropriate byte counting (L = 2).
            self.cwnd = self.cwnd.saturating_add(acked.min(2 * self.mss));
        } else {
            // RFC 5681 §3.1 eq. 3: cwnd += SMSS*SMSS/cwnd per ACK, at least 1 byte.
            let inc = ((self.mss as u64 * self.mss as u64) / self.cwnd.max(1) as u64).max(1) as u32;
            self.cwnd = self.cwnd.saturating_add(inc);
        }
        false
    }

    fn on_dup_ack(&mut self, snd_una: SeqNum, snd_max: SeqNum, flight: u32) -> bool {
        self.dup_acks += 1;
        if self.recovering {
            // RFC 6582 §3.2 step 4 / RFC 5681 §3.2 step 4: inflate by one SMSS.
            self.cwnd = self.cwnd.saturating_add(self.mss);
            return false;
        }
        if self.dup_acks == 3 {
            // RFC 6582 §3.2 step 2: only if the ACK covers more than `recover`.
            if snd_una < self.recover {
                return false;
            }
            // RFC 5681 §3.2 step 2 eq. 4: ssthresh = max(FlightSize/2, 2*SMSS).
            self.ssthresh = (flight / 2).max(2 * self.mss);
            // RFC 6582 §3.2 step 3: recover = highest sequence number sent.
            self.recover = snd_max;
            // RFC 5681 §3.2 step 3: cwnd = ssthresh + 3*SMSS.
            self.cwnd = self.ssthresh + 3 * self.mss;
            self.recovering = true;
            return true;
        }
        false
    }

    fn on_rto(&mut self, snd_max: SeqNum, flight: u32) {
        // RFC 5681 §3.1 eq. 4 and the loss window of one SMSS.
        self.ssthresh = (flight / 2).max(2 * self.mss);
        self.cwnd = self.mss;
        self.dup_acks = 0;
        self.recovering = false;
        // RFC 6582 §3.2 step 4 (timeout): record the highest sequence number sent.
        self.recover = snd_max;
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

    #[test]
    fn slow_start_then_avoidance() {
        let mut c = NewReno::new(1000, SeqNum(0));
        assert_eq!(c.window(), 10_000);
        c.on_ack(1000, SeqNum(1001), 10_000);
        assert_eq!(c.window(), 11_000);
        c.on_rto(SeqNum(20_000), 10_000);
        assert_eq!(c.window(), 1000);
        assert_eq!(c.ssthresh(), 5000);
        for _ in 0..4 {
            c.on_ack(1000, SeqNum(20_001), 1000);
        }
        assert_eq!(c.window(), 5000);
        c.on_ack(1000, SeqNum(21_001), 5000);
        assert_eq!(c.window(), 5200);
    }

    #[test]
    fn fast_retransmit_and_recovery() {
        let mut c = NewReno::new(1000, SeqNum(0));
        let una = SeqNum(1001);
        let max = SeqNum(11_001);
        assert!(!c.on_dup_ack(una, max, 10_000));
        assert!(!c.on_dup_ack(una, max, 10_000));
        assert!(c.on_dup_ack(una, max, 10_000));
        assert!(c.in_recovery());
        assert_eq!(c.ssthresh(), 5000);
        assert_eq!(c.window(), 8000);
        assert!(!c.on_dup_ack(una, max, 10_000));
        assert_eq!(c.window(), 9000);
        // Partial ACK: retransmit again.
        assert!(c.on_ack(2000, SeqNum(3001), 10_000));
        assert!(c.in_recovery());
        assert_eq!(c.window(), 8000);
        // Full ACK: leave recovery.
        assert!(!c.on_ack(8000, max, 8000));
        assert!(!c.in_recovery());
        assert_eq!(c.window(), 2000);
        // Dup ACKs not beyond `recover` don't trigger another fast retransmit.
        let mut c = NewReno::new(1000, SeqNum(0));
        c.on_rto(SeqNum(50_000), 10_000);
        for _ in 0..2 {
            c.on_dup_ack(SeqNum(40_000), SeqNum(50_000), 10_000);
        }
        assert!(!c.on_dup_ack(SeqNum(40_000), SeqNum(50_000), 10_000));
    }
}
