CREATE TABLE instance (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    external_id TEXT UNIQUE,
    username TEXT UNIQUE,
    first_name TEXT,
    last_name TEXT,
    primary_email_address_id TEXT,
    primary_phone_number_id TEXT,
    password_hasher TEXT,
    password_digest TEXT,
    public_metadata TEXT NOT NULL DEFAULT '{}',
    private_metadata TEXT NOT NULL DEFAULT '{}',
    unsafe_metadata TEXT NOT NULL DEFAULT '{}',
    banned BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    failed_verification_attempts BIGINT NOT NULL DEFAULT 0,
    last_sign_in_at BIGINT,
    last_active_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX users_created_at ON users (created_at);

CREATE TABLE email_addresses (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email_address TEXT NOT NULL UNIQUE,
    verified BIGINT NOT NULL,
    verification_strategy TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX email_addresses_user ON email_addresses (user_id);

CREATE TABLE phone_numbers (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    phone_number TEXT NOT NULL UNIQUE,
    verified BIGINT NOT NULL,
    verification_strategy TEXT,
    reserved_for_second_factor BIGINT NOT NULL DEFAULT 0,
    default_second_factor BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX phone_numbers_user ON phone_numbers (user_id);

CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    sign_in_id TEXT,
    last_active_session_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE dev_browsers (
    token_hash TEXT PRIMARY KEY,
    client_id TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE sign_ins (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT,
    version BIGINT NOT NULL,
    state TEXT NOT NULL,
    abandon_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX sign_ins_client ON sign_ins (client_id);
CREATE INDEX sign_ins_abandon_at ON sign_ins (abandon_at);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_active_at BIGINT NOT NULL,
    expire_at BIGINT NOT NULL,
    first_factor_verified_at BIGINT NOT NULL,
    second_factor_verified_at BIGINT
);
CREATE INDEX sessions_client ON sessions (client_id);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    private_key BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
