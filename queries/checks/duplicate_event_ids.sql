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
    SELECT
        event_id,
        stream_id,
        aggregate_type,
        version,
        position,
        event_type,
        ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY position) AS nth,
        first_value(stream_id) OVER (PARTITION BY event_id ORDER BY position) AS first_stream_id,
        first_value(version) OVER (PARTITION BY event_id ORDER BY position) AS first_version,
        first_value(position) OVER (PARTITION BY event_id ORDER BY position) AS first_position
    FROM events
    WHERE event_id IN (SELECT event_id FROM reused)
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
