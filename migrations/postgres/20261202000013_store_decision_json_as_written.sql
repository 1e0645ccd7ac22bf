-- A decision's input and reasons are kept as the JSON text riskloop wrote, not as jsonb. jsonb
-- parsed, de-escaped and key-sorted every row on insert: about a quarter of PostgreSQL's CPU per
-- decision under load (perf, bench/README.md). `json` only checks the text is JSON, keeps it as
-- written (so both engines store the same bytes), and nothing queries inside these columns.
ALTER TABLE decisions
    ALTER COLUMN input TYPE json USING input::json,
    ALTER COLUMN reasons TYPE json USING reasons::json;
