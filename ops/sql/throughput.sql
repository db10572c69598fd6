-- Throughput: jobs that succeeded in each of the last 60 minutes, by kind, with the mean time
-- from first claim to success.
--   psql "$KEYFARM_DASHBOARD_URL" -f ops/sql/throughput.sql
SELECT date_trunc('minute', j.finished_at) AS minute, j.kind, count(*) AS succeeded,
       round(avg(EXTRACT(EPOCH FROM j.finished_at - a.started_at))::numeric, 1) AS mean_seconds
FROM keyfarm.v_jobs j
JOIN keyfarm.v_attempts a ON a.job_id = j.id AND a.attempt = 1
WHERE j.state = 'succeeded' AND j.finished_at > now() - interval '1 hour'
GROUP BY 1, 2
ORDER BY 1 DESC, 2;
