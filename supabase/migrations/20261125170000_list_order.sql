-- List pages sorted by last run or by name read an index in the page's own order (id breaks ties)
-- instead of sorting all of a user's agents for every page: 15 ms and 40 ms at 10,000 agents before.
CREATE INDEX agents_user_last_run ON public.agents (user_id, last_run_at DESC NULLS LAST, id DESC);
DROP INDEX public.agents_user_name;
CREATE INDEX agents_user_name ON public.agents (user_id, lower(name), id);

-- Replacing the function keeps its grants.
CREATE OR REPLACE FUNCTION public.agentctl_schema_version() RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = '' AS $$
    SELECT '20261125170000_list_order'::text
$$;
