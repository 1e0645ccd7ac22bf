-- Reviews, outcomes, model events and the audit log are records too: append-only like decisions.
CREATE TRIGGER reviews_refuse_change BEFORE UPDATE OR DELETE ON reviews
    FOR EACH ROW EXECUTE FUNCTION riskloop_refuse_change();
CREATE TRIGGER reviews_refuse_truncate BEFORE TRUNCATE ON reviews
    FOR EACH STATEMENT EXECUTE FUNCTION riskloop_refuse_change();
CREATE TRIGGER outcomes_refuse_change BEFORE UPDATE OR DELETE ON outcomes
    FOR EACH ROW EXECUTE FUNCTION riskloop_refuse_change();
CREATE TRIGGER outcomes_refuse_truncate BEFORE TRUNCATE ON outcomes
    FOR EACH STATEMENT EXECUTE FUNCTION riskloop_refuse_change();
CREATE TRIGGER model_events_refuse_change BEFORE UPDATE OR DELETE ON model_events
    FOR EACH ROW EXECUTE FUNCTION riskloop_refuse_change();
CREATE TRIGGER model_events_refuse_truncate BEFORE TRUNCATE ON model_events
    FOR EACH STATEMENT EXECUTE FUNCTION riskloop_refuse_change();
CREATE TRIGGER audit_log_refuse_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION riskloop_refuse_change();
CREATE TRIGGER audit_log_refuse_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION riskloop_refuse_change();
