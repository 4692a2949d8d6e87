//! What the cores of a load run share with each other and with the main thread:
//! per-core running totals the main thread reads once a second (each core writes
//! only its own cache line, with plain stores: no read-modify-write on the hot
//! path), the global budget of `--count`, and the final report that every core
//! adds its histogram to when it finishes.

use super::LoadConfig;
use crossbeam::utils::CachePadded;
use engine::Instant;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// One core's running totals, published every turn.
#[derive(Debug, Default)]
pub struct CoreProgress {
    /// Transactions, connections or datagrams answered.
    pub done: AtomicU64,
    /// Payload bytes moved (received; sent for `bulk --direction send`).
    pub bytes: AtomicU64,
    /// Failed flows, connections or datagrams.
    pub errors: AtomicU64,
}

/// Totals of one core (or of all).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Transactions, connections or datagrams answered.
    pub done: u64,
    /// Payload bytes moved.
    pub bytes: u64,
    /// Errors.
    pub errors: u64,
}

/// The figures of a finished run, summed over the cores.
#[derive(Debug)]
pub struct Report {
    /// Totals over every core.
    pub totals: Totals,
    /// Latency of every transaction / connection / datagram, microseconds.
    pub latency_us: Histogram<u64>,
    /// The measured time (the longest core's).
    pub elapsed: Duration,
    /// Cores that finished.
    pub cores_done: usize,
    /// The first error of each kind seen, for the summary (e.g. "refused").
    pub first_error: Option<String>,
}

/// Shared by every core of one run.
#[derive(Debug)]
pub struct Shared {
    /// What to run.
    pub cfg: LoadConfig,
    progress: Vec<CachePadded<CoreProgress>>,
    /// Units of work started, against `--count`.
    issued: AtomicU64,
    running: AtomicUsize,
    report: Mutex<Report>,
}

impl Shared {
    /// Shared state for `cores` cores.
    pub fn new(cfg: LoadConfig, cores: usize) -> Shared {
        Shared {
            cfg,
            progress: (0..cores).map(|_| CachePadded::new(CoreProgress::default())).collect(),
            issued: AtomicU64::new(0),
            running: AtomicUsize::new(0),
            report: Mutex::new(Report { totals: Totals::default(), latency_us: new_histogram(), elapsed: Duration::ZERO, cores_done: 0, first_error: None }),
        }
    }

    /// Publish core `core`'s running totals (its own cache line; relaxed stores).
    pub fn publish(&self, core: usize, t: Totals) {
        if let Some(p) = self.progress.get(core) {
            p.done.store(t.done, Ordering::Relaxed);
            p.bytes.store(t.bytes, Ordering::Relaxed);
            p.errors.store(t.errors, Ordering::Relaxed);
        }
    }

    /// The sum of what the cores published.
    pub fn progress(&self) -> Totals {
        self.progress.iter().fold(Totals::default(), |a, p| Totals {
            done: a.done + p.done.load(Ordering::Relaxed),
            bytes: a.bytes + p.bytes.load(Ordering::Relaxed),
            errors: a.errors + p.errors.load(Ordering::Relaxed),
        })
    }

    /// May one more unit of work start? Always with `--duration`; with `--count N`
    /// the first N calls over all cores say yes.
    pub fn take_one(&self) -> bool {
        match self.cfg.count {
            None => true,
            Some(n) => self.issued.fetch_add(1, Ordering::Relaxed) < n,
        }
    }

    /// A core's client registers itself (before any loop turns).
    pub fn register(&self) {
        self.running.fetch_add(1, Ordering::AcqRel);
    }

    /// A core adds its figures; returns true for the last core to finish.
    pub fn finish(&self, totals: Totals, hist: &Histogram<u64>, elapsed: Duration, error: Option<String>) -> bool {
        let mut r = self.report.lock().unwrap_or_else(|e| e.into_inner());
        r.totals.done += totals.done;
        r.totals.bytes += totals.bytes;
        r.totals.errors += totals.errors;
        let _ = r.latency_us.add(hist);
        r.elapsed = r.elapsed.max(elapsed);
        r.cores_done += 1;
        if r.first_error.is_none() {
            r.first_error = error;
        }
        drop(r);
        self.running.fetch_sub(1, Ordering::AcqRel) == 1
    }

    /// The final report (after every core finished).
    pub fn take_report(&self) -> Report {
        let mut r = self.report.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(
            &mut *r,
            Report { totals: Totals::default(), latency_us: new_histogram(), elapsed: Duration::ZERO, cores_done: 0, first_error: None },
        )
    }
}

/// One core's measurement, the same for every kind of client: when it started
/// and stopped, what it counted, its latencies and its first error.
#[derive(Debug)]
pub struct Meter {
    /// Latency of every unit of work, µs.
    pub hist: Histogram<u64>,
    /// Running totals.
    pub totals: Totals,
    /// When the client started.
    pub start: Option<Instant>,
    /// When the last unit of work completed (`--count` runs end there).
    pub last_done: Instant,
    /// When the measurement stopped (deadline passed, count exhausted, interrupted).
    pub stopped_at: Option<Instant>,
    /// The first error, for the summary.
    pub first_error: Option<String>,
}

impl Meter {
    /// Nothing measured yet.
    pub fn new() -> Meter {
        Meter { hist: new_histogram(), totals: Totals::default(), start: None, last_done: Instant::ZERO, stopped_at: None, first_error: None }
    }

    /// When `--duration` ends (none with `--count`).
    pub fn deadline(&self, cfg: &LoadConfig) -> Option<Instant> {
        let d = cfg.duration?;
        self.start.map(|s| Instant::from_micros(s.micros() + d.as_micros() as u64))
    }

    /// Still starting new work at `now`?
    pub fn measuring(&self, cfg: &LoadConfig, now: Instant) -> bool {
        self.stopped_at.is_none() && self.deadline(cfg).is_none_or(|d| now < d)
    }

    /// Count an error; the first one's text is kept.
    pub fn error(&mut self, what: impl FnOnce() -> String) {
        self.totals.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what());
        }
    }

    /// Stop measuring at `now` (a `--duration` run at its deadline if that came first).
    pub fn stop(&mut self, cfg: &LoadConfig, now: Instant) {
        self.stopped_at = Some(match self.deadline(cfg) {
            Some(d) if cfg.count.is_none() => d.min(now),
            _ => now,
        });
    }
}

impl Default for Meter {
    fn default() -> Self {
        Meter::new()
    }
}

/// A latency histogram: 1 µs to 100 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("valid histogram bounds")
}

/// Microseconds from `a` to `b` (at least 1).
pub fn micros_between(a: Instant, b: Instant) -> u64 {
    b.micros().saturating_sub(a.micros()).clamp(1, 100_000_000)
}
