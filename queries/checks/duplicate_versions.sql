-- Duplicate versions: two or more events of one stream claiming the same version
-- Generic (any aggregate type). One row per (stream, version) claimed more than once, listing
-- the claiming events in log order. Replay applies the first (lowest position) and reports
-- each later one as findings rule duplicate_version.
-- tables: events
-- severity: error
WITH duplicated AS (
    -- find the claimed-twice versions first, so only their events get aggregated below
    SELECT aggregate_type, stream_id, version
    FROM events
    GROUP BY aggregate_type, stream_id, version
    HAVING count(*) > 1
)
SELECT
    e.stream_id,
    e.aggregate_type,
    e.version,
    count(*) AS events,
    string_agg(e.event_id, ', ' ORDER BY e.position) AS event_ids,
    concat('version ', e.version, ' is claimed by ', count(*), ' events: ',
           string_agg(concat(e.event_id, ' ', e.event_type, ' (position ', e.position, ')'), ', '
                      ORDER BY e.position),
           '; only the first is applied') AS detail
FROM events e
JOIN duplicated d
  ON d.aggregate_type = e.aggregate_type AND d.stream_id = e.stream_id AND d.version = e.version
GROUP BY e.aggregate_type, e.stream_id, e.version
ORDER BY e.stream_id, e.aggregate_type, e.version;
