-- The console's review queue lists leads most recently qualified first.
CREATE INDEX leads_by_update ON leads (tenant, updated_at, lead_id);
