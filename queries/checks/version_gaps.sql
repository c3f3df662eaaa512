-- Version gaps: a stream whose versions skip one or more numbers (or do not start at 1)
-- Generic (any aggregate type). One row per gap, at the first version after it, with the
-- missing range. Duplicated versions are counted once, so they never look like a gap. Replay
-- reports the same as findings rule version_gap.
-- tables: events
-- severity: error
WITH with_previous AS (
    -- a repeated version follows itself (no gap), so every event can be compared with the
    -- one before it in stream order, without taking the distinct versions first
    SELECT
        aggregate_type,
        stream_id,
        CAST(version AS BIGINT) AS version,
        coalesce(
            LAG(CAST(version AS BIGINT)) OVER (
                PARTITION BY aggregate_type, stream_id ORDER BY version, position),
            0) AS previous_version
    FROM events
)
SELECT
    stream_id,
    aggregate_type,
    version,
    previous_version,
    version - previous_version - 1 AS missing,
    CASE
        WHEN previous_version = 0
            THEN concat('stream starts at version ', version, '; versions 1..', version - 1, ' missing')
        ELSE concat('version ', previous_version, ' is followed by ', version, '; ',
                    CASE WHEN version - previous_version = 2
                         THEN concat('version ', previous_version + 1)
                         ELSE concat('versions ', previous_version + 1, '..', version - 1) END,
                    ' missing')
    END AS detail
FROM with_previous
WHERE version > previous_version + 1
ORDER BY stream_id, aggregate_type, version;
