//! TCP sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 section 3.4).
//!
//! Comparisons are only meaningful between numbers less than 2^31 apart, which the window rules
//! guarantee for everything the engine compares. Owns the arithmetic only; nothing here knows
//! about connections.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A TCP sequence (or acknowledgement) number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// The raw value.
    #[inline]
    pub const fn get(self) -> u32 {
        self.0
    }

    /// `self < other` modulo 2^32.
    #[inline]
    pub const fn lt(self, other: SeqNum) -> bool {
        (self.0.wrapping_sub(other.0) as i32) < 0
    }

    /// `self <= other` modulo 2^32.
    #[inline]
    pub const fn le(self, other: SeqNum) -> bool {
        (self.0.wrapping_sub(other.0) as i32) <= 0
    }

    /// `self > other` modulo 2^32.
    #[inline]
    pub const fn gt(self, other: SeqNum) -> bool {
        other.lt(self)
    }

    /// `self >= other` modulo 2^32.
    #[inline]
    pub const fn ge(self, other: SeqNum) -> bool {
        other.le(self)
    }

    /// `low <= self < high` modulo 2^32 (empty when `low == high`).
    #[inline]
    pub const fn in_window(self, low: SeqNum, high: SeqNum) -> bool {
        self.0.wrapping_sub(low.0) < high.0.wrapping_sub(low.0)
    }

    /// The larger of two numbers modulo 2^32.
    #[inline]
    pub const fn max(self, other: SeqNum) -> SeqNum {
        if self.lt(other) { other } else { self }
    }

    /// The smaller of two numbers modulo 2^32.
    #[inline]
    pub const fn min(self, other: SeqNum) -> SeqNum {
        if self.lt(other) { self } else { other }
    }

    /// Signed distance `self - other`.
    #[inline]
    pub const fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// Compares modulo 2^32.
    #[inline]
    pub fn cmp_seq(self, other: SeqNum) -> Ordering {
        self.diff(other).cmp(&0)
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

/// Unsigned distance `self - rhs` (the caller knows `rhs <= self`).
impl Sub<SeqNum> for SeqNum {
    type Output = u32;
    #[inline]
    fn sub(self, rhs: SeqNum) -> u32 {
        self.0.wrapping_sub(rhs.0)
    }
}

impl fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeqNum({})", self.0)
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

    #[test]
    fn wraps_around() {
        let a = SeqNum(u32::MAX - 1);
        let b = a + 5;
        assert_eq!(b, SeqNum(3));
        assert!(a.lt(b));
        assert!(b.gt(a));
        assert_eq!(b - a, 5);
        assert_eq!(a.diff(b), -5);
        assert!(SeqNum(0).in_window(a, b));
        assert!(!b.in_window(a, b));
        assert!(!a.in_window(a, a));
        assert_eq!(a.max(b), b);
    }
}
