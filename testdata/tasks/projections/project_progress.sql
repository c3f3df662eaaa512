-- projection: Progress per project: its tasks per status, the share done and the overdue ones
-- key: project_id
-- param: overdue_days = 7
-- not_null: tasks, share_done, overdue
-- A task counts for the project its state names (tasks without one are left out). `share_done`
-- is the tasks completed (done, or archived after completion: `completed_at` is set) over all
-- the project's tasks. `overdue` counts the open, in-progress and blocked tasks not touched for
-- more than ${overdue_days} days before the log's last event (not the clock: a rebuild gives
-- the same rows whenever it runs). The project's name, owner and status come from its state;
-- they are null when the project's stream is missing (see checks/missing_project_references).
-- tables: task, project, events
WITH log_end AS (
    SELECT max(occurred_at) AS at FROM events
)
SELECT
    t.project_id,
    p.name AS project_name,
    p.owner AS project_owner,
    p.status AS project_status,
    count(*) AS tasks,
    count(*) FILTER (WHERE t.status = 'open') AS open,
    count(*) FILTER (WHERE t.status = 'in_progress') AS in_progress,
    count(*) FILTER (WHERE t.status = 'blocked') AS blocked,
    count(*) FILTER (WHERE t.status = 'done') AS done,
    count(*) FILTER (WHERE t.status = 'cancelled') AS cancelled,
    count(*) FILTER (WHERE t.status = 'archived') AS archived,
    round(CAST(count(t.completed_at) AS DOUBLE) / count(*), 3) AS share_done,
    count(*) FILTER (
        WHERE t.status IN ('open', 'in_progress', 'blocked')
          AND t.updated_at < e.at - INTERVAL '${overdue_days} days'
    ) AS overdue
FROM task t
CROSS JOIN log_end e
LEFT JOIN project p ON p.stream_id = t.project_id
WHERE t.project_id IS NOT NULL
GROUP BY t.project_id, p.name, p.owner, p.status
