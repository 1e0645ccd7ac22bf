-- Decisions are found by time through their id: ids are UUIDv7, so id order is time order and
-- a time range is an id range. The `created_at` index answered no query, and it cost every
-- decision: on SQLite one more b-tree to insert into and about 12 % of the WAL written per
-- decision, on the one writer thread every decision waits for (bench/README.md, 2026-12-03).
DROP INDEX IF EXISTS decisions_created_at;
