-- The idempotency rule, `(api_key_id, idempotency_key)` unique, was a table constraint whose
-- index held an entry for every decision, those sent without a key too (NULLs are indexed, and
-- never clash): one more index insert per decision for nothing. A partial index enforces the
-- same rule over keyed decisions only; the lookup by key (`idempotency_key = $2`) still uses it.
-- The same change as SQLite's migration 16 (which has to rebuild its table for it).
CREATE UNIQUE INDEX decisions_idempotency_key ON decisions (api_key_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
ALTER TABLE decisions DROP CONSTRAINT decisions_api_key_id_idempotency_key_key;
