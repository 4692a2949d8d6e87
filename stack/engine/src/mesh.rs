//! The only state cores share: bounded lock-free queues between every pair of
//! cores (crossbeam `ArrayQueue`).
//!
//! * **Frames.** Per core an inbound queue of frame copies (any core may push)
//!   and a pool of free buffers of its own. The buffers are allocated once, when
//!   the mesh is built (cores × depth, so memory grows linearly with the cores,
//!   not with their pairs); handing a frame over is a pop from the sender's pool,
//!   one copy, a push onto the owner's queue, and on the owner a pop, the protocol
//!   work, and a push back onto the sender's pool. When the pool or the queue is
//!   exhausted (the owner is far behind) the frame is dropped and counted
//!   (`handoff_overflow`), never blocked on.
//! * **Neighbours.** Per core one queue of neighbour updates (ip, MAC) that every
//!   other core pushes to when it learns an entry; the owner applies them at the
//!   start of a turn to its own replica of the cache.
//! * **Address verdicts.** Per core one queue of IPv6 address verdicts
//!   (usable after DAD, or duplicate) that the core that reached the verdict
//!   pushes to every other core; each applies them at the start of a turn, so an
//!   address found duplicate on one core is withdrawn on all (RFC 4862 §5.4.5).
//! * **Wake-ups.** A core about to sleep in poll(2) raises its `sleeping` flag,
//!   looks at its queues once more, then sleeps; a core that queued work for it
//!   and sees the flag writes its eventfd. Busy cores never touch the eventfd.

use crossbeam::queue::ArrayQueue;
use crossbeam::utils::CachePadded;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use xsk::Waker;

/// Default number of frame buffers per core (and depth of its inbound queue).
pub const DEFAULT_HANDOFF_DEPTH: usize = 512;
/// Neighbour updates a core's queue holds.
pub const NEIGHBOUR_QUEUE: usize = 1024;
/// Address verdicts a core's queue holds: far more than can be pending (an
/// interface has at most `proto::ipv6::MAX_ADDRS` addresses, each with one
/// verdict per formation, and every core drains its queue each turn).
pub const ADDRESS_QUEUE: usize = 256;

/// A frame copy in flight between two cores.
#[derive(Debug)]
pub struct FrameBuf {
    len: usize,
    /// The core whose pool the buffer belongs to.
    origin: usize,
    data: Box<[u8]>,
}

impl FrameBuf {
    fn new(cap: usize, origin: usize) -> FrameBuf {
        FrameBuf { len: 0, origin, data: vec![0u8; cap].into_boxed_slice() }
    }
    /// The frame's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data[..self.len]
    }
}

/// A neighbour learned on one core, for the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighbourUpdate {
    /// Its address.
    pub ip: IpAddr,
    /// Its link-layer address.
    pub mac: [u8; 6],
}

/// The verdict of Duplicate Address Detection on one of our IPv6 addresses,
/// reached on one core, for the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressVerdict {
    /// The address.
    pub addr: Ipv6Addr,
    /// `true`: unique, usable; `false`: duplicate, withdrawn.
    pub usable: bool,
}

/// What one core shares with the others.
#[derive(Debug)]
struct Shared {
    /// Frames other cores handed to this one.
    inbound: ArrayQueue<FrameBuf>,
    /// This core's free frame buffers (owners push them back after use).
    pool: ArrayQueue<FrameBuf>,
    neigh: ArrayQueue<NeighbourUpdate>,
    addr: ArrayQueue<AddressVerdict>,
    waker: Waker,
    sleeping: CachePadded<AtomicBool>,
}

/// Counters of one core's links.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkStats {
    /// Frames handed to other cores.
    pub handoff_out: u64,
    /// Frames received from other cores.
    pub handoff_in: u64,
    /// Frames dropped because the owner's queue was full.
    pub handoff_overflow: u64,
    /// Neighbour updates published.
    pub neigh_published: u64,
    /// Neighbour updates applied.
    pub neigh_applied: u64,
    /// Neighbour updates lost to full queues.
    pub neigh_overflow: u64,
    /// Address verdicts lost to full queues (see [`ADDRESS_QUEUE`]).
    pub addr_overflow: u64,
    /// Eventfd wake-ups sent to sleeping cores.
    pub wakeups_sent: u64,
}

/// One core's end of the mesh.
#[derive(Debug)]
pub struct CoreLinks {
    me: usize,
    cores: Vec<Arc<Shared>>,
    /// Cores we queued work for this turn (wake them if asleep).
    dirty: Vec<bool>,
    /// Any of `dirty` set.
    any_dirty: bool,
    frame_cap: usize,
    stats: LinkStats,
}

/// Build the links of `n` cores with `depth` frame buffers of `frame_cap` bytes per
/// core (and an inbound queue of `depth` frames per core). Returns one
/// [`CoreLinks`] per core, in core order.
pub fn mesh(n: usize, depth: usize, frame_cap: usize) -> std::io::Result<Vec<CoreLinks>> {
    let n = n.max(1);
    // One core hands nothing over: no buffers.
    let depth = if n == 1 { 1 } else { depth.max(1) };
    let mut shared = Vec::with_capacity(n);
    for c in 0..n {
        let pool = ArrayQueue::new(depth);
        if n > 1 {
            for _ in 0..depth {
                let _ = pool.push(FrameBuf::new(frame_cap, c));
            }
        }
        shared.push(Arc::new(Shared {
            inbound: ArrayQueue::new(depth),
            pool,
            neigh: ArrayQueue::new(NEIGHBOUR_QUEUE),
            addr: ArrayQueue::new(ADDRESS_QUEUE),
            waker: Waker::new()?,
            sleeping: CachePadded::new(AtomicBool::new(false)),
        }));
    }
    Ok((0..n)
        .map(|me| CoreLinks {
            me,
            cores: shared.clone(),
            dirty: vec![false; n],
            any_dirty: false,
            frame_cap,
            stats: LinkStats::default(),
        })
        .collect())
}

impl CoreLinks {
    /// This core's index.
    pub fn me(&self) -> usize {
        self.me
    }

    /// Number of cores.
    pub fn cores(&self) -> usize {
        self.cores.len()
    }

    /// Counters.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Hand a copy of `frame` to core `owner`. Returns false (and counts it) when
    /// this core's buffers or the owner's queue are exhausted, or the frame is too
    /// large.
    pub fn forward(&mut self, owner: usize, frame: &[u8]) -> bool {
        if owner == self.me || owner >= self.cores.len() {
            return false;
        }
        if frame.len() > self.frame_cap {
            self.stats.handoff_overflow += 1;
            return false;
        }
        let Some(mut buf) = self.cores[self.me].pool.pop() else {
            self.stats.handoff_overflow += 1;
            return false;
        };
        buf.data[..frame.len()].copy_from_slice(frame);
        buf.len = frame.len();
        if let Err(buf) = self.cores[owner].inbound.push(buf) {
            // The owner's queue is full: keep the buffer, drop the frame.
            let _ = self.cores[self.me].pool.push(buf);
            self.stats.handoff_overflow += 1;
            return false;
        }
        self.stats.handoff_out += 1;
        self.dirty[owner] = true;
        self.any_dirty = true;
        true
    }

    /// Any frames or neighbour updates waiting for this core?
    #[inline]
    pub fn has_input(&self) -> bool {
        let me = &self.cores[self.me];
        !me.neigh.is_empty() || !me.inbound.is_empty() || !me.addr.is_empty()
    }

    /// Hand every frame other cores queued for us (at most `budget`) to `f`, then
    /// return each buffer to the pool of the core it came from. Returns how many.
    pub fn receive(&mut self, budget: usize, mut f: impl FnMut(&[u8])) -> usize {
        let mut n = 0;
        while n < budget {
            let Some(buf) = self.cores[self.me].inbound.pop() else { break };
            f(buf.bytes());
            let origin = buf.origin;
            // Cannot fail: a pool holds at most the buffers it started with.
            let _ = self.cores[origin].pool.push(buf);
            n += 1;
        }
        self.stats.handoff_in += n as u64;
        n
    }

    /// Publish a neighbour to every other core.
    pub fn publish_neighbour(&mut self, u: NeighbourUpdate) {
        self.stats.neigh_published += 1;
        for (c, s) in self.cores.iter().enumerate() {
            if c == self.me {
                continue;
            }
            if s.neigh.push(u).is_err() {
                self.stats.neigh_overflow += 1;
            } else {
                self.dirty[c] = true;
                self.any_dirty = true;
            }
        }
    }

    /// Take every neighbour update published to this core.
    pub fn neighbour_updates(&mut self, mut f: impl FnMut(NeighbourUpdate)) -> usize {
        let mut n = 0;
        while let Some(u) = self.cores[self.me].neigh.pop() {
            f(u);
            n += 1;
        }
        self.stats.neigh_applied += n as u64;
        n
    }

    /// Publish an address verdict to every other core.
    pub fn publish_address(&mut self, v: AddressVerdict) {
        for (c, s) in self.cores.iter().enumerate() {
            if c == self.me {
                continue;
            }
            if s.addr.push(v).is_err() {
                self.stats.addr_overflow += 1;
            } else {
                self.dirty[c] = true;
                self.any_dirty = true;
            }
        }
    }

    /// Take every address verdict published to this core.
    pub fn address_verdicts(&mut self, mut f: impl FnMut(AddressVerdict)) {
        while let Some(v) = self.cores[self.me].addr.pop() {
            f(v);
        }
    }

    /// Wake the cores we queued work for this turn, if they sleep.
    #[inline]
    pub fn wake_dirty(&mut self) {
        if !self.any_dirty {
            return;
        }
        self.any_dirty = false;
        for c in 0..self.dirty.len() {
            if !self.dirty[c] {
                continue;
            }
            self.dirty[c] = false;
            if self.cores[c].sleeping.load(Ordering::SeqCst) {
                self.cores[c].waker.wake();
                self.stats.wakeups_sent += 1;
            }
        }
    }

    /// Wake every core (at stop).
    pub fn wake_all(&self) {
        for s in &self.cores {
            s.waker.wake();
        }
    }

    /// About to sleep: raise the flag, and say whether sleeping is still right (no
    /// input arrived in between). Call [`CoreLinks::awake`] after the sleep.
    pub fn prepare_sleep(&self) -> bool {
        self.cores[self.me].sleeping.store(true, Ordering::SeqCst);
        if self.has_input() {
            self.cores[self.me].sleeping.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Back from a sleep.
    pub fn awake(&self) {
        let s = &self.cores[self.me];
        s.sleeping.store(false, Ordering::SeqCst);
        s.waker.drain();
    }

    /// This core's waker (polled beside the device while sleeping).
    pub fn waker(&self) -> &Waker {
        &self.cores[self.me].waker
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cross_and_buffers_return() {
        let mut links = mesh(3, 4, 64).unwrap();
        let (a, rest) = links.split_at_mut(1);
        let (a, c) = (&mut a[0], &mut rest[1]);
        for i in 0..4u8 {
            assert!(a.forward(2, &[i; 10]));
        }
        assert!(!a.forward(2, &[9; 10]), "depth 4: the fifth frame overflows");
        assert!(!a.forward(2, &[0; 65]), "larger than a buffer");
        assert_eq!(a.stats().handoff_overflow, 2);
        assert!(c.has_input());
        let mut got = Vec::new();
        assert_eq!(c.receive(64, |f| got.push(f.to_vec())), 4);
        assert_eq!(got, (0..4u8).map(|i| vec![i; 10]).collect::<Vec<_>>());
        assert!(!c.has_input());
        // The buffers came back: four more fit.
        for i in 0..4u8 {
            assert!(a.forward(2, &[i; 3]));
        }
        assert_eq!(c.stats().handoff_in, 4);
    }

    #[test]
    fn neighbours_reach_every_other_core() {
        let mut links = mesh(3, 1, 64).unwrap();
        let u = NeighbourUpdate { ip: "198.18.0.1".parse().unwrap(), mac: [2, 0, 0, 0, 0, 1] };
        links[1].publish_neighbour(u);
        let mut seen = [0; 3];
        for (c, l) in links.iter_mut().enumerate() {
            l.neighbour_updates(|x| {
                assert_eq!(x, u);
                seen[c] += 1;
            });
        }
        assert_eq!(seen, [1, 0, 1]);
    }

    #[test]
    fn sleeping_core_is_woken_once_work_is_queued() {
        let mut links = mesh(2, 2, 64).unwrap();
        assert!(links[1].prepare_sleep());
        links[0].forward(1, b"frame");
        links[0].wake_dirty();
        assert_eq!(links[0].stats().wakeups_sent, 1);
        // With input waiting, a core does not go to sleep.
        assert!(!links[1].prepare_sleep());
        links[1].awake();
    }
}
