-- Assignee board below zero: an assignee whose open, in-progress or blocked count is negative
-- Task-specific (the task domain's projection `assignee_board`, from the keyed fold
-- `assignee_tasks`). A task is taken off its assignee's row as often as it was put on it, so a
-- negative count means the fold's rules miss an event that moves a task.
-- tables: assignee_board
-- severity: error
SELECT assignee, open, in_progress, blocked
FROM assignee_board
WHERE open < 0 OR in_progress < 0 OR blocked < 0
ORDER BY assignee
