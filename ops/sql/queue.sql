-- The queue: unfinished jobs of each shot list by state, busiest first.
--   psql "$KEYFARM_DASHBOARD_URL" -f ops/sql/queue.sql
-- Reads only the documented views (ops/dashboards/SCHEMA.md), so a keyfarm_dashboard login will do.
SELECT project, shot_list,
       count(*) FILTER (WHERE state = 'waiting')             AS waiting,
       count(*) FILTER (WHERE state = 'queued')              AS queued,
       count(*) FILTER (WHERE state = 'retry_wait')          AS retry_wait,
       count(*) FILTER (WHERE state = 'blocked')             AS blocked,
       count(*) FILTER (WHERE state IN ('leased', 'running')) AS running,
       min(not_before) FILTER (WHERE state = 'retry_wait')   AS next_retry_at
FROM keyfarm.v_jobs
WHERE state IN ('waiting', 'queued', 'retry_wait', 'blocked', 'leased', 'running')
GROUP BY project, shot_list
ORDER BY count(*) DESC, project, shot_list;
