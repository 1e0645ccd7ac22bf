-- An analyst's review of a decision: a new row that references it, never an edit.
CREATE TABLE reviews (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    decision_id TEXT NOT NULL REFERENCES decisions (id),
    api_key_id  BIGINT NOT NULL REFERENCES api_keys (id),
    decision    TEXT NOT NULL CHECK (decision IN ('approve', 'decline')),
    note        TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX reviews_decision_id ON reviews (decision_id);
