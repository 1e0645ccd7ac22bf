-- Registered model bundles. A bundle's version is its folder name; at most one champion serves.
CREATE TABLE models (
    version         TEXT PRIMARY KEY,
    path            TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    manifest        TEXT NOT NULL,
    parent_version  TEXT REFERENCES models (version),
    stage           TEXT NOT NULL DEFAULT 'registered'
                    CHECK (stage IN ('registered', 'challenger', 'champion', 'retired')),
    registered_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE UNIQUE INDEX models_one_champion ON models (stage) WHERE stage = 'champion';
