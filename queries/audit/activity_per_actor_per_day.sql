-- How much each actor did on each day (UTC): events, aggregates touched, and event types used
-- One row per (actor, UTC calendar day) with at least one event. `aggregates` counts distinct
-- streams touched that day; `event_types` lists the distinct event types, alphabetically.
-- Events without an actor are grouped under actor NULL (listed last on each day).
-- tables: events
WITH daily AS (
    -- Distinct counts and lists come from deduplicated rows, joined into text with array_agg +
    -- array_sort: with many groups that is far faster in DataFusion than count(DISTINCT …) or
    -- string_agg(… ORDER BY …).
    SELECT
        CAST(date_trunc('day', occurred_at) AS DATE) AS day,
        actor,
        stream_id,
        event_type,
        occurred_at
    FROM events
),
counts AS (
    SELECT
        day,
        actor,
        count(*) AS events,
        min(occurred_at) AS first_event_at,
        max(occurred_at) AS last_event_at
    FROM daily
    GROUP BY day, actor
),
streams AS (
    SELECT day, actor, count(*) AS aggregates
    FROM (SELECT DISTINCT day, actor, stream_id FROM daily) d
    GROUP BY day, actor
),
types AS (
    SELECT day, actor, array_to_string(array_sort(array_agg(event_type)), ', ') AS event_types
    FROM (SELECT DISTINCT day, actor, event_type FROM daily) d
    GROUP BY day, actor
)
SELECT
    c.day,
    c.actor,
    c.events,
    s.aggregates,
    c.first_event_at,
    c.last_event_at,
    t.event_types
FROM counts c
JOIN streams s ON s.day = c.day AND s.actor IS NOT DISTINCT FROM c.actor
JOIN types t ON t.day = c.day AND t.actor IS NOT DISTINCT FROM c.actor
ORDER BY c.day, c.actor NULLS LAST;
