-- projection: Weekly throughput and lead time per project: the tasks completed each week, and the hours from their creation to that completion
-- key: project_id, week
-- not_null: completed, lead_time_p50_hours
-- A completion is a transition into `done` (a task reopened and completed again counts each
-- time). Its week (Monday, UTC: date_bin's 7-day bins from Monday 1970-01-05, as in
-- actor_workload) is the completion's; its lead time runs from the stream's first event (the
-- state's created_at, equal to streams.created_at). The project is the one the task's state
-- names; tasks without one are left out.
-- Percentiles are exact (percentile_cont, linear interpolation).
-- tables: transitions, task
WITH completions AS (
    SELECT
        t.project_id,
        arrow_cast(date_bin(INTERVAL '7 days', tr.occurred_at, TIMESTAMP '1970-01-05T00:00:00Z'), 'Timestamp(Microsecond, Some("UTC"))') AS week,
        (CAST(extract(epoch FROM tr.occurred_at) AS DOUBLE)
         - CAST(extract(epoch FROM t.created_at) AS DOUBLE)) / 3600.0 AS hours
    FROM transitions tr
    JOIN task t ON t.stream_id = tr.stream_id
    WHERE tr.aggregate_type = 'task'
      AND tr.to_status = 'done'
      AND (tr.from_status IS DISTINCT FROM 'done')
      AND t.project_id IS NOT NULL
)
SELECT
    project_id,
    week,
    count(*) AS completed,
    round(percentile_cont(0.5) WITHIN GROUP (ORDER BY hours), 2) AS lead_time_p50_hours,
    round(percentile_cont(0.9) WITHIN GROUP (ORDER BY hours), 2) AS lead_time_p90_hours,
    round(max(hours), 2) AS lead_time_max_hours
FROM completions
GROUP BY project_id, week
