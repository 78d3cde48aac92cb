//! Sessions: what a completed sign-in creates, and when it may still mint tokens.

use crate::clock::Timestamp;
use crate::ids::{ClientId, SessionId, UserId};
use crate::settings::SessionSettings;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Active,
    Pending,
    Ended,
    Expired,
    Removed,
    Replaced,
    Revoked,
    Abandoned,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Active => "active",
            SessionStatus::Pending => "pending",
            SessionStatus::Ended => "ended",
            SessionStatus::Expired => "expired",
            SessionStatus::Removed => "removed",
            SessionStatus::Replaced => "replaced",
            SessionStatus::Revoked => "revoked",
            SessionStatus::Abandoned => "abandoned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => SessionStatus::Active,
            "pending" => SessionStatus::Pending,
            "ended" => SessionStatus::Ended,
            "expired" => SessionStatus::Expired,
            "removed" => SessionStatus::Removed,
            "replaced" => SessionStatus::Replaced,
            "revoked" => SessionStatus::Revoked,
            "abandoned" => SessionStatus::Abandoned,
            _ => return None,
        })
    }

    /// Only these count as signed in (clerk-js agrees).
    pub fn is_signed_in(self) -> bool {
        matches!(self, SessionStatus::Active | SessionStatus::Pending)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    pub client_id: ClientId,
    pub user_id: UserId,
    /// As stored. Time-based endings (expiry, inactivity) are applied by [`Session::status_at`].
    pub status: SessionStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_active_at: Timestamp,
    pub expire_at: Timestamp,
    pub first_factor_verified_at: Timestamp,
    pub second_factor_verified_at: Option<Timestamp>,
}

impl Session {
    pub fn new(
        id: SessionId,
        client_id: ClientId,
        user_id: UserId,
        now: Timestamp,
        settings: &SessionSettings,
        first_factor_verified_at: Timestamp,
        second_factor_verified_at: Option<Timestamp>,
    ) -> Session {
        Session {
            id,
            client_id,
            user_id,
            status: SessionStatus::Active,
            created_at: now,
            updated_at: now,
            last_active_at: now,
            expire_at: now.plus_seconds(settings.lifetime_seconds),
            first_factor_verified_at,
            second_factor_verified_at,
        }
    }

    /// When inactivity would end the session, or its expiry if there is no inactivity timeout.
    pub fn abandon_at(&self, settings: &SessionSettings) -> Timestamp {
        match settings.inactivity_timeout_seconds {
            Some(s) => self.last_active_at.plus_seconds(s).min(self.expire_at),
            None => self.expire_at,
        }
    }

    /// The status as of `now`: a signed-in session past its lifetime is expired, one idle past the
    /// inactivity timeout is abandoned.
    pub fn status_at(&self, now: Timestamp, settings: &SessionSettings) -> SessionStatus {
        if !self.status.is_signed_in() {
            return self.status;
        }
        if now >= self.expire_at {
            return SessionStatus::Expired;
        }
        if let Some(s) = settings.inactivity_timeout_seconds {
            if now >= self.last_active_at.plus_seconds(s) {
                return SessionStatus::Abandoned;
            }
        }
        self.status
    }

    pub fn is_signed_in_at(&self, now: Timestamp, settings: &SessionSettings) -> bool {
        self.status_at(now, settings).is_signed_in()
    }

    /// Clerk's `fva` claim: whole minutes since the first and second factor, -1 for a second factor
    /// never given in this session.
    pub fn factor_verification_age(&self, now: Timestamp) -> [i64; 2] {
        let minutes = |t: Timestamp| ((now.millis() - t.millis()).max(0)) / 60_000;
        [
            minutes(self.first_factor_verified_at),
            self.second_factor_verified_at.map(minutes).unwrap_or(-1),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(settings: &SessionSettings) -> Session {
        Session::new(
            SessionId::from_trusted("sess_1".into()),
            ClientId::from_trusted("client_1".into()),
            UserId::from_trusted("user_1".into()),
            Timestamp(1_000_000),
            settings,
            Timestamp(1_000_000),
            None,
        )
    }

    #[test]
    fn expires_after_lifetime() {
        let st = SessionSettings::default();
        let s = session(&st);
        let almost = Timestamp(1_000_000).plus_seconds(st.lifetime_seconds - 1);
        assert_eq!(s.status_at(almost, &st), SessionStatus::Active);
        let after = Timestamp(1_000_000).plus_seconds(st.lifetime_seconds);
        assert_eq!(s.status_at(after, &st), SessionStatus::Expired);
        assert!(!s.is_signed_in_at(after, &st));
    }

    #[test]
    fn inactivity_abandons_when_configured() {
        let st = SessionSettings {
            inactivity_timeout_seconds: Some(600),
            ..SessionSettings::default()
        };
        let s = session(&st);
        assert_eq!(
            s.status_at(Timestamp(1_000_000).plus_seconds(599), &st),
            SessionStatus::Active
        );
        assert_eq!(
            s.status_at(Timestamp(1_000_000).plus_seconds(600), &st),
            SessionStatus::Abandoned
        );
        assert_eq!(s.abandon_at(&st), Timestamp(1_000_000).plus_seconds(600));
    }

    #[test]
    fn ended_stays_ended() {
        let st = SessionSettings::default();
        let mut s = session(&st);
        s.status = SessionStatus::Ended;
        assert_eq!(s.status_at(Timestamp(1_000_001), &st), SessionStatus::Ended);
    }

    #[test]
    fn fva_in_minutes() {
        let st = SessionSettings::default();
        let s = session(&st);
        assert_eq!(
            s.factor_verification_age(Timestamp(1_000_000).plus_seconds(125)),
            [2, -1]
        );
    }
}
