-- Work in progress over time: how many tasks were in progress or blocked at the end of each UTC day
-- Task-specific (task-tracking model). A task's status at the end of a day is the resulting
-- status of its last event (stream order: version, then position) among the events that
-- occurred that day, carried forward over the days without events until its next change. One
-- row per calendar day (UTC) from the day of the first task event to the day of the last one,
-- including days without any event (weekends). `wip` = in_progress + blocked.
-- Approximation: an event is placed on the UTC day of its own occurred_at, so a stream whose
-- timestamps run backwards across midnight is judged by the events of each day as logged.
-- tables: transitions
WITH task_events AS (
    SELECT
        stream_id,
        CAST(date_trunc('day', occurred_at) AS DATE) AS day,
        to_status,
        ROW_NUMBER() OVER (
            PARTITION BY stream_id, CAST(date_trunc('day', occurred_at) AS DATE)
            ORDER BY version DESC, position DESC
        ) AS rn_from_last
    FROM transitions
    WHERE aggregate_type = 'task' AND to_status IS NOT NULL
),
end_of_day AS (
    -- the status each task ended each of its active days in, valid until its next active day
    SELECT
        stream_id,
        day,
        to_status AS status,
        LEAD(day) OVER (PARTITION BY stream_id ORDER BY day) AS next_day
    FROM task_events
    WHERE rn_from_last = 1
),
calendar AS (
    SELECT unnest(generate_series(min(day), max(day), INTERVAL '1 day')) AS day
    FROM task_events
)
SELECT
    c.day,
    count(s.stream_id) FILTER (WHERE s.status = 'in_progress') AS in_progress,
    count(s.stream_id) FILTER (WHERE s.status = 'blocked') AS blocked,
    count(s.stream_id) AS wip
FROM calendar c
LEFT JOIN end_of_day s
    ON s.status IN ('in_progress', 'blocked')
   AND s.day <= c.day
   AND (s.next_day IS NULL OR s.next_day > c.day)
GROUP BY c.day
ORDER BY c.day;
