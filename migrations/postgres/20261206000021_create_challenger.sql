-- The challenger attached to live traffic, if any (one at a time): it scores every request
-- the champion decides, off the response's path, and decides traffic_percent of them itself.
-- Configuration, not history: attaching and detaching are recorded in audit_log.
CREATE TABLE challenger (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    model_version   TEXT NOT NULL REFERENCES models (version),
    traffic_percent INTEGER NOT NULL CHECK (traffic_percent >= 0 AND traffic_percent <= 50),
    attached_by     TEXT NOT NULL,
    attached_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- What the other model (the challenger, or the champion when the challenger decided) made of
-- a stored decision's application: for comparing the two on the same live traffic.
CREATE TABLE shadow_scores (
    decision_id   TEXT NOT NULL REFERENCES decisions (id),
    model_version TEXT NOT NULL REFERENCES models (version),
    probability   DOUBLE PRECISION NOT NULL CHECK (probability >= 0 AND probability <= 1),
    score         INTEGER NOT NULL,
    decision      TEXT NOT NULL CHECK (decision IN ('approve', 'review', 'decline')),
    reasons       JSON NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (decision_id, model_version)
);
CREATE INDEX shadow_scores_model_version ON shadow_scores (model_version);
