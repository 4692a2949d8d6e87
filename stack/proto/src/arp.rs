//! The ARP cache (RFC 826) of one core: IPv4 address → MAC address, with expiry,
//! requests retried with back-off, a short queue of packets per unresolved
//! neighbour, a FAILED state for neighbours that never answer, and static
//! entries.
//!
//! Bounded: the table never grows past its capacity (when full, the entry that
//! expires first is replaced; static entries never are); at most
//! [`QUEUE_PER_NEIGHBOUR`] packets wait per neighbour and [`QUEUE_BYTES`] bytes
//! in all; the fragments of one datagram wait together, as one packet, and are
//! kept or dropped whole.

use crate::time::{Duration, Instant};
use std::collections::VecDeque;
use core::net::Ipv4Addr;
use hashbrown::HashMap;
use wire::arp::{ArpOperation, ArpRepr};
use wire::ethernet::EthernetAddress;

/// How long a learned entry stays valid (Linux's base_reachable_time is 30 s; we
/// keep entries longer since we refresh them from every ARP we see).
pub const ENTRY_LIFETIME: Duration = Duration::from_secs(60);
/// Least time between two ARP requests for the same address (RFC 1122 §2.3.2.1:
/// at most one per second), and the first retry interval; each later retry
/// waits twice as long as the one before.
pub const REQUEST_INTERVAL: Duration = Duration::from_secs(1);
/// Requests sent for an address before it is declared unreachable: at 0, 1 and
/// 3 s, failure at 7 s.
pub const MAX_REQUESTS: u8 = 3;
/// How long a neighbour that never answered stays FAILED: sends to it fail at
/// once and no request goes out for it (RFC 1122 §2.3.2.1 flood protection).
pub const FAILED_HOLD: Duration = Duration::from_secs(20);
/// Most packets waiting for one neighbour (RFC 1122 §2.3.2.2 asks for at least
/// the latest one; Linux keeps 3 by default).
pub const QUEUE_PER_NEIGHBOUR: usize = 4;
/// Most bytes of packets waiting for all neighbours of one core.
pub const QUEUE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
struct Entry {
    mac: Option<[u8; 6]>,
    expires: Instant,
    last_request: Option<Instant>,
    /// Requests sent in the current resolution.
    tries: u8,
    /// When the next retry (or the failure) is due, while unresolved.
    retry_at: Option<Instant>,
    /// FAILED until then.
    failed_until: Option<Instant>,
    /// Configured: never expires, never replaced by what the network says.
    fixed: bool,
    /// Packets waiting for the MAC address: whole IPv4 packets, or all the
    /// fragments of one datagram back to back.
    queue: VecDeque<Queued>,
    /// Resolved with packets still queued: [`ArpCache::flush_ready`] sends them.
    ready: bool,
}

/// One queued IPv4 packet, or the fragments of one datagram.
#[derive(Debug, Clone)]
struct Queued {
    bytes: Vec<u8>,
    /// `bytes` holds several IPv4 packets, each as long as its total length.
    fragments: bool,
}

impl Queued {
    fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Each IPv4 packet held.
    fn packets(&self, mut f: impl FnMut(&[u8])) {
        if !self.fragments {
            return f(&self.bytes);
        }
        let mut rest = &self.bytes[..];
        while rest.len() >= 20 {
            let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
            if len < 20 || len > rest.len() {
                return;
            }
            f(&rest[..len]);
            rest = &rest[len..];
        }
    }
}

impl Entry {
    fn incomplete(now: Instant) -> Entry {
        Entry {
            mac: None,
            expires: now,
            last_request: Some(now),
            tries: 1,
            retry_at: Some(now + REQUEST_INTERVAL),
            failed_until: None,
            fixed: false,
            queue: VecDeque::new(),
            ready: false,
        }
    }
}

/// The cache.
#[derive(Debug)]
pub struct ArpCache {
    map: HashMap<Ipv4Addr, Entry>,
    capacity: usize,
    queued_bytes: usize,
    /// Entries being resolved (retry timers running).
    resolving: usize,
    any_ready: bool,
    /// The last address [`ArpCache::lookup`] found resolved: (address, MAC,
    /// expiry, static). Checked before the table (a burst mostly goes to one
    /// neighbour); cleared whenever an entry is learned, added or evicted.
    last: Option<(Ipv4Addr, [u8; 6], Instant, bool)>,
}

/// What [`ArpCache::lookup`] says about an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Resolved.
    Found([u8; 6]),
    /// Known but expired: use it, and send a request now to confirm it (like a
    /// STALE neighbour entry, RFC 4861 §7.3.3 style, so traffic never stops for a
    /// refresh).
    Refresh([u8; 6]),
    /// Unknown, and a request should be sent now.
    SendRequest,
    /// Unknown, a request went out recently: wait (queue the packet).
    Pending,
    /// The neighbour did not answer [`MAX_REQUESTS`] requests: unreachable for
    /// [`FAILED_HOLD`].
    Failed,
}

/// What [`ArpCache::tick`] asks the interface to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send a request for this address (a retry).
    Request(Ipv4Addr),
    /// This address did not answer: it is FAILED, and this many queued packets
    /// were dropped.
    Failed(Ipv4Addr, usize),
}

/// A gratuitous ARP announcing `ip` at `mac` (RFC 5227 §3 "ARP Announcement",
/// RFC 5227 §2.3): a request whose sender and target addresses are both `ip`,
/// target hardware address zero; broadcast.
pub fn announcement(mac: EthernetAddress, ip: Ipv4Addr) -> ArpRepr {
    ArpRepr { operation: ArpOperation::Request, source_hw: mac, source_ip: ip, target_hw: EthernetAddress([0; 6]), target_ip: ip }
}

impl ArpCache {
    /// A cache holding at most `capacity` entries.
    pub fn new(capacity: usize) -> ArpCache {
        let capacity = capacity.max(1);
        ArpCache { map: HashMap::with_capacity(capacity), capacity, queued_bytes: 0, resolving: 0, any_ready: false, last: None }
    }

    /// Add a static entry `ip → mac`: never expires, never evicted, never
    /// changed by ARP packets. Replaces a learned entry (its queued packets
    /// become ready). False when the table holds only static entries.
    pub fn add_static(&mut self, ip: Ipv4Addr, mac: [u8; 6]) -> bool {
        if !self.map.contains_key(&ip) && self.map.len() >= self.capacity && self.map.values().all(|e| e.fixed) {
            return false;
        }
        self.learn(Instant::ZERO, ip, mac, true);
        true
    }

    /// Learn or refresh `ip → mac` (RFC 826 "merge"); a static entry is kept.
    pub fn insert(&mut self, now: Instant, ip: Ipv4Addr, mac: [u8; 6]) {
        self.learn(now, ip, mac, false);
    }

    fn learn(&mut self, now: Instant, ip: Ipv4Addr, mac: [u8; 6], fixed: bool) {
        self.last = None;
        if let Some(e) = self.map.get_mut(&ip) {
            if e.fixed && !fixed {
                return;
            }
            if e.retry_at.take().is_some() {
                self.resolving -= 1;
            }
            e.mac = Some(mac);
            e.expires = now + ENTRY_LIFETIME;
            e.last_request = None;
            e.tries = 0;
            e.failed_until = None;
            e.fixed = fixed;
            if !e.queue.is_empty() {
                e.ready = true;
                self.any_ready = true;
            }
            return;
        }
        let mut e = Entry::incomplete(now);
        e.mac = Some(mac);
        e.expires = now + ENTRY_LIFETIME;
        e.last_request = None;
        e.tries = 0;
        e.retry_at = None;
        e.fixed = fixed;
        self.put(now, ip, e);
    }

    /// Refresh `ip` only if it is already present (RFC 826: update an existing
    /// entry from any ARP packet that names it as the sender). Static entries are
    /// not changed (and report false).
    pub fn update_if_present(&mut self, now: Instant, ip: Ipv4Addr, mac: [u8; 6]) -> bool {
        match self.map.get(&ip) {
            Some(e) if !e.fixed => {
                self.learn(now, ip, mac, false);
                true
            }
            _ => false,
        }
    }

    /// The MAC of `ip`, or whether to send a request for it.
    pub fn lookup(&mut self, now: Instant, ip: Ipv4Addr) -> Lookup {
        if let Some((last, mac, expires, fixed)) = self.last {
            if last == ip && (fixed || expires > now) {
                return Lookup::Found(mac);
            }
        }
        if let Some(e) = self.map.get_mut(&ip) {
            if let Some(mac) = e.mac {
                if e.fixed || e.expires > now {
                    self.last = Some((ip, mac, e.expires, e.fixed));
                    return Lookup::Found(mac);
                }
                // RFC 1122 §2.3.2.1: at most one request per second per address.
                let due = !matches!(e.last_request, Some(t) if now < t + REQUEST_INTERVAL);
                if due {
                    e.last_request = Some(now);
                    return Lookup::Refresh(mac);
                }
                return Lookup::Found(mac);
            }
            if let Some(until) = e.failed_until {
                if now < until {
                    return Lookup::Failed;
                }
                // The hold is over: a new resolution.
                *e = Entry::incomplete(now);
                self.resolving += 1;
                return Lookup::SendRequest;
            }
            // Retries are sent by `tick` on the back-off schedule.
            return Lookup::Pending;
        }
        if self.put(now, ip, Entry::incomplete(now)) {
            self.resolving += 1;
        }
        Lookup::SendRequest
    }

    /// Queue `packet` (a whole IPv4 packet) for `ip`, which is being resolved.
    /// When the neighbour's queue or the byte bound is full the oldest packets
    /// make room (RFC 1122 §2.3.2.2: keep the latest). Returns how many packets
    /// were dropped (the new one included if it cannot be queued at all).
    pub fn enqueue(&mut self, ip: Ipv4Addr, packet: Vec<u8>) -> usize {
        let (dropped, queued) = self.enqueue_item(ip, Queued { bytes: packet, fragments: false });
        dropped + usize::from(!queued)
    }

    /// Queue every fragment of one datagram for `ip` (IPv4 packets back to
    /// back, each as long as its total length field says): they wait as one
    /// packet, so either all of them leave on the reply or none does (a
    /// datagram missing a fragment is only a burden for the receiver's
    /// reassembly, RFC 791 §3.2). Older packets make room as for
    /// [`ArpCache::enqueue`]. Returns how many older packets were dropped, or
    /// `None` if the datagram cannot wait (too large for [`QUEUE_BYTES`], or
    /// `ip` is not being resolved).
    pub fn enqueue_fragments(&mut self, ip: Ipv4Addr, fragments: Vec<u8>) -> Option<usize> {
        match self.enqueue_item(ip, Queued { bytes: fragments, fragments: true }) {
            (dropped, true) => Some(dropped),
            (_, false) => None,
        }
    }

    /// (older packets dropped, `packet` queued).
    fn enqueue_item(&mut self, ip: Ipv4Addr, packet: Queued) -> (usize, bool) {
        let Some(e) = self.map.get_mut(&ip) else { return (0, false) };
        if e.mac.is_some() || packet.len() > QUEUE_BYTES {
            return (0, false);
        }
        let mut dropped = 0;
        while e.queue.len() >= QUEUE_PER_NEIGHBOUR || (self.queued_bytes + packet.len() > QUEUE_BYTES && !e.queue.is_empty()) {
            if let Some(old) = e.queue.pop_front() {
                self.queued_bytes -= old.len();
                dropped += 1;
            }
        }
        if self.queued_bytes + packet.len() > QUEUE_BYTES {
            return (dropped, false);
        }
        self.queued_bytes += packet.len();
        e.queue.push_back(packet);
        (dropped, true)
    }

    /// Bytes of packets waiting for resolution.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Packets waiting for `ip`.
    pub fn queued(&self, ip: Ipv4Addr) -> usize {
        self.map.get(&ip).map_or(0, |e| e.queue.len())
    }

    /// Whether resolved neighbours have packets to send.
    pub fn has_ready(&self) -> bool {
        self.any_ready
    }

    /// Hand every packet whose neighbour is now resolved to `send` (MAC, packet;
    /// each fragment of a queued datagram on its own).
    pub fn flush_ready(&mut self, mut send: impl FnMut([u8; 6], &[u8])) {
        if !self.any_ready {
            return;
        }
        self.any_ready = false;
        for e in self.map.values_mut().filter(|e| e.ready) {
            e.ready = false;
            let Some(mac) = e.mac else { continue };
            while let Some(p) = e.queue.pop_front() {
                self.queued_bytes -= p.len();
                p.packets(|pkt| send(mac, pkt));
            }
        }
    }

    /// Run the retry timers (RFC 1122 §2.3.2.1): an unresolved address gets a
    /// new request after 1 s, then 2 s, ...; after [`MAX_REQUESTS`] requests
    /// unanswered it becomes FAILED for [`FAILED_HOLD`] and its packets are
    /// dropped. `act` returns false when it cannot send a request now: that
    /// retry stays due for the next tick.
    pub fn tick(&mut self, now: Instant, mut act: impl FnMut(Action) -> bool) {
        if self.resolving == 0 {
            return;
        }
        let mut freed = 0;
        let mut failed = 0;
        for (ip, e) in self.map.iter_mut() {
            let Some(at) = e.retry_at else { continue };
            if now < at {
                continue;
            }
            if e.tries < MAX_REQUESTS {
                if act(Action::Request(*ip)) {
                    e.retry_at = Some(now + REQUEST_INTERVAL * (1u32 << e.tries));
                    e.tries += 1;
                    e.last_request = Some(now);
                }
            } else {
                e.retry_at = None;
                e.failed_until = Some(now + FAILED_HOLD);
                failed += 1;
                let n = e.queue.len();
                freed += e.queue.drain(..).map(|p| p.len()).sum::<usize>();
                act(Action::Failed(*ip, n));
            }
        }
        self.resolving -= failed;
        self.queued_bytes -= freed;
    }

    /// The earliest retry or failure due, or now when packets are ready to go.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.any_ready {
            return Some(Instant::ZERO);
        }
        if self.resolving == 0 {
            return None;
        }
        self.map.values().filter_map(|e| e.retry_at).min()
    }

    /// The MAC of `ip` if resolved and not expired, without side effects.
    pub fn get(&self, now: Instant, ip: Ipv4Addr) -> Option<[u8; 6]> {
        self.map.get(&ip).and_then(|e| if e.fixed || e.expires > now { e.mac } else { None })
    }

    /// Whether `ip` is a static entry.
    pub fn is_static(&self, ip: Ipv4Addr) -> bool {
        self.map.get(&ip).is_some_and(|e| e.fixed)
    }

    /// Whether `ip` is FAILED at `now`.
    pub fn is_failed(&self, now: Instant, ip: Ipv4Addr) -> bool {
        self.map.get(&ip).is_some_and(|e| matches!(e.failed_until, Some(t) if now < t))
    }

    /// Number of entries (resolved or pending).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn put(&mut self, now: Instant, ip: Ipv4Addr, e: Entry) -> bool {
        self.last = None;
        if !self.map.contains_key(&ip) && self.map.len() >= self.capacity {
            // Evict the entry that expires first (expired and pending ones
            // first); static entries stay.
            let victim = self
                .map
                .iter()
                .filter(|(_, v)| !v.fixed)
                .min_by_key(|(_, v)| (v.mac.is_some() && v.expires > now, v.expires))
                .map(|(k, _)| *k);
            match victim.and_then(|k| self.map.remove(&k)) {
                Some(old) => {
                    self.queued_bytes -= old.queue.iter().map(Queued::len).sum::<usize>();
                    if old.retry_at.is_some() {
                        self.resolving -= 1;
                    }
                }
                // Only static entries: the new one is not kept.
                None => return false,
            }
        }
        self.map.insert(ip, e);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);

    #[test]
    fn learn_lookup_expire() {
        let mut c = ArpCache::new(4);
        let t0 = Instant::from_millis(1000);
        assert_eq!(c.lookup(t0, A), Lookup::SendRequest);
        // Retries come from `tick`, not from lookups.
        assert_eq!(c.lookup(t0 + Duration::from_millis(500), A), Lookup::Pending);
        assert_eq!(c.lookup(t0 + Duration::from_millis(1000), A), Lookup::Pending);
        c.insert(t0, A, [2, 0, 0, 0, 0, 1]);
        assert_eq!(c.lookup(t0, A), Lookup::Found([2, 0, 0, 0, 0, 1]));
        assert_eq!(c.poll_timeout(), None, "resolved: no retry timer");
        let later = t0 + ENTRY_LIFETIME + Duration::from_millis(1);
        assert_eq!(c.get(later, A), None);
        // Expired: still used, with one refresh request per interval.
        assert_eq!(c.lookup(later, A), Lookup::Refresh([2, 0, 0, 0, 0, 1]));
        assert_eq!(c.lookup(later, A), Lookup::Found([2, 0, 0, 0, 0, 1]));
        assert_eq!(c.lookup(later + REQUEST_INTERVAL, A), Lookup::Refresh([2, 0, 0, 0, 0, 1]));
        c.insert(later, A, [2, 0, 0, 0, 0, 7]);
        assert_eq!(c.lookup(later, A), Lookup::Found([2, 0, 0, 0, 0, 7]));
    }

    /// RFC 1122 §2.3.2.1: requests at 0, 1 and 3 s (never two within a
    /// second), then FAILED at 7 s with the queued packets dropped; after the
    /// hold a new resolution starts.
    #[test]
    fn back_off_then_failure() {
        let mut c = ArpCache::new(4);
        let t0 = Instant::from_millis(10_000);
        assert_eq!(c.lookup(t0, A), Lookup::SendRequest);
        assert_eq!(c.enqueue(A, vec![1; 100]), 0);
        let mut requests = vec![t0];
        let mut failed = None;
        let mut t = t0;
        while t < t0 + Duration::from_secs(30) {
            c.tick(t, |a| match a {
                Action::Request(ip) => {
                    assert_eq!(ip, A);
                    requests.push(t);
                    true
                }
                Action::Failed(ip, n) => {
                    assert_eq!((ip, n), (A, 1));
                    assert!(failed.replace(t).is_none(), "fails once");
                    true
                }
            });
            t += Duration::from_millis(100);
        }
        let offsets: Vec<u128> = requests.iter().map(|r| (*r - t0).as_millis()).collect();
        assert_eq!(offsets, vec![0, 1000, 3000]);
        assert_eq!(failed.map(|f| (f - t0).as_millis()), Some(7000));
        assert_eq!(c.queued_bytes(), 0);
        assert_eq!(c.poll_timeout(), None);
        assert!(c.is_failed(t0 + Duration::from_secs(8), A));
        assert_eq!(c.lookup(t0 + Duration::from_secs(8), A), Lookup::Failed);
        // The hold is over: a new resolution.
        let after = t0 + Duration::from_secs(7) + FAILED_HOLD;
        assert_eq!(c.lookup(after, A), Lookup::SendRequest);
        assert_eq!(c.poll_timeout(), Some(after + REQUEST_INTERVAL));
    }

    /// At most QUEUE_PER_NEIGHBOUR packets per neighbour (the oldest go), at
    /// most QUEUE_BYTES in all; a reply makes them ready, in order.
    #[test]
    fn queue_bounds_and_release() {
        let mut c = ArpCache::new(8);
        let t = Instant::from_millis(1);
        assert_eq!(c.lookup(t, A), Lookup::SendRequest);
        let mut dropped = 0;
        for k in 0..QUEUE_PER_NEIGHBOUR + 3 {
            dropped += c.enqueue(A, vec![k as u8; 10]);
        }
        assert_eq!((dropped, c.queued(A), c.queued_bytes()), (3, QUEUE_PER_NEIGHBOUR, 10 * QUEUE_PER_NEIGHBOUR));
        // The byte bound across neighbours.
        assert_eq!(c.lookup(t, B), Lookup::SendRequest);
        assert_eq!(c.enqueue(B, vec![0; QUEUE_BYTES - 10 * QUEUE_PER_NEIGHBOUR]), 0);
        assert_eq!(c.queued_bytes(), QUEUE_BYTES);
        // Over the byte bound: B's older packet makes room.
        assert_eq!(c.enqueue(B, vec![0; 1]), 1);
        assert_eq!((c.queued(B), c.queued_bytes()), (1, 10 * QUEUE_PER_NEIGHBOUR + 1));
        assert_eq!(c.enqueue(B, vec![0; QUEUE_BYTES + 1]), 1);
        assert!(c.queued_bytes() <= QUEUE_BYTES);
        // Not queued for an unknown or resolved neighbour.
        assert_eq!(c.enqueue(Ipv4Addr::new(198, 18, 0, 77), vec![0; 1]), 1);
        assert!(!c.has_ready());
        c.insert(t, A, [9; 6]);
        assert!(c.has_ready());
        assert_eq!(c.poll_timeout(), Some(Instant::ZERO));
        let mut out = Vec::new();
        c.flush_ready(|mac, p| out.push((mac, p[0])));
        let firsts: Vec<u8> = (3..3 + QUEUE_PER_NEIGHBOUR as u8).collect();
        assert_eq!(out, firsts.iter().map(|k| ([9; 6], *k)).collect::<Vec<_>>(), "the latest packets, in order");
        assert_eq!(c.queued(A), 0);
        assert_eq!(c.queued_bytes(), 1);
    }

    /// Static entries never expire, are never changed by ARP, never evicted.
    #[test]
    fn static_entries_stay() {
        let mut c = ArpCache::new(2);
        let t = Instant::from_millis(5);
        assert!(c.add_static(A, [7; 6]));
        c.insert(t, A, [1; 6]);
        assert!(!c.update_if_present(t, A, [2; 6]));
        let far = t + ENTRY_LIFETIME * 10;
        assert_eq!(c.lookup(far, A), Lookup::Found([7; 6]));
        assert_eq!(c.get(far, A), Some([7; 6]));
        assert!(c.is_static(A));
        c.insert(t, B, [3; 6]);
        c.insert(t, Ipv4Addr::new(198, 18, 0, 9), [4; 6]);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(t, A), Some([7; 6]), "static entry not evicted");
        assert!(c.add_static(B, [5; 6]));
        assert!(!c.add_static(Ipv4Addr::new(198, 18, 0, 10), [6; 6]), "full of static entries");
    }

    #[test]
    fn update_only_existing() {
        let mut c = ArpCache::new(4);
        let t = Instant::from_millis(5);
        assert!(!c.update_if_present(t, A, [1; 6]));
        c.insert(t, A, [1; 6]);
        assert!(c.update_if_present(t, A, [2; 6]));
        assert_eq!(c.get(t, A), Some([2; 6]));
    }

    #[test]
    fn bounded_capacity_evicts() {
        let mut c = ArpCache::new(2);
        let t = Instant::from_millis(5);
        c.insert(t, A, [1; 6]);
        c.insert(t + Duration::from_secs(1), B, [2; 6]);
        c.insert(t + Duration::from_secs(2), Ipv4Addr::new(198, 18, 0, 9), [3; 6]);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(t + Duration::from_secs(2), A), None, "oldest entry evicted");
    }
}
