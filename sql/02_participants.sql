-- One row per (app_id, meeting_id, participant id). Must match PARTICIPANTS_SCHEMA + app_id.
-- The participant `token` is never stored.
CREATE TABLE IF NOT EXISTS participants (
    meeting_id            VARCHAR NOT NULL,
    id                    VARCHAR NOT NULL,
    custom_participant_id VARCHAR,
    preset_name           VARCHAR,
    name                  VARCHAR,
    picture               VARCHAR,
    created_at            TIMESTAMPTZ,
    updated_at            TIMESTAMPTZ,
    extra                 JSON,                   -- fields this schema does not know yet, secrets removed
    meeting_created_day   DATE NOT NULL,          -- UTC creation day of the MEETING: the partition key
    synced_at             TIMESTAMPTZ NOT NULL,
    app_id                VARCHAR NOT NULL        -- the RealtimeKit app of the meeting
);
COMMENT ON TABLE participants IS 'Participants per meeting; partitioned by the meeting''s UTC creation day';
COMMENT ON COLUMN participants.meeting_created_day IS 'UTC creation day of the meeting (not of the participant)';
