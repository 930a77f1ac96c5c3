-- The account section (SPEC-ACCOUNTS) of each verdict, as the JSON document
-- reads return, its words written out. NULL for a verdict stored before
-- verdicts had one: it reads back as it was, without the section.
ALTER TABLE verdicts ADD COLUMN account_json TEXT;
-- Each lead keeps its latest verdict's lifecycle class, value tier and churn
-- status beside its latest outcome, for the ListLeads filters; NULL until a
-- verdict with an account section is stored.
ALTER TABLE leads ADD COLUMN latest_lifecycle_class TEXT;
ALTER TABLE leads ADD COLUMN latest_value_tier TEXT;
ALTER TABLE leads ADD COLUMN latest_churn_status TEXT;
CREATE INDEX leads_by_lifecycle_class ON leads (tenant, latest_lifecycle_class, lead_id);
CREATE INDEX leads_by_value_tier ON leads (tenant, latest_value_tier, lead_id);
CREATE INDEX leads_by_churn_status ON leads (tenant, latest_churn_status, lead_id);
