-- agentctl schema 0002 (PostgreSQL): where a run executes (to tell a dead process from a live one)
-- and what it is paused for (approvals from the CLI, the dashboard and the Prefect UI).
ALTER TABLE agent_runs ADD COLUMN host text;
ALTER TABLE agent_runs ADD COLUMN pid integer;
ALTER TABLE agent_runs ADD COLUMN awaiting jsonb;
CREATE INDEX chunks_last_run ON chunks (last_run_id);
