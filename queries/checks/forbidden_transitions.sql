-- Forbidden transitions: events the lifecycle does not allow from the current status (or a 2nd creation)
-- Generic (any aggregate type), read from the findings table (rule transition_not_allowed): the
-- allowed `from` statuses live in the model file, not in SQL, so replay decides. One row per
-- offending event with the status it was recorded in, the status replay moved the stream to
-- anyway (events are facts and are still applied), and the finding's message.
-- tables: findings, transitions
-- severity: error
SELECT
    f.stream_id,
    f.aggregate_type,
    f.version,
    f.event_id,
    f.position,
    t.event_type,
    t.from_status,
    t.to_status,
    t.occurred_at,
    f.message AS detail
FROM findings f
LEFT JOIN transitions t ON t.stream_id = f.stream_id AND t.position = f.position
WHERE f.rule = 'transition_not_allowed'
ORDER BY f.stream_id, f.aggregate_type, f.version, f.position;
