-- The history of the model registry: registrations, promotions, rollbacks, evaluations.
CREATE TABLE model_events (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_version TEXT NOT NULL REFERENCES models (version),
    event         TEXT NOT NULL
                  CHECK (event IN ('registered', 'promoted', 'demoted', 'rolled_back', 'retired', 'evaluated')),
    actor         TEXT NOT NULL,
    detail        JSONB NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX model_events_model_version ON model_events (model_version);
