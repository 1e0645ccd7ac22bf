-- Every policy a decision was made with, by the sha256 of its text: a decision's
-- policy_sha256 names one of these rows (the server stores a policy before deciding with it),
-- so any past decision can be re-decided with the exact rules and cutoffs it had. Append-only.
CREATE TABLE policies (
    sha256     TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    version    TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TRIGGER policies_refuse_change BEFORE UPDATE OR DELETE ON policies
    FOR EACH ROW EXECUTE FUNCTION riskloop_refuse_change();
CREATE TRIGGER policies_refuse_truncate BEFORE TRUNCATE ON policies
    FOR EACH STATEMENT EXECUTE FUNCTION riskloop_refuse_change();
