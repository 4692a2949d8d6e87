//! Seeded fault injection on any [`Device`]: loss, duplication, reordering,
//! delay and jitter, on receive and/or transmit (`--fault loss=0.01,...`).
//!
//! The kernel here has no `tc netem`, so the stack injects its own faults. The
//! wrapper is for tests and experiments, not the fast path: every frame it
//! transmits is copied once (TX frames are staged until `flush`, where the
//! faults are applied and survivors are copied into the inner device), and
//! held (delayed / reordered) frames are copies. Buffers are recycled, so a
//! steady flow does not allocate.
//!
//! Decisions come from a seeded PRNG (splitmix64), one stream per direction,
//! so the same seed and the same frame sequence give the same faults. Delay is
//! wall-clock time (`Instant`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::io;
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::{Device, DeviceStats, MacAddr, TxQueue};

/// What to inject, per frame and per direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultConfig {
    /// Probability a frame is dropped.
    pub loss: f64,
    /// Probability a frame is held back and delivered after the next one
    /// (with `delay`: sent at once while the others wait, like netem).
    pub reorder: f64,
    /// Probability a frame is delivered twice.
    pub dup: f64,
    /// Fixed delay added to every frame.
    pub delay: Duration,
    /// Extra uniform random delay in `[0, jitter)` (frames may reorder).
    pub jitter: Duration,
    /// PRNG seed.
    pub seed: u64,
    /// Apply to received frames.
    pub rx: bool,
    /// Apply to transmitted frames.
    pub tx: bool,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            loss: 0.0,
            reorder: 0.0,
            dup: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            seed: 0,
            rx: true,
            tx: true,
        }
    }
}

fn parse_prob(key: &str, v: &str) -> Result<f64, String> {
    let (num, scale) = match v.strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (v, 1.0),
    };
    let p: f64 = num
        .parse()
        .map_err(|_| format!("--fault {key}={v}: not a number"))?;
    let p = p / scale;
    if !(0.0..=1.0).contains(&p) {
        return Err(format!(
            "--fault {key}={v}: must be within 0..1 (or 0%..100%)"
        ));
    }
    Ok(p)
}

fn parse_duration(key: &str, v: &str) -> Result<Duration, String> {
    let bad = || format!("--fault {key}={v}: expected a duration like 10ms, 500us, 1s");
    let (num, unit) = v
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| v.split_at(i))
        .ok_or_else(bad)?;
    let x: f64 = num.parse().map_err(|_| bad())?;
    if !(x >= 0.0 && x.is_finite()) {
        return Err(bad());
    }
    let secs = match unit {
        "s" => x,
        "ms" => x / 1e3,
        "us" | "µs" => x / 1e6,
        "ns" => x / 1e9,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs_f64(secs))
}

impl FromStr for FaultConfig {
    type Err = String;

    /// `loss=0.01,reorder=0.25,dup=0.01,delay=10ms,jitter=5ms,seed=7[,dir=rx|tx|both]`;
    /// probabilities also as percentages (`loss=1%`).
    fn from_str(s: &str) -> Result<Self, String> {
        let mut c = FaultConfig::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("--fault {part}: expected KEY=VALUE"))?;
            match k {
                "loss" => c.loss = parse_prob(k, v)?,
                "reorder" => c.reorder = parse_prob(k, v)?,
                "dup" | "duplicate" => c.dup = parse_prob(k, v)?,
                "delay" => c.delay = parse_duration(k, v)?,
                "jitter" => c.jitter = parse_duration(k, v)?,
                "seed" => {
                    c.seed = v
                        .parse()
                        .map_err(|_| format!("--fault seed={v}: not an unsigned integer"))?
                }
                "dir" => {
                    (c.rx, c.tx) = match v {
                        "rx" => (true, false),
                        "tx" => (false, true),
                        "both" => (true, true),
                        _ => return Err(format!("--fault dir={v}: rx, tx or both")),
                    }
                }
                _ => {
                    return Err(format!(
                        "--fault {k}: unknown key (loss, reorder, dup, delay, jitter, seed, dir)"
                    ))
                }
            }
        }
        Ok(c)
    }
}

impl fmt::Display for FaultConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = match (self.rx, self.tx) {
            (true, true) => "both",
            (true, false) => "rx",
            (false, true) => "tx",
            (false, false) => "none",
        };
        write!(
            f,
            "loss={},reorder={},dup={},delay={}us,jitter={}us,seed={},dir={dir}",
            self.loss,
            self.reorder,
            self.dup,
            self.delay.as_micros(),
            self.jitter.as_micros(),
            self.seed
        )
    }
}

/// What the wrapper did, per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Received frames dropped.
    pub rx_lost: u64,
    /// Received frames delivered twice.
    pub rx_duplicated: u64,
    /// Received frames held back behind the next one.
    pub rx_reordered: u64,
    /// Received frames delayed.
    pub rx_delayed: u64,
    /// Transmitted frames dropped.
    pub tx_lost: u64,
    /// Transmitted frames sent twice.
    pub tx_duplicated: u64,
    /// Transmitted frames held back behind the next one.
    pub tx_reordered: u64,
    /// Transmitted frames delayed.
    pub tx_delayed: u64,
    /// Surviving transmitted frames the inner device had no frame for.
    pub tx_inner_full: u64,
}

/// splitmix64: tiny, seedable, good enough for fault decisions.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct LaneCounts {
    lost: u64,
    duplicated: u64,
    reordered: u64,
    delayed: u64,
}

/// Faults of one direction.
struct Lane {
    on: bool,
    cfg: FaultConfig,
    rng: Rng,
    /// Delayed frames: (release time, sequence) -> slot in `bufs`.
    held: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    bufs: Vec<Vec<u8>>,
    free_slots: Vec<usize>,
    seq: u64,
    /// A frame held back until the next one passes (reorder without delay).
    behind: Option<(usize, Instant)>,
    counts: LaneCounts,
}

impl Lane {
    fn new(cfg: FaultConfig, on: bool, stream: u64) -> Lane {
        Lane {
            on,
            cfg,
            rng: Rng(cfg.seed ^ stream.wrapping_mul(0xd6e8_feb8_6659_fd93)),
            held: BinaryHeap::with_capacity(256),
            bufs: Vec::with_capacity(256),
            free_slots: Vec::with_capacity(256),
            seq: 0,
            behind: None,
            counts: LaneCounts::default(),
        }
    }

    fn store(&mut self, frame: &[u8]) -> usize {
        let slot = match self.free_slots.pop() {
            Some(s) => s,
            None => {
                self.bufs.push(Vec::with_capacity(frame.len().max(2048)));
                self.bufs.len() - 1
            }
        };
        let b = &mut self.bufs[slot];
        b.clear();
        b.extend_from_slice(frame);
        slot
    }

    /// How long a frame held behind waits for a successor before going alone.
    fn behind_limit(&self) -> Duration {
        (self.cfg.delay + self.cfg.jitter).max(Duration::from_millis(1))
    }

    /// One frame enters the lane: drop, delay, hold back, or pass to `out`
    /// (possibly twice).
    fn admit(&mut self, now: Instant, frame: &[u8], out: &mut dyn FnMut(&[u8])) {
        if !self.on {
            out(frame);
            return;
        }
        if self.rng.chance(self.cfg.loss) {
            self.counts.lost += 1;
            return;
        }
        let copies = if self.rng.chance(self.cfg.dup) {
            self.counts.duplicated += 1;
            2
        } else {
            1
        };
        let delayed = !self.cfg.delay.is_zero() || !self.cfg.jitter.is_zero();
        for _ in 0..copies {
            let reorder = self.rng.chance(self.cfg.reorder);
            if delayed {
                // netem style: reordered frames skip the delay, the rest wait.
                let wait = if reorder {
                    self.counts.reordered += 1;
                    Duration::ZERO
                } else {
                    self.counts.delayed += 1;
                    self.cfg.delay + self.cfg.jitter.mul_f64(self.rng.unit())
                };
                if wait.is_zero() {
                    out(frame);
                } else {
                    let slot = self.store(frame);
                    self.seq += 1;
                    self.held.push(Reverse((now + wait, self.seq, slot)));
                }
            } else if reorder && self.behind.is_none() {
                self.counts.reordered += 1;
                let slot = self.store(frame);
                self.behind = Some((slot, now));
            } else {
                out(frame);
                if let Some((slot, _)) = self.behind.take() {
                    out(&self.bufs[slot]);
                    self.free_slots.push(slot);
                }
            }
        }
    }

    /// Deliver the held frames whose time has come.
    fn release_due(&mut self, now: Instant, out: &mut dyn FnMut(&[u8])) -> usize {
        let mut n = 0;
        while let Some(Reverse((at, _, slot))) = self.held.peek().copied() {
            if at > now {
                break;
            }
            self.held.pop();
            out(&self.bufs[slot]);
            self.free_slots.push(slot);
            n += 1;
        }
        if let Some((slot, since)) = self.behind {
            if now.duration_since(since) >= self.behind_limit() {
                self.behind = None;
                out(&self.bufs[slot]);
                self.free_slots.push(slot);
                n += 1;
            }
        }
        n
    }

    /// When the next held frame is due, if any.
    fn next_due(&self) -> Option<Instant> {
        let h = self.held.peek().map(|Reverse((at, _, _))| *at);
        let b = self.behind.map(|(_, since)| since + self.behind_limit());
        match (h, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The TX side of a [`FaultDevice`]: frames are staged here until `flush`,
/// which applies the TX faults and copies the survivors into the inner device.
/// Delayed TX frames leave on a later `flush` once due: keep flushing.
pub struct FaultTx {
    staged: Vec<Vec<u8>>,
    staged_len: usize,
    max_frame: usize,
    capacity: usize,
    no_frame: u64,
}

impl TxQueue for FaultTx {
    fn send(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        if len > self.max_frame || self.staged_len >= self.capacity {
            self.no_frame += 1;
            return false;
        }
        if self.staged_len == self.staged.len() {
            self.staged.push(Vec::with_capacity(self.max_frame));
        }
        let b = &mut self.staged[self.staged_len];
        b.clear();
        b.resize(len, 0);
        fill(b);
        self.staged_len += 1;
        true
    }
}

/// Wraps a device and injects faults into its traffic (see the module docs).
pub struct FaultDevice<D: Device> {
    inner: D,
    rx: Lane,
    tx: Lane,
    ftx: FaultTx,
    tx_inner_full: u64,
}

impl<D: Device> FaultDevice<D> {
    /// Wrap `inner`. `max_frame` bounds the frames `send` accepts (use the inner
    /// device's limit, e.g. [`crate::XskDevice::max_frame`]); `tx_capacity` is
    /// how many frames may be staged between flushes.
    pub fn new(inner: D, cfg: FaultConfig, max_frame: usize, tx_capacity: usize) -> FaultDevice<D> {
        FaultDevice {
            inner,
            rx: Lane::new(cfg, cfg.rx, 1),
            tx: Lane::new(cfg, cfg.tx, 2),
            ftx: FaultTx {
                staged: Vec::with_capacity(tx_capacity),
                staged_len: 0,
                max_frame,
                capacity: tx_capacity.max(1),
                no_frame: 0,
            },
            tx_inner_full: 0,
        }
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The wrapped device, mutably.
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// The configuration in force.
    pub fn config(&self) -> FaultConfig {
        self.rx.cfg
    }

    /// What was injected so far.
    pub fn fault_stats(&self) -> FaultStats {
        FaultStats {
            rx_lost: self.rx.counts.lost,
            rx_duplicated: self.rx.counts.duplicated,
            rx_reordered: self.rx.counts.reordered,
            rx_delayed: self.rx.counts.delayed,
            tx_lost: self.tx.counts.lost,
            tx_duplicated: self.tx.counts.duplicated,
            tx_reordered: self.tx.counts.reordered,
            tx_delayed: self.tx.counts.delayed,
            tx_inner_full: self.tx_inner_full,
        }
    }
}

fn send_copy<T: TxQueue>(tx: &mut T, frame: &[u8], full: &mut u64) {
    if !tx.send(frame.len(), &mut |b| b.copy_from_slice(frame)) {
        *full += 1;
    }
}

impl<D: Device> Device for FaultDevice<D> {
    type Tx = FaultTx;

    fn mac(&self) -> MacAddr {
        self.inner.mac()
    }

    fn rx_burst<F: FnMut(&[u8], &mut FaultTx)>(
        &mut self,
        budget: usize,
        mut f: F,
    ) -> io::Result<usize> {
        let now = Instant::now();
        let ftx = &mut self.ftx;
        let lane = &mut self.rx;
        let released = lane.release_due(now, &mut |fr| f(fr, ftx));
        let got = self
            .inner
            .rx_burst(budget.saturating_sub(released), |frame, _| {
                lane.admit(now, frame, &mut |fr| f(fr, ftx));
            })?;
        Ok(released + got)
    }

    fn tx(&mut self) -> &mut FaultTx {
        &mut self.ftx
    }

    fn flush(&mut self) -> io::Result<()> {
        let now = Instant::now();
        let mut full = 0u64;
        let inner_tx = self.inner.tx();
        for i in 0..self.ftx.staged_len {
            let frame = &self.ftx.staged[i];
            self.tx
                .admit(now, frame, &mut |fr| send_copy(inner_tx, fr, &mut full));
        }
        self.ftx.staged_len = 0;
        self.tx
            .release_due(now, &mut |fr| send_copy(inner_tx, fr, &mut full));
        self.tx_inner_full += full;
        self.inner.flush()
    }

    fn wait(&mut self, timeout: std::time::Duration) -> io::Result<()> {
        let now = Instant::now();
        let due = [self.rx.next_due(), self.tx.next_due()]
            .into_iter()
            .flatten()
            .min();
        let timeout = match due {
            Some(at) => timeout.min(at.saturating_duration_since(now)),
            None => timeout,
        };
        if timeout.is_zero() {
            return Ok(());
        }
        self.inner.wait(timeout)
    }

    fn wait_or_wake(&mut self, timeout: std::time::Duration, waker: &crate::Waker) -> io::Result<()> {
        let now = Instant::now();
        let due = [self.rx.next_due(), self.tx.next_due()].into_iter().flatten().min();
        let timeout = match due {
            Some(at) => timeout.min(at.saturating_duration_since(now)),
            None => timeout,
        };
        if timeout.is_zero() {
            return Ok(());
        }
        self.inner.wait_or_wake(timeout, waker)
    }

    fn stats(&self) -> DeviceStats {
        let mut s = self.inner.stats();
        s.tx_no_frame += self.ftx.no_frame;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem_pair;

    const A: MacAddr = [2, 0, 0, 0, 0, 0xa];
    const B: MacAddr = [2, 0, 0, 0, 0, 0xb];

    fn frame(i: u32) -> [u8; 64] {
        let mut f = [0u8; 64];
        f[..4].copy_from_slice(&i.to_be_bytes());
        f
    }

    fn id(f: &[u8]) -> u32 {
        u32::from_be_bytes(f[..4].try_into().unwrap())
    }

    /// Send `n` frames a -> b through the RX faults of `b` and collect the ids
    /// `b` sees within `timeout`.
    fn run(cfg: FaultConfig, n: u32, timeout: Duration) -> (Vec<u32>, FaultStats) {
        let (mut a, b) = mem_pair(A, B, 4096);
        let mut b = FaultDevice::new(b, cfg, 2048, 4096);
        for i in 0..n {
            let f = frame(i);
            assert!(a.tx().send(64, &mut |buf| buf.copy_from_slice(&f)));
            a.flush().unwrap();
        }
        let mut seen = Vec::new();
        // Drain until nothing more comes and `timeout` has passed (robust to a
        // slow, loaded machine: never stops while frames are still arriving).
        let deadline = Instant::now() + timeout;
        loop {
            b.wait(Duration::from_millis(2)).unwrap();
            let k = b.rx_burst(256, |f, _| seen.push(id(f))).unwrap();
            if k == 0 && Instant::now() >= deadline {
                break;
            }
        }
        (seen, b.fault_stats())
    }

    #[test]
    fn parses_the_cli_form() {
        let c: FaultConfig = "loss=0.01,reorder=0.25,dup=0.01,delay=10ms,jitter=5ms,seed=7"
            .parse()
            .unwrap();
        assert_eq!(c.loss, 0.01);
        assert_eq!(c.reorder, 0.25);
        assert_eq!(c.dup, 0.01);
        assert_eq!(c.delay, Duration::from_millis(10));
        assert_eq!(c.jitter, Duration::from_millis(5));
        assert_eq!(c.seed, 7);
        assert!(c.rx && c.tx);
        let c: FaultConfig = "loss=2%,dir=tx,delay=500us".parse().unwrap();
        assert_eq!(c.loss, 0.02);
        assert!(!c.rx && c.tx);
        assert_eq!(c.delay, Duration::from_micros(500));
        assert_eq!(
            c.to_string(),
            "loss=0.02,reorder=0,dup=0,delay=500us,jitter=0us,seed=0,dir=tx"
        );
        for bad in [
            "loss=2",
            "loss=x",
            "delay=10",
            "delay=5parsecs",
            "seed=-1",
            "foo=1",
            "loss",
            "dir=up",
        ] {
            let e = bad.parse::<FaultConfig>().unwrap_err();
            assert!(e.starts_with("--fault"), "{bad}: {e}");
        }
        assert_eq!("".parse::<FaultConfig>().unwrap(), FaultConfig::default());
    }

    #[test]
    fn no_faults_is_transparent() {
        let (seen, st) = run(FaultConfig::default(), 100, Duration::from_millis(20));
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
        assert_eq!(st, FaultStats::default());
    }

    #[test]
    fn loss_is_seeded_and_roughly_right() {
        let cfg: FaultConfig = "loss=0.2,seed=42".parse().unwrap();
        let (s1, st) = run(cfg, 2000, Duration::from_millis(30));
        let (s2, _) = run(cfg, 2000, Duration::from_millis(30));
        assert_eq!(s1, s2, "same seed, same losses");
        assert_eq!(s1.len() as u64 + st.rx_lost, 2000);
        assert!((300..500).contains(&st.rx_lost), "lost {}", st.rx_lost);
        assert!(
            s1.windows(2).all(|w| w[0] < w[1]),
            "loss alone must not reorder"
        );
        let (s3, _) = run(
            FaultConfig { seed: 43, ..cfg },
            2000,
            Duration::from_millis(30),
        );
        assert_ne!(s1, s3);
    }

    #[test]
    fn duplication_and_reordering() {
        let (seen, st) = run(
            "dup=0.1,seed=1".parse().unwrap(),
            1000,
            Duration::from_millis(30),
        );
        assert_eq!(seen.len() as u64, 1000 + st.rx_duplicated);
        assert!(st.rx_duplicated > 50);

        let (seen, st) = run(
            "reorder=0.25,seed=2".parse().unwrap(),
            1000,
            Duration::from_millis(30),
        );
        assert_eq!(seen.len(), 1000, "reordering loses nothing");
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        let swaps = seen.windows(2).filter(|w| w[0] > w[1]).count();
        assert!(swaps > 100, "only {swaps} inversions");
        assert!(st.rx_reordered > 100);
    }

    #[test]
    fn delay_and_jitter() {
        let cfg: FaultConfig = "delay=20ms,jitter=10ms,seed=3".parse().unwrap();
        let (a, b) = mem_pair(A, B, 64);
        let mut a = a;
        let mut b = FaultDevice::new(b, cfg, 2048, 64);
        let t0 = Instant::now();
        for i in 0..50 {
            let f = frame(i);
            a.tx().send(64, &mut |buf| buf.copy_from_slice(&f));
        }
        a.flush().unwrap();
        let mut seen = Vec::new();
        let mut first = None;
        while seen.len() < 50 && t0.elapsed() < Duration::from_secs(2) {
            b.wait(Duration::from_millis(100)).unwrap();
            b.rx_burst(64, |f, _| seen.push(id(f))).unwrap();
            if first.is_none() && !seen.is_empty() {
                first = Some(t0.elapsed());
            }
        }
        assert_eq!(seen.len(), 50);
        let first = first.unwrap();
        assert!(
            first >= Duration::from_millis(20),
            "delivered after {first:?}"
        );
        assert!(t0.elapsed() < Duration::from_millis(1500));
        assert!(
            seen.windows(2).any(|w| w[0] > w[1]),
            "jitter should reorder some frames"
        );
        assert_eq!(b.fault_stats().rx_delayed, 50);
    }

    #[test]
    fn tx_faults_apply_at_flush() {
        let (a, mut b) = mem_pair(A, B, 4096);
        let mut a = FaultDevice::new(a, "loss=0.5,seed=9,dir=tx".parse().unwrap(), 2048, 4096);
        for i in 0..1000 {
            let f = frame(i);
            assert!(a.tx().send(64, &mut |buf| buf.copy_from_slice(&f)));
        }
        // Staged, not yet on the wire.
        assert_eq!(b.rx_burst(4096, |_, _| {}).unwrap(), 0);
        a.flush().unwrap();
        let n = b.rx_burst(4096, |_, _| {}).unwrap() as u64;
        let st = a.fault_stats();
        assert_eq!(n + st.tx_lost, 1000);
        assert!((400..600).contains(&st.tx_lost));
        assert_eq!(st.rx_lost, 0);
        assert_eq!(
            a.stats().tx_packets,
            n,
            "inner device counts what really left"
        );
        // Replies queued from inside rx_burst go through the same staging.
        let f = frame(7);
        b.tx().send(64, &mut |buf| buf.copy_from_slice(&f));
        b.flush().unwrap();
        let mut echoed = 0;
        a.rx_burst(8, |fr, tx| {
            assert_eq!(id(fr), 7);
            echoed += tx.send(64, &mut |buf| buf.copy_from_slice(fr)) as u32;
        })
        .unwrap();
        assert_eq!(echoed, 1);
        assert!(!a.tx().send(4096, &mut |_| unreachable!()));
        assert_eq!(a.stats().tx_no_frame, 1);
    }
}
