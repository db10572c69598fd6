-- One job through the naive loop, as pgbench runs it per client: a claim in one transaction
-- (FOR UPDATE SKIP LOCKED, priority then age), its completion in another. pgbench counts
-- one run of this script as one transaction, so its tps is jobs per second.
BEGIN;
UPDATE naive.jobs SET state = 'leased', leased_at = now(), worker = 'client-' || :client_id
WHERE id = (SELECT id FROM naive.jobs WHERE state = 'queued' ORDER BY priority DESC, id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id AS job_id \gset
COMMIT;
BEGIN;
UPDATE naive.jobs SET state = 'succeeded', finished_at = now() WHERE id = :job_id;
COMMIT;
