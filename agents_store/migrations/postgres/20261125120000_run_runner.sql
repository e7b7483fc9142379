-- Where a run executes (host and pid, to tell a process that died from a live one) and what it is
-- paused for (approvals from the CLI, the dashboard and the Prefect UI); chunks by their last run,
-- to find those a dead run left Running or Awaiting Approval.
ALTER TABLE public.agent_runs ADD COLUMN host text;
ALTER TABLE public.agent_runs ADD COLUMN pid integer;
ALTER TABLE public.agent_runs ADD COLUMN awaiting jsonb;
CREATE INDEX chunks_last_run ON public.chunks (last_run_id);

-- Replacing the function keeps its grants.
CREATE OR REPLACE FUNCTION public.agentctl_schema_version() RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = '' AS $$
    SELECT '20261125120000_run_runner'::text
$$;
