-- The 10 busiest actors: events recorded, distinct aggregates touched, and when they were active
-- One row per actor, ranked by events (ties: more aggregates first, then actor name).
-- `aggregates` counts distinct streams touched, `aggregates_by_type` splits that count per
-- aggregate type (`project 2, task 14`, by type name), `active_days` the distinct UTC days with
-- at least one event, `share_of_events` the actor's share of all events that name an actor.
-- Events without an actor are left out.
-- tables: events
WITH per_stream AS (
    -- one row per (actor, stream) first: counting an actor's distinct streams is then a count
    SELECT
        actor,
        aggregate_type,
        stream_id,
        count(*) AS events,
        min(occurred_at) AS first_event_at,
        max(occurred_at) AS last_event_at
    FROM events
    WHERE actor IS NOT NULL
    GROUP BY actor, aggregate_type, stream_id
),
per_actor AS (
    SELECT
        actor,
        sum(events) AS events,
        count(*) AS aggregates,
        min(first_event_at) AS first_event_at,
        max(last_event_at) AS last_event_at
    FROM per_stream
    GROUP BY actor
),
by_type AS (
    SELECT actor, string_agg(concat(aggregate_type, ' ', streams), ', ' ORDER BY aggregate_type)
               AS aggregates_by_type
    FROM (SELECT actor, aggregate_type, count(*) AS streams
          FROM per_stream GROUP BY actor, aggregate_type) t
    GROUP BY actor
),
habits AS (
    SELECT
        actor,
        count(DISTINCT event_type) AS event_types,
        count(DISTINCT date_trunc('day', occurred_at)) AS active_days
    FROM events
    WHERE actor IS NOT NULL
    GROUP BY actor
)
SELECT
    ROW_NUMBER() OVER (ORDER BY events DESC, aggregates DESC, p.actor) AS rank,
    p.actor,
    events,
    round(CAST(events AS DOUBLE) / sum(events) OVER (), 4) AS share_of_events,
    aggregates,
    aggregates_by_type,
    event_types,
    active_days,
    first_event_at,
    last_event_at
FROM per_actor p
JOIN by_type b ON b.actor = p.actor
JOIN habits h ON h.actor = p.actor
ORDER BY rank
LIMIT 10;
