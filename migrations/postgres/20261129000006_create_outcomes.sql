-- What the bank later observed for a decision. A correction is a new row; the latest one counts.
CREATE TABLE outcomes (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    decision_id TEXT NOT NULL REFERENCES decisions (id),
    outcome     TEXT NOT NULL CHECK (outcome IN ('default', 'repaid')),
    observed_at TIMESTAMPTZ NOT NULL,
    api_key_id  BIGINT REFERENCES api_keys (id),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX outcomes_decision_id ON outcomes (decision_id);
