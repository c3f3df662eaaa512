-- Timestamps running backwards: an event that occurred before the previous event of its stream
-- Generic (any aggregate type). Stream order is version, then log position; each event is
-- compared with the event just before it in that order (for a duplicated version, the other
-- event claiming it). Clocks of different writers drift and offsets can be mis-stated, so this
-- is an error in the log's ordering, not in replay (which follows versions, not time).
-- tables: events
-- severity: error
WITH ordered AS (
    SELECT
        stream_id,
        aggregate_type,
        version,
        position,
        event_id,
        event_type,
        occurred_at,
        LAG(version) OVER w AS previous_version,
        LAG(event_id) OVER w AS previous_event_id,
        LAG(occurred_at) OVER w AS previous_occurred_at
    FROM events
    WINDOW w AS (PARTITION BY aggregate_type, stream_id ORDER BY version, position)
)
SELECT
    stream_id,
    aggregate_type,
    version,
    event_id,
    position,
    event_type,
    occurred_at,
    previous_version,
    previous_occurred_at,
    round(CAST(extract(epoch FROM previous_occurred_at) AS DOUBLE)
          - CAST(extract(epoch FROM occurred_at) AS DOUBLE), 3) AS seconds_earlier,
    concat('version ', version, ' (', event_type, ') occurred at ',
           to_char(occurred_at, '%Y-%m-%dT%H:%M:%S%.fZ'), ', before version ', previous_version,
           ' at ', to_char(previous_occurred_at, '%Y-%m-%dT%H:%M:%S%.fZ')) AS detail
FROM ordered
WHERE occurred_at < previous_occurred_at
ORDER BY stream_id, aggregate_type, version, position, event_id;
