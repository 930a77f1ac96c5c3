-- API keys: only a hash of the secret is stored.
CREATE TABLE api_keys (
    key_id        TEXT        NOT NULL PRIMARY KEY,   -- public part, "lq_<key_id>_..."
    tenant        TEXT        NOT NULL,
    secret_hash   TEXT        NOT NULL,               -- SHA-256 (hex) of the full key
    roles         TEXT        NOT NULL,               -- comma-separated: READER,SCORER,ADMIN
    description   TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant, created_at);

-- Human overrides, stored next to the computed verdicts.
CREATE TABLE overrides (
    override_id  TEXT        NOT NULL PRIMARY KEY,
    tenant       TEXT        NOT NULL,
    lead_id      TEXT        NOT NULL,
    outcome      TEXT        NOT NULL,
    reason       TEXT        NOT NULL,
    author       TEXT        NOT NULL,
    actor        TEXT        NOT NULL,
    verdict_id   TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ
);
CREATE INDEX overrides_by_lead ON overrides (tenant, lead_id, created_at);

-- Append-only audit trail.
CREATE TABLE audit_events (
    seq          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     TEXT        NOT NULL UNIQUE,
    tenant       TEXT        NOT NULL,
    kind         TEXT        NOT NULL,   -- PROFILE_UPDATED, API_KEY_CREATED, ...
    actor        TEXT        NOT NULL,
    lead_id      TEXT,
    subject      TEXT        NOT NULL,
    before_json  TEXT        NOT NULL,
    after_json   TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_by_tenant ON audit_events (tenant, seq);
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
