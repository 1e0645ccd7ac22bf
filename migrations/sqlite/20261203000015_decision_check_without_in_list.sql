-- no-transaction
-- SQLite evaluates a CHECK of the form `x IN ('a', 'b', 'c')` by building a temporary b-tree of
-- the list for every row it checks: opening it, filling and dropping it cost about as much as
-- the rest of the insert (31,000 instructions a row against 40,000, callgrind, bench/README.md
-- 2026-12-03), on the one writer thread every decision waits for. The same rule written with
-- `=` and `OR` is compared in place. A CHECK cannot be altered in SQLite, so the table is
-- rebuilt, rows and rowids kept, with its index and triggers as before. Foreign keys are off
-- while the parent table is swapped (reviews and outcomes point at decisions by id, and no id
-- changes), which SQLite allows only outside a transaction, hence `no-transaction` above.
-- Cost: 2.6 s for 123,300 decisions (268 MB) on the 2-core bench machine. The old table's pages
-- stay in the file as free pages, which the next decisions reuse; `VACUUM` returns them.
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
    latency_us      INTEGER NOT NULL CHECK (latency_us >= 0),
    UNIQUE (api_key_id, idempotency_key)
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
