-- An authenticator app (TOTP). The secret is sealed; `last_used_step` makes every code, and every
-- older one, usable once.
CREATE TABLE totp_factors (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    id TEXT NOT NULL UNIQUE,
    secret BLOB NOT NULL,
    verified INTEGER NOT NULL,
    last_used_step INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Backup codes: only their hashes, each usable once. One salt per account.
CREATE TABLE backup_code_sets (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    id TEXT NOT NULL UNIQUE,
    salt TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE backup_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at INTEGER,
    PRIMARY KEY (user_id, code_hash)
);

-- Clients that completed a sign-in for a user: no client-trust step for them again.
CREATE TABLE trusted_clients (
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, user_id)
);
