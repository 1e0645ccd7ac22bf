-- Reviews, outcomes, model events and the audit log are records too: append-only like decisions.
CREATE TRIGGER reviews_refuse_update BEFORE UPDATE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only: UPDATE refused'); END;
CREATE TRIGGER reviews_refuse_delete BEFORE DELETE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only: DELETE refused'); END;
CREATE TRIGGER outcomes_refuse_update BEFORE UPDATE ON outcomes
BEGIN SELECT RAISE(ABORT, 'outcomes are append-only: UPDATE refused'); END;
CREATE TRIGGER outcomes_refuse_delete BEFORE DELETE ON outcomes
BEGIN SELECT RAISE(ABORT, 'outcomes are append-only: DELETE refused'); END;
CREATE TRIGGER model_events_refuse_update BEFORE UPDATE ON model_events
BEGIN SELECT RAISE(ABORT, 'model_events are append-only: UPDATE refused'); END;
CREATE TRIGGER model_events_refuse_delete BEFORE DELETE ON model_events
BEGIN SELECT RAISE(ABORT, 'model_events are append-only: DELETE refused'); END;
CREATE TRIGGER audit_log_refuse_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END;
CREATE TRIGGER audit_log_refuse_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END;
