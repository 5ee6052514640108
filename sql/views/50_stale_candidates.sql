-- ACTIVE meetings with no activity for `threshold_days` (fractions allowed) before `as_of` (a TIMESTAMPTZ, a
-- DATE or an ISO string), of every app (each row carries its app_id: filter on it for one app). Days are
-- exact 24 h spans, whatever the session time zone.
--   SELECT * FROM stale_candidates(30, now());
CREATE OR REPLACE MACRO stale_candidates(threshold_days, as_of) AS TABLE
SELECT
    a.*,
    CAST(floor((epoch(CAST(as_of AS TIMESTAMPTZ)) - epoch(a.last_activity_at)) / 86400) AS BIGINT) AS idle_days
FROM meeting_last_activity AS a
WHERE a.status = 'ACTIVE'
  AND a.last_activity_at < CAST(as_of AS TIMESTAMPTZ) - to_seconds(CAST(threshold_days AS DOUBLE) * 86400)
ORDER BY a.last_activity_at, a.app_id, a.meeting_id;

-- The default policy: no activity in the 30 days before now.
CREATE OR REPLACE VIEW stale_meeting_candidates AS
SELECT * FROM stale_candidates(30, now());
