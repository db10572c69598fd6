-- Credits: every budget with what is spent, reserved and left, then net spend per UTC day and
-- provider over the last 30 days (charges less refunds, plus adjustments).
--   psql "$KEYFARM_DASHBOARD_URL" -f ops/sql/spend-against-budget.sql
SELECT scope, project, shot_list, budget_credits, spent_credits, reserved_credits, remaining_credits,
       round(100.0 * (spent_credits + reserved_credits) / NULLIF(budget_credits, 0), 1) AS used_percent
FROM keyfarm.v_budgets
ORDER BY used_percent DESC NULLS LAST, scope, project, shot_list;

SELECT (recorded_at AT TIME ZONE 'UTC')::date AS day, provider,
       sum(credits) FILTER (WHERE entry = 'charge')     AS charged,
       sum(credits) FILTER (WHERE entry = 'refund')     AS refunded,
       sum(credits) FILTER (WHERE entry = 'adjustment') AS adjusted,
       sum(credits)                                     AS net
FROM keyfarm.v_credit_ledger
WHERE entry IN ('charge', 'refund', 'adjustment') AND recorded_at > now() - interval '30 days'
GROUP BY 1, 2
ORDER BY 1 DESC, 2;
