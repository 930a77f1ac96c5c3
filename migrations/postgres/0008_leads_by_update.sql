-- Each lead keeps which criteria its latest verdict fired, found unknown, and
-- fired as knockouts, as bit masks (bit i: the criterion numbered i + 1),
-- so that counts over the latest verdicts (GetSignalStats, the console's
-- funnel) read one row per lead instead of its 21 signal rows. Filled here
-- from the stored signals.
ALTER TABLE leads ADD COLUMN latest_fired_mask BIGINT;
ALTER TABLE leads ADD COLUMN latest_unknown_mask BIGINT;
ALTER TABLE leads ADD COLUMN latest_knockout_mask BIGINT;
UPDATE leads SET (latest_fired_mask, latest_unknown_mask, latest_knockout_mask) = (
    SELECT COALESCE(SUM(CASE WHEN b.status = 'FIRED' THEN b.bit ELSE 0 END), 0),
           COALESCE(SUM(CASE WHEN b.status = 'UNKNOWN' THEN b.bit ELSE 0 END), 0),
           COALESCE(SUM(CASE WHEN b.status = 'FIRED' AND b.knockout THEN b.bit ELSE 0 END), 0)
    FROM (SELECT s.status, s.knockout, CASE s.criterion
            WHEN 'COMPANY_SIZE_MISMATCH' THEN 1
            WHEN 'REVENUE_MISMATCH' THEN 2
            WHEN 'VERTICAL_MISMATCH' THEN 4
            WHEN 'BUSINESS_MODEL_MISMATCH' THEN 8
            WHEN 'OUTSIDE_TERRITORY' THEN 16
            WHEN 'COUNTRY_TIMEZONE_MISMATCH' THEN 32
            WHEN 'DISRESPECTFUL' THEN 64
            WHEN 'EMOTIONAL_DECISIONS' THEN 128
            WHEN 'ERRATIC_ENGAGEMENT' THEN 256
            WHEN 'WITHHOLDS_ANSWERS' THEN 512
            WHEN 'NO_COMPROMISE' THEN 1024
            WHEN 'CONTRADICTORY_STATEMENTS' THEN 2048
            WHEN 'REFUSES_PLAN' THEN 4096
            WHEN 'INSUFFICIENT_RESOURCES' THEN 8192
            WHEN 'DISORGANIZED' THEN 16384
            WHEN 'NOT_A_PRIORITY' THEN 32768
            WHEN 'MAGIC_WAND' THEN 65536
            WHEN 'IGNORES_PRESCRIPTIONS' THEN 131072
            WHEN 'MEETING_DISRUPTIONS' THEN 262144
            WHEN 'FEIGNED_COMPLIANCE' THEN 524288
            WHEN 'REPEATED_EXPLANATIONS' THEN 1048576
            ELSE 0 END AS bit
        FROM signals AS s WHERE s.verdict_id = leads.latest_verdict_id) AS b)
WHERE latest_verdict_id IS NOT NULL;
-- The review queue lists leads most recently qualified first; the same index
-- covers the counts above over a time range.
CREATE INDEX leads_by_update ON leads (tenant, updated_at, lead_id, stage, latest_outcome,
    latest_fired_mask, latest_unknown_mask, latest_knockout_mask);
