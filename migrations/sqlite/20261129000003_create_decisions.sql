-- Every decision with everything needed to explain it later. Append-only (see the next migration).
CREATE TABLE decisions (
    id              TEXT PRIMARY KEY,
    application_id  TEXT,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    api_key_id      INTEGER NOT NULL REFERENCES api_keys (id),
    idempotency_key TEXT,
    request_sha256  TEXT NOT NULL,
    input           TEXT NOT NULL,
    model_version   TEXT NOT NULL REFERENCES models (version),
    policy_version  TEXT NOT NULL,
    policy_sha256   TEXT NOT NULL,
    probability     REAL NOT NULL CHECK (probability >= 0 AND probability <= 1),
    score           INTEGER NOT NULL,
    decision        TEXT NOT NULL CHECK (decision IN ('approve', 'review', 'decline')),
    reasons         TEXT NOT NULL,
    latency_us      INTEGER NOT NULL CHECK (latency_us >= 0),
    UNIQUE (api_key_id, idempotency_key)
);
CREATE INDEX decisions_created_at ON decisions (created_at);
CREATE INDEX decisions_application_id ON decisions (application_id);
