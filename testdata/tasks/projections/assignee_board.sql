-- projection: The board per assignee: their open, in-progress and blocked tasks, and the oldest open one
-- key: assignee
-- not_null: tasks, open, in_progress, blocked
-- One row per person some task's state names as its assignee (whatever its status). The
-- oldest open task is the one created first (ties by stream id).
-- tables: task
WITH oldest_open AS (
    SELECT assignee, stream_id, created_at,
           row_number() OVER (PARTITION BY assignee ORDER BY created_at, stream_id) AS rank
    FROM task
    WHERE status = 'open' AND assignee IS NOT NULL
)
SELECT
    t.assignee,
    count(*) AS tasks,
    count(*) FILTER (WHERE t.status = 'open') AS open,
    count(*) FILTER (WHERE t.status = 'in_progress') AS in_progress,
    count(*) FILTER (WHERE t.status = 'blocked') AS blocked,
    min(o.stream_id) AS oldest_open_task,
    min(o.created_at) AS oldest_open_since
FROM task t
LEFT JOIN oldest_open o ON o.assignee = t.assignee AND o.rank = 1
WHERE t.assignee IS NOT NULL
GROUP BY t.assignee
