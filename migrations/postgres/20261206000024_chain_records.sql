-- Tamper evidence. Each decision carries a link of a hash chain: `chain` names the writer's
-- chain, `chain_seq` is the decision's place in it (1, 2, ...) and `chain_hash` is SHA-256 over
-- the previous link's hash and this row's columns (see serve/src/audit_chain.rs). Decisions
-- stored before this migration carry none.
ALTER TABLE decisions ADD COLUMN chain TEXT;
ALTER TABLE decisions ADD COLUMN chain_seq BIGINT;
ALTER TABLE decisions ADD COLUMN chain_hash TEXT;
CREATE UNIQUE INDEX decisions_chain_link ON decisions (chain, chain_seq) WHERE chain IS NOT NULL;

-- One chain over every other record (reviews, outcomes, model events, the audit log, policies):
-- each row written names its source row and hashes it with the previous link.
CREATE TABLE ledger (
    seq        BIGINT PRIMARY KEY,
    source     TEXT NOT NULL,
    source_key TEXT NOT NULL,
    hash       TEXT NOT NULL CHECK (length(hash) = 64),
    UNIQUE (source, source_key)
);
CREATE TRIGGER ledger_refuse_change BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION riskloop_refuse_change();
CREATE TRIGGER ledger_refuse_truncate BEFORE TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION riskloop_refuse_change();
