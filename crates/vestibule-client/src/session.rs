//! Sessions: a signed-in user on this client, and the tokens that prove it to a backend.

use crate::clerk::{Clerk, GetTokenOptions};
use crate::error::ClerkError;
use crate::transport::{Call, Verb};
use serde_json::Value;
use std::fmt;
use vestibule_wire::{self as wire, PublicUserData, SessionTask, User};

/// The lifecycle state of a session. Only `Active` and `Pending` count as signed in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SessionStatus {
    Active,
    /// Signed in, with tasks left (e.g. choosing an organization).
    Pending,
    Ended,
    Expired,
    Removed,
    Replaced,
    Revoked,
    Abandoned,
    /// A status this SDK does not know yet, kept verbatim.
    Unknown(String),
}

impl SessionStatus {
    pub fn parse(status: &str) -> SessionStatus {
        match status {
            "active" => SessionStatus::Active,
            "pending" => SessionStatus::Pending,
            "ended" => SessionStatus::Ended,
            "expired" => SessionStatus::Expired,
            "removed" => SessionStatus::Removed,
            "replaced" => SessionStatus::Replaced,
            "revoked" => SessionStatus::Revoked,
            "abandoned" => SessionStatus::Abandoned,
            other => SessionStatus::Unknown(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            SessionStatus::Active => "active",
            SessionStatus::Pending => "pending",
            SessionStatus::Ended => "ended",
            SessionStatus::Expired => "expired",
            SessionStatus::Removed => "removed",
            SessionStatus::Replaced => "replaced",
            SessionStatus::Revoked => "revoked",
            SessionStatus::Abandoned => "abandoned",
            SessionStatus::Unknown(s) => s,
        }
    }

    pub fn is_signed_in(&self) -> bool {
        matches!(self, SessionStatus::Active | SessionStatus::Pending)
    }
}

impl fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A session as the server last described it.
#[derive(Clone)]
pub struct Session {
    pub id: String,
    pub status: SessionStatus,
    pub user: Option<User>,
    pub public_user_data: Option<PublicUserData>,
    /// The session token (JWT) the server sent along, if it is signed in.
    pub last_active_token: Option<String>,
    pub last_active_organization_id: Option<String>,
    /// Who is impersonating the user, if anyone.
    pub actor: Option<Value>,
    pub tasks: Vec<SessionTask>,
    /// Minutes since the first and second factor were verified (-1: never).
    pub factor_verification_age: Option<[i64; 2]>,
    /// Unix milliseconds.
    pub expire_at: i64,
    pub abandon_at: i64,
    pub last_active_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    clerk: Clerk,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a bearer credential: show that there is one, not what it is.
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("status", &self.status)
            .field("user", &self.user.as_ref().map(|u| &u.id))
            .field(
                "last_active_token",
                &self.last_active_token.as_ref().map(|_| "…"),
            )
            .field("expire_at", &self.expire_at)
            .field("last_active_at", &self.last_active_at)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn from_wire(s: wire::Session, clerk: Clerk) -> Session {
        Session {
            status: SessionStatus::parse(&s.status),
            id: s.id,
            user: s.user,
            public_user_data: s.public_user_data,
            last_active_token: s.last_active_token.map(|t| t.jwt),
            last_active_organization_id: s.last_active_organization_id,
            actor: s.actor,
            tasks: s.tasks.unwrap_or_default(),
            factor_verification_age: s.factor_verification_age,
            expire_at: s.expire_at,
            abandon_at: s.abandon_at,
            last_active_at: s.last_active_at,
            created_at: s.created_at,
            updated_at: s.updated_at,
            clerk,
        }
    }

    /// A session token for this session: the cached one while it has more than a few seconds
    /// left, else a fresh one (`POST /v1/client/sessions/{id}/tokens`).
    pub async fn get_token(&self) -> Result<String, ClerkError> {
        self.clerk
            .token_for(&self.id, &GetTokenOptions::default())
            .await
    }

    /// As [`Session::get_token`], bypassing the cache or naming a JWT template.
    pub async fn get_token_with(&self, options: &GetTokenOptions) -> Result<String, ClerkError> {
        self.clerk.token_for(&self.id, options).await
    }

    /// Signs this session out (`POST …/end`); the other sessions of the client stay.
    pub async fn end(&self) -> Result<Session, ClerkError> {
        self.finish("end").await
    }

    /// Removes this session from the client (`POST …/remove`), as multi-session sign-out does.
    pub async fn remove(&self) -> Result<Session, ClerkError> {
        self.finish("remove").await
    }

    async fn finish(&self, action: &'static str) -> Result<Session, ClerkError> {
        let path = ["client", "sessions", self.id.as_str(), action];
        let session: wire::Session = self.clerk.resource(Call::new(Verb::Post, &path)).await?;
        Ok(Session::from_wire(session, self.clerk.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_and_pending_are_signed_in() {
        for (s, signed_in) in [
            ("active", true),
            ("pending", true),
            ("ended", false),
            ("expired", false),
            ("removed", false),
            ("replaced", false),
            ("revoked", false),
            ("abandoned", false),
            ("frozen", false),
        ] {
            let status = SessionStatus::parse(s);
            assert_eq!(status.is_signed_in(), signed_in, "{s}");
            assert_eq!(status.as_str(), s);
        }
    }
}
