-- Audit trail of stale-meeting deactivation (rtk_pipeline/stale.py): one row per decision, dry runs too.
-- A PATCH attempt is written as 'pending' before the request goes out and finalized in place (same
-- attempt_id) after, so a run killed halfway leaves a row that says so; the next run resolves it from the
-- meeting's live status instead of PATCHing again.
CREATE TABLE IF NOT EXISTS meeting_deactivations (
    attempt_id       VARCHAR PRIMARY KEY,   -- unique per row
    run_id           VARCHAR NOT NULL,      -- Dagster run id, or a generated id for CLI runs
    meeting_id       VARCHAR NOT NULL,
    title            VARCHAR,
    last_activity_at TIMESTAMPTZ,           -- warehouse snapshot the decision was based on
    threshold_days   INTEGER NOT NULL,      -- stale = no activity for this many days before as_of
    as_of            TIMESTAMPTZ NOT NULL,
    decision         VARCHAR NOT NULL,      -- deactivated | would-deactivate | failed | pending | skipped:<why>
    dry_run          BOOLEAN NOT NULL,
    http_status      INTEGER,               -- of the request that settled the decision, when there was one
    detail           VARCHAR,               -- why, in words
    error            VARCHAR,               -- the API error (method, path, status; never a secret)
    recorded_at      TIMESTAMPTZ NOT NULL,  -- when the row was first written
    decided_at       TIMESTAMPTZ NOT NULL   -- when it got its current decision
);
