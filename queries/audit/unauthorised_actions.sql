-- Events the model's authorisation rules do not allow: who did what, when, and why not
-- Any model: one row per `unauthorised_action` finding of the replay (README, "Authorisation
-- rules"), joined to its event. `message` names the rule that failed and the values it read
-- (the assignee then, the related stream's field then, the roles held that day). Empty when the
-- model declares no `allowed` rule. Replaces the task-only audit of completions, which could not
-- see the state at the time of the event.
-- tables: findings, events
SELECT e.aggregate_type, e.stream_id, e.version, e.event_type, e.occurred_at, e.actor,
       f.severity, f.message
FROM findings f
JOIN events e ON e.position = f.position
WHERE f.rule = 'unauthorised_action'
ORDER BY e.position
