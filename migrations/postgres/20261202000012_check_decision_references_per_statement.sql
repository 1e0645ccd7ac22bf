-- A decision's API key and model are checked once per insert statement. The foreign keys did it
-- per row with a FOR KEY SHARE lock on the key's and the model's row, which every concurrent batch
-- shares: 30 µs a row, the largest single cost of a decision insert. The keys and models cannot
-- disappear (previous migration), so an existence check at insert time guarantees as much.
ALTER TABLE decisions DROP CONSTRAINT decisions_api_key_id_fkey;
ALTER TABLE decisions DROP CONSTRAINT decisions_model_version_fkey;
CREATE FUNCTION riskloop_check_decision_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing TEXT;
BEGIN
    SELECT 'API key ' || n.api_key_id INTO missing
        FROM (SELECT DISTINCT api_key_id FROM new_decisions) n
        WHERE NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.id = n.api_key_id) LIMIT 1;
    IF missing IS NULL THEN
        SELECT 'model ' || n.model_version INTO missing
            FROM (SELECT DISTINCT model_version FROM new_decisions) n
            WHERE NOT EXISTS (SELECT 1 FROM models m WHERE m.version = n.model_version) LIMIT 1;
    END IF;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'a decision references % that does not exist', missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER decisions_check_references AFTER INSERT ON decisions
    REFERENCING NEW TABLE AS new_decisions
    FOR EACH STATEMENT EXECUTE FUNCTION riskloop_check_decision_references();
