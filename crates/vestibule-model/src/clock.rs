//! Time is injected so expiry, lockout and TOTP windows are tested by moving a clock, never by sleeping.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Milliseconds since the Unix epoch: the unit Clerk's wire format uses for every timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const fn millis(self) -> i64 {
        self.0
    }
    pub const fn seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }
    pub const fn plus_seconds(self, s: i64) -> Self {
        Timestamp(self.0.saturating_add(s.saturating_mul(1000)))
    }
    pub const fn plus_millis(self, ms: i64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }
    /// Whole seconds from `self` until `later` (0 if `later` is not after `self`), rounded up.
    pub fn seconds_until(self, later: Timestamp) -> i64 {
        let d = later.0 - self.0;
        if d <= 0 {
            0
        } else {
            (d + 999) / 1000
        }
    }
}

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock tests move by hand. Clones share the same time.
#[derive(Debug, Clone)]
pub struct TestClock(Arc<AtomicI64>);

impl TestClock {
    pub fn new(start: Timestamp) -> Self {
        TestClock(Arc::new(AtomicI64::new(start.0)))
    }
    /// Starts at the real current time, so tokens it stamps are acceptable to real verifiers.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now())
    }
    pub fn advance_seconds(&self, s: i64) {
        self.0.fetch_add(s * 1000, Ordering::SeqCst);
    }
    pub fn advance_millis(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_until_rounds_up_and_never_negative() {
        let t = Timestamp(10_000);
        assert_eq!(t.seconds_until(Timestamp(10_001)), 1);
        assert_eq!(t.seconds_until(Timestamp(13_000)), 3);
        assert_eq!(t.seconds_until(Timestamp(9_000)), 0);
    }

    #[test]
    fn test_clock_moves_only_when_told() {
        let c = TestClock::new(Timestamp(1_000));
        assert_eq!(c.now(), Timestamp(1_000));
        c.advance_seconds(5);
        assert_eq!(c.now(), Timestamp(6_000));
        let shared = c.clone();
        shared.advance_millis(1);
        assert_eq!(c.now(), Timestamp(6_001));
    }
}
