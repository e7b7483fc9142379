-- Lists sorted by description order it without regard to case, as they order names: "apple" came after
-- "Zebra". The Data API sorts on the view's description_key, as it sorts names on name_key. No index:
-- a description sort reads the user's agents, as it did before.
CREATE OR REPLACE VIEW public.agent_list WITH (security_invoker = true) AS
SELECT a.id, a.user_id, a.name, a.description, a.status, a.version, a.created_at, a.updated_at,
       a.last_run_at,
       (SELECT count(*) FROM public.chunks AS c WHERE c.agent_id = a.id)::integer AS chunk_count,
       lower(a.name) AS name_key,
       a.name || E'\n' || coalesce(a.description, '') AS search,
       lower(a.description) AS description_key
  FROM public.agents AS a;

-- Replacing the function keeps its grants.
CREATE OR REPLACE FUNCTION public.agentctl_schema_version() RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = '' AS $$
    SELECT '20261206140000_description_sort'::text
$$;
