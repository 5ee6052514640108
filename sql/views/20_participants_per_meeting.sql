-- Every stored meeting with its participant count (0 when none are stored) and participant time span.
-- Meeting ids are unique per app only: participants join on (app_id, meeting_id).
CREATE OR REPLACE VIEW participants_per_meeting AS
SELECT
    m.app_id,
    m.id                                        AS meeting_id,
    m.title,
    m.status,
    m.created_day,
    count(p.id)                                 AS participants,
    count(DISTINCT p.preset_name)               AS presets,
    min(p.created_at)                           AS first_participant_at,
    max(greatest(p.created_at, p.updated_at))   AS last_participant_at
FROM meetings AS m
LEFT JOIN participants AS p ON p.app_id = m.app_id AND p.meeting_id = m.id
GROUP BY m.app_id, m.id, m.title, m.status, m.created_day
ORDER BY m.created_day, m.app_id, m.id;
