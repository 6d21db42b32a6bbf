-- One-time tokens for mail-driven flows (O1-O9): only the SHA-256 is kept.
CREATE TABLE one_time_tokens (
    id         TEXT PRIMARY KEY,
    type       TEXT NOT NULL CHECK (type IN ('email_verification','password_reset','magic_link','invitation','reauthentication')),
    token_hash TEXT NOT NULL UNIQUE,
    user_id    TEXT REFERENCES users(id) ON DELETE CASCADE,
    email      TEXT NOT NULL DEFAULT '',
    metadata   TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX one_time_tokens_user ON one_time_tokens(user_id, type);
CREATE INDEX one_time_tokens_expiry ON one_time_tokens(expires_at);
