-- Process variants: the 20 most common event-type sequences of each aggregate type (all types by default)
-- A variant is a stream's whole sequence of event types in stream order (version, then log
-- position), joined with ' > '. Each aggregate type is ranked on its own: `streams` counts the
-- streams of the type that follow the variant exactly, `share` is that count over all streams of
-- the type, `cumulative_share` runs down the type's ranking. Repeated steps (several comments in
-- a row) make distinct variants; see directly_follows.sql for the pairwise view. Ties in count
-- are broken by the variant text. The default `aggregate_type = *` ranks every type the log
-- has; name one (`--param aggregate_type=task`) to rank only that.
-- tables: events
-- param: aggregate_type = *
WITH sequences AS (
    SELECT
        aggregate_type,
        stream_id,
        count(*) AS steps,
        string_agg(event_type, ' > ' ORDER BY version, position) AS variant
    FROM events
    WHERE '${aggregate_type}' = '*' OR aggregate_type = '${aggregate_type}'
    GROUP BY aggregate_type, stream_id
),
variants AS (
    SELECT
        aggregate_type,
        variant,
        max(steps) AS steps,
        count(*) AS streams,
        min(stream_id) AS example_stream
    FROM sequences
    GROUP BY aggregate_type, variant
),
ranked AS (
    SELECT
        aggregate_type,
        variant,
        steps,
        streams,
        example_stream,
        CAST(streams AS DOUBLE) / sum(streams) OVER (PARTITION BY aggregate_type) AS share,
        sum(streams) OVER (PARTITION BY aggregate_type ORDER BY streams DESC, variant
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running_streams,
        sum(streams) OVER (PARTITION BY aggregate_type) AS total_streams,
        ROW_NUMBER() OVER (PARTITION BY aggregate_type ORDER BY streams DESC, variant) AS rank
    FROM variants
)
SELECT
    aggregate_type,
    rank,
    streams,
    round(share, 4) AS share,
    round(CAST(running_streams AS DOUBLE) / total_streams, 4) AS cumulative_share,
    steps,
    example_stream,
    variant
FROM ranked
WHERE rank <= 20
ORDER BY aggregate_type, rank;
