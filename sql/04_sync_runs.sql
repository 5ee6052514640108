-- One row per synced window (success or failure). Must match SYNC_RUNS_SCHEMA.
CREATE TABLE IF NOT EXISTS sync_runs (
    run_id          VARCHAR NOT NULL,
    table_name      VARCHAR NOT NULL,    -- meetings | participants
    window_start    TIMESTAMPTZ,         -- [window_start, window_end): the UTC days the run replaced
    window_end      TIMESTAMPTZ,
    days            BIGINT,
    rows            BIGINT,
    rejected        BIGINT,
    requests        BIGINT,
    retries         BIGINT,
    throttled       BIGINT,              -- 429 answers seen
    api_total_count BIGINT,              -- what the API's paging.total_count reported
    started_at      TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ,
    seconds         DOUBLE,
    outcome         VARCHAR NOT NULL,    -- success | failed
    error           VARCHAR,             -- one-line cause of a failure (secrets redacted)
    app_id          VARCHAR NOT NULL     -- the RealtimeKit app synced
);
COMMENT ON TABLE sync_runs IS 'One row per synced window: rows, requests, retries, timing, outcome';
