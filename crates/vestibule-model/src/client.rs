//! A client: one browser or app installation, identified by an opaque token it holds.

use crate::clock::Timestamp;
use crate::ids::{ClientId, SessionId, SignInId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub id: ClientId,
    /// The sign-in in progress on this client, if any.
    pub sign_in_id: Option<SignInId>,
    pub last_active_session_id: Option<SessionId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Client {
    pub fn new(id: ClientId, now: Timestamp) -> Client {
        Client {
            id,
            sign_in_id: None,
            last_active_session_id: None,
            created_at: now,
            updated_at: now,
        }
    }
}
