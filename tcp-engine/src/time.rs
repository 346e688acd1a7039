//! Deterministic engine time: an [`Instant`] and a [`Duration`] counted in microseconds, and
//! (std) a [`StdClock`] reading the operating system's monotonic clock for real poll loops.
//!
//! The engine never reads a clock. Every call that depends on time is handed the current
//! [`Instant`] by the caller, so a poll loop uses a monotonic OS clock and every test runs on a
//! simulated one. Microseconds are fine enough for data-center round-trip times (tens of
//! microseconds) and a `u64` of them lasts 584,000 years. Owns the arithmetic only; it must not
//! know about connections or devices.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A point in engine time, in microseconds since an arbitrary epoch chosen by the caller.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    micros: u64,
}

/// A span of engine time in microseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    micros: u64,
}

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant { micros: 0 };
    /// The latest representable instant (used as "never").
    pub const MAX: Instant = Instant { micros: u64::MAX };

    /// The instant `micros` microseconds after the epoch.
    #[inline]
    pub const fn from_micros(micros: u64) -> Instant {
        Instant { micros }
    }

    /// The instant `millis` milliseconds after the epoch (saturating).
    #[inline]
    pub const fn from_millis(millis: u64) -> Instant {
        Instant {
            micros: millis.saturating_mul(1_000),
        }
    }

    /// The instant `secs` seconds after the epoch (saturating).
    #[inline]
    pub const fn from_secs(secs: u64) -> Instant {
        Instant {
            micros: secs.saturating_mul(1_000_000),
        }
    }

    /// Microseconds since the epoch.
    #[inline]
    pub const fn micros(self) -> u64 {
        self.micros
    }

    /// Time elapsed from `earlier` to `self`, zero when `earlier` is later.
    #[inline]
    pub const fn saturating_since(self, earlier: Instant) -> Duration {
        Duration {
            micros: self.micros.saturating_sub(earlier.micros),
        }
    }
}

impl Duration {
    /// Zero.
    pub const ZERO: Duration = Duration { micros: 0 };
    /// The longest representable duration.
    pub const MAX: Duration = Duration { micros: u64::MAX };

    /// `micros` microseconds.
    #[inline]
    pub const fn from_micros(micros: u64) -> Duration {
        Duration { micros }
    }

    /// `millis` milliseconds (saturating).
    #[inline]
    pub const fn from_millis(millis: u64) -> Duration {
        Duration {
            micros: millis.saturating_mul(1_000),
        }
    }

    /// `secs` seconds (saturating).
    #[inline]
    pub const fn from_secs(secs: u64) -> Duration {
        Duration {
            micros: secs.saturating_mul(1_000_000),
        }
    }

    /// Whole microseconds.
    #[inline]
    pub const fn micros(self) -> u64 {
        self.micros
    }

    /// Whole milliseconds.
    #[inline]
    pub const fn millis(self) -> u64 {
        self.micros / 1_000
    }

    /// Doubles `shift` times, saturating at [`Duration::MAX`].
    #[inline]
    pub const fn saturating_shl(self, shift: u32) -> Duration {
        if shift >= 64 || self.micros > (u64::MAX >> shift) {
            Duration::MAX
        } else {
            Duration {
                micros: self.micros << shift,
            }
        }
    }
}

impl From<core::time::Duration> for Duration {
    fn from(d: core::time::Duration) -> Duration {
        Duration {
            micros: u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
        }
    }
}

impl From<Duration> for core::time::Duration {
    fn from(d: Duration) -> core::time::Duration {
        core::time::Duration::from_micros(d.micros)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at [`Instant::MAX`].
    #[inline]
    fn add(self, rhs: Duration) -> Instant {
        Instant {
            micros: self.micros.saturating_add(rhs.micros),
        }
    }
}

impl AddAssign<Duration> for Instant {
    #[inline]
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturates at zero.
    #[inline]
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_since(rhs)
    }
}

impl Add for Duration {
    type Output = Duration;
    /// Saturates at [`Duration::MAX`].
    #[inline]
    fn add(self, rhs: Duration) -> Duration {
        Duration {
            micros: self.micros.saturating_add(rhs.micros),
        }
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:06}s",
            self.micros / 1_000_000,
            self.micros % 1_000_000
        )
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}us", self.micros)
    }
}

/// The engine's clock from the operating system's monotonic clock (std only): microseconds
/// since the clock was made. A poll loop over a real device reads it before each call.
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug)]
pub struct StdClock {
    start: std::time::Instant,
}

#[cfg(feature = "std")]
impl StdClock {
    /// A clock starting now.
    pub fn new() -> StdClock {
        StdClock {
            start: std::time::Instant::now(),
        }
    }

    /// Now, as engine time.
    pub fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    /// How long until `deadline` (zero when it passed), for sleeping or `poll(2)` timeouts.
    pub fn until(&self, deadline: Instant) -> core::time::Duration {
        (deadline - self.now()).into()
    }
}

#[cfg(feature = "std")]
impl Default for StdClock {
    fn default() -> Self {
        StdClock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_clock_runs_forward() {
        let c = StdClock::new();
        let a = c.now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = c.now();
        assert!(b - a >= Duration::from_millis(2));
        assert_eq!(
            c.until(a),
            core::time::Duration::ZERO,
            "a past deadline is due now"
        );
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_millis(5);
        assert_eq!(t.micros(), 5_000);
        assert_eq!((t + Duration::from_micros(7)).micros(), 5_007);
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(Instant::ZERO - t, Duration::ZERO);
        assert_eq!(t - Instant::ZERO, Duration::from_millis(5));
        assert_eq!(
            Duration::from_secs(1).saturating_shl(2),
            Duration::from_secs(4)
        );
        assert_eq!(Duration::from_secs(1).saturating_shl(70), Duration::MAX);
        let core_d: core::time::Duration = Duration::from_millis(3).into();
        assert_eq!(Duration::from(core_d), Duration::from_millis(3));
    }
}
