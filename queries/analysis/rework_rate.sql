-- Rework rate: the share of tasks reopened at least once, and reopen events per completed task
-- Task-specific (task-tracking model), one row. From the events: `tasks` all task streams,
-- `tasks_closed` those ever done or cancelled (completed or cancelled at least once: the tasks
-- that could be reopened), `tasks_completed` those completed at least once, `tasks_reopened`
-- those with at least one TaskReopened, `reopen_events` all TaskReopened events.
-- `reopened_share_of_closed` = tasks_reopened / tasks_closed and `reopened_share_of_all` =
-- tasks_reopened / tasks (both 0..1); `reopens_per_completed_task` = reopen_events /
-- tasks_completed (a reopen after a cancellation counts too).
-- tables: events
WITH per_task AS (
    SELECT
        stream_id,
        count(*) FILTER (WHERE event_type = 'TaskCompleted') AS completions,
        count(*) FILTER (WHERE event_type = 'TaskCancelled') AS cancellations,
        count(*) FILTER (WHERE event_type = 'TaskReopened') AS reopens
    FROM events
    WHERE aggregate_type = 'task'
    GROUP BY stream_id
),
totals AS (
    SELECT
        count(*) AS tasks,
        count(*) FILTER (WHERE completions > 0 OR cancellations > 0) AS tasks_closed,
        count(*) FILTER (WHERE completions > 0) AS tasks_completed,
        count(*) FILTER (WHERE reopens > 0) AS tasks_reopened,
        coalesce(sum(reopens), 0) AS reopen_events
    FROM per_task
)
SELECT
    tasks,
    tasks_closed,
    tasks_completed,
    tasks_reopened,
    reopen_events,
    round(CAST(tasks_reopened AS DOUBLE) / nullif(tasks_closed, 0), 4) AS reopened_share_of_closed,
    round(CAST(tasks_reopened AS DOUBLE) / nullif(tasks, 0), 4) AS reopened_share_of_all,
    round(CAST(reopen_events AS DOUBLE) / nullif(tasks_completed, 0), 4) AS reopens_per_completed_task
FROM totals
ORDER BY tasks;
