-- projection: The board per assignee: their open, in-progress and blocked tasks, the oldest open one, and how often work was reassigned away from them
-- key: assignee
-- not_null: open, in_progress, blocked, reassigned_away
-- One row per person ever assigned a task. The counts and `reassigned_away` come from the
-- model's keyed fold `assignee_tasks` (kept by the replay as tasks move between assignees and
-- statuses); the oldest open task, the one created first (ties by stream id), from the task
-- state. checks/assignee_board_matches_state.sql holds the fold's counts to the state table.
-- tables: assignee_tasks, task
WITH oldest_open AS (
    SELECT assignee, stream_id, created_at,
           row_number() OVER (PARTITION BY assignee ORDER BY created_at, stream_id) AS rank
    FROM task
    WHERE status = 'open' AND assignee IS NOT NULL
)
SELECT
    a.assignee,
    a.open,
    a.in_progress,
    a.blocked,
    a.reassigned_away,
    a.last_assigned_at,
    o.stream_id AS oldest_open_task,
    o.created_at AS oldest_open_since
FROM assignee_tasks a
LEFT JOIN oldest_open o ON o.assignee = a.assignee AND o.rank = 1
