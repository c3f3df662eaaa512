-- Stale work: open, in-progress or blocked tasks with no event for more than `days` days
-- Task-specific (task-tracking model; statuses open, in_progress, blocked). "Now" is the
-- latest occurred_at of any event in the log, not the wall clock, so the result is the same
-- whenever it is run. `idle_days` is the time from the task's last event (state updated_at)
-- to that point. A warning: stale tasks are normal in a live tracker.
-- tables: task, events
-- param: days = 14
-- severity: warning
WITH log_end AS (
    SELECT max(occurred_at) AS last_event_at FROM events
),
idle AS (
    SELECT
        t.stream_id,
        t.version,
        t.status,
        t.assignee,
        t.updated_at,
        l.last_event_at,
        (CAST(extract(epoch FROM l.last_event_at) AS DOUBLE)
         - CAST(extract(epoch FROM t.updated_at) AS DOUBLE)) / 86400.0 AS idle_days
    FROM task t CROSS JOIN log_end l
    WHERE t.status IN ('open', 'in_progress', 'blocked')
)
SELECT
    stream_id,
    version,
    status,
    assignee,
    updated_at,
    round(idle_days, 2) AS idle_days,
    concat('task ', stream_id, ' is ', status, ' with no event for ', round(idle_days, 1),
           ' days (last at ', to_char(updated_at, '%Y-%m-%dT%H:%M:%SZ'), ', log ends ',
           to_char(last_event_at, '%Y-%m-%dT%H:%M:%SZ'), ')') AS detail
FROM idle
WHERE idle_days > ${days}
ORDER BY idle_days DESC, stream_id;
