//! Path MTU discovery (RFC 1191 for IPv4, RFC 8201 for IPv6): the MTUs that
//! routers reported for our destinations in ICMP "fragmentation needed" and
//! ICMPv6 "packet too big" messages, per destination, each for a limited time.
//!
//! One cache per core (the error is handed to the core that owns the flow it
//! quotes); flows of other cores to the same destination learn it from their
//! own errors. The cache is bounded: when full, the entry that expires first
//! makes room; expired entries
//! go when room is needed (a lookup ignores them).

use crate::time::{Duration, Instant};
use core::net::IpAddr;

/// How long a reduced path MTU is believed before the link MTU is tried again
/// (RFC 1191 §6.3 and RFC 8201 §5.3: "The recommended setting for this timer
/// is twice its minimum value (10 minutes)").
pub const PMTU_LIFETIME: Duration = Duration::from_secs(600);

/// The smallest IPv4 path MTU we accept from an ICMP message. RFC 1191 §3 allows
/// 68, but a forged message could then cut every segment to 28 bytes (RFC 5927
/// §7.1); like Linux (`min_pmtu`), we go no lower than 552.
pub const MIN_PMTU_V4: u16 = 552;

/// The smallest IPv6 path MTU: the minimum link MTU (RFC 8201 §4: "a node MUST
/// NOT reduce its estimate of the Path MTU below the IPv6 minimum link MTU").
pub const MIN_PMTU_V6: u16 = 1280;

/// Destinations remembered at most, per core (RFC 8201 §5.2: a bounded cache).
pub const PMTU_CAPACITY: usize = 1024;

/// RFC 1191 §7 table 7-1: the MTU plateaus to try when a router reports no
/// next-hop MTU (an RFC 792 router sends 0).
const PLATEAUS: [u16; 10] = [32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/// The next plateau below `total_len` (the length of the quoted datagram),
/// RFC 1191 §5 for routers that do not fill the next-hop MTU field.
pub fn plateau_below(total_len: u16) -> u16 {
    PLATEAUS.iter().copied().find(|p| *p < total_len).unwrap_or(68)
}

/// What [`PathMtuCache::update`] did with a reported MTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PmtuUpdate {
    /// The path MTU to the destination is now this (lower than before).
    Lowered(u16),
    /// Not lower than what we already use: nothing changed (RFC 1191 §6.3, RFC
    /// 8201 §4: an ICMP message never raises the estimate).
    NotLower,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    mtu: u16,
    expires: Instant,
}

/// The per-destination path MTUs of one core.
#[derive(Debug, Default)]
pub struct PathMtuCache {
    entries: hashbrown::HashMap<IpAddr, Entry>,
}

impl PathMtuCache {
    /// An empty cache (its table is allocated when the first entry arrives).
    pub fn new() -> PathMtuCache {
        PathMtuCache { entries: hashbrown::HashMap::new() }
    }

    /// The path MTU to `dst`: a learned one that has not expired, at most
    /// `link_mtu`, or `link_mtu`. One hash lookup (none while the cache is
    /// empty, the usual case).
    #[inline]
    pub fn get(&self, now: Instant, dst: IpAddr, link_mtu: usize) -> usize {
        if self.entries.is_empty() {
            return link_mtu;
        }
        self.learned(now, dst).map_or(link_mtu, |m| usize::from(m).min(link_mtu))
    }

    /// The learned path MTU to `dst`, if any and not expired.
    pub fn learned(&self, now: Instant, dst: IpAddr) -> Option<u16> {
        self.entries.get(&dst).filter(|e| e.expires > now).map(|e| e.mtu)
    }

    /// A router reported `mtu` towards `dst` (already checked by the caller:
    /// the error quotes a packet of ours). The value is raised to the family's
    /// minimum; it only ever lowers the estimate, which `link_mtu` bounds.
    pub fn update(&mut self, now: Instant, dst: IpAddr, mtu: u16, link_mtu: usize) -> PmtuUpdate {
        let floor = if dst.is_ipv4() { MIN_PMTU_V4 } else { MIN_PMTU_V6 };
        let mtu = mtu.max(floor);
        if usize::from(mtu) >= self.get(now, dst, link_mtu) {
            return PmtuUpdate::NotLower;
        }
        if self.entries.len() >= PMTU_CAPACITY && !self.entries.contains_key(&dst) {
            // Full: expired entries go; if none did, the one that expires
            // first makes room (a scan, only when a new destination arrives
            // at a full cache).
            self.expire(now);
            if self.entries.len() >= PMTU_CAPACITY {
                if let Some(old) = self.entries.iter().min_by_key(|(_, e)| e.expires).map(|(d, _)| *d) {
                    self.entries.remove(&old);
                }
            }
        }
        self.entries.insert(dst, Entry { mtu, expires: now + PMTU_LIFETIME });
        PmtuUpdate::Lowered(mtu)
    }

    /// Forget expired entries (RFC 1191 §6.3: the estimate goes back up to the
    /// first-hop MTU, so a path that got better is used again).
    pub fn expire(&mut self, now: Instant) {
        self.entries.retain(|_, e| e.expires > now);
    }

    /// Destinations with a learned path MTU.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no destination has a learned path MTU.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(core::net::Ipv4Addr::new(198, 18, 1, last))
    }

    #[test]
    fn lowers_only_and_expires_after_ten_minutes() {
        let mut c = PathMtuCache::new();
        let t = Instant::from_millis(1000);
        assert_eq!(c.get(t, v4(1), 1500), 1500);
        assert_eq!(c.update(t, v4(1), 1300, 1500), PmtuUpdate::Lowered(1300));
        assert_eq!(c.get(t, v4(1), 1500), 1300);
        assert_eq!(c.update(t, v4(1), 1400, 1500), PmtuUpdate::NotLower, "never raised by ICMP");
        assert_eq!(c.update(t, v4(1), 1500, 1500), PmtuUpdate::NotLower);
        assert_eq!(c.get(t, v4(2), 1500), 1500, "per destination");
        assert_eq!(c.get(t + PMTU_LIFETIME, v4(1), 1500), 1500, "RFC 1191 §6.3 aging");
        c.expire(t + PMTU_LIFETIME);
        assert!(c.is_empty());
    }

    #[test]
    fn floors_per_family() {
        let mut c = PathMtuCache::new();
        let t = Instant::from_millis(0);
        assert_eq!(c.update(t, v4(1), 100, 1500), PmtuUpdate::Lowered(MIN_PMTU_V4));
        let six: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(c.update(t, six, 600, 1500), PmtuUpdate::Lowered(MIN_PMTU_V6));
        assert_eq!(c.update(t, six, 1000, 1500), PmtuUpdate::NotLower);
        assert_eq!(c.update(t, six, 1280, 1280), PmtuUpdate::NotLower, "already at the link MTU");
    }

    #[test]
    fn bounded_and_evicts_what_expires_first() {
        let mut c = PathMtuCache::new();
        for i in 0..PMTU_CAPACITY as u32 + 10 {
            let dst = IpAddr::V4(core::net::Ipv4Addr::from(0xc612_0000 + i));
            c.update(Instant::from_millis(u64::from(i)), dst, 1000, 1500);
        }
        assert_eq!(c.len(), PMTU_CAPACITY);
        let first = IpAddr::V4(core::net::Ipv4Addr::from(0xc612_0000));
        assert_eq!(c.learned(Instant::from_millis(0), first), None, "the oldest went");
    }

    #[test]
    fn plateaus() {
        assert_eq!(plateau_below(1500), 1492);
        assert_eq!(plateau_below(1492), 1006);
        assert_eq!(plateau_below(9000), 8166);
        assert_eq!(plateau_below(60), 68);
    }
}
