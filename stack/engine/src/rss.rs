//! PLACEHOLDER until the rss branch lands: flow ownership by RSS (Toeplitz).

use core::net::IpAddr;

/// The Microsoft RSS specification's verification key.
pub const DEFAULT_RSS_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
    0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// Bit-by-bit Toeplitz.
pub fn toeplitz_reference(key: &[u8], input: &[u8]) -> u32 {
    let mut result = 0u32;
    let mut window = u32::from_be_bytes([key[0], key[1], key[2], key[3]]);
    let mut next = 4;
    for &b in input {
        for bit in (0..8).rev() {
            if b & (1 << bit) != 0 {
                result ^= window;
            }
            let kb = key.get(next + (7 - bit) / 8).copied().unwrap_or(0);
            let _ = kb;
            window <<= 1;
            let kbyte = key.get(next).copied().unwrap_or(0);
            if kbyte & (1 << bit) != 0 {
                window |= 1;
            }
        }
        next += 1;
    }
    result
}

/// Device key and indirection table.
#[derive(Debug, Clone)]
pub struct RssTable {
    /// Key.
    pub key: Vec<u8>,
    /// Indirection table (queue per entry).
    pub indir: Vec<u32>,
}

impl RssTable {
    /// Default key and Linux's default table.
    pub fn default_for(queues: u32) -> RssTable {
        RssTable { key: DEFAULT_RSS_KEY.to_vec(), indir: (0..128).map(|i| i % queues.max(1)).collect() }
    }
}

/// Which core owns a flow.
#[derive(Debug, Clone)]
pub struct Steering {
    table: RssTable,
    queue_core: Vec<Option<usize>>,
    cores: usize,
}

impl Steering {
    /// One core.
    pub fn single() -> Steering {
        Steering { table: RssTable::default_for(1), queue_core: vec![Some(0)], cores: 1 }
    }
    /// From a table and the bound queues in core order.
    pub fn new(table: RssTable, bound: &[u32]) -> Steering {
        let maxq = table.indir.iter().copied().chain(bound.iter().copied()).max().unwrap_or(0) as usize;
        let mut queue_core = vec![None; maxq + 1];
        for (c, q) in bound.iter().enumerate() {
            queue_core[*q as usize] = Some(c);
        }
        Steering { table, queue_core, cores: bound.len().max(1) }
    }
    /// Number of cores.
    pub fn cores(&self) -> usize {
        self.cores
    }
    /// Queues of the table with no core.
    pub fn unbound_queues(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.table.indir.iter().copied().filter(|q| self.queue_core.get(*q as usize).copied().flatten().is_none()).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
    /// Owner core of the flow of a received packet.
    pub fn owner(&self, src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> usize {
        if self.cores == 1 {
            return 0;
        }
        let mut input = [0u8; 36];
        let n = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                input[..4].copy_from_slice(&s.octets());
                input[4..8].copy_from_slice(&d.octets());
                8
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                input[..16].copy_from_slice(&s.octets());
                input[16..32].copy_from_slice(&d.octets());
                32
            }
            _ => return 0,
        };
        input[n..n + 2].copy_from_slice(&sport.to_be_bytes());
        input[n + 2..n + 4].copy_from_slice(&dport.to_be_bytes());
        let h = toeplitz_reference(&self.table.key, &input[..n + 4]);
        let q = self.table.indir[h as usize % self.table.indir.len()];
        match self.queue_core.get(q as usize).copied().flatten() {
            Some(c) => c,
            None => h as usize % self.cores,
        }
    }
    /// An ephemeral port whose replies hash to `core`.
    pub fn pick_local_port(&self, core: usize, remote: core::net::SocketAddr, local_ip: IpAddr, start: u16, in_use: impl Fn(u16) -> bool) -> Option<u16> {
        const LO: u32 = 49152;
        const N: u32 = 65536 - LO;
        let s = (u32::from(start).max(LO) - LO) % N;
        (0..N).map(|i| (LO + (s + i) % N) as u16).find(|&p| self.owner(remote.ip(), local_ip, remote.port(), p) == core && !in_use(p))
    }
}
