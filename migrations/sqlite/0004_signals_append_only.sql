-- Signals are written only together with their verdict, in the same
-- transaction, and never changed: the primary key on (verdict_id,
-- criterion) and the foreign key to verdicts guarded nothing the write path
-- does not already guarantee, yet cost every qualification 21 index inserts
-- and 21 parent lookups on the single writer. Rebuilt without them; the
-- analytics index stays. Reads take a verdict's signals from the verdict's
-- own signals_json; a join from signals to verdicts uses the verdicts' key.
CREATE TABLE signals_new (
    verdict_id     TEXT    NOT NULL,
    tenant         TEXT    NOT NULL,
    lead_id        TEXT    NOT NULL,
    criterion      TEXT    NOT NULL,        -- e.g. MEETING_DISRUPTIONS
    stage          TEXT    NOT NULL,
    status         TEXT    NOT NULL,        -- FIRED, CLEAR, UNKNOWN, NOT_APPLICABLE
    weight         INTEGER NOT NULL,        -- added to the score (0 unless fired)
    knockout       BOOLEAN NOT NULL,
    evidence       TEXT    NOT NULL,
    remedy         TEXT    NOT NULL,
    missing_facts  TEXT    NOT NULL,        -- JSON array
    evaluated_at   TEXT    NOT NULL
);
INSERT INTO signals_new SELECT verdict_id, tenant, lead_id, criterion, stage, status, weight,
    knockout, evidence, remedy, missing_facts, evaluated_at FROM signals ORDER BY rowid;
DROP TABLE signals;
ALTER TABLE signals_new RENAME TO signals;
CREATE INDEX signals_by_criterion ON signals (tenant, criterion, status, evaluated_at);
