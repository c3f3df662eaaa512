-- projection: Incidents per final status and support team: how many, their events and waits, and how long they stayed open
-- key: status, team
-- not_null: incidents, events, waits
-- The team is the org line an incident was last queued for ("(none)" when it never was in
-- this slice). `hours_open` is the mean time from an incident's first event to its last one.
-- tables: incident
SELECT
    status,
    coalesce(org_line, '(none)') AS team,
    count(*) AS incidents,
    sum(event_count) AS events,
    coalesce(sum(waits), 0) AS waits,
    round(avg(CAST(extract(epoch FROM updated_at) AS DOUBLE)
              - CAST(extract(epoch FROM created_at) AS DOUBLE)) / 3600.0, 1) AS hours_open
FROM incident
GROUP BY status, coalesce(org_line, '(none)')
