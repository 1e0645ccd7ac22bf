-- Analyst UI sessions: an analyst or admin API key exchanged for a cookie. Only the token's
-- SHA-256 is stored; signing out deletes the row; a revoked key ends its sessions at once (the
-- lookup joins api_keys). expires_at is seconds since the Unix epoch, compared as a number.
CREATE TABLE ui_sessions (
    token_hash TEXT PRIMARY KEY,
    api_key_id BIGINT NOT NULL REFERENCES api_keys (id),
    csrf       TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX ui_sessions_expires_at ON ui_sessions (expires_at);
