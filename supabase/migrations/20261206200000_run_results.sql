-- Each chunk as a run left it (status, attempts, error), so a run's page shows that run after a
-- later run of the agent has rewritten the chunk rows.
ALTER TABLE public.agent_runs ADD COLUMN results jsonb;

-- Replacing the function keeps its grants.
CREATE OR REPLACE FUNCTION public.agentctl_schema_version() RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = '' AS $$
    SELECT '20261206200000_run_results'::text
$$;
