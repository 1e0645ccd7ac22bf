-- The history of the model registry: registrations, promotions, rollbacks, evaluations.
CREATE TABLE model_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    model_version TEXT NOT NULL REFERENCES models (version),
    event         TEXT NOT NULL
                  CHECK (event IN ('registered', 'promoted', 'demoted', 'rolled_back', 'retired', 'evaluated')),
    actor         TEXT NOT NULL,
    detail        TEXT NOT NULL,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE INDEX model_events_model_version ON model_events (model_version);
