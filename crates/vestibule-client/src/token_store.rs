//! Where the client token lives between requests (and, if the app wants, between runs).

use std::sync::{Mutex, PoisonError};

/// Keeps the client token: the credential that identifies this device's Client to the Frontend
/// API, sent in the `Authorization` header. The server replaces it on every sign-in, and the SDK
/// calls [`TokenStore::set`] whenever it changes, so a persistent store keeps the user signed in
/// across restarts. Treat it like a password: store it in the platform's secret storage.
///
/// Calls are synchronous and made outside any lock of the SDK; implementations that write to
/// disk should be quick, and must handle their own failures (the SDK cannot act on them).
pub trait TokenStore: Send + Sync {
    /// The stored token, if any.
    fn get(&self) -> Option<String>;
    /// Replaces the stored token; `None` forgets it (the server ended the client).
    fn set(&self, token: Option<String>);
}

/// The default store: the token lives as long as the process.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    token: Mutex<Option<String>>,
}

impl MemoryTokenStore {
    pub fn new() -> MemoryTokenStore {
        MemoryTokenStore::default()
    }

    /// A store that starts with a token saved earlier.
    pub fn with_token(token: impl Into<String>) -> MemoryTokenStore {
        MemoryTokenStore {
            token: Mutex::new(Some(token.into())),
        }
    }
}

impl TokenStore for MemoryTokenStore {
    fn get(&self) -> Option<String> {
        self.token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, token: Option<String>) {
        *self.token.lock().unwrap_or_else(PoisonError::into_inner) = token;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_keeps_and_forgets() {
        let s = MemoryTokenStore::new();
        assert_eq!(s.get(), None);
        s.set(Some("a".into()));
        assert_eq!(s.get().as_deref(), Some("a"));
        s.set(None);
        assert_eq!(s.get(), None);
        assert_eq!(
            MemoryTokenStore::with_token("b").get().as_deref(),
            Some("b")
        );
    }
}
