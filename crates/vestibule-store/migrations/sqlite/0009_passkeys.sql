-- Passkeys (WebAuthn credentials). A row exists from the registration's start: while unverified
-- it holds the ceremony (server state and the options handed out); once verified, the
-- credential's id (base64url, unique across accounts, as WebAuthn asks), public key and
-- signature-counter state, each as the relying-party crate encodes it.
CREATE TABLE passkeys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    verified INTEGER NOT NULL,
    credential_id TEXT UNIQUE,
    public_key TEXT,
    dynamic_state TEXT,
    ceremony TEXT,
    nonce TEXT,
    ceremony_expire_at INTEGER,
    last_used_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- A passkey step's challenge: the ceremony's server state, kept with the verification that
-- makes it single use.
ALTER TABLE verifications ADD COLUMN ceremony TEXT;
