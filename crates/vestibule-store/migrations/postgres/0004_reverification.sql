-- Codes are sent for more than sign-ins now: for a session's reverification and to confirm a phone
-- number a user added. The column names whichever flow a code belongs to (by its id's prefix).
ALTER TABLE verifications RENAME COLUMN sign_in_id TO owner_id;
DROP INDEX verifications_sign_in;
CREATE INDEX verifications_owner ON verifications (owner_id, created_at);

-- A session proving a factor again before a sensitive change, stored as the domain value (JSON)
-- with a version, like sign-ins, so racing attempts cannot both apply.
CREATE TABLE session_verifications (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    state TEXT NOT NULL,
    expire_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX session_verifications_session ON session_verifications (session_id);
CREATE INDEX session_verifications_expire_at ON session_verifications (expire_at);
