//! The neighbour cache of one core (RFC 4861 §7.3): IPv6 address → MAC with
//! the states INCOMPLETE, REACHABLE, STALE, DELAY and PROBE, and the packets
//! waiting for a resolution (RFC 4861 §7.2.2).
//!
//! Bounded (RFC 6583 §7.1: an attacker scanning a /64 must not exhaust memory):
//! at most `capacity` entries; a new entry replaces, in order, an INCOMPLETE one
//! (the oldest), then a STALE one, then the one whose timer ends first; at most
//! [`QUEUE_PER_NEIGHBOUR`] packets wait per entry and [`QUEUE_BYTES`] bytes in
//! all (older packets give way, as RFC 4861 §7.2.2 suggests).
//!
//! Sans-IO: the cache says what to send ([`Action`]); the interface sends it.

use crate::time::{Duration, Instant};
use core::net::Ipv6Addr;
use hashbrown::HashMap;
use std::collections::VecDeque;

/// RFC 4861 §10 MAX_MULTICAST_SOLICIT.
pub const MAX_MULTICAST_SOLICIT: u8 = 3;
/// RFC 4861 §10 MAX_UNICAST_SOLICIT.
pub const MAX_UNICAST_SOLICIT: u8 = 3;
/// RFC 4861 §10 RETRANS_TIMER.
pub const RETRANS_TIMER: Duration = Duration::from_secs(1);
/// RFC 4861 §10 REACHABLE_TIME (we do not randomise it: deterministic tests).
pub const REACHABLE_TIME: Duration = Duration::from_secs(30);
/// RFC 4861 §10 DELAY_FIRST_PROBE_TIME.
pub const DELAY_FIRST_PROBE_TIME: Duration = Duration::from_secs(5);
/// Packets waiting per unresolved neighbour.
pub const QUEUE_PER_NEIGHBOUR: usize = 64;
/// Bytes of packets waiting for resolution, all neighbours together.
pub const QUEUE_BYTES: usize = 256 * 1024;

/// The reachability state of a neighbour (RFC 4861 §7.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighbourState {
    /// Resolution in progress: `probes` solicitations sent so far.
    Incomplete,
    /// Known reachable recently.
    Reachable,
    /// Not known reachable; nothing sent since.
    Stale,
    /// Sent to while stale: waiting for an upper-layer confirmation.
    Delay,
    /// Unicast solicitations being sent.
    Probe,
}

#[derive(Debug)]
struct Entry {
    mac: Option<[u8; 6]>,
    state: NeighbourState,
    /// When the state's timer fires.
    timer: Instant,
    probes: u8,
    router: bool,
    queue: VecDeque<Vec<u8>>,
    /// Resolved with packets waiting: flush at the next chance.
    ready: bool,
}

/// What [`NeighbourCache::lookup`] says about an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Send to this MAC.
    Found([u8; 6]),
    /// Unknown: a new INCOMPLETE entry; send a multicast solicitation now and
    /// queue the packet.
    Solicit,
    /// Resolution in progress: queue the packet.
    Pending,
}

/// What the cache asks the interface to do on a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send a Neighbor Solicitation for `target`: multicast to its
    /// solicited-node group (`None`) or unicast to the MAC.
    Solicit {
        /// The address solicited.
        target: Ipv6Addr,
        /// Unicast destination MAC (PROBE), `None` for multicast (INCOMPLETE).
        unicast: Option<[u8; 6]>,
    },
    /// Resolution failed: `dropped` waiting packets were discarded (RFC 4861 §7.3.3).
    Failed {
        /// The address.
        target: Ipv6Addr,
        /// Packets dropped.
        dropped: usize,
    },
}

/// The cache.
#[derive(Debug)]
pub struct NeighbourCache {
    map: HashMap<Ipv6Addr, Entry>,
    capacity: usize,
    queued_bytes: usize,
    /// Some entry has `ready` set.
    any_ready: bool,
    earliest: Option<Instant>,
}

impl NeighbourCache {
    /// A cache holding at most `capacity` entries.
    pub fn new(capacity: usize) -> NeighbourCache {
        let capacity = capacity.max(1);
        NeighbourCache { map: HashMap::with_capacity(capacity), capacity, queued_bytes: 0, any_ready: false, earliest: None }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes of packets waiting for resolution.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// The state and MAC of `ip`.
    pub fn state(&self, ip: &Ipv6Addr) -> Option<(NeighbourState, Option<[u8; 6]>)> {
        self.map.get(ip).map(|e| (e.state, e.mac))
    }

    /// The MAC of `ip` if it is resolved.
    pub fn get(&self, ip: &Ipv6Addr) -> Option<[u8; 6]> {
        self.map.get(ip).and_then(|e| e.mac)
    }

    fn arm(&mut self, t: Instant) {
        self.earliest = Some(self.earliest.map_or(t, |e| e.min(t)));
    }

    /// The MAC to send a packet to `ip` to (RFC 4861 §7.2.2, §7.3.3: a STALE
    /// entry is used and goes to DELAY).
    pub fn lookup(&mut self, now: Instant, ip: Ipv6Addr) -> Lookup {
        if let Some(e) = self.map.get_mut(&ip) {
            match (e.state, e.mac) {
                (NeighbourState::Incomplete, _) | (_, None) => return Lookup::Pending,
                (NeighbourState::Reachable, Some(m)) if e.timer <= now => {
                    // RFC 4861 §7.3.3: ReachableTime passed: STALE, and sending
                    // to it moves it to DELAY at once.
                    e.state = NeighbourState::Delay;
                    e.timer = now + DELAY_FIRST_PROBE_TIME;
                    let t = e.timer;
                    self.arm(t);
                    return Lookup::Found(m);
                }
                (NeighbourState::Stale, Some(m)) => {
                    e.state = NeighbourState::Delay;
                    e.timer = now + DELAY_FIRST_PROBE_TIME;
                    let t = e.timer;
                    self.arm(t);
                    return Lookup::Found(m);
                }
                (_, Some(m)) => return Lookup::Found(m),
            }
        }
        // RFC 4861 §7.2.2: create an INCOMPLETE entry and solicit.
        let e = Entry {
            mac: None,
            state: NeighbourState::Incomplete,
            timer: now + RETRANS_TIMER,
            probes: 1,
            router: false,
            queue: VecDeque::new(),
            ready: false,
        };
        self.put(ip, e);
        self.arm(now + RETRANS_TIMER);
        Lookup::Solicit
    }

    /// Queue `packet` (a whole IPv6 packet) for `ip`, INCOMPLETE. Returns false
    /// if it could not be kept (no entry, or the bounds; older packets of the
    /// same neighbour give way first).
    pub fn enqueue(&mut self, ip: &Ipv6Addr, packet: Vec<u8>) -> bool {
        let Some(e) = self.map.get_mut(ip) else { return false };
        if packet.len() > QUEUE_BYTES {
            return false;
        }
        while e.queue.len() >= QUEUE_PER_NEIGHBOUR || (self.queued_bytes + packet.len() > QUEUE_BYTES && !e.queue.is_empty()) {
            if let Some(old) = e.queue.pop_front() {
                self.queued_bytes -= old.len();
            }
        }
        if self.queued_bytes + packet.len() > QUEUE_BYTES {
            return false;
        }
        self.queued_bytes += packet.len();
        e.queue.push_back(packet);
        true
    }

    /// A Neighbor Advertisement for `ip` (RFC 4861 §7.2.5). Returns true if the
    /// entry became resolved (it was INCOMPLETE), so waiting packets and
    /// connections may go.
    pub fn on_advert(&mut self, now: Instant, ip: Ipv6Addr, mac: Option<[u8; 6]>, solicited: bool, override_: bool, router: bool) -> bool {
        // "If no entry exists, the advertisement SHOULD be silently discarded."
        let Some(e) = self.map.get_mut(&ip) else { return false };
        if e.state == NeighbourState::Incomplete {
            // "If the advertisement's Target Link-Layer Address option is not
            // present, the advertisement SHOULD be silently discarded."
            let Some(m) = mac else { return false };
            e.mac = Some(m);
            e.router = router;
            if solicited {
                e.state = NeighbourState::Reachable;
                e.timer = now + REACHABLE_TIME;
            } else {
                e.state = NeighbourState::Stale;
            }
            e.probes = 0;
            if !e.queue.is_empty() {
                e.ready = true;
                self.any_ready = true;
            }
            return true;
        }
        let differs = mac.is_some_and(|m| Some(m) != e.mac);
        if !override_ && differs {
            // "If the Override flag is clear and the supplied link-layer address
            // differs ... if the entry is REACHABLE, set it to STALE ... otherwise
            // the received advertisement should be ignored."
            if e.state == NeighbourState::Reachable {
                e.state = NeighbourState::Stale;
            }
            return false;
        }
        if let Some(m) = mac {
            e.mac = Some(m);
        }
        if solicited {
            e.state = NeighbourState::Reachable;
            e.timer = now + REACHABLE_TIME;
            e.probes = 0;
        } else if differs {
            e.state = NeighbourState::Stale;
        }
        e.router = router;
        false
    }

    /// A Neighbor Solicitation (or a Router Solicitation / Advertisement) from
    /// `ip` carrying its link-layer address (RFC 4861 §7.2.3, §6.3.4): create a
    /// STALE entry, or update a different MAC to STALE. Returns true if the entry
    /// became resolved (it was INCOMPLETE).
    pub fn on_lladdr(&mut self, now: Instant, ip: Ipv6Addr, mac: [u8; 6]) -> bool {
        let _ = now;
        match self.map.get_mut(&ip) {
            Some(e) => {
                let was_incomplete = e.state == NeighbourState::Incomplete;
                if e.mac != Some(mac) {
                    e.mac = Some(mac);
                    e.state = NeighbourState::Stale;
                }
                if was_incomplete && !e.queue.is_empty() {
                    e.ready = true;
                    self.any_ready = true;
                }
                was_incomplete
            }
            None => {
                let e = Entry { mac: Some(mac), state: NeighbourState::Stale, timer: now, probes: 0, router: false, queue: VecDeque::new(), ready: false };
                self.put(ip, e);
                false
            }
        }
    }

    /// A neighbour another core resolved (published on the engine's neighbour
    /// queue): like an unsolicited advertisement with the override flag, or a
    /// new STALE entry. Returns true if it was INCOMPLETE here.
    pub fn learn(&mut self, now: Instant, ip: Ipv6Addr, mac: [u8; 6]) -> bool {
        match self.map.get(&ip) {
            Some(_) => {
                let was = self.map.get(&ip).is_some_and(|e| e.state == NeighbourState::Incomplete);
                self.on_lladdr(now, ip, mac);
                if let Some(e) = self.map.get_mut(&ip) {
                    if e.state == NeighbourState::Stale {
                        // Another core just saw it answer: as good as reachable.
                        e.state = NeighbourState::Reachable;
                        e.timer = now + REACHABLE_TIME;
                    }
                }
                was
            }
            None => {
                self.on_lladdr(now, ip, mac);
                false
            }
        }
    }

    /// True if some resolved neighbour has packets to send.
    pub fn has_ready(&self) -> bool {
        self.any_ready
    }

    /// Hand every waiting packet of resolved neighbours to `send` (MAC, packet).
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
                send(mac, &p);
            }
        }
    }

    /// The earliest instant at which [`NeighbourCache::tick`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.any_ready {
            return Some(Instant::ZERO);
        }
        self.earliest
    }

    /// Run the timers due at `now` (RFC 4861 §7.3.3): retransmit solicitations
    /// of INCOMPLETE entries and fail them after [`MAX_MULTICAST_SOLICIT`];
    /// REACHABLE → STALE after [`REACHABLE_TIME`]; DELAY → PROBE after
    /// [`DELAY_FIRST_PROBE_TIME`]; PROBE retransmits and deletes the entry after
    /// [`MAX_UNICAST_SOLICIT`].
    pub fn tick(&mut self, now: Instant, mut act: impl FnMut(Action)) {
        if self.earliest.is_none_or(|e| e > now) {
            return;
        }
        let mut earliest: Option<Instant> = None;
        let queued = &mut self.queued_bytes;
        self.map.retain(|ip, e| {
            if e.timer > now {
                if e.state != NeighbourState::Stale {
                    earliest = Some(earliest.map_or(e.timer, |x| x.min(e.timer)));
                }
                return true;
            }
            match e.state {
                NeighbourState::Incomplete if e.probes >= MAX_MULTICAST_SOLICIT => {
                    let dropped = e.queue.len();
                    *queued -= e.queue.iter().map(Vec::len).sum::<usize>();
                    act(Action::Failed { target: *ip, dropped });
                    return false;
                }
                NeighbourState::Incomplete => {
                    e.probes += 1;
                    e.timer = now + RETRANS_TIMER;
                    act(Action::Solicit { target: *ip, unicast: None });
                }
                NeighbourState::Reachable => {
                    e.state = NeighbourState::Stale;
                    return true;
                }
                NeighbourState::Stale => return true,
                NeighbourState::Delay => {
                    e.state = NeighbourState::Probe;
                    e.probes = 1;
                    e.timer = now + RETRANS_TIMER;
                    act(Action::Solicit { target: *ip, unicast: e.mac });
                }
                NeighbourState::Probe if e.probes >= MAX_UNICAST_SOLICIT => {
                    act(Action::Failed { target: *ip, dropped: 0 });
                    return false;
                }
                NeighbourState::Probe => {
                    e.probes += 1;
                    e.timer = now + RETRANS_TIMER;
                    act(Action::Solicit { target: *ip, unicast: e.mac });
                }
            }
            earliest = Some(earliest.map_or(e.timer, |x| x.min(e.timer)));
            true
        });
        self.earliest = earliest;
    }

    fn put(&mut self, ip: Ipv6Addr, e: Entry) {
        if !self.map.contains_key(&ip) && self.map.len() >= self.capacity {
            // RFC 6583 §7.1: incomplete entries go first, then stale ones.
            let rank = |v: &Entry| match v.state {
                NeighbourState::Incomplete => 0,
                NeighbourState::Stale => 1,
                _ => 2,
            };
            let victim = self.map.iter().min_by_key(|(_, v)| (rank(v), v.timer)).map(|(k, _)| *k);
            if let Some(k) = victim {
                if let Some(old) = self.map.remove(&k) {
                    self.queued_bytes -= old.queue.iter().map(Vec::len).sum::<usize>();
                }
            }
        }
        self.map.insert(ip, e);
    }
}

#[cfg(test)]
#[path = "ndp_tests.rs"]
mod tests;
