//! The connection table of one [`super::Tcp`]: slots allocated page by page as
//! connections arrive (nothing is preallocated per possible connection), and a
//! hash index from the 4-tuple to the slot that stores only the slot number (the
//! 4-tuple itself is read from the connection), so the index costs about 5 bytes
//! per connection.

use super::conn::Conn;
use crate::time::Instant;
use core::hash::BuildHasher;
use core::net::{IpAddr, SocketAddr};
use core::ops::{Index, IndexMut};
use hashbrown::{DefaultHashBuilder, HashTable};

/// Slots per page (a power of two).
const PAGE_SHIFT: u32 = 10;
const PAGE: usize = 1 << PAGE_SHIFT;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FourTuple {
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

impl core::hash::Hash for FourTuple {
    /// One write per address word instead of the derived per-field, per-variant
    /// writes (this hash is on every received segment's path).
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        let ports = (u64::from(self.local.port()) << 16) | u64::from(self.remote.port());
        match (self.local.ip(), self.remote.ip()) {
            (IpAddr::V4(l), IpAddr::V4(r)) => h.write_u128((u128::from(u32::from(l)) << 96) | (u128::from(u32::from(r)) << 64) | u128::from(ports)),
            (l, r) => {
                let w = |a: IpAddr| match a {
                    IpAddr::V4(a) => u128::from(u32::from(a)),
                    IpAddr::V6(a) => u128::from(a),
                };
                h.write_u128(w(l));
                h.write_u128(w(r));
                h.write_u64(ports | 1 << 40);
            }
        }
    }
}

/// One connection slot.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    pub generation: u32,
    /// In the ready queue.
    pub queued: bool,
    /// In `Tcp::mem_waiters`.
    pub mem_wait: bool,
    /// Deadline of this slot's live heap entry.
    pub timer_at: Option<Instant>,
    pub conn: Option<Conn>,
}

/// The slots, in pages of [`PAGE`].
#[derive(Debug, Default)]
pub(crate) struct Slots {
    pages: Vec<Box<[Slot]>>,
    len: usize,
}

impl Slots {
    /// Slots that exist.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Add a page (at most `max` slots in all); its indices go on `free`, lowest
    /// first out. Returns false at `max`.
    #[cold]
    pub fn grow(&mut self, max: usize, free: &mut Vec<u32>) -> bool {
        let n = PAGE.min(max.saturating_sub(self.len));
        if n == 0 {
            return false;
        }
        let mut page = Vec::with_capacity(n);
        page.resize_with(n, Slot::default);
        self.pages.push(page.into_boxed_slice());
        free.extend((self.len..self.len + n).rev().map(|i| i as u32));
        self.len += n;
        true
    }

    #[inline]
    pub fn get(&self, idx: usize) -> Option<&Slot> {
        self.pages.get(idx >> PAGE_SHIFT).and_then(|p| p.get(idx & (PAGE - 1)))
    }

    #[inline]
    pub fn get_mut(&mut self, idx: usize) -> Option<&mut Slot> {
        self.pages.get_mut(idx >> PAGE_SHIFT).and_then(|p| p.get_mut(idx & (PAGE - 1)))
    }

    /// Two distinct slots, both mutable.
    pub fn pair_mut(&mut self, a: usize, b: usize) -> (&mut Slot, &mut Slot) {
        assert_ne!(a, b);
        let (pa, pb) = (a >> PAGE_SHIFT, b >> PAGE_SHIFT);
        let (ia, ib) = (a & (PAGE - 1), b & (PAGE - 1));
        if pa == pb {
            let page = &mut self.pages[pa];
            if ia < ib {
                let (lo, hi) = page.split_at_mut(ib);
                (&mut lo[ia], &mut hi[0])
            } else {
                let (lo, hi) = page.split_at_mut(ia);
                (&mut hi[0], &mut lo[ib])
            }
        } else if pa < pb {
            let (lo, hi) = self.pages.split_at_mut(pb);
            (&mut lo[pa][ia], &mut hi[0][ib])
        } else {
            let (lo, hi) = self.pages.split_at_mut(pa);
            (&mut hi[0][ia], &mut lo[pb][ib])
        }
    }

    /// Bytes the slots take (pages and the page list).
    pub fn memory_bytes(&self) -> usize {
        self.len * core::mem::size_of::<Slot>() + self.pages.capacity() * core::mem::size_of::<Box<[Slot]>>()
    }
}

impl Index<usize> for Slots {
    type Output = Slot;
    #[inline]
    fn index(&self, idx: usize) -> &Slot {
        &self.pages[idx >> PAGE_SHIFT][idx & (PAGE - 1)]
    }
}

impl IndexMut<usize> for Slots {
    #[inline]
    fn index_mut(&mut self, idx: usize) -> &mut Slot {
        &mut self.pages[idx >> PAGE_SHIFT][idx & (PAGE - 1)]
    }
}

/// 4-tuple → slot index. Stores only the index; the key is the connection's.
pub(crate) struct ConnMap {
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl core::fmt::Debug for ConnMap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ConnMap").field("len", &self.table.len()).finish()
    }
}

fn tuple_of(slots: &Slots, idx: u32) -> FourTuple {
    let c = slots[idx as usize].conn.as_ref().expect("an indexed slot holds a connection");
    FourTuple { local: c.local(), remote: c.remote() }
}

impl ConnMap {
    pub fn with_capacity(n: usize) -> ConnMap {
        ConnMap { table: HashTable::with_capacity(n), hasher: DefaultHashBuilder::default() }
    }

    #[inline]
    fn hash(&self, t: &FourTuple) -> u64 {
        self.hasher.hash_one(t)
    }

    /// The slot of `t`.
    #[inline]
    pub fn get(&self, slots: &Slots, t: &FourTuple) -> Option<u32> {
        self.table.find(self.hash(t), |&i| slots[i as usize].conn.as_ref().is_some_and(|c| c.remote_port == t.remote.port() && c.local_port == t.local.port() && c.remote_ip == t.remote.ip() && c.local_ip == t.local.ip())).copied()
    }

    /// Index slot `idx`, whose connection has the 4-tuple `t` (not yet indexed).
    pub fn insert(&mut self, slots: &Slots, t: &FourTuple, idx: u32) {
        let h = self.hash(t);
        let hasher = &self.hasher;
        self.table.insert_unique(h, idx, |&i| hasher.hash_one(tuple_of(slots, i)));
    }

    /// Forget slot `idx` (indexed under `t`).
    pub fn remove(&mut self, t: &FourTuple, idx: u32) {
        if let Ok(e) = self.table.find_entry(self.hash(t), |&i| i == idx) {
            e.remove();
        }
    }

    /// Bytes the index takes.
    pub fn memory_bytes(&self) -> usize {
        self.table.allocation_size()
    }
}
