-- Tamper evidence. Each decision carries a link of a hash chain: `chain` names the writer's
-- chain, `chain_seq` is the decision's place in it (1, 2, ...) and `chain_hash` is SHA-256 over
-- the previous link's hash and this row's columns (see serve/src/audit_chain.rs). Decisions
-- stored before this migration carry none.
ALTER TABLE decisions ADD COLUMN chain TEXT;
ALTER TABLE decisions ADD COLUMN chain_seq INTEGER;
ALTER TABLE decisions ADD COLUMN chain_hash TEXT;
-- No index on (chain, chain_seq), unlike PostgreSQL: SQLite has one writer and one chain, whose
-- head is the chained row with the highest rowid, and an index entry per decision was the
-- largest part of the chain's cost on the writer's serial path.

-- One chain over every other record (reviews, outcomes, model events, the audit log, policies):
-- each row written names its source row and hashes it with the previous link.
CREATE TABLE ledger (
    seq        INTEGER PRIMARY KEY,
    source     TEXT NOT NULL,
    source_key TEXT NOT NULL,
    hash       TEXT NOT NULL CHECK (length(hash) = 64),
    UNIQUE (source, source_key)
);
CREATE TRIGGER ledger_refuse_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: UPDATE refused'); END;
CREATE TRIGGER ledger_refuse_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: DELETE refused'); END;
