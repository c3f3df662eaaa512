-- Assignee board against the task state: every open, in-progress or blocked task with an assignee is counted on exactly that assignee's board row
-- Task-specific (the task domain's projection `assignee_board`, whose counts come from the
-- keyed fold `assignee_tasks`, kept event by event). The same counts, grouped from the task
-- state table, must agree: a row here is an assignee and status where they do not.
-- tables: assignee_board, task
-- severity: error
WITH from_state AS (
    SELECT assignee,
           count(*) FILTER (WHERE status = 'open') AS open,
           count(*) FILTER (WHERE status = 'in_progress') AS in_progress,
           count(*) FILTER (WHERE status = 'blocked') AS blocked
    FROM task
    WHERE assignee IS NOT NULL
    GROUP BY assignee
),
compared AS (
    SELECT coalesce(b.assignee, s.assignee) AS assignee,
           coalesce(b.open, 0) AS board_open, coalesce(s.open, 0) AS state_open,
           coalesce(b.in_progress, 0) AS board_in_progress, coalesce(s.in_progress, 0) AS state_in_progress,
           coalesce(b.blocked, 0) AS board_blocked, coalesce(s.blocked, 0) AS state_blocked
    FROM assignee_board b
    FULL JOIN from_state s ON s.assignee = b.assignee
)
SELECT *
FROM compared
WHERE board_open <> state_open
   OR board_in_progress <> state_in_progress
   OR board_blocked <> state_blocked
ORDER BY assignee
