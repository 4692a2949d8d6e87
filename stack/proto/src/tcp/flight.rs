//! Loss-recovery state that matters only while data is in flight, kept apart
//! from the connection so that an idle connection stays small (issue 13: an
//! idle established connection costs at most 512 bytes).
//!
//! A [`Flight`] holds the SACK scoreboard (RFC 6675 §3), the per-segment send
//! log with RACK's per-flight state (RFC 8985 §6), the recovery variables
//! (RFC 6675 §5, RFC 6582), the tail-loss-probe state (RFC 8985 §7) and the
//! Eifel undo (RFC 3522): about 300 bytes plus the records, against the 6 bytes
//! of RACK memory ([`super::rack::RackMemory`]) and the cwnd restart clock that
//! stay in the connection.
//!
//! The [`FlightPool`] of one [`super::Tcp`] lends them: a connection takes one
//! when it sends data with nothing outstanding, and gives it back as soon as
//! everything sent is acknowledged and no recovery runs (or when it is freed).
//! Returned flights go on a free list and are reused as they are (their record
//! storage too), so once the pool has grown to the most connections sending at
//! once, taking and returning allocate nothing. At most
//! [`super::TcpConfig::flight_states`] exist; a connection that finds none
//! sends its flight without one and is counted
//! ([`super::TcpStats::flight_state_exhausted`]): no SACK scoreboard, RACK or
//! tail loss probe for that flight, losses are repaired by the retransmission
//! timer alone, going back to SND.UNA (RFC 6298 §5.4, RFC 5681 §3.1's
//! go-back-N). Nothing is lost; the next flight tries again.

use super::congestion::Controller;
use super::rack::{RackMemory, SentLog};
use super::sack::Scoreboard;
use super::seq::SeqNum;
use crate::time::Instant;

/// The in-flight loss-recovery state of one connection.
#[derive(Debug, Default)]
pub(crate) struct Flight {
    /// What the peer SACKed (sender side).
    pub board: Scoreboard,
    /// Segments in flight and RACK.
    pub log: SentLog,
    /// In fast recovery (RFC 6675 §5).
    pub in_recovery: bool,
    /// The first retransmission of a recovery goes regardless of the pipe
    /// (RFC 6675 §5 step 4.3).
    pub force_first: bool,
    /// RecoveryPoint (RFC 6675) / `recover` (RFC 6582): SND.MAX when the last
    /// recovery or timeout began.
    pub point: SeqNum,
    /// Duplicate ACKs in a row (RFC 5681 §2, RFC 6675 §2).
    pub dup_acks: u32,
    /// Without SACK: bytes taken out of the pipe by duplicate ACKs.
    pub reno_sacked: u32,
    /// The probe timeout (RFC 8985 §7.2).
    pub tlp_at: Option<Instant>,
    /// A probe is outstanding until SND.UNA passes this (TLP.end_seq).
    pub tlp_end: Option<SeqNum>,
    /// RACK's reordering timer.
    pub rack_at: Option<Instant>,
    /// Undo of a spurious recovery (Eifel detection, RFC 3522, as Linux's
    /// `tcp_try_undo_recovery`): the controller before the recovery, our
    /// TSval when it began, and the end of the first segment deemed lost.
    pub undo: Option<(Controller, u32, SeqNum)>,
    /// Congestion window validation (as Linux's `tcp_cwnd_validate`, RFC 9438
    /// §4.6, RFC 7661's intent): the last transmit in this window stopped
    /// for cwnd with data waiting.
    pub cwnd_limited: bool,
    /// The most bytes outstanding in this window (slow start grows cwnd only
    /// while it is below twice this).
    pub max_flight: u32,
    /// The window of the two above ends when SND.UNA reaches this.
    pub usage_seq: SeqNum,
}

impl Flight {
    /// No loss-recovery episode of any kind runs: no recovery, undo, probe or
    /// reordering timer, no SACK or duplicate-ACK state, and a quiet send log
    /// ([`SentLog::quiet`]). On such a flight an ACK without SACK blocks that
    /// is no duplicate finds no loss: header prediction skips the detection.
    #[inline]
    pub fn quiet(&self) -> bool {
        !self.in_recovery && self.undo.is_none() && self.tlp_end.is_none() && self.rack_at.is_none() && (self.dup_acks | self.reno_sacked) == 0 && self.board.is_empty() && self.log.quiet()
    }
}

/// The flights of one [`super::Tcp`]: lent to connections while they have data
/// in flight, reused through a free list.
#[derive(Debug)]
pub(crate) struct FlightPool {
    /// Boxed: a flight moves between the free list and a connection as one
    /// pointer.
    #[allow(clippy::vec_box)]
    free: Vec<Box<Flight>>,
    /// Flights allocated (lent or free).
    allocated: usize,
    /// Most flights allocated.
    limit: usize,
}

impl FlightPool {
    /// An empty pool that allocates at most `limit` flights.
    pub fn new(limit: usize) -> FlightPool {
        FlightPool { free: Vec::new(), allocated: 0, limit }
    }

    /// A flight for a connection that starts sending at `snd_una` with RACK's
    /// memory `rack`; `None` when `limit` flights are lent.
    pub fn take(&mut self, snd_una: SeqNum, rack: RackMemory) -> Option<Box<Flight>> {
        let mut f = match self.free.pop() {
            Some(f) => f,
            None if self.allocated < self.limit => {
                // Growth (the pool's high-water mark rises): the only
                // allocations, the free list made room for every flight.
                self.allocated += 1;
                self.free.reserve(self.allocated);
                Box::default()
            }
            None => return None,
        };
        f.board.clear();
        f.log.resume(rack);
        f.in_recovery = false;
        f.force_first = false;
        f.point = snd_una;
        f.dup_acks = 0;
        f.reno_sacked = 0;
        f.tlp_at = None;
        f.tlp_end = None;
        f.rack_at = None;
        f.undo = None;
        f.cwnd_limited = false;
        f.max_flight = 0;
        f.usage_seq = snd_una;
        Some(f)
    }

    /// Take back a flight; returns what RACK learnt in it.
    pub fn put(&mut self, f: Box<Flight>) -> RackMemory {
        let m = f.log.memory();
        // `take` reserved room for every flight allocated: no allocation here.
        self.free.push(f);
        m
    }

    /// Flights lent now.
    pub fn lent(&self) -> usize {
        self.allocated - self.free.len()
    }

    /// Bytes the pool holds: the flights allocated (lent ones at their fixed
    /// size; free ones with their kept record storage) and the free list.
    pub fn memory_bytes(&self) -> usize {
        self.allocated * core::mem::size_of::<Flight>() + self.free.iter().map(|f| f.log.storage_bytes()).sum::<usize>() + self.free.capacity() * core::mem::size_of::<Box<Flight>>()
    }
}
