-- An analyst's review of a decision: a new row that references it, never an edit.
CREATE TABLE reviews (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    decision_id TEXT NOT NULL REFERENCES decisions (id),
    api_key_id  INTEGER NOT NULL REFERENCES api_keys (id),
    decision    TEXT NOT NULL CHECK (decision IN ('approve', 'decline')),
    note        TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE INDEX reviews_decision_id ON reviews (decision_id);
