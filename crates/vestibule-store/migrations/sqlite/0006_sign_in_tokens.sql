-- Tickets the operator's backend issues for one account (POST /v1/sign_in_tokens). Only a
-- hash of the ticket is kept; it is accepted once, by one conditional statement.
CREATE TABLE sign_in_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    expire_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX sign_in_tokens_user ON sign_in_tokens (user_id);
