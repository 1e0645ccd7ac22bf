-- One row the decision writer rewrites to find out whether the database takes writes now: for
-- readiness when no decision was stored lately, and to notice that writes work again after a
-- failure (a full disk, a lost server). It records nothing; it is not append-only.
CREATE TABLE write_probes (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at TIMESTAMPTZ NOT NULL
);
