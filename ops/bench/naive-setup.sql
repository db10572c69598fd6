SET client_min_messages = warning;
-- The naive queue `make bench` compares Keyfarm's dispatch with: one table, a partial index
-- on the ready jobs, :jobs rows queued. Run by ops/scripts/bench in the same cluster, after
-- Keyfarm's own figures, with psql -v jobs=N.
DROP SCHEMA IF EXISTS naive CASCADE;
CREATE SCHEMA naive;
CREATE TABLE naive.jobs (
    id          bigserial PRIMARY KEY,
    state       text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'leased', 'succeeded')),
    priority    int NOT NULL DEFAULT 50,
    created_at  timestamptz NOT NULL DEFAULT now(),
    leased_at   timestamptz,
    finished_at timestamptz,
    worker      text
);
CREATE INDEX jobs_ready ON naive.jobs (priority DESC, id) WHERE state = 'queued';
INSERT INTO naive.jobs (priority) SELECT 50 FROM generate_series(1, :jobs);
VACUUM ANALYZE naive.jobs;
CHECKPOINT;
