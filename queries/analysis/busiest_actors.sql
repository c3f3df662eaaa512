-- The 10 busiest actors: events recorded, distinct aggregates touched, and when they were active
-- One row per actor, ranked by events (ties: more aggregates first, then actor name).
-- `aggregates` counts distinct streams touched, `tasks` / `projects` split that count for the
-- task-tracking model (other aggregate types only count in `aggregates`), `active_days` the
-- distinct UTC days with at least one event, `share_of_events` the actor's share of all
-- events that name an actor. Events without an actor are left out.
-- tables: events
WITH per_actor AS (
    SELECT
        actor,
        count(*) AS events,
        count(DISTINCT stream_id) AS aggregates,
        count(DISTINCT stream_id) FILTER (WHERE aggregate_type = 'task') AS tasks,
        count(DISTINCT stream_id) FILTER (WHERE aggregate_type = 'project') AS projects,
        count(DISTINCT event_type) AS event_types,
        count(DISTINCT date_trunc('day', occurred_at)) AS active_days,
        min(occurred_at) AS first_event_at,
        max(occurred_at) AS last_event_at
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
ORDER BY rank
LIMIT 10;
