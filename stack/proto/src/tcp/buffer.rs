//! A fixed-capacity byte ring ([`RingBuffer`], a plain building block; the
//! connections' queues are pool chunks, see [`super::pool`]), and the
//! out-of-order assembler of the receive side (bounded by the window, see
//! [`ooo_range_limit`]).

/// A fixed-capacity byte ring. Offsets are relative to the oldest byte.
#[derive(Debug)]
pub struct RingBuffer {
    buf: Box<[u8]>,
    head: usize,
    len: usize,
}

impl RingBuffer {
    /// A ring of `capacity` bytes (allocates; done at connection setup only).
    pub fn new(capacity: usize) -> RingBuffer {
        RingBuffer { buf: vec![0u8; capacity].into_boxed_slice(), head: 0, len: 0 }
    }
    /// Total capacity.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }
    /// Bytes queued.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when no byte is queued.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Free space.
    #[inline]
    pub fn free(&self) -> usize {
        self.buf.len() - self.len
    }
    /// Drop all content (keeps the allocation).
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    #[inline]
    fn phys(&self, off: usize) -> usize {
        let p = self.head + off;
        if p >= self.buf.len() {
            p - self.buf.len()
        } else {
            p
        }
    }

    /// Append as much of `data` as fits; returns the count appended.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        self.write_unqueued(0, &data[..n]);
        self.len += n;
        n
    }

    /// Write `data` at `offset` bytes past the end of the queued data (into free
    /// space) without queueing it. Returns how many bytes fitted.
    pub fn write_unqueued(&mut self, offset: usize, data: &[u8]) -> usize {
        let cap = self.buf.len();
        if offset >= self.free() {
            return 0;
        }
        let n = data.len().min(self.free() - offset);
        if n == 0 {
            return 0;
        }
        let start = self.phys(self.len + offset);
        let first = n.min(cap - start);
        self.buf[start..start + first].copy_from_slice(&data[..first]);
        if first < n {
            self.buf[..n - first].copy_from_slice(&data[first..n]);
        }
        n
    }

    /// Queue `n` bytes previously written with [`RingBuffer::write_unqueued`].
    pub fn enqueue_unqueued(&mut self, n: usize) {
        debug_assert!(n <= self.free());
        self.len += n.min(self.free());
    }

    /// The longest contiguous slice starting at `offset` (at most `max` bytes).
    pub fn contiguous_at(&self, offset: usize, max: usize) -> &[u8] {
        if offset >= self.len {
            return &[];
        }
        let start = self.phys(offset);
        let n = (self.len - offset).min(max).min(self.buf.len() - start);
        &self.buf[start..start + n]
    }

    /// Copy out up to `out.len()` bytes from the front without consuming them.
    pub fn peek(&self, out: &mut [u8]) -> usize {
        let mut done = 0;
        while done < out.len() {
            let s = self.contiguous_at(done, out.len() - done);
            if s.is_empty() {
                break;
            }
            out[done..done + s.len()].copy_from_slice(s);
            done += s.len();
        }
        done
    }

    /// Drop `n` bytes from the front.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.head = self.phys(n);
        self.len -= n;
    }

    /// Copy out and consume up to `out.len()` bytes.
    pub fn pop(&mut self, out: &mut [u8]) -> usize {
        let n = self.peek(out);
        self.consume(n);
        n
    }
}

/// How many out-of-order ranges a connection may hold: one per full-sized segment
/// the receive buffer can hold beyond RCV.NXT, plus one (at least 4). A sender of
/// full-sized segments can never leave more disjoint ranges in the window than
/// that, so a legitimate flow is never refused for want of a range; a peer
/// cutting the window into tiny pieces is bounded to 8 bytes per range (about
/// 1.4 KiB for a 256 KiB buffer and a 1460-byte MSS).
pub fn ooo_range_limit(rx_buffer: usize, mss: u16) -> usize {
    (rx_buffer / usize::from(mss.max(1)) + 1).max(4)
}

/// What [`Assembler::add`] did with a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// Recorded (possibly merged with neighbours).
    Held,
    /// Recorded, and the farthest range was forgotten to make room for it (its
    /// bytes will be sent again by the peer).
    Evicted,
    /// Not recorded: every range is taken and this one lies beyond all of them.
    Refused,
}

/// Out-of-order ranges received beyond `RCV.NXT`, as byte offsets `[start, end)`
/// relative to `RCV.NXT`, sorted, disjoint and non-adjacent. The bytes themselves
/// sit in the receive ring's free space (the window the ring reserves); this only
/// remembers which are there. At most `limit` ranges, given to each
/// [`Assembler::add`] ([`ooo_range_limit`], not stored: the per-connection state
/// stays small): when
/// they are all taken, a range nearer to RCV.NXT evicts the farthest, so data at
/// RCV.NXT is always taken.
///
/// The ranges live behind one pointer (8 bytes in the connection where a
/// `Vec` takes 24), allocated with the first out-of-order segment and kept.
#[derive(Debug, Clone, Default)]
pub struct Assembler {
    // One pointer in the connection on purpose (see above).
    #[allow(clippy::box_collection)]
    ranges: Option<Box<Vec<(u32, u32)>>>,
}

impl Assembler {
    /// An empty assembler. Allocates nothing until a range arrives.
    pub fn new() -> Assembler {
        Assembler { ranges: None }
    }
    /// True when no out-of-order data is held.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ranges.as_ref().is_none_or(|r| r.is_empty())
    }
    /// Forget everything.
    pub fn clear(&mut self) {
        if let Some(r) = self.ranges.as_mut() {
            r.clear();
        }
    }
    /// The held ranges.
    pub fn ranges(&self) -> &[(u32, u32)] {
        self.ranges.as_deref().map_or(&[], |r| r.as_slice())
    }
    /// Record `[start, end)` (nothing for `end <= start`), holding at most
    /// `limit` ranges (at least 1).
    pub fn add(&mut self, start: u32, end: u32, limit: usize) -> AddOutcome {
        if end <= start {
            return AddOutcome::Held;
        }
        let ranges = self.ranges.get_or_insert_with(Box::default);
        // Ranges i..j overlap or touch [start, end].
        let i = ranges.partition_point(|r| r.1 < start);
        let j = ranges.partition_point(|r| r.0 <= end);
        if i < j {
            let s = start.min(ranges[i].0);
            let e = end.max(ranges[j - 1].1);
            ranges[i] = (s, e);
            ranges.drain(i + 1..j);
            return AddOutcome::Held;
        }
        let mut outcome = AddOutcome::Held;
        if ranges.len() >= limit.max(1) {
            if i == ranges.len() {
                return AddOutcome::Refused;
            }
            ranges.pop();
            outcome = AddOutcome::Evicted;
        }
        ranges.insert(i, (start, end));
        outcome
    }

    /// If a range starts at offset 0, remove it and return its length; then shift all
    /// other ranges down by that amount (RCV.NXT moved forward by it).
    pub fn take_front(&mut self) -> u32 {
        match self.ranges().first() {
            Some(&(0, adv)) => {
                if let Some(r) = self.ranges.as_mut() {
                    r.remove(0);
                }
                self.shift(adv);
                adv
            }
            _ => 0,
        }
    }

    /// RCV.NXT moved forward by `by` bytes: shift ranges, dropping what is now below 0.
    pub fn shift(&mut self, by: u32) {
        let Some(ranges) = self.ranges.as_mut() else { return };
        ranges.retain_mut(|(s, e)| {
            if *e <= by {
                return false;
            }
            *s = s.saturating_sub(by);
            *e -= by;
            true
        });
    }

    /// Bytes allocated for the ranges (kept while the connection lives).
    pub fn heap_bytes(&self) -> usize {
        self.ranges.as_ref().map_or(0, |r| core::mem::size_of::<Vec<(u32, u32)>>() + r.capacity() * 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_wraps() {
        let mut r = RingBuffer::new(8);
        assert_eq!(r.push(b"abcdef"), 6);
        let mut out = [0u8; 4];
        assert_eq!(r.pop(&mut out), 4);
        assert_eq!(&out, b"abcd");
        assert_eq!(r.push(b"ghijklmn"), 6);
        assert_eq!(r.len(), 8);
        assert_eq!(r.contiguous_at(0, 100), b"efgh");
        assert_eq!(r.contiguous_at(4, 100), b"ijkl");
        assert_eq!(r.contiguous_at(3, 2), b"h");
        let mut all = [0u8; 8];
        assert_eq!(r.pop(&mut all), 8);
        assert_eq!(&all, b"efghijkl");
        assert!(r.is_empty());
    }

    #[test]
    fn ring_unqueued() {
        let mut r = RingBuffer::new(8);
        r.push(b"ab");
        assert_eq!(r.write_unqueued(2, b"ef"), 2);
        assert_eq!(r.write_unqueued(0, b"cd"), 2);
        r.enqueue_unqueued(4);
        let mut out = [0u8; 8];
        assert_eq!(r.pop(&mut out), 6);
        assert_eq!(&out[..6], b"abcdef");
        assert_eq!(r.write_unqueued(8, b"x"), 0);
        assert_eq!(r.write_unqueued(6, b"xyz"), 2);
    }

    #[test]
    fn assembler_merges() {
        let mut a = Assembler::default();
        assert_eq!(a.add(10, 20, 4), AddOutcome::Held);
        assert_eq!(a.add(30, 40, 4), AddOutcome::Held);
        assert_eq!(a.add(20, 30, 4), AddOutcome::Held);
        assert_eq!(a.ranges(), &[(10, 40)]);
        assert_eq!(a.take_front(), 0);
        assert_eq!(a.add(0, 5, 4), AddOutcome::Held);
        assert_eq!(a.take_front(), 5);
        assert_eq!(a.ranges(), &[(5, 35)]);
        a.shift(5);
        assert_eq!(a.take_front(), 30);
        assert!(a.is_empty());
        // Overlaps on both sides, and one range swallowing several.
        for (s, e) in [(10, 12), (20, 22), (30, 32), (40, 42)] {
            a.add(s, e, 4);
        }
        assert_eq!(a.add(11, 31, 4), AddOutcome::Held);
        assert_eq!(a.ranges(), &[(10, 32), (40, 42)]);
    }

    /// Issue 13: with every range taken, data at offset 0 (RCV.NXT) was refused, so
    /// a flow with more holes than ranges never advanced. Now it evicts the
    /// farthest range; only a range beyond all others is refused.
    #[test]
    fn assembler_full_still_takes_in_order_data() {
        let mut a = Assembler::new();
        for i in 0..4u32 {
            assert_eq!(a.add(10 * i + 5, 10 * i + 8, 4), AddOutcome::Held);
        }
        assert_eq!(a.add(100, 110, 4), AddOutcome::Refused);
        assert_eq!(a.add(0, 2, 4), AddOutcome::Evicted);
        assert_eq!(a.ranges(), &[(0, 2), (5, 8), (15, 18), (25, 28)]);
        assert_eq!(a.take_front(), 2);
        assert_eq!(a.ranges(), &[(3, 6), (13, 16), (23, 26)]);
        assert_eq!(a.add(7, 14, 4), AddOutcome::Held); // merges two
        assert_eq!(a.ranges(), &[(3, 6), (7, 16), (23, 26)]);
        a.shift(20);
        assert_eq!(a.ranges(), &[(3, 6)]);
    }

    #[test]
    fn range_limit_follows_the_window() {
        assert_eq!(ooo_range_limit(256 * 1024, 1460), 180);
        assert_eq!(ooo_range_limit(1024, 1460), 4);
        assert_eq!(ooo_range_limit(1 << 20, 0), (1 << 20) + 1);
    }
}
