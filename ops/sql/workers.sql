-- Workers: state, load and health of every worker, lost and silent ones first.
--   psql "$KEYFARM_DASHBOARD_URL" -f ops/sql/workers.sql
SELECT name, host, state, draining, running_jobs || '/' || slots AS load, succeeded_attempts, failed_attempts,
       round(100.0 * failed_attempts / NULLIF(succeeded_attempts + failed_attempts, 0), 1) AS failed_percent,
       now() - last_seen_at AS silent_for, blocklisted_shots, version
FROM keyfarm.v_workers
ORDER BY state = 'lost' DESC, last_seen_at NULLS FIRST, name;
