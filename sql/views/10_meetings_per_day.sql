-- Meetings created per app and UTC day, by status and by the features switched on.
CREATE OR REPLACE VIEW meetings_per_day AS
SELECT
    app_id,
    created_day                                                       AS day,
    count(*)                                                          AS total,
    count(*) FILTER (WHERE status = 'ACTIVE')                         AS active,
    count(*) FILTER (WHERE status = 'INACTIVE')                       AS inactive,
    count(*) FILTER (WHERE status IS DISTINCT FROM 'ACTIVE'
                       AND status IS DISTINCT FROM 'INACTIVE')        AS other_status,
    count(*) FILTER (WHERE record_on_start)                           AS recording,
    count(*) FILTER (WHERE live_stream_on_start)                      AS livestream,
    count(*) FILTER (WHERE transcribe_on_end)                         AS transcribe,
    count(*) FILTER (WHERE summarize_on_end)                          AS summarize,
    count(*) FILTER (WHERE transcribe_on_end OR summarize_on_end)     AS transcription,
    count(*) FILTER (WHERE persist_chat)                              AS persist_chat
FROM meetings
GROUP BY app_id, created_day
ORDER BY day, app_id;
