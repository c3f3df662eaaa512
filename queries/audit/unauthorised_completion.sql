-- Task completions by someone who was never the task's assignee and does not own the task's project
-- Task-specific (task-tracking model): one row per TaskCompleted event whose actor never appears
-- as `assignee` in any TaskAssigned payload of that task (at any point in the log, before or
-- after the completion) and is not the `owner` of the task's project. The task's project is the
-- task state's `project_id`; the owner comes from the project state table. `project_owner` is
-- empty when the project is unknown (see checks/missing_project_references.sql). A completion
-- with no actor recorded is listed too (it cannot be shown to be authorised).
-- tables: events, task, project
WITH assignees AS (
    SELECT DISTINCT stream_id, json_get_str(payload, 'assignee') AS assignee
    FROM events
    WHERE aggregate_type = 'task'
      AND event_type = 'TaskAssigned'
      AND json_get_str(payload, 'assignee') IS NOT NULL
),
assignee_lists AS (
    SELECT stream_id, string_agg(assignee, ', ' ORDER BY assignee) AS assignees
    FROM assignees
    GROUP BY stream_id
),
completions AS (
    SELECT e.stream_id, e.version, e.position, e.event_id, e.occurred_at, e.actor,
           t.project_id, p.owner AS project_owner
    FROM events e
    LEFT JOIN task t ON t.stream_id = e.stream_id
    LEFT JOIN project p ON p.stream_id = t.project_id
    WHERE e.aggregate_type = 'task'
      AND e.event_type = 'TaskCompleted'
)
SELECT
    c.stream_id,
    c.version,
    c.position,
    c.event_id,
    c.occurred_at,
    c.actor AS completed_by,
    c.project_id,
    c.project_owner,
    l.assignees AS ever_assigned,
    CASE
        WHEN c.actor IS NULL THEN 'completed with no actor recorded'
        ELSE concat(
            c.actor, ' completed it but was never its assignee (',
            coalesce(l.assignees, 'never assigned'), ') and does not own ',
            coalesce(c.project_id, 'its project (none recorded)'),
            CASE WHEN c.project_owner IS NULL THEN '' ELSE concat(' (owner ', c.project_owner, ')') END)
    END AS detail
FROM completions c
LEFT JOIN assignee_lists l ON l.stream_id = c.stream_id
-- Keep the parentheses around IS DISTINCT FROM: without them
-- `a IS DISTINCT FROM b AND c` parses as `a IS DISTINCT FROM (b AND c)`.
WHERE c.actor IS NULL
   OR ((c.actor IS DISTINCT FROM c.project_owner)
       AND NOT EXISTS (SELECT 1 FROM assignees a
                       WHERE a.stream_id = c.stream_id AND a.assignee = c.actor))
ORDER BY c.occurred_at, c.stream_id, c.version, c.position, c.event_id;
