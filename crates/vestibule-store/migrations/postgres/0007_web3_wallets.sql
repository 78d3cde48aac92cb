-- Wallet addresses users sign in with by signature. Ethereum addresses are kept lowercase,
-- Solana addresses as they are, so the UNIQUE constraint compares them as sign-in does.
CREATE TABLE web3_wallets (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    web3_wallet TEXT NOT NULL UNIQUE,
    verified BIGINT NOT NULL,
    verification_strategy TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX web3_wallets_user ON web3_wallets (user_id);

ALTER TABLE users ADD COLUMN primary_web3_wallet_id TEXT;
