//! The ARP cache (RFC 826) of one core: IPv4 address → MAC address, with expiry
//! and rate-limited requests for addresses not yet resolved.
//!
//! Preallocated: the table never grows past its capacity; when full, the entry that
//! expires first is replaced.

use crate::time::{Duration, Instant};
use core::net::Ipv4Addr;
use hashbrown::HashMap;

/// How long a learned entry stays valid (Linux's base_reachable_time is 30 s; we
/// keep entries longer since we refresh them from every ARP we see).
pub const ENTRY_LIFETIME: Duration = Duration::from_secs(60);
/// Least time between two ARP requests for the same address (RFC 1122 §2.3.2.1:
/// at most one per second).
pub const REQUEST_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
struct Entry {
    mac: Option<[u8; 6]>,
    expires: Instant,
    last_request: Option<Instant>,
}

/// The cache.
#[derive(Debug)]
pub struct ArpCache {
    map: HashMap<Ipv4Addr, Entry>,
    capacity: usize,
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
    /// Unknown, a request went out recently: wait.
    Pending,
}

impl ArpCache {
    /// A cache holding at most `capacity` entries.
    pub fn new(capacity: usize) -> ArpCache {
        let capacity = capacity.max(1);
        ArpCache { map: HashMap::with_capacity(capacity), capacity }
    }

    /// Learn or refresh `ip → mac` (RFC 826 "merge").
    pub fn insert(&mut self, now: Instant, ip: Ipv4Addr, mac: [u8; 6]) {
        let e = Entry { mac: Some(mac), expires: now + ENTRY_LIFETIME, last_request: None };
        self.put(now, ip, e);
    }

    /// Refresh `ip` only if it is already present (RFC 826: update an existing
    /// entry from any ARP packet that names it as the sender).
    pub fn update_if_present(&mut self, now: Instant, ip: Ipv4Addr, mac: [u8; 6]) -> bool {
        match self.map.get_mut(&ip) {
            Some(e) => {
                e.mac = Some(mac);
                e.expires = now + ENTRY_LIFETIME;
                true
            }
            None => false,
        }
    }

    /// The MAC of `ip`, or whether to send a request for it.
    pub fn lookup(&mut self, now: Instant, ip: Ipv4Addr) -> Lookup {
        if let Some(e) = self.map.get_mut(&ip) {
            if let (Some(mac), true) = (e.mac, e.expires > now) {
                return Lookup::Found(mac);
            }
            let due = !matches!(e.last_request, Some(t) if now < t + REQUEST_INTERVAL);
            if due {
                e.last_request = Some(now);
            }
            return match (e.mac, due) {
                (Some(mac), true) => Lookup::Refresh(mac),
                (Some(mac), false) => Lookup::Found(mac),
                (None, true) => Lookup::SendRequest,
                (None, false) => Lookup::Pending,
            };
        }
        let e = Entry { mac: None, expires: now, last_request: Some(now) };
        self.put(now, ip, e);
        Lookup::SendRequest
    }

    /// The MAC of `ip` if resolved and not expired, without side effects.
    pub fn get(&self, now: Instant, ip: Ipv4Addr) -> Option<[u8; 6]> {
        self.map.get(&ip).and_then(|e| if e.expires > now { e.mac } else { None })
    }

    /// Number of entries (resolved or pending).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn put(&mut self, now: Instant, ip: Ipv4Addr, e: Entry) {
        if !self.map.contains_key(&ip) && self.map.len() >= self.capacity {
            // Evict the entry that expires first (expired and pending ones first).
            let victim = self.map.iter().min_by_key(|(_, v)| (v.mac.is_some() && v.expires > now, v.expires)).map(|(k, _)| *k);
            if let Some(k) = victim {
                self.map.remove(&k);
            }
        }
        self.map.insert(ip, e);
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
        assert_eq!(c.lookup(t0 + Duration::from_millis(500), A), Lookup::Pending);
        assert_eq!(c.lookup(t0 + Duration::from_millis(1000), A), Lookup::SendRequest);
        c.insert(t0, A, [2, 0, 0, 0, 0, 1]);
        assert_eq!(c.lookup(t0, A), Lookup::Found([2, 0, 0, 0, 0, 1]));
        let later = t0 + ENTRY_LIFETIME + Duration::from_millis(1);
        assert_eq!(c.get(later, A), None);
        // Expired: still used, with one refresh request per interval.
        assert_eq!(c.lookup(later, A), Lookup::Refresh([2, 0, 0, 0, 0, 1]));
        assert_eq!(c.lookup(later, A), Lookup::Found([2, 0, 0, 0, 0, 1]));
        assert_eq!(c.lookup(later + REQUEST_INTERVAL, A), Lookup::Refresh([2, 0, 0, 0, 0, 1]));
        c.insert(later, A, [2, 0, 0, 0, 0, 7]);
        assert_eq!(c.lookup(later, A), Lookup::Found([2, 0, 0, 0, 0, 7]));
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
