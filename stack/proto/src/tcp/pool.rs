//! Buffer memory of one [`super::Tcp`]: a pool of fixed-size chunks
//! ([`CHUNK_SIZE`]) from which every connection's send and receive queues
//! ([`ChunkBuf`]) take memory only while they hold data, and to which they give
//! it back as soon as they are empty. An idle connection holds no buffer memory.
//!
//! * Sans-IO and single-threaded: the pool is a plain value owned by the `Tcp`
//!   of one core; no locks.
//! * The pool grows by slabs of [`SLAB_CHUNKS`] chunks (one allocation each) up
//!   to its bound ([`super::TcpConfig::buffer_memory`]) and keeps what it took:
//!   in steady state a connection's buffers come from the free list and the
//!   global allocator is not called. Slabs are zero-filled allocations
//!   (`calloc`), so pages the stack never wrote cost no resident memory.
//! * A queue is a singly linked chain of chunks (the links live in the pool, one
//!   `u32` per chunk). Reads and writes at an offset walk the chain from a cursor
//!   remembered in the queue (the last chunk visited), so sequential access
//!   (appending received data, sending at SND.NXT) costs O(1) per segment.
//! * When the bound is reached, [`ChunkBuf::room`] shrinks: the window a
//!   connection advertises and the bytes `send` accepts follow what the pool can
//!   still give, so data is refused before it is accepted; nothing accepted is
//!   ever dropped (see `Tcp` "Memory").

use core::cell::Cell;

/// Bytes per chunk. Small enough that a connection with a few bytes queued holds
/// little (an echo of a short message takes one chunk while it is in flight),
/// large enough that a full-sized segment crosses at most one chunk boundary.
pub const CHUNK_SIZE: usize = 4096;
/// Chunks per slab (one global allocation of 256 KiB when the pool grows).
pub const SLAB_CHUNKS: usize = 64;
/// Size of the gather buffer for segments that cross a chunk boundary (the
/// largest TCP payload).
const SCRATCH_SIZE: usize = 65536;
/// "No chunk".
const NIL: u32 = u32::MAX;

/// The chunk pool of one `Tcp`.
pub struct Pool {
    slabs: Vec<Box<[u8]>>,
    /// Link of each chunk: the next chunk of its queue, or of the free list.
    next: Vec<u32>,
    free_head: u32,
    free_count: usize,
    /// Most chunks the pool ever allocates (the memory bound).
    limit: usize,
    /// Most chunks in use at once so far.
    peak: usize,
    /// Where a segment crossing a chunk boundary is gathered for sending.
    scratch: Box<[u8]>,
}

impl core::fmt::Debug for Pool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pool").field("chunks", &self.next.len()).field("in_use", &self.in_use()).field("limit", &self.limit).finish()
    }
}

impl Pool {
    /// A pool that allocates at most `limit_bytes` of chunks (rounded up to a
    /// chunk; at least one slab), `prealloc_bytes` of them at once.
    pub fn new(limit_bytes: usize, prealloc_bytes: usize) -> Pool {
        let limit = limit_bytes.div_ceil(CHUNK_SIZE).max(SLAB_CHUNKS);
        let mut p = Pool { slabs: Vec::new(), next: Vec::new(), free_head: NIL, free_count: 0, limit, peak: 0, scratch: vec![0u8; SCRATCH_SIZE].into_boxed_slice() };
        while p.next.len() * CHUNK_SIZE < prealloc_bytes.min(limit * CHUNK_SIZE) {
            p.grow();
        }
        p
    }

    /// Chunks allocated from the system so far (in use or free).
    #[inline]
    pub fn allocated_chunks(&self) -> usize {
        self.next.len()
    }
    /// Chunks held by queues now.
    #[inline]
    pub fn in_use(&self) -> usize {
        self.next.len() - self.free_count
    }
    /// Most chunks held at once so far.
    #[inline]
    pub fn peak(&self) -> usize {
        self.peak
    }
    /// The bound, in chunks.
    #[inline]
    pub fn limit(&self) -> usize {
        self.limit
    }
    /// Chunks that can still be handed out (free, or allocatable within the bound).
    #[inline]
    pub fn available(&self) -> usize {
        self.limit - self.in_use()
    }
    /// Bytes of memory the pool holds (chunks, links and the gather buffer).
    pub fn memory_bytes(&self) -> usize {
        self.next.len() * CHUNK_SIZE + self.next.capacity() * 4 + self.slabs.capacity() * core::mem::size_of::<Box<[u8]>>() + self.scratch.len()
    }

    /// Allocate one more slab (within the bound). Not on the steady-state path.
    #[cold]
    fn grow(&mut self) -> bool {
        let have = self.next.len();
        let n = SLAB_CHUNKS.min(self.limit.saturating_sub(have));
        if n == 0 {
            return false;
        }
        self.slabs.push(vec![0u8; SLAB_CHUNKS * CHUNK_SIZE].into_boxed_slice());
        // The new chunks go on the free list, lowest index first.
        self.next.resize(have + n, NIL);
        for i in (have..have + n).rev() {
            self.next[i] = self.free_head;
            self.free_head = i as u32;
        }
        self.free_count += n;
        true
    }

    /// Take a chunk (its content is whatever the last user left).
    #[inline]
    pub fn alloc(&mut self) -> Option<u32> {
        if self.free_head == NIL && !self.grow() {
            return None;
        }
        let c = self.free_head;
        self.free_head = self.next[c as usize];
        self.next[c as usize] = NIL;
        self.free_count -= 1;
        self.peak = self.peak.max(self.in_use());
        Some(c)
    }

    /// Give a chunk back.
    #[inline]
    pub fn release(&mut self, c: u32) {
        self.next[c as usize] = self.free_head;
        self.free_head = c;
        self.free_count += 1;
    }

    #[inline]
    fn link(&self, c: u32) -> u32 {
        self.next[c as usize]
    }

    #[inline]
    fn data(&self, c: u32) -> &[u8] {
        let c = c as usize;
        let off = (c % SLAB_CHUNKS) * CHUNK_SIZE;
        &self.slabs[c / SLAB_CHUNKS][off..off + CHUNK_SIZE]
    }

    #[inline]
    fn data_mut(&mut self, c: u32) -> &mut [u8] {
        let c = c as usize;
        let off = (c % SLAB_CHUNKS) * CHUNK_SIZE;
        &mut self.slabs[c / SLAB_CHUNKS][off..off + CHUNK_SIZE]
    }

    /// Copy `n` bytes from chunk `a` at `ao` to chunk `b` at `bo` (`a != b`).
    fn copy_between(&mut self, a: u32, ao: usize, b: u32, bo: usize, n: usize) {
        debug_assert_ne!(a, b);
        let (sa, sb) = (a as usize / SLAB_CHUNKS, b as usize / SLAB_CHUNKS);
        let ao = (a as usize % SLAB_CHUNKS) * CHUNK_SIZE + ao;
        let bo = (b as usize % SLAB_CHUNKS) * CHUNK_SIZE + bo;
        if sa == sb {
            self.slabs[sa].copy_within(ao..ao + n, bo);
        } else if sa < sb {
            let (lo, hi) = self.slabs.split_at_mut(sb);
            hi[0][bo..bo + n].copy_from_slice(&lo[sa][ao..ao + n]);
        } else {
            let (lo, hi) = self.slabs.split_at_mut(sa);
            lo[sb][bo..bo + n].copy_from_slice(&hi[0][ao..ao + n]);
        }
    }
}

/// A byte queue (the send or the receive buffer of one connection) made of pool
/// chunks. Offsets are relative to the oldest queued byte. `capacity` is the most
/// bytes it may hold (the send buffer size, or the receive buffer as auto-tuned);
/// memory is taken from the pool only for bytes actually written.
///
/// Every method that touches memory takes the pool; a `ChunkBuf` must always be
/// used with the same pool, and emptied with [`ChunkBuf::free_all`] before it is
/// dropped (else its chunks are lost to the pool, never to memory safety).
#[derive(Debug)]
pub struct ChunkBuf {
    head: u32,
    tail: u32,
    /// Cursor: a chunk of the chain (`NIL`: none) and its position in it.
    cur_idx: Cell<u32>,
    /// Bytes queued.
    len: u32,
    cap: u32,
    /// Offset of the first queued byte in the head chunk.
    start: u16,
    /// Chunks in the chain.
    held: u16,
    cur_k: Cell<u16>,
}

/// Most bytes one queue holds: a chain has at most `u16::MAX` chunks, the
/// first of them partly consumed, so `u16::MAX - 1` whole chunks (256 MiB)
/// can always be backed. Capacities are clamped to it, so that a receive
/// window is never advertised beyond what the queue can take.
pub const MAX_QUEUE_BYTES: usize = (u16::MAX as usize - 1) * CHUNK_SIZE;

impl ChunkBuf {
    /// An empty queue of `capacity` bytes (at most [`MAX_QUEUE_BYTES`]); holds
    /// no memory.
    pub fn new(capacity: usize) -> ChunkBuf {
        ChunkBuf { head: NIL, tail: NIL, cur_idx: Cell::new(NIL), len: 0, cap: capacity.min(MAX_QUEUE_BYTES) as u32, start: 0, held: 0, cur_k: Cell::new(0) }
    }
    /// Most bytes it may hold.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.cap as usize
    }
    /// Raise (or lower, never below what is queued) the capacity, at most
    /// [`MAX_QUEUE_BYTES`].
    pub fn set_capacity(&mut self, cap: usize) {
        self.cap = cap.min(MAX_QUEUE_BYTES).max(self.len as usize) as u32;
    }
    /// Bytes queued.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }
    /// True when no byte is queued.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Capacity not used by queued bytes (whether or not the pool can back it).
    #[inline]
    pub fn free(&self) -> usize {
        (self.cap - self.len) as usize
    }
    /// Chunks held.
    #[inline]
    pub fn chunks(&self) -> usize {
        usize::from(self.held)
    }
    /// Bytes that can be written after the queued ones now: the free capacity,
    /// limited by the memory the queue holds beyond its data plus what the pool
    /// can still give. With the pool at its bound this shrinks to what the held
    /// chunks can take (the window we advertise follows it).
    pub fn room(&self, pool: &Pool) -> usize {
        let backed = usize::from(self.held) * CHUNK_SIZE - usize::from(self.start) - self.len as usize;
        self.free().min(backed + pool.available() * CHUNK_SIZE)
    }

    /// Bytes readable at `off` (at most `max`): what [`ChunkBuf::read_at`]
    /// returns.
    #[inline]
    pub fn available(&self, off: usize, max: usize) -> usize {
        (self.len as usize).saturating_sub(off).min(max)
    }

    /// The `k`-th chunk of the chain (`k < held`), from the cursor when it lies
    /// at or before it.
    fn locate(&self, pool: &Pool, k: u16) -> u32 {
        debug_assert!(k < self.held);
        let (mut c, mut i) = if self.cur_idx.get() != NIL && self.cur_k.get() <= k { (self.cur_idx.get(), self.cur_k.get()) } else { (self.head, 0) };
        if k == self.held - 1 {
            (c, i) = (self.tail, k);
        }
        while i < k {
            c = pool.link(c);
            i += 1;
        }
        self.cur_idx.set(c);
        self.cur_k.set(k);
        c
    }

    /// Make the chain cover `upto` bytes from the head chunk's start; returns how
    /// many it covers (less when the pool is exhausted).
    fn ensure(&mut self, pool: &mut Pool, upto: usize) -> usize {
        while usize::from(self.held) * CHUNK_SIZE < upto && self.held < u16::MAX {
            let Some(c) = pool.alloc() else { break };
            if self.held == 0 {
                self.head = c;
            } else {
                pool.next[self.tail as usize] = c;
            }
            self.tail = c;
            self.held += 1;
        }
        (usize::from(self.held) * CHUNK_SIZE).min(upto)
    }

    /// Write `data` at `offset` bytes past the end of the queued data without
    /// queueing it. Returns how many bytes fitted (limited by the capacity and by
    /// the memory the pool can give).
    pub fn write_unqueued(&mut self, pool: &mut Pool, offset: usize, data: &[u8]) -> usize {
        let free = self.free();
        if offset >= free {
            return 0;
        }
        let want = data.len().min(free - offset);
        if want == 0 {
            return 0;
        }
        let from = usize::from(self.start) + self.len as usize + offset;
        // The common case, an append: the bytes go into the last chunk held and
        // at most one new chunk after it.
        if let Some(n) = self.append_fast(pool, from, &data[..want]) {
            return n;
        }
        let n = self.ensure(pool, from + want).saturating_sub(from);
        let mut done = 0;
        while done < n {
            let pos = from + done;
            let c = self.locate(pool, (pos / CHUNK_SIZE) as u16);
            let o = pos % CHUNK_SIZE;
            let k = (CHUNK_SIZE - o).min(n - done);
            pool.data_mut(c)[o..o + k].copy_from_slice(&data[done..done + k]);
            done += k;
        }
        n
    }

    /// Write `data` at `from` (bytes from the head chunk's start) when that lies
    /// in the last chunk held (or in the first chunk of an empty chain) and
    /// the bytes need at most one more chunk: a segment appended in order.
    /// `None` when another case (the general path handles it).
    #[inline]
    fn append_fast(&mut self, pool: &mut Pool, from: usize, data: &[u8]) -> Option<usize> {
        let want = data.len();
        let tail_start = usize::from(self.held).saturating_sub(1) * CHUNK_SIZE;
        if from < tail_start || from >= tail_start + CHUNK_SIZE || want > CHUNK_SIZE {
            return None;
        }
        if self.held == 0 {
            let c = pool.alloc()?;
            self.head = c;
            self.tail = c;
            self.held = 1;
        }
        let o = from - tail_start;
        let first = (CHUNK_SIZE - o).min(want);
        pool.data_mut(self.tail)[o..o + first].copy_from_slice(&data[..first]);
        if first == want {
            return Some(want);
        }
        if self.held == u16::MAX {
            return Some(first);
        }
        let Some(c) = pool.alloc() else { return Some(first) };
        pool.next[self.tail as usize] = c;
        self.tail = c;
        self.held += 1;
        pool.data_mut(c)[..want - first].copy_from_slice(&data[first..]);
        Some(want)
    }

    /// As [`ChunkBuf::append_fast`], the bytes being `n` bytes of chunk `src`
    /// (of another queue) at `src_off`.
    #[inline]
    fn append_from_chunk(&mut self, pool: &mut Pool, from: usize, src: u32, src_off: usize, n: usize) -> Option<usize> {
        let tail_start = usize::from(self.held).saturating_sub(1) * CHUNK_SIZE;
        if from < tail_start || from >= tail_start + CHUNK_SIZE || n > CHUNK_SIZE {
            return None;
        }
        if self.held == 0 {
            let c = pool.alloc()?;
            self.head = c;
            self.tail = c;
            self.held = 1;
        }
        let o = from - tail_start;
        let first = (CHUNK_SIZE - o).min(n);
        pool.copy_between(src, src_off, self.tail, o, first);
        if first == n || self.held == u16::MAX {
            return Some(first);
        }
        let Some(c) = pool.alloc() else { return Some(first) };
        pool.next[self.tail as usize] = c;
        self.tail = c;
        self.held += 1;
        pool.copy_between(src, src_off + first, c, 0, n - first);
        Some(n)
    }

    /// Queue `n` bytes previously written with [`ChunkBuf::write_unqueued`].
    pub fn enqueue_unqueued(&mut self, n: usize) {
        let backed = (usize::from(self.held) * CHUNK_SIZE - usize::from(self.start)) as u32;
        debug_assert!(self.len as usize + n <= backed as usize);
        self.len = (self.len + n as u32).min(backed).min(self.cap);
    }

    /// Append as much of `data` as fits; returns the count appended.
    pub fn push(&mut self, pool: &mut Pool, data: &[u8]) -> usize {
        let n = self.write_unqueued(pool, 0, data);
        self.len += n as u32;
        n
    }

    /// The queued bytes in the first chunk (empty when nothing is queued): a
    /// zero-copy view of the front.
    #[inline]
    pub fn front<'p>(&self, pool: &'p Pool) -> &'p [u8] {
        if self.len == 0 {
            return &[];
        }
        let s = usize::from(self.start);
        let n = (self.len as usize).min(CHUNK_SIZE - s);
        &pool.data(self.head)[s..s + n]
    }

    /// `len` bytes at `off` as one slice ([`ChunkBuf::available`] says how many
    /// there are): a view into the chunk, or, for bytes that cross a chunk
    /// boundary, a copy gathered in the pool's scratch buffer.
    pub fn read_at<'p>(&self, pool: &'p mut Pool, off: usize, len: usize) -> &'p [u8] {
        let len = self.available(off, len).min(SCRATCH_SIZE);
        if len == 0 {
            return &[];
        }
        let pos = usize::from(self.start) + off;
        let c = self.locate(pool, (pos / CHUNK_SIZE) as u16);
        let o = pos % CHUNK_SIZE;
        if o + len <= CHUNK_SIZE {
            let pool: &'p Pool = pool;
            return &pool.data(c)[o..o + len];
        }
        let mut done = 0;
        let mut c = c;
        let mut o = o;
        while done < len {
            let k = (CHUNK_SIZE - o).min(len - done);
            let (data, scratch) = (&pool.slabs, &mut pool.scratch);
            let ci = c as usize;
            let base = (ci % SLAB_CHUNKS) * CHUNK_SIZE + o;
            scratch[done..done + k].copy_from_slice(&data[ci / SLAB_CHUNKS][base..base + k]);
            done += k;
            o = 0;
            if done < len {
                c = pool.link(c);
            }
        }
        &pool.scratch[..len]
    }

    /// Copy up to `out.len()` bytes from offset `off` without consuming them.
    pub fn peek_at(&self, pool: &Pool, off: usize, out: &mut [u8]) -> usize {
        let n = self.available(off, out.len());
        let mut done = 0;
        while done < n {
            let pos = usize::from(self.start) + off + done;
            let c = self.locate(pool, (pos / CHUNK_SIZE) as u16);
            let o = pos % CHUNK_SIZE;
            let k = (CHUNK_SIZE - o).min(n - done);
            out[done..done + k].copy_from_slice(&pool.data(c)[o..o + k]);
            done += k;
        }
        n
    }

    /// Drop `n` bytes from the front; chunks wholly consumed go back to the pool,
    /// and all of them once nothing is queued.
    pub fn consume(&mut self, pool: &mut Pool, n: usize) {
        self.consume_front(pool, n, false);
    }

    /// As [`ChunkBuf::consume`], but with `keep_beyond` the chunks stay when
    /// nothing is queued: bytes written beyond the queued ones (out-of-order
    /// data of a receive queue) are still needed.
    pub fn consume_front(&mut self, pool: &mut Pool, n: usize, keep_beyond: bool) {
        let n = n.min(self.len as usize);
        if n == 0 {
            return;
        }
        self.len -= n as u32;
        if self.len == 0 && !keep_beyond {
            self.free_all(pool);
            return;
        }
        let adv = usize::from(self.start) + n;
        let drop = (adv / CHUNK_SIZE) as u16;
        for _ in 0..drop {
            let c = self.head;
            self.head = pool.link(c);
            pool.release(c);
        }
        self.held -= drop;
        self.start = (adv % CHUNK_SIZE) as u16;
        if self.held == 0 {
            self.head = NIL;
            self.tail = NIL;
        }
        let k = self.cur_k.get();
        if k >= drop && self.cur_idx.get() != NIL {
            self.cur_k.set(k - drop);
        } else {
            self.cur_idx.set(NIL);
        }
    }

    /// Forget the written bytes beyond the queued ones (out-of-order data the
    /// caller no longer needs): frees the chunks if nothing is queued.
    pub fn drop_unqueued(&mut self, pool: &mut Pool) {
        if self.len == 0 {
            self.free_all(pool);
        }
    }

    /// Empty the queue and give every chunk back.
    pub fn free_all(&mut self, pool: &mut Pool) {
        let mut c = self.head;
        for _ in 0..self.held {
            let next = pool.link(c);
            pool.release(c);
            c = next;
        }
        self.head = NIL;
        self.tail = NIL;
        self.held = 0;
        self.start = 0;
        self.len = 0;
        self.cur_idx.set(NIL);
    }

    /// Move up to `max` queued bytes from the front of `self` to the end of `to`
    /// (one copy, chunk to chunk). Returns the count moved (limited by `to`'s
    /// room and the pool). `keep_beyond` as for [`ChunkBuf::consume_front`].
    pub fn move_to(&mut self, to: &mut ChunkBuf, pool: &mut Pool, max: usize, keep_beyond: bool) -> usize {
        let mut moved = 0;
        let want = max.min(self.len as usize);
        // The whole chain changes hands when `to` holds nothing, everything
        // queued moves, it fits `to`, and nothing written beyond it must stay
        // (`keep_beyond`) nor a spare chunk go along: no byte is copied (an
        // echo moving a request into its own empty send buffer).
        if to.held == 0 && self.held > 0 && !keep_beyond && want == self.len as usize && want <= to.free() && (usize::from(self.start) + want).div_ceil(CHUNK_SIZE) == usize::from(self.held) {
            (to.head, to.tail, to.start, to.len, to.held) = (self.head, self.tail, self.start, self.len, self.held);
            to.cur_idx.set(NIL);
            (self.head, self.tail, self.start, self.len, self.held) = (NIL, NIL, 0, 0, 0);
            self.cur_idx.set(NIL);
            return want;
        }
        while moved < want {
            let s = usize::from(self.start);
            let run = (self.len as usize).min(CHUNK_SIZE - s).min(want - moved);
            // Room at the end of `to`, within its capacity and the pool.
            let free = to.free();
            if free == 0 {
                break;
            }
            let from = usize::from(to.start) + to.len as usize;
            let n = match to.append_from_chunk(pool, from, self.head, s, run.min(free)) {
                Some(n) => n,
                None => {
                    let n = to.ensure(pool, from + run.min(free)).saturating_sub(from);
                    // The destination may straddle a chunk boundary: at most two copies.
                    let mut done = 0;
                    while done < n {
                        let pos = from + done;
                        let dc = to.locate(pool, (pos / CHUNK_SIZE) as u16);
                        let o = pos % CHUNK_SIZE;
                        let k = (CHUNK_SIZE - o).min(n - done);
                        pool.copy_between(self.head, s + done, dc, o, k);
                        done += k;
                    }
                    n
                }
            };
            if n == 0 {
                break;
            }
            to.len += n as u32;
            self.consume_front(pool, n, keep_beyond);
            moved += n;
            if n < run {
                break;
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    #[test]
    fn push_read_consume_returns_chunks() {
        let mut p = Pool::new(1 << 20, 0);
        let mut b = ChunkBuf::new(64 * 1024);
        assert_eq!(p.allocated_chunks(), 0, "nothing allocated before data");
        let d = pattern(10_000, 1);
        assert_eq!(b.push(&mut p, &d), 10_000);
        assert_eq!(b.chunks(), 3);
        assert_eq!(p.in_use(), 3);
        // A read across a chunk boundary is gathered; one inside a chunk is a view.
        assert_eq!(b.read_at(&mut p, 4000, 200), &d[4000..4200]);
        assert_eq!(b.read_at(&mut p, 100, 200), &d[100..300]);
        assert_eq!(b.read_at(&mut p, 9_900, 500), &d[9_900..]);
        assert_eq!(b.front(&p), &d[..4096]);
        b.consume(&mut p, 5000);
        assert_eq!(p.in_use(), 2, "the first chunk went back");
        assert_eq!(b.front(&p), &d[5000..8192]);
        let mut out = vec![0u8; 6000];
        assert_eq!(b.peek_at(&p, 0, &mut out), 5000);
        assert_eq!(&out[..5000], &d[5000..]);
        b.consume(&mut p, 5000);
        assert!(b.is_empty());
        assert_eq!(p.in_use(), 0, "an empty queue holds no chunk");
        assert_eq!(b.chunks(), 0);
    }

    #[test]
    fn capacity_and_unqueued() {
        let mut p = Pool::new(1 << 20, 0);
        let mut b = ChunkBuf::new(10);
        b.push(&mut p, b"ab");
        assert_eq!(b.write_unqueued(&mut p, 2, b"ef"), 2);
        assert_eq!(b.write_unqueued(&mut p, 0, b"cd"), 2);
        b.enqueue_unqueued(4);
        let mut out = [0u8; 10];
        assert_eq!(b.peek_at(&p, 0, &mut out), 6);
        assert_eq!(&out[..6], b"abcdef");
        assert_eq!(b.write_unqueued(&mut p, 4, b"x"), 0);
        assert_eq!(b.write_unqueued(&mut p, 2, b"xyz"), 2);
        assert_eq!(b.push(&mut p, b"0123456789"), 4);
        // Out-of-order bytes written beyond keep the chunk until dropped.
        let mut b2 = ChunkBuf::new(100_000);
        assert_eq!(b2.write_unqueued(&mut p, 9000, b"late"), 4);
        assert_eq!(b2.chunks(), 3);
        b2.drop_unqueued(&mut p);
        assert_eq!(b2.chunks(), 0);
        // A receive queue keeps its chunks while out-of-order bytes wait beyond.
        b2.push(&mut p, b"abc");
        assert_eq!(b2.write_unqueued(&mut p, 5000, b"ooo"), 3);
        b2.consume_front(&mut p, 3, true);
        assert_eq!(b2.chunks(), 2);
        assert_eq!(b2.write_unqueued(&mut p, 0, &[1u8; 5000]), 5000);
        b2.enqueue_unqueued(5003);
        let mut o = [0u8; 3];
        assert_eq!(b2.peek_at(&p, 5000, &mut o), 3);
        assert_eq!(&o, b"ooo");
        b2.consume_front(&mut p, 5003, false);
        assert_eq!(b2.chunks(), 0);
        b.free_all(&mut p);
        assert_eq!(p.in_use(), 0);
    }

    #[test]
    fn bound_limits_room_and_writes() {
        let mut p = Pool::new(SLAB_CHUNKS * CHUNK_SIZE, 0);
        let mut a = ChunkBuf::new(1 << 30);
        let mut b = ChunkBuf::new(1 << 20);
        assert_eq!(a.room(&p), SLAB_CHUNKS * CHUNK_SIZE);
        let big = vec![7u8; SLAB_CHUNKS * CHUNK_SIZE - 100];
        assert_eq!(a.push(&mut p, &big), big.len());
        assert_eq!(a.room(&p), 100, "what the held chunk still takes");
        assert_eq!(b.room(&p), 0);
        assert_eq!(b.push(&mut p, b"x"), 0, "the pool is exhausted");
        assert_eq!(a.push(&mut p, &[1u8; 500]), 100);
        assert_eq!(p.allocated_chunks(), SLAB_CHUNKS);
        a.consume(&mut p, 3 * CHUNK_SIZE);
        assert_eq!(b.push(&mut p, b"x"), 1);
        a.free_all(&mut p);
        b.free_all(&mut p);
        assert_eq!(p.in_use(), 0);
        assert_eq!(p.peak(), SLAB_CHUNKS);
    }

    #[test]
    fn move_to_an_empty_queue_hands_the_chunks_over() {
        let mut p = Pool::new(1 << 22, 0);
        let mut a = ChunkBuf::new(1 << 20);
        let mut b = ChunkBuf::new(64 * 1024);
        let d = pattern(10_000, 9);
        a.push(&mut p, &d);
        a.consume(&mut p, 100);
        let held = p.in_use();
        assert_eq!(a.move_to(&mut b, &mut p, usize::MAX, false), 9_900);
        assert_eq!((a.len(), a.chunks(), p.in_use()), (0, 0, held));
        assert_eq!(p.peak(), held, "the chain moved whole: no chunk taken for a copy");
        assert_eq!(b.read_at(&mut p, 0, 9_900), &d[100..]);
        // The new owner appends after it and frees it as usual.
        assert_eq!(b.push(&mut p, &d[..5000]), 5000);
        assert_eq!(b.read_at(&mut p, 9_900, 5000), &d[..5000]);
        b.consume(&mut p, 14_900);
        assert_eq!(p.in_use(), 0);
        // Not when `to` holds data, nor when bytes beyond the queued ones stay.
        a.push(&mut p, &d[..3000]);
        b.push(&mut p, &d[..10]);
        assert_eq!(a.move_to(&mut b, &mut p, usize::MAX, false), 3000);
        assert_eq!(b.read_at(&mut p, 0, 3010)[10..], d[..3000]);
        b.consume(&mut p, 3010);
        a.write_unqueued(&mut p, 0, &d[..500]);
        a.enqueue_unqueued(200);
        assert_eq!(a.move_to(&mut b, &mut p, usize::MAX, true), 200);
        assert!(a.chunks() > 0, "the bytes beyond stay with their queue");
    }

    #[test]
    fn sequential_moves_keep_order() {
        let mut p = Pool::new(1 << 22, 0);
        let mut a = ChunkBuf::new(1 << 20);
        let mut b = ChunkBuf::new(10_000);
        let d = pattern(100_000, 3);
        let mut pushed = 0;
        let mut out = Vec::new();
        while out.len() < d.len() {
            if pushed < d.len() {
                pushed += a.push(&mut p, &d[pushed..(pushed + 3333).min(d.len())]);
            }
            a.move_to(&mut b, &mut p, 5000, false);
            // Drain b in odd-sized pieces through the zero-copy front.
            let f = b.front(&p);
            let k = f.len().min(2500);
            out.extend_from_slice(&f[..k]);
            b.consume(&mut p, k);
        }
        assert_eq!(out, d);
        assert_eq!(p.in_use(), 0);
    }
}
