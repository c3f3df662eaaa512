-- Throughput: tasks completed per ISO week (Monday 00:00 UTC to Sunday 24:00 UTC)
-- Task-specific (task-tracking model): counts TaskCompleted events. `completions` counts every
-- completion, `tasks` the distinct tasks completed that week (a task reopened and completed
-- again within one week counts once there), `first_completions` the tasks completed for the first
-- time ever, `actors` the distinct people completing. `iso_week` is ISO 8601 (YYYY-Www, the ISO
-- year, which can differ from the calendar year around New Year). Weeks without a completion
-- are absent, not zero.
-- tables: events
WITH completions AS (
    SELECT
        stream_id,
        actor,
        occurred_at,
        ROW_NUMBER() OVER (PARTITION BY stream_id ORDER BY version, position) AS nth
    FROM events
    WHERE aggregate_type = 'task' AND event_type = 'TaskCompleted'
)
SELECT
    CAST(date_trunc('week', occurred_at) AS DATE) AS week_start,
    to_char(date_trunc('week', occurred_at), '%G-W%V') AS iso_week,
    count(*) AS completions,
    count(DISTINCT stream_id) AS tasks,
    count(*) FILTER (WHERE nth = 1) AS first_completions,
    count(DISTINCT actor) AS actors
FROM completions
GROUP BY 1, 2
ORDER BY week_start;
