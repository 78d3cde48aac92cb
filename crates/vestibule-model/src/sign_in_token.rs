//! Sign-in tokens: tickets the operator's backend issues for one account through the Backend API
//! (`POST /v1/sign_in_tokens`), each signing that account in once, through
//! `SignIn.create({strategy: 'ticket', ticket})`. The ticket itself is a random bearer secret the
//! store keeps only as a hash; what is decided about it is decided here.

use crate::{Error, SignInTokenId, TicketRefusal, Timestamp, UserId};

/// Clerk's default lifetime, also the longest this server issues: 30 days.
pub const MAX_LIFETIME_SECONDS: i64 = 30 * 24 * 60 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInTokenStatus {
    /// Issued and not yet used.
    Pending,
    /// Used by a sign-in.
    Accepted,
    /// Revoked by the operator before it was used.
    Revoked,
}

impl SignInTokenStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInTokenStatus::Pending => "pending",
            SignInTokenStatus::Accepted => "accepted",
            SignInTokenStatus::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<SignInTokenStatus> {
        [
            SignInTokenStatus::Pending,
            SignInTokenStatus::Accepted,
            SignInTokenStatus::Revoked,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInToken {
    pub id: SignInTokenId,
    pub user_id: UserId,
    pub status: SignInTokenStatus,
    pub expire_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl SignInToken {
    /// A new pending token for `user_id`, living `expires_in_seconds` (default and most: 30 days).
    pub fn issue(
        id: SignInTokenId,
        user_id: UserId,
        expires_in_seconds: Option<i64>,
        now: Timestamp,
    ) -> Result<SignInToken, Error> {
        let lifetime = expires_in_seconds.unwrap_or(MAX_LIFETIME_SECONDS);
        if !(1..=MAX_LIFETIME_SECONDS).contains(&lifetime) {
            return Err(Error::param_value_invalid(
                "expires_in_seconds",
                format!("must be between 1 and {MAX_LIFETIME_SECONDS}"),
            ));
        }
        Ok(SignInToken {
            id,
            user_id,
            status: SignInTokenStatus::Pending,
            expire_at: now.plus_seconds(lifetime),
            created_at: now,
            updated_at: now,
        })
    }

    /// Whether it can sign its account in now; Clerk's refusal when not.
    pub fn check_usable(&self, now: Timestamp) -> Result<(), Error> {
        let refusal = match self.status {
            SignInTokenStatus::Revoked => TicketRefusal::Revoked,
            SignInTokenStatus::Accepted => TicketRefusal::AlreadyUsed,
            SignInTokenStatus::Pending if now >= self.expire_at => TicketRefusal::Expired,
            SignInTokenStatus::Pending => return Ok(()),
        };
        Err(Error::TicketRefused(refusal))
    }

    /// The operator revokes it; only a pending token can be.
    pub fn revoke(&mut self, now: Timestamp) -> Result<(), Error> {
        if self.status != SignInTokenStatus::Pending {
            return Err(Error::client_state(format!(
                "the sign-in token is {}, not pending",
                self.status.as_str()
            )));
        }
        self.status = SignInTokenStatus::Revoked;
        self.updated_at = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(now: Timestamp) -> SignInToken {
        SignInToken::issue(
            SignInTokenId::from_trusted("sit_1".into()),
            UserId::from_trusted("user_1".into()),
            Some(60),
            now,
        )
        .expect("issued")
    }

    #[test]
    fn a_token_is_usable_until_it_expires_is_used_or_is_revoked() {
        let now = Timestamp(1_000_000);
        let mut t = token(now);
        assert_eq!(t.check_usable(now), Ok(()));
        assert_eq!(
            t.check_usable(now.plus_seconds(60)),
            Err(Error::TicketRefused(TicketRefusal::Expired))
        );
        t.status = SignInTokenStatus::Accepted;
        assert_eq!(
            t.check_usable(now),
            Err(Error::TicketRefused(TicketRefusal::AlreadyUsed))
        );
        assert!(t.revoke(now).is_err(), "a used token cannot be revoked");
        let mut t = token(now);
        t.revoke(now).expect("pending tokens can be revoked");
        assert_eq!(
            t.check_usable(now),
            Err(Error::TicketRefused(TicketRefusal::Revoked))
        );
    }

    #[test]
    fn lifetimes_are_bounded() {
        let now = Timestamp(0);
        let id = || SignInTokenId::from_trusted("sit_1".into());
        let user = || UserId::from_trusted("user_1".into());
        let default = SignInToken::issue(id(), user(), None, now).expect("default");
        assert_eq!(default.expire_at, now.plus_seconds(MAX_LIFETIME_SECONDS));
        for bad in [0, -5, MAX_LIFETIME_SECONDS + 1] {
            assert!(SignInToken::issue(id(), user(), Some(bad), now).is_err());
        }
    }
}
