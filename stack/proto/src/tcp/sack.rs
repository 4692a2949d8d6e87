//! Selective acknowledgment (RFC 2018) both ways.
//!
//! * Receiving side, [`SackGen`]: the SACK blocks of our ACKs, built from the
//!   out-of-order ranges the assembler holds. The first block is the one holding
//!   the most recently received segment (RFC 2018 §4), the next ones repeat the
//!   most recently reported blocks, then the remaining ranges in sequence order.
//!   A duplicate segment (entirely below RCV.NXT) is reported once as a D-SACK
//!   block first (RFC 2883 §4). At most [`MAX_BLOCKS_WITH_TS`] blocks go with
//!   timestamps (10 + 2 + 26 = 38 option bytes), four without.
//! * Sending side, [`Scoreboard`]: the blocks the peer reported, merged into at
//!   most [`SCOREBOARD_BLOCKS`] disjoint ranges within SND.UNA..SND.MAX (a fixed
//!   array: no allocation). Blocks outside that span, empty or inverted ones are
//!   ignored and counted (`sack_invalid`); a D-SACK block (RFC 2883 §4: the first
//!   block, below the cumulative ACK or inside the second block) is counted
//!   apart (`dsack_received`). When more disjoint ranges arrive than fit, the
//!   highest are forgotten (they count as not SACKed: the peer repeats them, and
//!   at worst a segment is retransmitted needlessly). The scoreboard answers
//!   RFC 6675's questions: IsLost, the holes, the bytes SACKed.

use super::seq::SeqNum;
use wire::tcp::SackBlocks;

/// Most SACK blocks in a segment carrying timestamps (RFC 2018 §3: 3 blocks
/// with the 12 bytes of timestamps fit the 40 option bytes).
pub const MAX_BLOCKS_WITH_TS: usize = 3;
/// Most SACK blocks in a segment without timestamps.
pub const MAX_BLOCKS: usize = 4;
/// Disjoint SACKed ranges the sender remembers per connection.
pub const SCOREBOARD_BLOCKS: usize = 16;
/// RFC 6675 §2 DupThresh.
pub const DUP_THRESH: u32 = 3;

/// The receiving side's memory of which blocks it reported last (RFC 2018 §4).
#[derive(Debug, Clone, Copy, Default)]
pub struct SackGen {
    /// Left edges of recently received out-of-order segments, most recent first.
    recent: [SeqNum; MAX_BLOCKS],
    len: u8,
    /// A duplicate segment to report once as a D-SACK block (RFC 2883).
    dsack: Option<(SeqNum, SeqNum)>,
}

impl SackGen {
    /// Forget everything (a new connection).
    pub fn clear(&mut self) {
        *self = SackGen::default();
    }

    /// An out-of-order segment starting at `seq` was received and held.
    pub fn note(&mut self, seq: SeqNum) {
        let n = self.len as usize;
        let keep = match self.recent[..n].iter().position(|&s| s == seq) {
            Some(i) => i,
            None => n.min(MAX_BLOCKS - 1),
        };
        self.recent.copy_within(0..keep, 1);
        self.recent[0] = seq;
        self.len = (keep + 1).max(n).min(MAX_BLOCKS) as u8;
    }

    /// A segment `[start, end)` entirely below RCV.NXT arrived again: report it
    /// in the next ACK as a D-SACK block (RFC 2883 §4).
    pub fn duplicate(&mut self, start: SeqNum, end: SeqNum) {
        if start < end {
            self.dsack = Some((start, end));
        }
    }

    /// The SACK blocks of the next ACK: `ranges` are the assembler's ranges as
    /// offsets from `rcv_nxt`; at most `max` blocks. Takes the pending D-SACK.
    pub fn build(&mut self, rcv_nxt: SeqNum, ranges: &[(u32, u32)], max: usize) -> SackBlocks {
        let mut out = SackBlocks::default();
        if self.dsack.is_none() && ranges.is_empty() {
            // Nothing held out of order, no duplicate to report (the common case).
            self.len = 0;
            return out;
        }
        let max = max.min(MAX_BLOCKS);
        if let Some((s, e)) = self.dsack.take() {
            out.push(s.get(), e.get());
        }
        let push_range = |out: &mut SackBlocks, i: usize| {
            let (s, e) = ranges[i];
            let b = ((rcv_nxt + s).get(), (rcv_nxt + e).get());
            if out.len as usize >= max || out.as_slice().contains(&b) {
                return;
            }
            out.push(b.0, b.1);
        };
        // RFC 2018 §4: the block of the most recent segment first, then the most
        // recently reported ones.
        let n = self.len as usize;
        let mut live = 0;
        for k in 0..n {
            let seq = self.recent[k];
            if seq < rcv_nxt {
                continue;
            }
            let off = seq.since(rcv_nxt);
            let Some(i) = ranges.iter().position(|&(s, e)| s <= off && off < e) else { continue };
            self.recent[live] = seq;
            live += 1;
            push_range(&mut out, i);
        }
        self.len = live as u8;
        for i in 0..ranges.len() {
            if out.len as usize >= max {
                break;
            }
            push_range(&mut out, i);
        }
        out
    }
}

/// What one ACK's SACK blocks did to the [`Scoreboard`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SackUpdate {
    /// Bytes newly SACKed by this ACK (RFC 6675 §2: an ACK "SACKing new data"
    /// counts as a duplicate).
    pub newly_sacked: u32,
    /// Blocks ignored as invalid (outside SND.UNA..SND.MAX, empty or inverted).
    pub invalid: u32,
    /// A D-SACK block was present (RFC 2883).
    pub dsack: bool,
}

/// The sender's record of what the peer SACKed (RFC 6675 §3 scoreboard).
#[derive(Debug, Clone, Copy)]
pub struct Scoreboard {
    blocks: [(SeqNum, SeqNum); SCOREBOARD_BLOCKS],
    len: u8,
}

impl Default for Scoreboard {
    fn default() -> Self {
        Scoreboard { blocks: [(SeqNum(0), SeqNum(0)); SCOREBOARD_BLOCKS], len: 0 }
    }
}

impl Scoreboard {
    /// The SACKed ranges, sorted, disjoint.
    pub fn ranges(&self) -> &[(SeqNum, SeqNum)] {
        &self.blocks[..self.len as usize]
    }
    /// Nothing SACKed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Forget everything (after a retransmission timeout, RFC 2018 §8: the
    /// receiver may have reneged).
    pub fn clear(&mut self) {
        self.len = 0;
    }
    /// Bytes SACKed in total.
    pub fn sacked_bytes(&self) -> u32 {
        self.ranges().iter().map(|&(s, e)| e.since(s)).sum()
    }
    /// The highest SACKed sequence number + 1.
    pub fn highest(&self) -> Option<SeqNum> {
        self.ranges().last().map(|&(_, e)| e)
    }
    /// Is `seq` SACKed?
    pub fn is_sacked(&self, seq: SeqNum) -> bool {
        self.ranges().iter().any(|&(s, e)| s <= seq && seq < e)
    }
    /// If `seq` is SACKed, the end of its block, else `seq`.
    pub fn skip_sacked(&self, seq: SeqNum) -> SeqNum {
        self.ranges().iter().find(|&&(s, e)| s <= seq && seq < e).map_or(seq, |&(_, e)| e)
    }
    /// The start of the first SACKed range above `seq`, or `limit`.
    pub fn next_sacked(&self, seq: SeqNum, limit: SeqNum) -> SeqNum {
        self.ranges().iter().find(|&&(s, _)| s > seq).map_or(limit, |&(s, _)| s.min(limit))
    }

    /// RFC 6675 §4 IsLost(seq): at least DupThresh discontiguous SACKed ranges
    /// above `seq`, or more than (DupThresh − 1) · SMSS bytes SACKed above it.
    pub fn is_lost(&self, seq: SeqNum, mss: u32) -> bool {
        let mut count = 0;
        let mut bytes = 0u32;
        for &(s, e) in self.ranges().iter().rev() {
            if e <= seq {
                break;
            }
            count += 1;
            bytes = bytes.saturating_add(e.since(s.max(seq + 1)));
        }
        count >= DUP_THRESH || bytes > (DUP_THRESH - 1) * mss
    }

    /// The cumulative ACK moved to `snd_una`: forget what lies below it.
    pub fn prune(&mut self, snd_una: SeqNum) {
        let mut w = 0;
        for r in 0..self.len as usize {
            let (s, e) = self.blocks[r];
            if e <= snd_una {
                continue;
            }
            self.blocks[w] = (s.max(snd_una), e);
            w += 1;
        }
        self.len = w as u8;
    }

    /// Take the SACK blocks of an ACK whose cumulative acknowledgment is
    /// `snd_una` (already applied), with `snd_max` the highest sequence number
    /// sent + 1.
    pub fn update(&mut self, snd_una: SeqNum, snd_max: SeqNum, blocks: &[(u32, u32)]) -> SackUpdate {
        self.prune(snd_una);
        let mut u = SackUpdate::default();
        let span = snd_max.since(snd_una);
        for (i, &(l, r)) in blocks.iter().enumerate() {
            let (l, r) = (SeqNum(l), SeqNum(r));
            // RFC 2883 §4: a first block below the cumulative ACK, or inside the
            // second block, reports a duplicate.
            if i == 0 && l < r && r.since(l) <= span.max(1 << 30) {
                let below = r <= snd_una;
                let inside = blocks.get(1).is_some_and(|&(l2, r2)| SeqNum(l2) <= l && r <= SeqNum(r2));
                if below || inside {
                    u.dsack = true;
                    continue;
                }
            }
            if l >= r || r.since(l) > span || r > snd_max || l < snd_una - span.max(1) {
                u.invalid += 1;
                continue;
            }
            if r <= snd_una {
                // Stale: already acknowledged cumulatively.
                continue;
            }
            u.newly_sacked += self.insert(l.max(snd_una), r);
        }
        u
    }

    /// Merge `[l, r)` in; returns the bytes not SACKed before.
    fn insert(&mut self, l: SeqNum, r: SeqNum) -> u32 {
        let n = self.len as usize;
        let before = self.sacked_bytes();
        // Ranges i..j overlap or touch [l, r].
        let i = self.blocks[..n].iter().position(|&(_, e)| e >= l).unwrap_or(n);
        let j = self.blocks[..n].iter().position(|&(s, _)| s > r).unwrap_or(n);
        if i < j {
            let s = l.min(self.blocks[i].0);
            let e = r.max(self.blocks[j - 1].1);
            self.blocks[i] = (s, e);
            self.blocks.copy_within(j..n, i + 1);
            self.len = (n - (j - i - 1)) as u8;
        } else {
            if n == SCOREBOARD_BLOCKS {
                if i == n {
                    // Above every remembered range and no room: forget it.
                    return 0;
                }
                // Forget the highest range to make room.
                self.len -= 1;
            }
            let n = self.len as usize;
            self.blocks.copy_within(i..n, i + 1);
            self.blocks[i] = (l, r);
            self.len += 1;
        }
        self.sacked_bytes().saturating_sub(before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: u32) -> SeqNum {
        SeqNum(x)
    }

    #[test]
    fn scoreboard_merges_and_validates() {
        let mut b = Scoreboard::default();
        let u = b.update(s(1000), s(10_000), &[(2000, 3000), (4000, 5000)]);
        assert_eq!(u, SackUpdate { newly_sacked: 2000, invalid: 0, dsack: false });
        assert_eq!(b.ranges(), &[(s(2000), s(3000)), (s(4000), s(5000))]);
        // Overlap and bridge: one range.
        let u = b.update(s(1000), s(10_000), &[(2500, 4500)]);
        assert_eq!(u.newly_sacked, 1000);
        assert_eq!(b.ranges(), &[(s(2000), s(5000))]);
        // Invalid: beyond SND.MAX, inverted, empty, far below.
        let u = b.update(s(1000), s(10_000), &[(9000, 11_000), (7000, 6000), (7000, 7000), (0x8000_0000, 0x8000_0100)]);
        assert_eq!(u.invalid, 4);
        assert_eq!(b.sacked_bytes(), 3000);
        // D-SACK: first block below the cumulative ACK.
        let u = b.update(s(1000), s(10_000), &[(500, 1000), (2000, 3000)]);
        assert!(u.dsack);
        assert_eq!(u.invalid, 0);
        // D-SACK inside the second block.
        let u = b.update(s(1000), s(10_000), &[(2100, 2200), (2000, 3000)]);
        assert!(u.dsack);
        // The cumulative ACK passes part of it.
        b.update(s(2500), s(10_000), &[]);
        assert_eq!(b.ranges(), &[(s(2500), s(5000))]);
        assert_eq!(b.skip_sacked(s(3000)), s(5000));
        assert_eq!(b.next_sacked(s(1000), s(9000)), s(2500));
        assert_eq!(b.highest(), Some(s(5000)));
    }

    #[test]
    fn scoreboard_is_bounded() {
        let mut b = Scoreboard::default();
        for k in 0..40u32 {
            let l = 1000 + 200 * k;
            b.update(s(1000), s(100_000), &[(l, l + 100)]);
        }
        assert_eq!(b.ranges().len(), SCOREBOARD_BLOCKS);
        // A lower range still gets in (the highest is forgotten).
        b.update(s(1000), s(100_000), &[(1150, 1160)]);
        assert_eq!(b.ranges()[1], (s(1150), s(1160)));
        assert_eq!(b.ranges().len(), SCOREBOARD_BLOCKS);
        assert!(b.ranges().windows(2).all(|w| w[0].1 < w[1].0));
    }

    #[test]
    fn is_lost_rule() {
        let mut b = Scoreboard::default();
        let mss = 1000;
        // One segment SACKed above: not lost.
        b.update(s(0), s(10_000), &[(1000, 2000)]);
        assert!(!b.is_lost(s(0), mss));
        // Three segments SACKed contiguously above: 3000 > 2 * SMSS bytes.
        b.update(s(0), s(10_000), &[(1000, 4000)]);
        assert!(b.is_lost(s(0), mss));
        assert!(!b.is_lost(s(2500), mss));
        // Three discontiguous small ranges above.
        let mut b = Scoreboard::default();
        b.update(s(0), s(10_000), &[(1000, 1010), (2000, 2010), (3000, 3010)]);
        assert!(b.is_lost(s(0), mss));
        assert!(!b.is_lost(s(1500), mss));
    }

    #[test]
    fn blocks_most_recent_first() {
        let mut g = SackGen::default();
        let nxt = s(1000);
        // Ranges at offsets 1000..2000 and 3000..4000 and 5000..6000.
        let ranges = [(1000, 2000), (3000, 4000), (5000, 6000)];
        g.note(s(4000)); // in the 3000..4000 range
        g.note(s(6500)); // in 5000..6000
        let b = g.build(nxt, &ranges, 3);
        assert_eq!(b.as_slice(), &[(6000, 7000), (4000, 5000), (2000, 3000)]);
        // Three blocks at most with timestamps; four fit without.
        let ranges = [(1000, 2000), (3000, 4000), (5000, 6000), (7000, 8000), (9000, 9100)];
        g.note(s(10_000));
        assert_eq!(g.build(nxt, &ranges, 3).as_slice(), &[(10_000, 10_100), (6000, 7000), (4000, 5000)]);
        assert_eq!(g.build(nxt, &ranges, 4).len, 4);
        // A D-SACK goes first, once.
        g.duplicate(s(500), s(800));
        assert_eq!(g.build(nxt, &ranges, 3).as_slice()[0], (500, 800));
        assert_eq!(g.build(nxt, &ranges, 3).as_slice()[0], (10_000, 10_100));
        // Nothing held: no blocks.
        assert!(g.build(nxt, &[], 3).is_empty());
    }
}
