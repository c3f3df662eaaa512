-- Directly-follows graph: how often event type b comes right after a in one stream, per aggregate type
-- One row per (aggregate_type, a, b): `pairs` counts consecutive event pairs a→b within a stream
-- (stream order: version, then log position, so duplicated versions count in the order they
-- were logged), `streams` how many streams contain the pair, `share_of_a` the share of all
-- successors of a that are b (sums to 1 per a), and the median / max seconds between the two
-- events (negative when a stream's timestamps run backwards, see checks/timestamps_backwards.sql).
-- The last event of each stream has no successor and is not counted.
-- tables: transitions
WITH pairs AS (
    -- each transition row is the edge from the stream's previous event to this one
    SELECT
        aggregate_type,
        previous_event_type AS a,
        event_type AS b,
        count(*) AS pairs,
        count(DISTINCT stream_id) AS streams,
        median(seconds_since_previous) AS median_seconds,
        max(seconds_since_previous) AS max_seconds
    FROM transitions
    WHERE previous_event_type IS NOT NULL
    GROUP BY aggregate_type, previous_event_type, event_type
)
SELECT
    aggregate_type,
    a,
    b,
    pairs,
    streams,
    round(CAST(pairs AS DOUBLE) / sum(pairs) OVER (PARTITION BY aggregate_type, a), 4) AS share_of_a,
    round(median_seconds, 2) AS median_seconds,
    round(max_seconds, 2) AS max_seconds
FROM pairs
ORDER BY aggregate_type, pairs DESC, a, b;
