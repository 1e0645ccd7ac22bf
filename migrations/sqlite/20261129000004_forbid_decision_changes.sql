-- Decisions are evidence: the database itself refuses to change or remove one.
CREATE TRIGGER decisions_refuse_update BEFORE UPDATE ON decisions
BEGIN
    SELECT RAISE(ABORT, 'decisions are append-only: UPDATE refused');
END;
CREATE TRIGGER decisions_refuse_delete BEFORE DELETE ON decisions
BEGIN
    SELECT RAISE(ABORT, 'decisions are append-only: DELETE refused');
END;
