-- agentctl schema 0002 (SQLite): where a run executes (to tell a dead process from a live one) and
-- what it is paused for (approvals from the CLI, the dashboard and the Prefect UI).
ALTER TABLE agent_runs ADD COLUMN host TEXT;
ALTER TABLE agent_runs ADD COLUMN pid INTEGER;
ALTER TABLE agent_runs ADD COLUMN awaiting TEXT;
CREATE INDEX chunks_last_run ON chunks (last_run_id);
