-- Each meeting's last sign of life: the latest of its own created_at/updated_at and its participants'
-- created_at/updated_at (greatest() skips NULLs).
CREATE OR REPLACE VIEW meeting_last_activity AS
SELECT
    m.app_id,
    m.id                                                            AS meeting_id,
    m.title,
    m.status,
    m.created_day,
    m.created_at,
    m.updated_at,
    ppm.participants,
    ppm.last_participant_at,
    greatest(m.created_at, m.updated_at, ppm.last_participant_at)   AS last_activity_at
FROM meetings AS m
JOIN participants_per_meeting AS ppm ON ppm.app_id = m.app_id AND ppm.meeting_id = m.id;
