-- A deep page of the list sorted by name (OFFSET 9000 at 10,000 agents) chooses its 50 ids from this
-- index alone (an index-only scan) when the index carries name: PostgreSQL uses an index on
-- lower(name) for an index-only scan only if the column itself is in it. Without it, the page read
-- 9,050 table rows, or sorted them all: 13-16 ms of the database's CPU per deep page.
DROP INDEX public.agents_user_name;
CREATE INDEX agents_user_name ON public.agents (user_id, lower(name), id) INCLUDE (name);

-- Replacing the function keeps its grants.
CREATE OR REPLACE FUNCTION public.agentctl_schema_version() RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = '' AS $$
    SELECT '20261125200000_list_deep_pages'::text
$$;
