//! Time as a value: the protocol core never reads a clock, the driver passes `now`.

use core::num::NonZeroU64;
use core::ops::{Add, AddAssign, Sub};
pub use core::time::Duration;

/// A point in time, in microseconds since an arbitrary epoch chosen by the driver.
///
/// Stored as microseconds + 1 in a `NonZeroU64`, so that `Option<Instant>` (every
/// timer deadline of a connection) takes 8 bytes instead of 16: the per-connection
/// state is kept small (see `tcp::pool`). The last representable instant is
/// `u64::MAX - 1` µs (about 584,000 years); later ones saturate there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(NonZeroU64);

impl Default for Instant {
    fn default() -> Self {
        Instant::ZERO
    }
}

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant(NonZeroU64::MIN);

    /// An instant `us` microseconds after the epoch.
    #[inline]
    pub const fn from_micros(us: u64) -> Instant {
        match NonZeroU64::new(us.saturating_add(1)) {
            Some(v) => Instant(v),
            None => Instant(NonZeroU64::MAX),
        }
    }
    /// An instant `ms` milliseconds after the epoch.
    #[inline]
    pub const fn from_millis(ms: u64) -> Instant {
        Instant::from_micros(ms.saturating_mul(1000))
    }
    /// Microseconds since the epoch.
    #[inline]
    pub const fn micros(self) -> u64 {
        self.0.get() - 1
    }
    /// Milliseconds since the epoch.
    #[inline]
    pub const fn millis(self) -> u64 {
        self.micros() / 1000
    }
    /// `self - earlier`, or zero if `earlier` is later.
    #[inline]
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.get().saturating_sub(earlier.0.get()))
    }
}

impl Instant {
    /// `us` microseconds later (saturating).
    #[inline]
    pub const fn add_micros(self, us: u64) -> Instant {
        Instant::from_micros(self.micros().saturating_add(us))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    #[inline]
    fn add(self, d: Duration) -> Instant {
        // In u64 (no u128 of `Duration::as_micros`): saturating past 584,000 years.
        let us = d.as_secs().saturating_mul(1_000_000).saturating_add(u64::from(d.subsec_micros()));
        self.add_micros(us)
    }
}

impl AddAssign<Duration> for Instant {
    #[inline]
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    #[inline]
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn niche_and_arithmetic() {
        assert_eq!(core::mem::size_of::<Option<Instant>>(), 8);
        assert_eq!(Instant::ZERO.micros(), 0);
        assert_eq!(Instant::default(), Instant::ZERO);
        let t = Instant::from_millis(5) + Duration::from_micros(7);
        assert_eq!(t.micros(), 5007);
        assert_eq!(t.millis(), 5);
        assert_eq!(t - Instant::from_millis(1), Duration::from_micros(4007));
        assert_eq!(Instant::from_millis(1) - t, Duration::ZERO);
        assert!(Instant::from_micros(u64::MAX) > t);
        assert_eq!((Instant::from_micros(u64::MAX - 5) + Duration::from_secs(1)).micros(), u64::MAX - 1);
    }
}
