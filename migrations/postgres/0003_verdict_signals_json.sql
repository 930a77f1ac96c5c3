-- Each verdict also keeps its signals as the JSON array that reads return,
-- so that reading a verdict (GetLead, GetVerdict, ListVerdicts) is one row
-- with nothing to assemble. The signals table stays the source for SQL
-- analytics; both are written in the same statement.
ALTER TABLE verdicts ADD COLUMN signals_json TEXT NOT NULL DEFAULT '[]';
UPDATE verdicts SET signals_json = coalesce((
    SELECT json_agg(json_build_object(
        'criterion', s.criterion, 'status', s.status, 'weight', s.weight,
        'knockout', s.knockout, 'evidence', s.evidence, 'remedy', s.remedy,
        'missing_facts', s.missing_facts::text))::text
    FROM signals AS s WHERE s.verdict_id = verdicts.verdict_id), '[]');
ALTER TABLE verdicts ALTER COLUMN signals_json DROP DEFAULT;
-- A verdict row (facts and signals) is a few KB: keep it in the row rather
-- than compress it into TOAST on every insert.
ALTER TABLE verdicts SET (toast_tuple_target = 8160);
