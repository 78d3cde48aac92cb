-- One-time codes and email links, each bound to one sign-in step.
CREATE TABLE verifications (
    id TEXT PRIMARY KEY,
    sign_in_id TEXT NOT NULL,
    user_id TEXT,
    slot TEXT NOT NULL,
    strategy TEXT NOT NULL,
    identification_id TEXT,
    code_hash TEXT,
    link_token_hash TEXT UNIQUE,
    redirect_url TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    status TEXT NOT NULL,
    expire_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    verified_at BIGINT,
    verified_by_client_id TEXT
);
CREATE INDEX verifications_sign_in ON verifications (sign_in_id);
CREATE INDEX verifications_expire_at ON verifications (expire_at);

-- Messages to send, written in the transaction that needs them and delivered after commit.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    purpose TEXT NOT NULL,
    payload BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT,
    delivered_at BIGINT,
    failed_at BIGINT,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (delivered_at, next_attempt_at);
CREATE INDEX outbox_recipient ON outbox (recipient, created_at);

-- Fixed-window counters for rate limits.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL
);
