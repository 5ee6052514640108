-- One row per (app_id, meeting id), as the list endpoint returns it. Must match tables.TABLE_SCHEMAS
-- (normalize's MEETINGS_SCHEMA, then app_id; tests/store/test_schema.py checks column by column).
-- Timestamps are UTC instants.
CREATE TABLE IF NOT EXISTS meetings (
    id                              VARCHAR NOT NULL,
    title                           VARCHAR,
    status                          VARCHAR,      -- ACTIVE | INACTIVE; values the API adds later are kept as-is
    created_at                      TIMESTAMPTZ NOT NULL,
    updated_at                      TIMESTAMPTZ,
    live_stream_on_start            BOOLEAN,
    persist_chat                    BOOLEAN,
    record_on_start                 BOOLEAN,
    summarize_on_end                BOOLEAN,
    transcribe_on_end               BOOLEAN,
    session_keep_alive_time_in_secs BIGINT,
    ai_config                       JSON,         -- nested object as sent (get/patch responses carry it)
    recording_config                JSON,         -- nested object, storage credentials removed
    extra                           JSON,         -- fields this schema does not know yet, secrets removed
    created_day                     DATE NOT NULL,  -- UTC day of created_at: the partition key
    synced_at                       TIMESTAMPTZ NOT NULL, -- when this row was fetched
    participants_synced_at          TIMESTAMPTZ,  -- when its participants were last listed; null until then
    app_id                          VARCHAR NOT NULL      -- the RealtimeKit app; ids are unique per app
);
COMMENT ON TABLE meetings IS 'RealtimeKit meetings, one row per (app_id, id); a re-sync replaces whole created_day partitions';
COMMENT ON COLUMN meetings.extra IS 'JSON of API fields the schema does not know yet (never dropped; secrets removed)';
COMMENT ON COLUMN meetings.created_day IS 'UTC day of created_at; partition key of the Parquet mirror';
COMMENT ON COLUMN meetings.participants_synced_at IS 'When the meeting''s participants were last listed (backfill or refresh); null until then';
COMMENT ON COLUMN meetings.app_id IS 'RealtimeKit app the meeting belongs to (several apps share one warehouse)';
