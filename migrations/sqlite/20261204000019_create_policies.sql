-- Every policy a decision was made with, by the sha256 of its text: a decision's
-- policy_sha256 names one of these rows (the server stores a policy before deciding with it),
-- so any past decision can be re-decided with the exact rules and cutoffs it had. Append-only.
CREATE TABLE policies (
    sha256     TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    version    TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE TRIGGER policies_refuse_update BEFORE UPDATE ON policies
BEGIN SELECT RAISE(ABORT, 'policies are append-only: UPDATE refused'); END;
CREATE TRIGGER policies_refuse_delete BEFORE DELETE ON policies
BEGIN SELECT RAISE(ABORT, 'policies are append-only: DELETE refused'); END;
