//! Account lockout after repeated failed verifications.
//!
//! ```text
//!            failure (count < max)            failure (count reaches max)
//!  unlocked ───────────────────────▶ unlocked ───────────────────────────▶ locked until T
//!     ▲  ▲                                                                     │
//!     │  └────────── any success resets the count ◀──── (refused, even the    │
//!     │                                                   right password)      │
//!     └──────────────── T passes: the next failure starts a new count ◀───────┘
//!                       an operator's unlock clears it at once
//! ```
//! Every kind of verification counts: passwords, one-time codes, and later TOTP and backup codes,
//! as Clerk counts them. The count lives on the user and is changed by one conditional statement,
//! so parallel failures are each counted exactly once.

use crate::clock::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutSettings {
    pub enabled: bool,
    /// Consecutive failures that lock the account (Clerk: 10 by default, at least 5; NIST: ≤ 100).
    pub max_attempts: u32,
    /// How long the lock lasts; `None` locks until an operator unlocks.
    pub duration_seconds: Option<i64>,
}

impl Default for LockoutSettings {
    fn default() -> Self {
        LockoutSettings {
            enabled: true,
            max_attempts: 10,
            duration_seconds: Some(3600),
        }
    }
}

impl LockoutSettings {
    pub fn validate(&self) -> Result<(), String> {
        if !(5..=100).contains(&self.max_attempts) {
            return Err("lockout.max_attempts must be between 5 and 100".into());
        }
        if matches!(self.duration_seconds, Some(s) if s < 60) {
            return Err(
                "lockout.duration_seconds must be at least 60 (or absent for an indefinite lock)"
                    .into(),
            );
        }
        Ok(())
    }

    /// When a lock that starts `now` ends.
    pub fn lock_until(&self, now: Timestamp) -> Timestamp {
        match self.duration_seconds {
            Some(s) => now.plus_seconds(s),
            None => Timestamp(i64::MAX),
        }
    }

    /// The threshold the store compares against; effectively never when disabled.
    pub fn threshold(&self) -> u32 {
        if self.enabled {
            self.max_attempts
        } else {
            u32::MAX
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_clerk() {
        let l = LockoutSettings::default();
        assert_eq!((l.max_attempts, l.duration_seconds), (10, Some(3600)));
        assert_eq!(l.lock_until(Timestamp(0)), Timestamp(3_600_000));
        assert!(l.validate().is_ok());
    }

    #[test]
    fn bounds_and_indefinite_locks() {
        let mut l = LockoutSettings {
            max_attempts: 4,
            ..LockoutSettings::default()
        };
        assert!(l.validate().is_err());
        l.max_attempts = 101;
        assert!(l.validate().is_err());
        l.max_attempts = 5;
        l.duration_seconds = None;
        assert!(l.validate().is_ok());
        assert_eq!(l.lock_until(Timestamp(5)), Timestamp(i64::MAX));
        l.enabled = false;
        assert_eq!(l.threshold(), u32::MAX);
    }
}
