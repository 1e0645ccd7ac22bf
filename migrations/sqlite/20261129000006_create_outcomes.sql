-- What the bank later observed for a decision. A correction is a new row; the latest one counts.
CREATE TABLE outcomes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    decision_id TEXT NOT NULL REFERENCES decisions (id),
    outcome     TEXT NOT NULL CHECK (outcome IN ('default', 'repaid')),
    observed_at TEXT NOT NULL,
    api_key_id  INTEGER REFERENCES api_keys (id),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE INDEX outcomes_decision_id ON outcomes (decision_id);
