//! Typed identifiers in Clerk's format: a resource prefix, an underscore, 27 base62 characters.

use crate::rng::{base62, Rng};
use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate(rng: &dyn Rng) -> Self {
                $name(format!("{}_{}", $prefix, base62(rng, 27)))
            }

            /// Accepts only well-formed ids, so untrusted input never reaches a query in odd shapes.
            pub fn parse(s: &str) -> Option<Self> {
                let rest = s.strip_prefix($prefix)?.strip_prefix('_')?;
                let ok = !rest.is_empty()
                    && rest.len() <= 64
                    && rest.bytes().all(|b| b.is_ascii_alphanumeric());
                ok.then(|| $name(s.to_owned()))
            }

            /// Wraps a value read back from the store, which only ever holds ids we generated.
            pub fn from_trusted(s: String) -> Self {
                $name(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(UserId, "user");
id_type!(SessionId, "sess");
id_type!(ClientId, "client");
id_type!(
    /// A sign-in attempt.
    SignInId,
    "sia"
);
id_type!(
    /// An email address or phone number belonging to a user ("identification").
    IdentificationId,
    "idn"
);
id_type!(
    /// A one-time code or email link sent for one sign-in step.
    VerificationId,
    "ver"
);
id_type!(
    /// A session's reverification: the user proving a factor again for a sensitive change.
    SessionVerificationId,
    "sv"
);
id_type!(
    /// A sign-in token: a ticket the operator's backend issued for one account.
    SignInTokenId,
    "sit"
);
id_type!(
    /// The `kid` of a session-token signing key.
    KeyId,
    "ins"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeqRng;

    #[test]
    fn generated_ids_parse_back() {
        let id = UserId::generate(&SeqRng::new(1));
        assert!(id.as_str().starts_with("user_"));
        assert_eq!(id.as_str().len(), 5 + 27);
        assert_eq!(UserId::parse(id.as_str()), Some(id));
    }

    #[test]
    fn parse_rejects_wrong_prefix_and_shape() {
        assert_eq!(UserId::parse("sess_abc"), None);
        assert_eq!(UserId::parse("user_"), None);
        assert_eq!(UserId::parse("user_abc'--"), None);
        assert_eq!(UserId::parse("userabc"), None);
        assert_eq!(UserId::parse(&format!("user_{}", "a".repeat(65))), None);
        assert!(SessionId::parse("sess_2abcDEF").is_some());
    }
}
