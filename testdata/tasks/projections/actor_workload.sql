-- projection: Each actor's workload per week: the events they caused, the streams they touched, the tasks they completed and the comments they wrote
-- key: actor, week
-- partition: week = arrow_cast(date_bin(INTERVAL '7 days', occurred_at, TIMESTAMP '1970-01-05T00:00:00Z'), 'Timestamp(Microsecond, Some("UTC"))')
-- not_null: events, streams_touched
-- A week starts on Monday (UTC). Events without an actor are left out. (Counted per stream
-- first, then per week: a grouping that spills to disk under a memory limit, where a
-- count(DISTINCT …) could not. The first grouping leads with aggregate_type and stream_id, the
-- order events.parquet is stored in, so it is done stream by stream as the rows come rather
-- than holding every (actor, week, stream) group: at 10M events 108 MB instead of 1 GB. The
-- week is date_bin's 7-day bins from Monday 1970-01-05 (cast back to microseconds), the same
-- instants as date_trunc('week', …) but vectorised: at 10M events the query takes 3.5 s, not 6.)
-- tables: events
WITH per_stream AS (
    SELECT
        actor,
        arrow_cast(date_bin(INTERVAL '7 days', occurred_at, TIMESTAMP '1970-01-05T00:00:00Z'), 'Timestamp(Microsecond, Some("UTC"))') AS week,
        count(*) AS events,
        count(*) FILTER (WHERE event_type = 'TaskCompleted') AS tasks_completed,
        count(*) FILTER (WHERE event_type = 'TaskCommented') AS comments
    FROM events
    WHERE actor IS NOT NULL
    GROUP BY aggregate_type, stream_id, actor, week
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
