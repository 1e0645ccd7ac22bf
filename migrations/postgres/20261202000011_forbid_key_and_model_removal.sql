-- API keys and models are what decisions point at: a key is revoked and a model retired, never
-- removed or renumbered. With that guaranteed, a decision's references can be checked once per
-- insert statement (next migration) instead of by a locking foreign-key check per row.
CREATE FUNCTION riskloop_refuse_removal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% are referenced by decisions and never removed or renamed: % refused',
        TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER api_keys_refuse_delete BEFORE DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION riskloop_refuse_removal();
CREATE TRIGGER api_keys_refuse_truncate BEFORE TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION riskloop_refuse_removal();
CREATE TRIGGER api_keys_refuse_renumber BEFORE UPDATE OF id ON api_keys
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION riskloop_refuse_removal();
CREATE TRIGGER models_refuse_delete BEFORE DELETE ON models
    FOR EACH ROW EXECUTE FUNCTION riskloop_refuse_removal();
CREATE TRIGGER models_refuse_truncate BEFORE TRUNCATE ON models
    FOR EACH STATEMENT EXECUTE FUNCTION riskloop_refuse_removal();
CREATE TRIGGER models_refuse_rename BEFORE UPDATE OF version ON models
    FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version)
    EXECUTE FUNCTION riskloop_refuse_removal();
