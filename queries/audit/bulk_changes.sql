-- Bulk changes: an actor touching at least min_aggregates distinct aggregates in one time window
-- Time is cut into fixed, aligned UTC windows of `window_minutes` minutes (date_bin from
-- 1970-01-01T00:00Z; with 10 minutes: 09:00–09:10, 09:10–09:20, …), and every (actor, window)
-- that touched at least `min_aggregates` distinct streams is one row. This is a cheap
-- approximation of a sliding window (which would need a self-join per actor): a burst that
-- straddles a window boundary is split in two and can be missed; widen window_minutes or lower
-- min_aggregates to catch such bursts.
-- Events without an actor are not considered.
-- tables: events
-- param: min_aggregates = 10
-- param: window_minutes = 10
WITH binned AS (
    SELECT
        actor,
        date_bin(INTERVAL '${window_minutes} minutes', occurred_at,
                 TIMESTAMP '1970-01-01T00:00:00Z') AS window_start,
        stream_id,
        event_type,
        occurred_at
    FROM events
    WHERE actor IS NOT NULL
),
touched AS (
    -- distinct streams per (actor, window), counted from deduplicated rows: with many groups
    -- that is far faster in DataFusion than count(DISTINCT …)
    SELECT actor, window_start, count(*) AS aggregates
    FROM (SELECT DISTINCT actor, window_start, stream_id FROM binned) d
    GROUP BY actor, window_start
    HAVING count(*) >= ${min_aggregates}
),
bursts AS (
    SELECT
        b.actor,
        b.window_start,
        max(t.aggregates) AS aggregates,
        count(*) AS events,
        min(b.occurred_at) AS first_event_at,
        max(b.occurred_at) AS last_event_at,
        array_to_string(array_sort(array_distinct(array_agg(b.event_type))), ', ') AS event_types,
        array_to_string(array_sort(array_distinct(array_agg(b.stream_id))), ', ') AS streams
    FROM binned b
    JOIN touched t ON t.actor = b.actor AND t.window_start = b.window_start
    GROUP BY b.actor, b.window_start
)
SELECT
    actor,
    window_start,
    window_start + INTERVAL '${window_minutes} minutes' AS window_end,
    aggregates,
    events,
    first_event_at,
    last_event_at,
    event_types,
    streams
FROM bursts
ORDER BY window_start, actor;
