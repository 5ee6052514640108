-- Records the API sent that could not be stored as typed rows, with the reason. Must match
-- REJECTED_SCHEMA + app_id. Re-syncing a day replaces that day's rejects (day NULL: created_at unreadable;
-- such rows are replaced when the identical record is rejected again).
CREATE TABLE IF NOT EXISTS rejected_records (
    table_name VARCHAR NOT NULL,      -- meetings | participants
    meeting_id VARCHAR,
    record_id  VARCHAR,
    reason     VARCHAR NOT NULL,
    raw        JSON NOT NULL,         -- the record as received, secrets removed
    day        DATE,                  -- partition day it belongs to, when that can be told
    synced_at  TIMESTAMPTZ NOT NULL,
    app_id     VARCHAR NOT NULL       -- the RealtimeKit app whose sync received it
);
COMMENT ON TABLE rejected_records IS 'API records that could not be typed, with the reason and the scrubbed raw JSON';
