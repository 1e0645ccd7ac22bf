-- Named leases, so that work meant to run once (a retrain cycle) runs on one process at a time
-- whatever the number of servers and cron jobs on one database. A holder that dies leaves its
-- lease to expire; expires_at is milliseconds since the Unix epoch, compared as a number.
CREATE TABLE locks (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
