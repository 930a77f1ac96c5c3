-- Statistics over the latest verdict of each lead (GetSignalStats) go from
-- the lead to its latest verdict and on to that verdict's signals. Without
-- an index on the verdict id every signal row of the tenant was visited and
-- checked against its lead (20 s over 100,000 leads); with this one, which
-- also covers the columns counted, the 21 rows of each latest verdict are
-- read side by side. Verdict ids are time-ordered (UUIDv7), so new entries
-- go at the end of the index.
CREATE INDEX signals_by_verdict ON signals (verdict_id, criterion, status, knockout);
