-- Duplicate event ids: an event id already used by an earlier event (by log position) anywhere in the log
-- Generic (any aggregate type). One row per reuse: the later event, naming the first event that
-- used the id. The first user is not listed. Replay reports the same as findings rule
-- duplicate_event_id.
-- tables: events
-- severity: error
WITH reused AS (
    -- ids used more than once; only their events get numbered below
    SELECT event_id FROM events GROUP BY event_id HAVING count(*) > 1
),
numbered AS (
    -- the few reused ids on the join's build side, the whole table streamed past them
    SELECT
        e.event_id,
        e.stream_id,
        e.aggregate_type,
        e.version,
        e.position,
        e.event_type,
        ROW_NUMBER() OVER w AS nth,
        first_value(e.stream_id) OVER w AS first_stream_id,
        first_value(e.version) OVER w AS first_version,
        first_value(e.position) OVER w AS first_position
    FROM reused r
    JOIN events e ON e.event_id = r.event_id
    WINDOW w AS (PARTITION BY e.event_id ORDER BY e.position)
)
SELECT
    stream_id,
    aggregate_type,
    version,
    event_id,
    position,
    event_type,
    first_stream_id,
    first_version,
    first_position,
    concat('event id ', event_id, ' was already used by ', first_stream_id, ' version ',
           first_version, ' (position ', first_position, ')') AS detail
FROM numbered
WHERE nth > 1
ORDER BY position, stream_id, version, event_id;
