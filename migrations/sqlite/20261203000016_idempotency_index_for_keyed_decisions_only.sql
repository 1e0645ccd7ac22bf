-- no-transaction
-- The idempotency rule, `(api_key_id, idempotency_key)` unique, was a table constraint, and its
-- index held an entry for every decision, those sent without a key too (NULLs are indexed, and
-- never clash). Each entry was one more b-tree insert on the one writer thread every decision
-- waits for, and its pages 6 % of the WAL a decision writes (bench/README.md, 2026-12-03). A
-- partial index enforces the same rule and holds keyed decisions only; the lookup by key
-- (`idempotency_key = ?`) still uses it. A table constraint cannot be dropped in SQLite, so the
-- table is rebuilt as in migration 15, rows and rowids kept, with its index and triggers.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
DROP TABLE IF EXISTS decisions_rebuilt;
CREATE TABLE decisions_rebuilt (
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
    decision        TEXT NOT NULL
                    CHECK (decision = 'approve' OR decision = 'review' OR decision = 'decline'),
    reasons         TEXT NOT NULL,
    latency_us      INTEGER NOT NULL CHECK (latency_us >= 0)
);
INSERT INTO decisions_rebuilt (rowid, id, application_id, created_at, api_key_id,
    idempotency_key, request_sha256, input, model_version, policy_version, policy_sha256,
    probability, score, decision, reasons, latency_us)
SELECT rowid, id, application_id, created_at, api_key_id, idempotency_key, request_sha256,
    input, model_version, policy_version, policy_sha256, probability, score, decision, reasons,
    latency_us
FROM decisions;
DROP TABLE decisions;
ALTER TABLE decisions_rebuilt RENAME TO decisions;
CREATE UNIQUE INDEX decisions_idempotency_key ON decisions (api_key_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX decisions_application_id ON decisions (application_id);
CREATE TRIGGER decisions_refuse_update BEFORE UPDATE ON decisions
BEGIN
    SELECT RAISE(ABORT, 'decisions are append-only: UPDATE refused');
END;
CREATE TRIGGER decisions_refuse_delete BEFORE DELETE ON decisions
BEGIN
    SELECT RAISE(ABORT, 'decisions are append-only: DELETE refused');
END;
COMMIT;
PRAGMA foreign_keys = ON;
