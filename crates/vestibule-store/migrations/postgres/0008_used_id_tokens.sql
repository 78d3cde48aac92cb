-- ID tokens from identity providers (Google One Tap) that signed someone in: each is accepted
-- once, by one conditional insert, and forgotten once it has expired.
CREATE TABLE used_id_tokens (
    token_hash TEXT PRIMARY KEY,
    expire_at BIGINT NOT NULL
);
CREATE INDEX used_id_tokens_expire_at ON used_id_tokens (expire_at);
