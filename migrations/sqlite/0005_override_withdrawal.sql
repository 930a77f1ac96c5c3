-- An override can be withdrawn (ClearOverride); a withdrawn override no
-- longer applies and is kept for the record.
ALTER TABLE overrides ADD COLUMN cleared_at TEXT;
