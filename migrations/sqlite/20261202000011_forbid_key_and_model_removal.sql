-- API keys and models are what decisions point at: a key is revoked and a model retired, never
-- removed or renamed (the same rule as on PostgreSQL, where it lets references be checked once
-- per statement).
CREATE TRIGGER api_keys_refuse_delete BEFORE DELETE ON api_keys
BEGIN SELECT RAISE(ABORT, 'api_keys are referenced by decisions and never removed or renamed: DELETE refused'); END;
CREATE TRIGGER api_keys_refuse_renumber BEFORE UPDATE OF id ON api_keys WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'api_keys are referenced by decisions and never removed or renamed: UPDATE refused'); END;
CREATE TRIGGER models_refuse_delete BEFORE DELETE ON models
BEGIN SELECT RAISE(ABORT, 'models are referenced by decisions and never removed or renamed: DELETE refused'); END;
CREATE TRIGGER models_refuse_rename BEFORE UPDATE OF version ON models WHEN OLD.version IS NOT NEW.version
BEGIN SELECT RAISE(ABORT, 'models are referenced by decisions and never removed or renamed: UPDATE refused'); END;
