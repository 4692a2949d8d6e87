//! Per-core counters, published as snapshots that the loops never block on.
//!
//! Each core owns one cache-line-aligned slot of a [`StatsBoard`]: an array of
//! `AtomicU64`s that only that core writes (relaxed stores, every
//! [`PUBLISH_INTERVAL`] and when it stops) and anyone may read (the control
//! socket, `Stack::stats`). A reader may see one counter from a later publish than
//! another, never a torn value; the loop never waits for a reader.

use crossbeam::utils::CachePadded;
use proto::stats::DropReason;
use proto::tcp::TcpStats;
use std::sync::atomic::{AtomicU64, Ordering};

/// How often a running loop publishes its counters.
pub const PUBLISH_INTERVAL: proto::time::Duration = proto::time::Duration::from_millis(10);

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// The named counters of one core, in snapshot order.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(usize)]
        pub enum Counter {
            $($(#[$doc])* $name,)*
        }
        impl Counter {
            /// Every counter, in order.
            pub const ALL: &'static [Counter] = &[$(Counter::$name,)*];
            /// Stable snake_case name (`xdpstack stats` prints it).
            pub const fn name(self) -> &'static str {
                match self { $(Counter::$name => stringify!($name),)* }
            }
        }
    };
}

counters! {
    /// Device: frames received (handed to the loop).
    rx_packets,
    /// Device: bytes of those frames.
    rx_bytes,
    /// Device: frames queued for transmission.
    tx_packets,
    /// Device: bytes of those frames.
    tx_bytes,
    /// Device: no free transmit frame.
    tx_no_frame,
    /// Kernel: frames dropped, fill ring empty.
    rx_fill_empty,
    /// Kernel: frames dropped, RX ring full.
    rx_ring_full,
    /// Kernel: frames dropped for other reasons.
    rx_dropped,
    /// Kernel: invalid TX descriptors.
    tx_invalid,
    /// Device: kernel kicks for TX.
    tx_kicks,
    /// Interface: frames handled (own and handed over from other cores).
    if_rx_frames,
    /// Interface: frames sent.
    if_tx_frames,
    /// ARP requests answered.
    arp_replies,
    /// ARP requests sent.
    arp_requests,
    /// Gratuitous ARP announcements sent.
    arp_announcements,
    /// ICMP echo requests answered.
    icmp_echo_replies,
    /// ICMP errors sent.
    icmp_errors_sent,
    /// TCP/UDP received with an unfinished (CHECKSUM_PARTIAL) checksum, accepted
    /// by the receive-checksum policy.
    rx_csum_partial,
    /// IPv4 fragments received.
    ipv4_frags_in,
    /// IPv4 datagrams reassembled from fragments.
    ipv4_reassembled,
    /// IPv4 fragments sent.
    ipv4_frags_out,
    /// IPv6 fragments received.
    ipv6_frags_in,
    /// IPv6 packets reassembled from fragments.
    ipv6_reassembled,
    /// IPv6 fragments sent.
    ipv6_frags_out,
    /// Neighbor Solicitations sent.
    ndp_solicits,
    /// Neighbor Advertisements sent.
    ndp_adverts,
    /// MLDv2 reports sent.
    mld_reports,
    /// Redirects followed (RFC 4861 §8.3).
    ndp_redirects,
    /// ICMP and ICMPv6 errors received.
    icmp_errors_in,
    /// Path MTUs lowered by "fragmentation needed" / "packet too big".
    pmtu_updates,
    /// Valid ICMP errors about a bound UDP port (other than packet too big).
    udp_icmp_errors,
    /// UDP datagrams queued for a bound port.
    udp_datagrams_in,
    /// UDP datagrams sent.
    udp_datagrams_out,
    /// TCP connections held now (a gauge, not a counter).
    flows,
    /// Turns of the loop.
    turns,
    /// Turns that found nothing to do.
    idle_turns,
    /// Sleeps in poll(2).
    sleeps,
    /// Wake-ups of sleeping cores sent by this core (cross-core eventfd writes).
    wakeups_sent,
    /// Frames this core received for a flow another core owns, handed over.
    handoff_out,
    /// Frames other cores handed to this core.
    handoff_in,
    /// Frames that could not be handed over (the owner's queue was full): dropped.
    handoff_overflow,
    /// Neighbour entries this core learned and published.
    neigh_published,
    /// Neighbour entries applied from other cores.
    neigh_applied,
    /// Neighbour updates lost because a core's queue was full.
    neigh_overflow,
    /// Connections handed to the application (accepted).
    app_accepted,
    /// Active opens the application completed (connected).
    app_connected,
    /// Connections that ended (closed, reset, refused, timed out).
    app_closed,
}

/// Number of named counters.
pub const COUNTERS: usize = Counter::ALL.len();
/// Number of drop reasons.
pub const DROPS: usize = DropReason::COUNT;
/// Number of TCP counters.
pub const TCP: usize = TcpStats::COUNT;

/// One core's counters at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreSnapshot {
    /// Core index (0-based, the order of the bound queues).
    pub core: usize,
    /// NIC queue this core serves.
    pub queue: u32,
    /// Named counters, indexed by [`Counter`].
    pub counters: [u64; COUNTERS],
    /// Drops by reason, indexed by `DropReason as usize`.
    pub drops: [u64; DROPS],
    /// TCP counters, in [`TcpStats::fields`] order.
    pub tcp: [u64; TCP],
}

impl CoreSnapshot {
    /// All zero.
    pub fn new(core: usize, queue: u32) -> CoreSnapshot {
        CoreSnapshot { core, queue, counters: [0; COUNTERS], drops: [0; DROPS], tcp: [0; TCP] }
    }

    /// One counter.
    pub fn get(&self, c: Counter) -> u64 {
        self.counters[c as usize]
    }

    /// Set one counter.
    pub fn set(&mut self, c: Counter, v: u64) {
        self.counters[c as usize] = v;
    }

    /// One drop counter.
    pub fn drops_of(&self, r: DropReason) -> u64 {
        self.drops[r as usize]
    }

    /// One TCP counter by name (as in [`TcpStats::fields`]).
    pub fn tcp(&self, name: &str) -> Option<u64> {
        TcpStats::default().fields().iter().position(|(n, _)| *n == name).map(|i| self.tcp[i])
    }

    /// Total drops: the interface's by reason and TCP's ([`TcpStats::DROPS`]).
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum::<u64>() + self.tcp_drops().map(|(_, v)| v).sum::<u64>()
    }

    /// The TCP counters that count drops, as (name prefixed `tcp_`, value).
    fn tcp_drops(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        TcpStats::default()
            .fields()
            .into_iter()
            .enumerate()
            .filter(|(_, (n, _))| TcpStats::DROPS.contains(n))
            .map(|(i, (n, _))| (format!("tcp_{n}"), self.tcp[i]))
    }

    /// The non-zero drops by reason: the interface's ([`DropReason::name`]) and
    /// TCP's ([`TcpStats::DROPS`], prefixed `tcp_`), as `xdpstack stats` and the
    /// `stopped` line print them.
    pub fn drops_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m: serde_json::Map<String, serde_json::Value> =
            DropReason::ALL.iter().filter(|r| self.drops[**r as usize] != 0).map(|r| (r.name().to_string(), self.drops[*r as usize].into())).collect();
        for (n, v) in self.tcp_drops().filter(|(_, v)| *v != 0) {
            m.insert(n, v.into());
        }
        m
    }

    /// Add `other` into `self` (for the total over cores).
    pub fn add(&mut self, other: &CoreSnapshot) {
        for (a, b) in self.counters.iter_mut().zip(other.counters.iter()) {
            *a += b;
        }
        for (a, b) in self.drops.iter_mut().zip(other.drops.iter()) {
            *a += b;
        }
        for (a, b) in self.tcp.iter_mut().zip(other.tcp.iter()) {
            *a += b;
        }
    }

    /// The sum of `cores`.
    pub fn total(cores: &[CoreSnapshot]) -> CoreSnapshot {
        let mut t = CoreSnapshot::new(0, 0);
        for c in cores {
            t.add(c);
        }
        t
    }

    /// The JSON object `xdpstack stats --json` prints for this core: `core` and
    /// `queue` (or `"core":"total"` when `total`), every named counter, the TCP
    /// counters prefixed `tcp_`, and `drops` with the non-zero reasons
    /// ([`CoreSnapshot::drops_json`]).
    pub fn to_json(&self, total: bool) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        if total {
            m.insert("core".into(), "total".into());
        } else {
            m.insert("core".into(), self.core.into());
            m.insert("queue".into(), self.queue.into());
        }
        for c in Counter::ALL {
            m.insert(c.name().into(), self.get(*c).into());
        }
        let names = TcpStats::default().fields();
        for (i, (n, _)) in names.iter().enumerate() {
            m.insert(format!("tcp_{n}"), self.tcp[i].into());
        }
        m.insert("drops".into(), serde_json::Value::Object(self.drops_json()));
        serde_json::Value::Object(m)
    }
}

/// One core's published counters.
#[derive(Debug)]
struct Slot {
    queue: AtomicU64,
    counters: [AtomicU64; COUNTERS],
    drops: [AtomicU64; DROPS],
    tcp: [AtomicU64; TCP],
}

impl Slot {
    fn new() -> Slot {
        Slot {
            queue: AtomicU64::new(0),
            counters: std::array::from_fn(|_| AtomicU64::new(0)),
            drops: std::array::from_fn(|_| AtomicU64::new(0)),
            tcp: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// The published counters of every core.
#[derive(Debug)]
pub struct StatsBoard {
    slots: Box<[CachePadded<Slot>]>,
}

impl StatsBoard {
    /// A board for `cores` cores, all zero.
    pub fn new(cores: usize) -> StatsBoard {
        StatsBoard { slots: (0..cores).map(|_| CachePadded::new(Slot::new())).collect() }
    }

    /// Number of cores.
    pub fn cores(&self) -> usize {
        self.slots.len()
    }

    /// Publish core `snap.core`'s counters (called by that core only).
    pub fn publish(&self, snap: &CoreSnapshot) {
        let Some(s) = self.slots.get(snap.core) else { return };
        s.queue.store(u64::from(snap.queue), Ordering::Relaxed);
        for (a, v) in s.counters.iter().zip(snap.counters.iter()) {
            a.store(*v, Ordering::Relaxed);
        }
        for (a, v) in s.drops.iter().zip(snap.drops.iter()) {
            a.store(*v, Ordering::Relaxed);
        }
        for (a, v) in s.tcp.iter().zip(snap.tcp.iter()) {
            a.store(*v, Ordering::Relaxed);
        }
    }

    /// The last published counters of every core.
    pub fn snapshot(&self) -> Vec<CoreSnapshot> {
        self.slots
            .iter()
            .enumerate()
            .map(|(i, s)| CoreSnapshot {
                core: i,
                queue: s.queue.load(Ordering::Relaxed) as u32,
                counters: std::array::from_fn(|k| s.counters[k].load(Ordering::Relaxed)),
                drops: std::array::from_fn(|k| s.drops[k].load(Ordering::Relaxed)),
                tcp: std::array::from_fn(|k| s.tcp[k].load(Ordering::Relaxed)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_snapshot_and_total() {
        let b = StatsBoard::new(2);
        let mut a = CoreSnapshot::new(0, 0);
        a.set(Counter::rx_packets, 10);
        a.drops[DropReason::TcpBadChecksum as usize] = 3;
        let mut c = CoreSnapshot::new(1, 1);
        c.set(Counter::rx_packets, 5);
        c.set(Counter::handoff_out, 2);
        c.tcp[0] = 7;
        b.publish(&a);
        b.publish(&c);
        let snap = b.snapshot();
        assert_eq!(snap, vec![a.clone(), c.clone()]);
        let t = CoreSnapshot::total(&snap);
        assert_eq!(t.get(Counter::rx_packets), 15);
        assert_eq!(t.get(Counter::handoff_out), 2);
        assert_eq!(t.drops_of(DropReason::TcpBadChecksum), 3);
        assert_eq!(t.tcp("segments_in"), Some(7));
        let j = t.to_json(true);
        assert_eq!(j["core"], "total");
        assert_eq!(j["rx_packets"], 15);
        assert_eq!(j["tcp_segments_in"], 7);
        assert_eq!(j["drops"]["tcp_bad_checksum"], 3);
        let j1 = snap[1].to_json(false);
        assert_eq!((j1["core"].as_u64(), j1["queue"].as_u64()), (Some(1), Some(1)));
        assert!(j1["drops"].as_object().unwrap().is_empty(), "only non-zero reasons");
    }

    /// Issue 13: the SYN of a connection beyond the table was counted only in
    /// `tcp_conn_table_full` among the plain counters, so the drops that
    /// `xdpstack stats` and the `stopped` line print showed nothing. The TCP
    /// counters that count dropped segments are listed among the drops by reason.
    #[test]
    fn tcp_drops_are_listed_by_reason() {
        let mut a = CoreSnapshot::new(0, 0);
        let idx = |name: &str| TcpStats::default().fields().iter().position(|(n, _)| *n == name).unwrap();
        a.tcp[idx("conn_table_full")] = 2;
        a.tcp[idx("segments_in")] = 9;
        a.drops[DropReason::TcpBadChecksum as usize] = 1;
        let j = a.to_json(false);
        assert_eq!(j["drops"]["tcp_conn_table_full"], 2, "{j}");
        assert_eq!(j["drops"]["tcp_bad_checksum"], 1);
        assert!(j["drops"].get("tcp_segments_in").is_none(), "not a drop");
        assert!(j["drops"].get("tcp_syn_queue_full").is_none(), "only non-zero reasons");
        assert_eq!(a.total_drops(), 3);
    }
}
