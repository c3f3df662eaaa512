-- Lead time per aggregate type: hours from a stream's creation to its first terminal status (p50, p90, max)
-- Creation is the stream's creation event (the transition entering a status from none); the end
-- is the first event in stream order (version, then position) whose resulting status is
-- terminal. Percentiles are exact (percentile_cont, linear interpolation). Streams that never
-- reach a terminal status are counted in `streams_created` but not in the percentiles.
-- The terminal statuses are the model's (`model_statuses`), so it answers on any model.
-- tables: transitions, model_statuses
WITH terminal AS (
    SELECT aggregate_type, status FROM model_statuses WHERE is_terminal
),
created AS (
    SELECT aggregate_type, stream_id,
           first_value(occurred_at ORDER BY version, position) AS created_at
    FROM transitions
    WHERE from_status IS NULL AND to_status IS NOT NULL
    GROUP BY aggregate_type, stream_id
),
finished AS (
    SELECT t.aggregate_type, t.stream_id,
           first_value(t.occurred_at ORDER BY t.version, t.position) AS finished_at
    FROM transitions t
    JOIN terminal x ON x.aggregate_type = t.aggregate_type AND x.status = t.to_status
    GROUP BY t.aggregate_type, t.stream_id
),
lead_times AS (
    SELECT c.aggregate_type, c.stream_id,
           (CAST(extract(epoch FROM f.finished_at) AS DOUBLE)
            - CAST(extract(epoch FROM c.created_at) AS DOUBLE)) / 3600.0 AS hours
    FROM created c
    LEFT JOIN finished f ON f.aggregate_type = c.aggregate_type AND f.stream_id = c.stream_id
)
SELECT
    aggregate_type,
    count(*) AS streams_created,
    count(hours) AS streams_finished,
    round(percentile_cont(0.5) WITHIN GROUP (ORDER BY hours), 2) AS p50_hours,
    round(percentile_cont(0.9) WITHIN GROUP (ORDER BY hours), 2) AS p90_hours,
    round(max(hours), 2) AS max_hours
FROM lead_times
GROUP BY aggregate_type
ORDER BY aggregate_type;
