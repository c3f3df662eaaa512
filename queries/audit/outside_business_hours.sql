-- Events recorded outside business hours: before 08:00 or from 18:00, or on a Saturday or Sunday (all in UTC)
-- Business hours are judged in UTC, not in the actor's local time zone (the log does not carry
-- it): an actor working 09:00 in UTC+09:00 shows up here at 00:00 UTC. `reason` says which rule
-- matched (weekend, before 08:00, from 18:00; a weekend event early or late says both).
-- tables: events
WITH e AS (
    SELECT
        stream_id,
        version,
        position,
        event_id,
        aggregate_type,
        event_type,
        actor,
        occurred_at,
        CAST(extract(hour FROM occurred_at) AS INT) AS hour_utc,
        CAST(extract(dow FROM occurred_at) AS INT) AS dow   -- 0 = Sunday … 6 = Saturday
    FROM events
)
SELECT
    stream_id,
    version,
    position,
    event_id,
    aggregate_type,
    event_type,
    actor,
    occurred_at,
    to_char(occurred_at, '%A') AS weekday_utc,
    hour_utc,
    concat_ws(', ',
        CASE WHEN dow IN (0, 6) THEN 'weekend' END,
        CASE WHEN hour_utc < 8 THEN 'before 08:00 UTC' END,
        CASE WHEN hour_utc >= 18 THEN 'from 18:00 UTC' END
    ) AS reason
FROM e
WHERE dow IN (0, 6) OR hour_utc < 8 OR hour_utc >= 18
ORDER BY occurred_at, position, stream_id, version, event_id;
