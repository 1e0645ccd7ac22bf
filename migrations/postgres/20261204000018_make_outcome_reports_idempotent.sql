-- A report repeated (a retry: the same decision, outcome and observed_at) is stored once.
-- Reports stored before this migration may repeat, so they are left out of the rule: only
-- rows with once = 1, which every insert now sets, take part. A different outcome or
-- observed_at for the same decision is a correction: a new row, and the latest report counts.
ALTER TABLE outcomes ADD COLUMN once INTEGER CHECK (once = 1);
CREATE UNIQUE INDEX outcomes_reported_once ON outcomes (decision_id, outcome, observed_at)
    WHERE once = 1;
