-- Events after a terminal status: an event recorded once its stream was in a terminal status it may not leave
-- Generic (any aggregate type), read from the findings table (rule event_after_terminal): which
-- statuses are terminal, and which events may leave them (e.g. TaskReopened from done), lives
-- in the model file, not in SQL, so replay decides. One row per offending event with the status
-- it was recorded in and the finding's message.
-- tables: findings, transitions
-- severity: error
SELECT
    f.stream_id,
    f.aggregate_type,
    f.version,
    f.event_id,
    f.position,
    t.event_type,
    t.from_status AS terminal_status,
    t.occurred_at,
    f.message AS detail
FROM findings f
LEFT JOIN transitions t ON t.stream_id = f.stream_id AND t.position = f.position
WHERE f.rule = 'event_after_terminal'
ORDER BY f.stream_id, f.aggregate_type, f.version, f.position;
