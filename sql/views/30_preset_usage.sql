-- How often each app applies each preset: participants, distinct meetings, first and last use.
CREATE OR REPLACE VIEW preset_usage AS
SELECT
    app_id,
    preset_name,
    count(*)                                    AS participants,
    count(DISTINCT meeting_id)                  AS meetings,
    min(created_at)                             AS first_used_at,
    max(greatest(created_at, updated_at))       AS last_used_at
FROM participants
GROUP BY app_id, preset_name
ORDER BY app_id, participants DESC, preset_name;
