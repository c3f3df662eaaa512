-- Missing project references: a task whose project_id names a project that was never created
-- Task-specific (task-tracking model). The task's project is the task state's `project_id`
-- (set by TaskCreated); a project counts as created when its stream has a ProjectCreated
-- event anywhere in the log (a project created after the task is not reported). Tasks without
-- a project_id are not reported here. `version` is the task's creation event (the event that
-- named the project).
-- tables: task, events
-- severity: error
WITH created_projects AS (
    SELECT DISTINCT stream_id
    FROM events
    WHERE aggregate_type = 'project' AND event_type = 'ProjectCreated'
),
task_creation AS (
    SELECT stream_id, min(version) AS version
    FROM events
    WHERE aggregate_type = 'task' AND event_type = 'TaskCreated'
    GROUP BY stream_id
)
SELECT
    t.stream_id,
    c.version,
    t.project_id,
    t.status,
    t.created_by,
    concat('task ', t.stream_id, ' names project ', t.project_id,
           ', which has no ProjectCreated event in the log') AS detail
FROM task t
LEFT JOIN task_creation c ON c.stream_id = t.stream_id
WHERE t.project_id IS NOT NULL
  AND t.project_id NOT IN (SELECT stream_id FROM created_projects)
ORDER BY t.stream_id, c.version;
