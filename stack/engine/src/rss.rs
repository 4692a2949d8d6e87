//! Flow ownership by RSS: which core owns a TCP/UDP flow.
//!
//! A NIC with receive-side scaling hashes each received packet's tuple with the
//! Toeplitz function under its RSS key, looks the hash up in its indirection
//! table to pick an RX queue, and the engine runs one core per bound queue. So
//! the core that receives a flow is a pure function of the tuple of the
//! *received* packet (source = remote, destination = local) and of the
//! device's key and table. [`Steering`] computes it the same way, so that a
//! core can tell whether a flow is its own, and an active open can pick a local
//! port whose replies come back to the core that sent the SYN
//! ([`Steering::pick_local_port`]).
//!
//! Limits of the prediction:
//! * Ports are hashed only if the NIC hashes L4 fields for that flow type.
//!   TCP is hashed over the 4-tuple by default; for UDP several drivers hash
//!   only the addresses unless told otherwise (`ethtool -n IF rx-flow-hash
//!   udp4`; `ethtool -N IF rx-flow-hash udp4 sdfn`). [`Steering::owner_addrs`]
//!   gives the owner under address-only hashing.
//! * IP fragments are hashed on addresses only, non-IP frames not at all.
//! * Only plain Toeplitz is predicted; [`RssTable::from_device`] refuses XOR,
//!   CRC32 and the symmetric-xor input transform.
//! * On veth the RX queue is picked by the peer's transmit queue selection,
//!   not by Toeplitz: frames may arrive on any core, and [`Steering::owner`]
//!   says which core must handle them.
//!
//! Tested in `tests/rss.rs` against the Microsoft RSS verification vectors.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The verification key of the Microsoft RSS specification, used where the
/// device reports no key (veth, tun): `6d5a56da…01fa`.
pub const DEFAULT_RSS_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// Entries of the default indirection table ([`RssTable::default_for`]).
pub const DEFAULT_INDIR_LEN: usize = 128;

/// Longest hash input in bytes: two IPv6 addresses and two ports.
pub const MAX_INPUT: usize = 36;

/// First port of the dynamic range of RFC 6335 §6 (`49152..=65535`).
pub const EPHEMERAL_FIRST: u16 = 49152;

/// The local ports an active open or an ephemeral bind picks from,
/// `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub first: u16,
    /// Last port (inclusive).
    pub last: u16,
}

impl PortRange {
    fn span(self) -> u32 {
        u32::from(self.last) + 1 - u32::from(self.first)
    }
}

/// UDP's ephemeral ports: the dynamic range `49152..=65535` (RFC 6335 §6). A
/// UDP bind holds its port for every peer, so these stay clear of the ports
/// services use.
pub const DYNAMIC_PORTS: PortRange = PortRange { first: EPHEMERAL_FIRST, last: 65535 };

/// TCP's ephemeral ports: the whole range `1024..=65535` that RFC 6056 §3.2
/// recommends. A TCP port is taken per 4-tuple (towards one peer), and ports
/// with a listener are skipped, so a wide range costs nothing; it is what
/// lets one client open more than 16,384 connections a second to one server
/// while each closed connection holds its port in TIME-WAIT for the second
/// before an active open may take it over. (Linux picks from
/// `net.ipv4.ip_local_port_range`, 32768–60999 by default; we differ on
/// purpose: the stack owns its addresses, no other program's ports share
/// them.)
pub const TCP_EPHEMERAL_PORTS: PortRange = PortRange { first: 1024, last: 65535 };

/// Errors building a [`Toeplitz`] hasher, an [`RssTable`] or a [`Steering`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RssError {
    /// The key is neither 40 nor 52 bytes long.
    KeyLength(usize),
    /// The indirection table has no entry.
    EmptyTable,
    /// No queue is bound to a core.
    NoCores,
    /// The same queue is bound to two cores.
    DuplicateQueue(u32),
    /// The device hashes with something other than plain Toeplitz.
    UnsupportedHash {
        /// `ETH_RSS_HASH_*` bit reported by the device.
        hfunc: u32,
        /// `RXH_XFRM_*` input transform reported by the device.
        input_xfrm: u32,
    },
}

impl fmt::Display for RssError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RssError::KeyLength(n) => write!(f, "RSS key of {n} bytes (must be 40 or 52)"),
            RssError::EmptyTable => f.write_str("empty RSS indirection table"),
            RssError::NoCores => f.write_str("no queue bound to a core"),
            RssError::DuplicateQueue(q) => write!(f, "queue {q} bound to more than one core"),
            RssError::UnsupportedHash { hfunc, input_xfrm } => write!(
                f,
                "the NIC's RSS hash is not plain Toeplitz (hfunc {hfunc:#x}, input_xfrm {input_xfrm:#x}); \
                 set it with `ethtool -X IF hfunc toeplitz xfrm none`"
            ),
        }
    }
}

impl std::error::Error for RssError {}

/// A Toeplitz hasher for one key, with one 256-entry lookup table per input
/// byte position: hashing `n` bytes costs `n` lookups and XORs.
///
/// The hash is linear over XOR: `hash(a ^ b) == hash(a) ^ hash(b)` for inputs
/// of equal length, which is what makes per-byte tables possible.
#[derive(Clone)]
pub struct Toeplitz {
    key: Vec<u8>,
    /// `table[i][v]`: the hash contribution of byte value `v` at input position `i`.
    table: Box<[[u32; 256]]>,
}

impl fmt::Debug for Toeplitz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Toeplitz")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The 32 key bits starting at bit `bit` (bit 0 = most significant bit of
/// `key[0]`); bits past the end of the key are 0.
fn key_window(key: &[u8], bit: usize) -> u32 {
    let at = bit / 8;
    let w = (0..5).fold(0u64, |w, i| {
        (w << 8) | u64::from(key.get(at + i).copied().unwrap_or(0))
    });
    (w >> (8 - bit % 8)) as u32
}

impl Toeplitz {
    /// Build the hasher for `key`, which must be 40 bytes (the usual RSS key)
    /// or 52 bytes (Intel i40e/ice).
    pub fn new(key: &[u8]) -> Result<Toeplitz, RssError> {
        if key.len() != 40 && key.len() != 52 {
            return Err(RssError::KeyLength(key.len()));
        }
        let mut table = vec![[0u32; 256]; MAX_INPUT].into_boxed_slice();
        for (pos, row) in table.iter_mut().enumerate() {
            let windows: [u32; 8] = std::array::from_fn(|b| key_window(key, 8 * pos + b));
            for (v, entry) in row.iter_mut().enumerate() {
                *entry = (0..8)
                    .filter(|b| v & (0x80 >> b) != 0)
                    .fold(0, |h, b| h ^ windows[b]);
            }
        }
        Ok(Toeplitz {
            key: key.to_vec(),
            table,
        })
    }

    /// The key this hasher was built from.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// Toeplitz hash of `input`.
    ///
    /// # Panics
    /// If `input` is longer than [`MAX_INPUT`] bytes.
    pub fn hash(&self, input: &[u8]) -> u32 {
        assert!(
            input.len() <= MAX_INPUT,
            "Toeplitz input of {} bytes",
            input.len()
        );
        input
            .iter()
            .zip(self.table.iter())
            .fold(0, |h, (&b, row)| h ^ row[b as usize])
    }

    /// Hash of a fixed-size input: `N` lookups, bounds checked once.
    #[inline]
    fn hash_array<const N: usize>(&self, input: &[u8; N]) -> u32 {
        let rows: &[[u32; 256]; N] = self.table[..N].try_into().expect("N <= MAX_INPUT");
        rows.iter()
            .zip(input)
            .fold(0, |h, (row, &b)| h ^ row[b as usize])
    }

    /// Hash of an IPv4 4-tuple as a NIC hashes a received TCP/UDP packet:
    /// source address, destination address, source port, destination port
    /// (network byte order), 12 bytes.
    pub fn hash_v4(&self, src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> u32 {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&src.octets());
        b[4..8].copy_from_slice(&dst.octets());
        b[8..10].copy_from_slice(&sport.to_be_bytes());
        b[10..].copy_from_slice(&dport.to_be_bytes());
        self.hash_array(&b)
    }

    /// Hash of an IPv4 address pair (source, destination), 8 bytes.
    pub fn hash_v4_addrs(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u32 {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&src.octets());
        b[4..].copy_from_slice(&dst.octets());
        self.hash_array(&b)
    }

    /// Hash of an IPv6 4-tuple (source, destination, source port, destination
    /// port), 36 bytes.
    pub fn hash_v6(&self, src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16) -> u32 {
        let mut b = [0u8; 36];
        b[..16].copy_from_slice(&src.octets());
        b[16..32].copy_from_slice(&dst.octets());
        b[32..34].copy_from_slice(&sport.to_be_bytes());
        b[34..].copy_from_slice(&dport.to_be_bytes());
        self.hash_array(&b)
    }

    /// Hash of an IPv6 address pair (source, destination), 32 bytes.
    pub fn hash_v6_addrs(&self, src: Ipv6Addr, dst: Ipv6Addr) -> u32 {
        let mut b = [0u8; 32];
        b[..16].copy_from_slice(&src.octets());
        b[16..].copy_from_slice(&dst.octets());
        self.hash_array(&b)
    }

    /// Hash of a 4-tuple of either family. A mixed pair (never on the wire)
    /// is hashed as IPv6 with the IPv4 address mapped (`::ffff:a.b.c.d`).
    pub fn hash_tuple(&self, src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> u32 {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self.hash_v4(s, d, sport, dport),
            _ => self.hash_v6(v6(src), v6(dst), sport, dport),
        }
    }

    /// Hash of an address pair of either family (mixed pairs as in
    /// [`Toeplitz::hash_tuple`]).
    pub fn hash_addrs(&self, src: IpAddr, dst: IpAddr) -> u32 {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self.hash_v4_addrs(s, d),
            _ => self.hash_v6_addrs(v6(src), v6(dst)),
        }
    }
}

fn v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// Bit-by-bit Toeplitz hash, literally the pseudocode of the Microsoft RSS
/// specification: for each input bit from the left, if it is set XOR the
/// leftmost 32 bits of the key into the result, then shift the key left by one
/// (key bits past its end are 0). Slow; the reference for [`Toeplitz`] in tests.
pub fn toeplitz_reference(key: &[u8], input: &[u8]) -> u32 {
    let key_bit = |n: usize| {
        key.get(n / 8)
            .map_or(0, |b| u32::from((b >> (7 - n % 8)) & 1))
    };
    let mut window = (0..32).fold(0u32, |w, n| (w << 1) | key_bit(n));
    let mut next = 32;
    let mut result = 0;
    for byte in input {
        for bit in (0..8).rev() {
            if (byte >> bit) & 1 == 1 {
                result ^= window;
            }
            window = (window << 1) | key_bit(next);
            next += 1;
        }
    }
    result
}

/// Where an [`RssTable`]'s key and indirection table come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RssSource {
    /// Key (and table, if it reported one) read from the NIC.
    Nic,
    /// Table read from the NIC, key unreadable: [`DEFAULT_RSS_KEY`] stands in,
    /// and predictions may disagree with the NIC.
    NicTable,
    /// The device has no RSS (veth, tun): default key and table.
    Default,
}

impl RssSource {
    /// Short name for logs and warnings: `nic`, `nic-table` or `default`.
    pub fn as_str(self) -> &'static str {
        match self {
            RssSource::Nic => "nic",
            RssSource::NicTable => "nic-table",
            RssSource::Default => "default",
        }
    }
}

/// A device's RSS key and indirection table (entry = RX queue id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RssTable {
    /// The Toeplitz key (40 or 52 bytes).
    pub key: Vec<u8>,
    /// The indirection table: slot `hash % len` holds the RX queue.
    pub indir: Vec<u32>,
    /// Where key and table come from.
    pub source: RssSource,
}

impl RssTable {
    /// [`DEFAULT_RSS_KEY`] and Linux's default table for `queues` RX queues
    /// (`ethtool_rxfh_indir_default`: entry `i` is `i % queues`), with
    /// [`DEFAULT_INDIR_LEN`] entries. `queues` 0 counts as 1.
    pub fn default_for(queues: u32) -> RssTable {
        let queues = queues.max(1);
        RssTable {
            key: DEFAULT_RSS_KEY.to_vec(),
            indir: (0..DEFAULT_INDIR_LEN as u32).map(|i| i % queues).collect(),
            source: RssSource::Default,
        }
    }

    /// The table to steer by, from what `xsk::rss_config` read (`None`: the
    /// device has no RSS) for a device with `queues` RX queues. A missing key
    /// is replaced by [`DEFAULT_RSS_KEY`] ([`RssSource::NicTable`]), a missing
    /// table by the default one. Fails if the device hashes with anything but
    /// plain Toeplitz, or reports a key of another length than 40 or 52 bytes.
    pub fn from_device(cfg: Option<&xsk::RssConfig>, queues: u32) -> Result<RssTable, RssError> {
        let Some(cfg) = cfg else {
            return Ok(RssTable::default_for(queues));
        };
        if !cfg.is_plain_toeplitz() {
            return Err(RssError::UnsupportedHash {
                hfunc: cfg.hfunc,
                input_xfrm: cfg.input_xfrm,
            });
        }
        let mut table = RssTable::default_for(queues);
        if !cfg.indir.is_empty() {
            table.indir = cfg.indir.clone();
            table.source = RssSource::NicTable;
        }
        if !cfg.key.is_empty() {
            if cfg.key.len() != 40 && cfg.key.len() != 52 {
                return Err(RssError::KeyLength(cfg.key.len()));
            }
            table.key = cfg.key.clone();
            table.source = RssSource::Nic;
        }
        Ok(table)
    }
}

/// Which core owns a flow: the Toeplitz hash of the received packet's tuple,
/// the indirection table slot `hash % len`, its queue, the core bound to that
/// queue.
#[derive(Debug, Clone)]
pub struct Steering {
    /// `None` for [`Steering::single`]: no hashing at all.
    hasher: Option<Toeplitz>,
    /// Per indirection slot: the core bound to the slot's queue, if any.
    slot_core: Vec<Option<usize>>,
    cores: usize,
    unbound: Vec<u32>,
    source: Option<RssSource>,
}

impl Steering {
    /// Steering over `table` where core `i` serves queue `bound[i]`.
    pub fn new(table: &RssTable, bound: &[u32]) -> Result<Steering, RssError> {
        if bound.is_empty() {
            return Err(RssError::NoCores);
        }
        if table.indir.is_empty() {
            return Err(RssError::EmptyTable);
        }
        for (i, q) in bound.iter().enumerate() {
            if bound[..i].contains(q) {
                return Err(RssError::DuplicateQueue(*q));
            }
        }
        let hasher = Toeplitz::new(&table.key)?;
        let core_of = |q: u32| bound.iter().position(|&b| b == q);
        let slot_core = table.indir.iter().map(|&q| core_of(q)).collect();
        let mut unbound: Vec<u32> = table
            .indir
            .iter()
            .copied()
            .filter(|&q| core_of(q).is_none())
            .collect();
        unbound.sort_unstable();
        unbound.dedup();
        Ok(Steering {
            hasher: Some(hasher),
            slot_core,
            cores: bound.len(),
            unbound,
            source: Some(table.source),
        })
    }

    /// One core owning every flow; [`Steering::owner`] is 0 without hashing.
    pub fn single() -> Steering {
        Steering {
            hasher: None,
            slot_core: vec![Some(0)],
            cores: 1,
            unbound: Vec::new(),
            source: None,
        }
    }

    /// Number of cores.
    pub fn cores(&self) -> usize {
        self.cores
    }

    /// Queues the indirection table uses that no core serves, ascending. On a
    /// real NIC their flows reach no AF_XDP socket (the XDP program finds no
    /// socket on that queue and passes them to the kernel), so the CLI warns
    /// about them.
    pub fn unbound_queues(&self) -> Vec<u32> {
        self.unbound.clone()
    }

    /// Where the key and table come from: `nic`, `nic-table`, `default`, or
    /// `none` for [`Steering::single`].
    pub fn hash_source(&self) -> &'static str {
        self.source.map_or("none", RssSource::as_str)
    }

    /// The core owning a hash value: the core bound to the queue in slot
    /// `hash % len`. If no core serves that queue, falls back to
    /// `hash % cores`: on a real NIC such flows go to the kernel and never
    /// reach us, so this only decides frames that arrive anyway (on veth).
    pub fn owner_of_hash(&self, hash: u32) -> usize {
        match self.slot_core[hash as usize % self.slot_core.len()] {
            Some(core) => core,
            None => hash as usize % self.cores,
        }
    }

    /// The core owning the flow of a received packet from `src:sport` to
    /// `dst:dport` (so `src` is the remote end), hashed over the 4-tuple.
    pub fn owner(&self, src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> usize {
        match &self.hasher {
            None => 0,
            Some(h) => self.owner_of_hash(h.hash_tuple(src, dst, sport, dport)),
        }
    }

    /// The owner when the NIC hashes this flow type over the addresses only
    /// (e.g. UDP on drivers whose default is `rx-flow-hash udp4 sd`).
    pub fn owner_addrs(&self, src: IpAddr, dst: IpAddr) -> usize {
        match &self.hasher {
            None => 0,
            Some(h) => self.owner_of_hash(h.hash_addrs(src, dst)),
        }
    }

    /// For an active open (or an ephemeral bind) from `core` to `remote`, a
    /// local port in `range` ([`TCP_EPHEMERAL_PORTS`], [`DYNAMIC_PORTS`]) such
    /// that replies (source `remote`,
    /// destination `local_ip`:port) land in an indirection slot whose queue
    /// `core` serves, and `in_use(port)` is false. Scans from port `start` (taken
    /// modulo the range size, so any `u16` is a fine random start), wrapping
    /// once around the range. `None` if no port fits: `core` out of range,
    /// `remote` and `local_ip` of different families, no slot of `core`'s
    /// queue in the table, or all fitting ports in use.
    pub fn pick_local_port(
        &self,
        core: usize,
        remote: SocketAddr,
        local_ip: IpAddr,
        range: PortRange,
        start: u16,
        mut in_use: impl FnMut(u16) -> bool,
    ) -> Option<u16> {
        if core >= self.cores || remote.is_ipv4() != local_ip.is_ipv4() || range.first > range.last {
            return None;
        }
        let span = range.span();
        // The scan starts at port `start` (any `u16` is taken modulo the range).
        let first = (u32::from(start) + span - u32::from(range.first) % span) % span;
        let mut ports = (0..span).map(|i| (u32::from(range.first) + (first + i) % span) as u16);
        let Some(h) = &self.hasher else {
            return ports.find(|&p| !in_use(p));
        };
        // Linearity: hash(prefix ‖ dport) = hash(prefix ‖ 0) ^ table[n-2][hi] ^ table[n-1][lo].
        let base = h.hash_tuple(remote.ip(), local_ip, remote.port(), 0);
        let n = if remote.is_ipv4() { 12 } else { 36 };
        let (hi, lo) = (&h.table[n - 2], &h.table[n - 1]);
        let len = self.slot_core.len();
        ports.find(|&p| {
            let hash = base ^ hi[usize::from(p >> 8)] ^ lo[usize::from(p & 0xff)];
            self.slot_core[hash as usize % len] == Some(core) && !in_use(p)
        })
    }
}
