-- Process variants: the 20 most common event-type sequences of one aggregate type (tasks by default)
-- A variant is a stream's whole sequence of event types in stream order (version, then log
-- position), joined with ' > '. `streams` counts the streams that follow it exactly, `share` is
-- that count over all streams of the type, `cumulative_share` runs down the ranking. Repeated
-- steps (several comments in a row) make distinct variants; see directly_follows.sql for the
-- pairwise view. Ties in count are broken by the variant text.
-- tables: events
-- param: aggregate_type = task
WITH sequences AS (
    SELECT
        stream_id,
        count(*) AS steps,
        string_agg(event_type, ' > ' ORDER BY version, position) AS variant
    FROM events
    WHERE aggregate_type = '${aggregate_type}'
    GROUP BY stream_id
),
variants AS (
    SELECT
        variant,
        max(steps) AS steps,
        count(*) AS streams,
        min(stream_id) AS example_stream
    FROM sequences
    GROUP BY variant
),
ranked AS (
    SELECT
        variant,
        steps,
        streams,
        example_stream,
        CAST(streams AS DOUBLE) / sum(streams) OVER () AS share,
        sum(streams) OVER (ORDER BY streams DESC, variant
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running_streams,
        sum(streams) OVER () AS total_streams,
        ROW_NUMBER() OVER (ORDER BY streams DESC, variant) AS rank
    FROM variants
)
SELECT
    rank,
    streams,
    round(share, 4) AS share,
    round(CAST(running_streams AS DOUBLE) / total_streams, 4) AS cumulative_share,
    steps,
    example_stream,
    variant
FROM ranked
WHERE rank <= 20
ORDER BY rank;
