-- The 10 busiest actors: events recorded, distinct aggregates touched, and when they were active
-- One row per actor, ranked by events (ties: more aggregates first, then actor name).
-- `aggregates` counts distinct streams touched, `tasks` / `projects` split that count for the
-- task-tracking model (other aggregate types only count in `aggregates`), `active_days` the
-- distinct UTC days with at least one event, `share_of_events` the actor's share of all
-- events that name an actor. Events without an actor are left out.
-- tables: events
WITH per_stream AS (
    -- one row per (actor, stream) first: counting an actor's distinct streams is then a count
    SELECT
        actor,
        stream_id,
        count(*) AS events,
        bool_or(aggregate_type = 'task') AS is_task,
        bool_or(aggregate_type = 'project') AS is_project,
        min(occurred_at) AS first_event_at,
        max(occurred_at) AS last_event_at
    FROM events
    WHERE actor IS NOT NULL
    GROUP BY actor, stream_id
),
per_actor AS (
    SELECT
        actor,
        sum(events) AS events,
        count(*) AS aggregates,
        count(*) FILTER (WHERE is_task) AS tasks,
        count(*) FILTER (WHERE is_project) AS projects,
        min(first_event_at) AS first_event_at,
        max(last_event_at) AS last_event_at
    FROM per_stream
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
    ROW_NUMBER() OVER (ORDER BY events DESC, aggregates DESC, actor) AS rank,
    actor,
    events,
    round(CAST(events AS DOUBLE) / sum(events) OVER (), 4) AS share_of_events,
    aggregates,
    tasks,
    projects,
    event_types,
    active_days,
    first_event_at,
    last_event_at
FROM per_actor
JOIN habits USING (actor)
ORDER BY rank
LIMIT 10;
