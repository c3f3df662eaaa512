-- The full trail of one aggregate: every event in version order, with who, when, what, and the status change
-- One row per event of the stream (duplicated versions included, in log position order),
-- with its actor, occurred_at (UTC), event type, status before → after as replay saw them
-- (from transitions; empty for aggregate types without a lifecycle), the raw payload, and the
-- findings replay raised on that event (comma-separated rule names; empty when none).
-- tables: events, transitions, findings
-- param: stream_id = task-9001
WITH f AS (
    SELECT position, string_agg(rule, ', ' ORDER BY rule) AS findings
    FROM findings
    WHERE stream_id = '${stream_id}'
    GROUP BY position
)
SELECT
    e.stream_id,
    e.version,
    e.position,
    e.event_id,
    e.occurred_at,
    e.actor,
    e.event_type,
    t.from_status,
    t.to_status,
    e.payload,
    f.findings
FROM events e
LEFT JOIN transitions t ON t.stream_id = e.stream_id AND t.position = e.position
LEFT JOIN f ON f.position = e.position
WHERE e.stream_id = '${stream_id}'
ORDER BY e.version, e.position, e.event_id;
