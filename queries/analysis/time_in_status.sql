-- Time in status per aggregate type: total and median hours the streams spent in each status
-- Each event leaves its stream in `to_status` until the stream's next event (stream order:
-- version, then log position); that interval is charged to the status (read off the next
-- event's row: its from_status and seconds_since_previous, no window needed). Per stream the intervals
-- of a status are summed (a status entered twice counts once per stream, with both stays);
-- `streams` is how many streams spent time in it, `total_hours` the sum over them,
-- `median_hours` / `p90_hours` the exact median / 90th percentile of the per-stream totals.
-- The time after a stream's last event is open-ended and not counted (so final statuses, e.g.
-- archived, get little or none). Intervals are taken as logged: timestamps that run backwards
-- (checks/timestamps_backwards.sql) give negative intervals. Events without a status
-- (aggregate types without a lifecycle, events before creation) are skipped.
-- tables: transitions
WITH per_stream AS (
    -- a transition's seconds since the previous event are time spent in its from_status
    SELECT
        aggregate_type,
        from_status AS status,
        stream_id,
        sum(seconds_since_previous / 3600.0) AS hours
    FROM transitions
    WHERE from_status IS NOT NULL AND seconds_since_previous IS NOT NULL
    GROUP BY aggregate_type, from_status, stream_id
)
SELECT
    aggregate_type,
    status,
    count(*) AS streams,
    round(sum(hours), 2) AS total_hours,
    round(median(hours), 2) AS median_hours,
    round(percentile_cont(0.9) WITHIN GROUP (ORDER BY hours), 2) AS p90_hours
FROM per_stream
GROUP BY aggregate_type, status
ORDER BY aggregate_type, status;
