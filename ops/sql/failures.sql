-- Failures: failed and lost attempts of the last 24 hours by error class and worker, then the
-- jobs that failed for good with their reasons.
--   psql "$KEYFARM_DASHBOARD_URL" -f ops/sql/failures.sql
SELECT COALESCE(error_class, outcome) AS error_class, worker, count(*) AS attempts, max(finished_at) AS latest
FROM keyfarm.v_attempts
WHERE outcome IN ('failed', 'lost') AND finished_at > now() - interval '24 hours'
GROUP BY 1, 2
ORDER BY attempts DESC, 1, 2;

SELECT project, shot_list, job_key, attempts, last_error_class, last_error, finished_at
FROM keyfarm.v_jobs
WHERE state = 'failed'
ORDER BY finished_at DESC NULLS LAST
LIMIT 50;
