-- agentctl schema 0005 (SQLite): each chunk as a run left it (status, attempts, error), so a run's
-- page shows that run after a later run of the agent has rewritten the chunk rows.
ALTER TABLE agent_runs ADD COLUMN results TEXT;
