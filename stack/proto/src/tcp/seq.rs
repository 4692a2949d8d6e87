//! Sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 §3.4).
//!
//! `a < b` means "`a` comes before `b`" when the two are less than 2^31 apart, which
//! holds for every pair TCP compares (windows are at most 2^30, RFC 7323 §2.3).

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A TCP sequence number with wrapping arithmetic and comparisons (RFC 9293 §3.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// The raw value.
    #[inline]
    pub const fn get(self) -> u32 {
        self.0
    }
    /// Signed distance `self - other` (positive when `self` is after `other`).
    #[inline]
    pub const fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
    /// `self - earlier` as an unsigned count; 0 when `self` is not after `earlier`.
    #[inline]
    pub fn since(self, earlier: SeqNum) -> u32 {
        let d = self.diff(earlier);
        if d > 0 {
            d as u32
        } else {
            0
        }
    }
    /// The later of two sequence numbers.
    #[inline]
    pub fn max(self, other: SeqNum) -> SeqNum {
        if self.diff(other) >= 0 {
            self
        } else {
            other
        }
    }
    /// The earlier of two sequence numbers.
    #[inline]
    pub fn min(self, other: SeqNum) -> SeqNum {
        if self.diff(other) <= 0 {
            self
        } else {
            other
        }
    }
    /// `lo <= self < hi` in sequence space (RFC 9293 §3.4).
    #[inline]
    pub fn in_range(self, lo: SeqNum, hi: SeqNum) -> bool {
        lo <= self && self < hi
    }
}

impl PartialOrd for SeqNum {
    #[inline]
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Ordering modulo 2^32: `a < b` iff `(b - a) mod 2^32` is in `1..2^31`. Not a total
/// order over all of `u32` (it is not transitive across more than 2^31), but it is over
/// any window smaller than 2^31, which is all TCP ever compares.
impl Ord for SeqNum {
    #[inline]
    fn cmp(&self, other: &SeqNum) -> Ordering {
        self.diff(*other).cmp(&0)
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    #[inline]
    fn add(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs))
    }
}

impl AddAssign<u32> for SeqNum {
    #[inline]
    fn add_assign(&mut self, rhs: u32) {
        self.0 = self.0.wrapping_add(rhs);
    }
}

impl Sub<u32> for SeqNum {
    type Output = SeqNum;
    #[inline]
    fn sub(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(rhs))
    }
}

impl fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Seq({})", self.0)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wraps() {
        let a = SeqNum(u32::MAX - 1);
        let b = a + 5;
        assert_eq!(b.0, 3);
        assert!(a < b);
        assert!(b > a);
        assert_eq!(b.diff(a), 5);
        assert_eq!(b.since(a), 5);
        assert_eq!(a.since(b), 0);
        assert!(SeqNum(u32::MAX).in_range(a, b));
        assert!(!b.in_range(a, b));
        assert_eq!(a.max(b), b);
        assert_eq!(a.min(b), a);
        assert_eq!(b - 5, a);
    }

    proptest! {
        #[test]
        fn add_is_after(x in any::<u32>(), d in 1u32..(1 << 31)) {
            let a = SeqNum(x);
            let b = a + d;
            prop_assert!(a < b);
            prop_assert!(b > a);
            prop_assert_eq!(b.since(a), d);
            prop_assert_eq!(a.since(b), 0);
            prop_assert_eq!(b - d, a);
            prop_assert_eq!(a.max(b), b);
            prop_assert_eq!(b.min(a), a);
        }

        #[test]
        fn range_across_wrap(x in any::<u32>(), w in 1u32..(1 << 30), k in 0u32..(1 << 30)) {
            let lo = SeqNum(x);
            let hi = lo + w;
            let p = lo + (k % w);
            prop_assert!(p.in_range(lo, hi));
            prop_assert!(!hi.in_range(lo, hi));
            prop_assert!(!(lo - 1).in_range(lo, hi));
        }

        #[test]
        fn antisymmetric(x in any::<u32>(), y in any::<u32>()) {
            let (a, b) = (SeqNum(x), SeqNum(y));
            if x.wrapping_sub(y) != 1 << 31 {
                prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
            }
            prop_assert_eq!(a == b, a.cmp(&b) == Ordering::Equal);
        }
    }
}
