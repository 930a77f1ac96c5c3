-- Profiles: one immutable row per version and tenant.
CREATE TABLE profiles (
    tenant      TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    body        TEXT    NOT NULL,           -- JSON of the resolved profile
    created_at  TEXT    NOT NULL,           -- RFC 3339, UTC, microseconds
    PRIMARY KEY (tenant, version)
);

-- Leads: the merged facts and where each lead stands.
CREATE TABLE leads (
    tenant             TEXT    NOT NULL,
    lead_id            TEXT    NOT NULL,
    stage              TEXT    NOT NULL,    -- IDENTIFICATION, CONTACT, STUDY, RECOMMENDATION
    facts              TEXT    NOT NULL,    -- JSON, unknown facts omitted
    revision           INTEGER NOT NULL,    -- grows by one per stored verdict
    latest_verdict_id  TEXT,
    latest_outcome     TEXT,                -- QUALIFIED, NEEDS_REVIEW, DISQUALIFIED
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL,
    PRIMARY KEY (tenant, lead_id)
);
CREATE INDEX leads_by_stage ON leads (tenant, stage, lead_id);
CREATE INDEX leads_by_outcome ON leads (tenant, latest_outcome, lead_id);

-- Verdicts: immutable, never updated.
CREATE TABLE verdicts (
    verdict_id       TEXT    NOT NULL PRIMARY KEY,
    tenant           TEXT    NOT NULL,
    lead_id          TEXT    NOT NULL,
    seq              INTEGER NOT NULL,      -- position in the lead's history, from 1
    stage            TEXT    NOT NULL,
    outcome          TEXT    NOT NULL,
    score            INTEGER NOT NULL,
    profile_version  INTEGER NOT NULL,
    facts            TEXT    NOT NULL,      -- merged input facts, JSON
    facts_hash       TEXT    NOT NULL,
    request_id       TEXT,
    evaluated_at     TEXT    NOT NULL,
    evaluation_date  TEXT    NOT NULL,      -- YYYY-MM-DD
    UNIQUE (tenant, lead_id, seq)
);
CREATE UNIQUE INDEX verdicts_by_request ON verdicts (tenant, request_id)
    WHERE request_id IS NOT NULL;

-- Signals: one row per criterion per verdict, for SQL analytics
-- ("which leads fired MEETING_DISRUPTIONS last week").
CREATE TABLE signals (
    verdict_id     TEXT    NOT NULL REFERENCES verdicts (verdict_id),
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
    evaluated_at   TEXT    NOT NULL,
    PRIMARY KEY (verdict_id, criterion)
);
CREATE INDEX signals_by_criterion ON signals (tenant, criterion, status, evaluated_at);
