//! Byte ring buffers for the send and receive queues, allocated once when a
//! connection is set up (and kept in the slot for the next connection), plus a small
//! bounded out-of-order assembler for the receive side.

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

/// Most out-of-order ranges kept per connection; a segment that would need more is
/// dropped (and counted), to be retransmitted by the peer.
pub const MAX_OOO_RANGES: usize = 4;

/// Out-of-order ranges received beyond `RCV.NXT`, as byte offsets `[start, end)`
/// relative to `RCV.NXT`, sorted, disjoint and non-adjacent.
#[derive(Debug, Default, Clone)]
pub struct Assembler {
    ranges: [(u32, u32); MAX_OOO_RANGES],
    len: usize,
}

impl Assembler {
    /// True when no out-of-order data is held.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Forget everything.
    pub fn clear(&mut self) {
        self.len = 0;
    }
    /// The held ranges.
    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.ranges[..self.len]
    }

    /// Record `[start, end)` (end > start). Returns `false` (recording nothing) if it
    /// would need more than [`MAX_OOO_RANGES`] ranges.
    pub fn add(&mut self, start: u32, end: u32) -> bool {
        if end <= start {
            return true;
        }
        let mut tmp = [(0u32, 0u32); MAX_OOO_RANGES + 1];
        let mut n = 0;
        let (mut s, mut e) = (start, end);
        let mut placed = false;
        for &(rs, re) in self.ranges() {
            if re < s {
                tmp[n] = (rs, re);
                n += 1;
            } else if rs > e {
                if !placed {
                    tmp[n] = (s, e);
                    n += 1;
                    placed = true;
                }
                tmp[n] = (rs, re);
                n += 1;
            } else {
                s = s.min(rs);
                e = e.max(re);
            }
        }
        if !placed {
            tmp[n] = (s, e);
            n += 1;
        }
        if n > MAX_OOO_RANGES {
            return false;
        }
        self.ranges[..n].copy_from_slice(&tmp[..n]);
        self.len = n;
        true
    }

    /// If a range starts at offset 0, remove it and return its length; then shift all
    /// other ranges down by that amount (RCV.NXT moved forward by it).
    pub fn take_front(&mut self) -> u32 {
        if self.len == 0 || self.ranges[0].0 != 0 {
            return 0;
        }
        let adv = self.ranges[0].1;
        self.ranges.copy_within(1..self.len, 0);
        self.len -= 1;
        self.shift(adv);
        adv
    }

    /// RCV.NXT moved forward by `by` bytes: shift ranges, dropping what is now below 0.
    pub fn shift(&mut self, by: u32) {
        let mut n = 0;
        for i in 0..self.len {
            let (s, e) = self.ranges[i];
            if e <= by {
                continue;
            }
            self.ranges[n] = (s.saturating_sub(by), e - by);
            n += 1;
        }
        self.len = n;
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
        assert!(a.add(10, 20));
        assert!(a.add(30, 40));
        assert!(a.add(20, 30));
        assert_eq!(a.ranges(), &[(10, 40)]);
        assert_eq!(a.take_front(), 0);
        assert!(a.add(0, 5));
        assert_eq!(a.take_front(), 5);
        assert_eq!(a.ranges(), &[(5, 35)]);
        a.shift(5);
        assert_eq!(a.take_front(), 30);
        assert!(a.is_empty());
    }

    #[test]
    fn assembler_bounded() {
        let mut a = Assembler::default();
        for i in 0..MAX_OOO_RANGES as u32 {
            assert!(a.add(10 * i + 5, 10 * i + 8));
        }
        assert!(!a.add(100, 110));
        assert!(a.add(7, 16)); // merges two
        assert!(a.add(100, 110));
        a.shift(20);
        assert_eq!(a.ranges()[0], (5, 8));
    }
}
