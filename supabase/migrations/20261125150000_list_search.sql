-- Searching agent lists by text: trigram indexes let `name ILIKE '%text%'` (and description) use an
-- index instead of reading every agent, so a filtered list page stays fast at 100,000 agents.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX agents_name_trgm ON public.agents USING gin (name gin_trgm_ops);
CREATE INDEX agents_description_trgm ON public.agents USING gin (description gin_trgm_ops);

-- Replacing the function keeps its grants.
CREATE OR REPLACE FUNCTION public.agentctl_schema_version() RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = '' AS $$
    SELECT '20261125150000_list_search'::text
$$;
