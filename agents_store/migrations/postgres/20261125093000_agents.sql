-- agentctl schema: users (profiles), agents, chunks, agent_versions, agent_runs, agent_schedules,
-- agent_exports.
--
-- One schema, two ways in: `supabase db push` applies this file to a Supabase project, and agentctl's
-- PostgreSQL backend applies the very same bytes (agents_store/migrations/postgres/, after a platform
-- migration that creates on a plain server what Supabase provides: auth.users, auth.uid(), the roles).
--
-- Every agent belongs to a user of auth.users. Row-level security lets a signed-in user (role
-- `authenticated`) read and write only their own agents and what hangs off them; `service_role`
-- (the engine on a trusted worker) bypasses it, as it does everywhere in Supabase; `anon` gets nothing.
--
-- The database keeps what a single-row write through the Data API cannot: an agent's derived status
-- (from its chunks' statuses, by the rules of agents_store.models.AGENT_STATUS_RULES), its last run
-- time, and updated_at stamps. Saving an agent with its chunks is one call: save_agent().

-- ---------------------------------------------------------------------------------------- tables

-- Profiles of auth.users: the name agentctl shows for an owner.
CREATE TABLE public.users (
    id          uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
    name        text NOT NULL,
    email       text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.agents (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          uuid NOT NULL DEFAULT auth.uid() REFERENCES auth.users (id) ON DELETE CASCADE,
    name             text NOT NULL,
    description      text,
    loom_url         text NOT NULL,
    github_repo_url  text,
    params           jsonb NOT NULL DEFAULT '{}'::jsonb,
    settings         jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Derived from the chunks by the chunks_status_* triggers; never written by hand.
    status           text NOT NULL DEFAULT 'Not Started' CHECK (status IN (
                         'Not Started', 'Running', 'Awaiting Approval', 'Failed', 'Needs Review',
                         'Completed', 'Incomplete')),
    version          integer NOT NULL CHECK (version >= 1),
    last_run_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- The dashboard's sorts and filters, per owner (RLS adds user_id = auth.uid() to every query) and
-- across owners for the service role.
CREATE INDEX agents_user_updated ON public.agents (user_id, updated_at DESC);
CREATE INDEX agents_user_created ON public.agents (user_id, created_at DESC);
CREATE INDEX agents_user_name ON public.agents (user_id, lower(name));
CREATE INDEX agents_user_status ON public.agents (user_id, status);
CREATE INDEX agents_updated ON public.agents (updated_at DESC);

CREATE TABLE public.chunks (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    agent_id         uuid NOT NULL REFERENCES public.agents (id) ON DELETE CASCADE,
    "order"          integer NOT NULL CHECK ("order" >= 1),
    name             text,
    start_time       text,
    end_time         text,
    status           text NOT NULL DEFAULT 'Not Started' CHECK (status IN (
                         'Not Started', 'Running', 'Awaiting Approval', 'Completed',
                         'Failed', 'Skipped', 'Needs Review')),
    retries          integer,
    learned_actions  jsonb NOT NULL DEFAULT '[]'::jsonb,
    error_details    jsonb,
    attempts         integer NOT NULL DEFAULT 0,
    last_run_id      uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (agent_id, "order")
);

CREATE TABLE public.agent_versions (
    agent_id    uuid NOT NULL REFERENCES public.agents (id) ON DELETE CASCADE,
    version     integer NOT NULL,
    snapshot    jsonb NOT NULL,
    author      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, version)
);

CREATE TABLE public.agent_runs (
    flow_run_id    uuid PRIMARY KEY,
    agent_id       uuid NOT NULL REFERENCES public.agents (id) ON DELETE CASCADE,
    agent_version  integer NOT NULL,
    mode           text NOT NULL,
    status         text NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    triggered_by   text,
    params         jsonb NOT NULL DEFAULT '{}'::jsonb,
    chunks         jsonb,
    notes          jsonb NOT NULL DEFAULT '[]'::jsonb,
    error          text
);
CREATE INDEX agent_runs_agent_started ON public.agent_runs (agent_id, started_at DESC);
CREATE INDEX agent_runs_started ON public.agent_runs (started_at DESC);
CREATE INDEX agent_runs_status ON public.agent_runs (status);

CREATE TABLE public.agent_schedules (
    agent_id    uuid PRIMARY KEY REFERENCES public.agents (id) ON DELETE CASCADE,
    cron        text NOT NULL,
    timezone    text NOT NULL DEFAULT 'UTC',
    mode        text NOT NULL DEFAULT 'automatic',
    params      jsonb NOT NULL DEFAULT '{}'::jsonb,
    active      boolean NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.agent_exports (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    agent_id       uuid NOT NULL REFERENCES public.agents (id) ON DELETE CASCADE,
    agent_version  integer NOT NULL,
    target         text NOT NULL,
    repository     text NOT NULL,
    branch         text,
    path           text NOT NULL,
    commit_sha     text,
    tag            text,
    author         text,
    exported_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_exports_agent ON public.agent_exports (agent_id, exported_at DESC);

-- One row per agent as lists show it: the chunk count, a case-free sort key for names and the text
-- the list filter searches, so that a list is one Data API request. security_invoker: the caller's
-- row-level security applies, not the view owner's.
CREATE VIEW public.agent_list WITH (security_invoker = true) AS
SELECT a.id, a.user_id, a.name, a.description, a.status, a.version, a.created_at, a.updated_at,
       a.last_run_at,
       (SELECT count(*) FROM public.chunks AS c WHERE c.agent_id = a.id)::integer AS chunk_count,
       lower(a.name) AS name_key,
       a.name || E'\n' || coalesce(a.description, '') AS search
  FROM public.agents AS a;

-- ---------------------------------------------------------------------------------------- triggers

-- Stamp updated_at on a change, unless the writer stamped it itself (agentctl's SQL stores do, so that
-- what they return is exactly what was stored).
CREATE FUNCTION public.agentctl_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;

-- An agent's updated_at tracks its definition only: run state (status, last_run_at) leaves it alone.
CREATE TRIGGER agents_updated_at
    BEFORE UPDATE OF name, description, loom_url, github_repo_url, params, settings, version
    ON public.agents FOR EACH ROW EXECUTE FUNCTION public.agentctl_touch_updated_at();
CREATE TRIGGER chunks_updated_at
    BEFORE UPDATE ON public.chunks FOR EACH ROW EXECUTE FUNCTION public.agentctl_touch_updated_at();
CREATE TRIGGER agent_schedules_updated_at
    BEFORE UPDATE ON public.agent_schedules FOR EACH ROW EXECUTE FUNCTION public.agentctl_touch_updated_at();

-- The agent's status from its chunks, first rule that matches (agents_store.models.AGENT_STATUS_RULES).
CREATE FUNCTION public.agentctl_agent_status(agent uuid) RETURNS text
LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT CASE
        WHEN count(*) = 0 THEN 'Not Started'
        WHEN bool_or(c.status = 'Running') THEN 'Running'
        WHEN bool_or(c.status = 'Awaiting Approval') THEN 'Awaiting Approval'
        WHEN bool_or(c.status = 'Failed') THEN 'Failed'
        WHEN bool_or(c.status = 'Needs Review') THEN 'Needs Review'
        WHEN bool_and(c.status IN ('Completed', 'Skipped')) THEN 'Completed'
        WHEN bool_and(c.status = 'Not Started') THEN 'Not Started'
        ELSE 'Incomplete'
    END
    FROM public.chunks AS c
    WHERE c.agent_id = agent
$$;

-- Once per statement, for the agents whose chunks it touched (a save inserts many chunks at once).
CREATE FUNCTION public.agentctl_refresh_agent_status() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
    UPDATE public.agents AS a
       SET status = derived.status
      FROM (SELECT touched.agent_id, public.agentctl_agent_status(touched.agent_id) AS status
              FROM (SELECT DISTINCT changed_chunks.agent_id FROM changed_chunks) AS touched) AS derived
     WHERE a.id = derived.agent_id
       AND a.status IS DISTINCT FROM derived.status;
    RETURN NULL;
END
$$;

CREATE TRIGGER chunks_status_after_insert
    AFTER INSERT ON public.chunks REFERENCING NEW TABLE AS changed_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION public.agentctl_refresh_agent_status();
CREATE TRIGGER chunks_status_after_update
    AFTER UPDATE ON public.chunks REFERENCING NEW TABLE AS changed_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION public.agentctl_refresh_agent_status();
CREATE TRIGGER chunks_status_after_delete
    AFTER DELETE ON public.chunks REFERENCING OLD TABLE AS changed_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION public.agentctl_refresh_agent_status();

-- A run recorded for the first time is the agent's last run (an upsert that updates does not fire).
CREATE FUNCTION public.agentctl_stamp_last_run() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
    UPDATE public.agents SET last_run_at = NEW.started_at WHERE id = NEW.agent_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER agent_runs_last_run
    AFTER INSERT ON public.agent_runs FOR EACH ROW EXECUTE FUNCTION public.agentctl_stamp_last_run();

-- ---------------------------------------------------------------------------------------- functions

-- Save an agent with its chunks and a version snapshot, atomically (one call = one transaction).
--   payload: the agent's columns, plus "chunks" (an array of chunk rows), "snapshot" (the export
--            document of this version) and "author".
--   expected_version: 0 creates the agent; N saves it only if it is still at version N; NULL saves
--            whatever version it is at.
-- Raises PT404 when there is no such agent (or it is not the caller's), PT409 when its version moved
-- on (DETAIL: {"expected": N, "actual": M}); nothing is written then. Returns version and timestamps.
-- SECURITY INVOKER: the caller's row-level security applies to every statement.
CREATE FUNCTION public.save_agent(payload jsonb, expected_version integer) RETURNS jsonb
LANGUAGE plpgsql SECURITY INVOKER SET search_path = '' AS $$
DECLARE
    agent public.agents := jsonb_populate_record(NULL::public.agents, payload);
    saved record;
    stored_version integer;
BEGIN
    IF expected_version = 0 THEN
        INSERT INTO public.agents (id, user_id, name, description, loom_url, github_repo_url, params,
                                   settings, version)
        VALUES (agent.id, agent.user_id, agent.name, agent.description, agent.loom_url,
                agent.github_repo_url, coalesce(agent.params, '{}'), coalesce(agent.settings, '{}'), 1)
        RETURNING version, created_at, updated_at INTO saved;
    ELSE
        UPDATE public.agents AS a
           SET name = agent.name, description = agent.description, loom_url = agent.loom_url,
               github_repo_url = agent.github_repo_url, params = coalesce(agent.params, '{}'),
               settings = coalesce(agent.settings, '{}'), version = a.version + 1, updated_at = now()
         WHERE a.id = agent.id
           AND (expected_version IS NULL OR a.version = expected_version)
        RETURNING a.version, a.created_at, a.updated_at INTO saved;
        IF NOT FOUND THEN
            SELECT a.version INTO stored_version FROM public.agents AS a WHERE a.id = agent.id;
            IF NOT FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = format('no agent %s', agent.id);
            END IF;
            RAISE EXCEPTION USING
                ERRCODE = 'PT409',
                MESSAGE = format('agent %s is at version %s, not %s', agent.id, stored_version,
                                 expected_version),
                DETAIL = jsonb_build_object('expected', expected_version, 'actual', stored_version)::text;
        END IF;
        DELETE FROM public.chunks AS c WHERE c.agent_id = agent.id;
    END IF;

    INSERT INTO public.chunks (id, agent_id, "order", name, start_time, end_time, status, retries,
                               learned_actions, error_details, attempts, last_run_id, created_at,
                               updated_at)
    SELECT c.id, agent.id, c."order", c.name, c.start_time, c.end_time,
           coalesce(c.status, 'Not Started'), c.retries, coalesce(c.learned_actions, '[]'),
           c.error_details, coalesce(c.attempts, 0), c.last_run_id, saved.updated_at, saved.updated_at
      FROM jsonb_populate_recordset(NULL::public.chunks, coalesce(payload -> 'chunks', '[]')) AS c;

    INSERT INTO public.agent_versions (agent_id, version, snapshot, author, created_at)
    VALUES (agent.id, saved.version, payload -> 'snapshot', payload ->> 'author', saved.updated_at);

    RETURN jsonb_build_object('version', saved.version, 'created_at', saved.created_at,
                              'updated_at', saved.updated_at);
END
$$;

-- Make sure a user exists: their auth.users row (created here only for users Supabase Auth does not
-- know, such as agentctl's local default user) and their profile. A signed-in user may only ensure
-- themselves; the service role and direct database connections (no JWT) may ensure anyone.
CREATE FUNCTION public.agentctl_ensure_user(user_id uuid, name text, email text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    IF auth.role() IN ('anon', 'authenticated') AND user_id IS DISTINCT FROM auth.uid() THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = 'a signed-in user can only create their own profile';
    END IF;
    INSERT INTO auth.users (id, email, raw_user_meta_data)
    VALUES (user_id, email, jsonb_build_object('name', name))
    ON CONFLICT (id) DO NOTHING;
    INSERT INTO public.users (id, name, email)
    VALUES (user_id, name, email)
    ON CONFLICT (id) DO NOTHING;
    RETURN user_id;
END
$$;

-- The agentctl migration this database is at: agentctl refuses a schema older or newer than it knows.
-- Every later migration replaces it with its own name.
CREATE FUNCTION public.agentctl_schema_version() RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = '' AS $$
    SELECT '20261125093000_agents'::text
$$;

-- ---------------------------------------------------------------------------------------- security

ALTER TABLE public.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.agents ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.agent_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.agent_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.agent_schedules ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.agent_exports ENABLE ROW LEVEL SECURITY;

-- (SELECT auth.uid()) is evaluated once per statement, not once per row.
CREATE POLICY "users: own profile" ON public.users FOR SELECT TO authenticated
    USING (id = (SELECT auth.uid()));
CREATE POLICY "users: create own profile" ON public.users FOR INSERT TO authenticated
    WITH CHECK (id = (SELECT auth.uid()));
CREATE POLICY "users: edit own profile" ON public.users FOR UPDATE TO authenticated
    USING (id = (SELECT auth.uid())) WITH CHECK (id = (SELECT auth.uid()));

CREATE POLICY "agents: owner reads" ON public.agents FOR SELECT TO authenticated
    USING (user_id = (SELECT auth.uid()));
CREATE POLICY "agents: owner creates" ON public.agents FOR INSERT TO authenticated
    WITH CHECK (user_id = (SELECT auth.uid()));
CREATE POLICY "agents: owner edits" ON public.agents FOR UPDATE TO authenticated
    USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));
CREATE POLICY "agents: owner deletes" ON public.agents FOR DELETE TO authenticated
    USING (user_id = (SELECT auth.uid()));

-- What hangs off an agent belongs to the agent's owner.
CREATE POLICY "chunks: of own agents" ON public.chunks FOR ALL TO authenticated
    USING (agent_id IN (SELECT a.id FROM public.agents AS a WHERE a.user_id = (SELECT auth.uid())))
    WITH CHECK (agent_id IN (SELECT a.id FROM public.agents AS a WHERE a.user_id = (SELECT auth.uid())));
CREATE POLICY "agent_versions: of own agents" ON public.agent_versions FOR ALL TO authenticated
    USING (agent_id IN (SELECT a.id FROM public.agents AS a WHERE a.user_id = (SELECT auth.uid())))
    WITH CHECK (agent_id IN (SELECT a.id FROM public.agents AS a WHERE a.user_id = (SELECT auth.uid())));
CREATE POLICY "agent_runs: of own agents" ON public.agent_runs FOR ALL TO authenticated
    USING (agent_id IN (SELECT a.id FROM public.agents AS a WHERE a.user_id = (SELECT auth.uid())))
    WITH CHECK (agent_id IN (SELECT a.id FROM public.agents AS a WHERE a.user_id = (SELECT auth.uid())));
CREATE POLICY "agent_schedules: of own agents" ON public.agent_schedules FOR ALL TO authenticated
    USING (agent_id IN (SELECT a.id FROM public.agents AS a WHERE a.user_id = (SELECT auth.uid())))
    WITH CHECK (agent_id IN (SELECT a.id FROM public.agents AS a WHERE a.user_id = (SELECT auth.uid())));
CREATE POLICY "agent_exports: of own agents" ON public.agent_exports FOR ALL TO authenticated
    USING (agent_id IN (SELECT a.id FROM public.agents AS a WHERE a.user_id = (SELECT auth.uid())))
    WITH CHECK (agent_id IN (SELECT a.id FROM public.agents AS a WHERE a.user_id = (SELECT auth.uid())));

-- Supabase grants anon everything on new tables by default; agentctl gives the anon key nothing.
REVOKE ALL ON public.users, public.agents, public.chunks, public.agent_versions, public.agent_runs,
              public.agent_schedules, public.agent_exports, public.agent_list FROM anon;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON public.users, public.agents, public.chunks, public.agent_versions, public.agent_runs,
       public.agent_schedules, public.agent_exports
    TO authenticated, service_role;
GRANT SELECT ON public.agent_list TO authenticated, service_role;

REVOKE EXECUTE ON FUNCTION public.save_agent(jsonb, integer), public.agentctl_ensure_user(uuid, text, text),
    public.agentctl_schema_version(), public.agentctl_agent_status(uuid) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.save_agent(jsonb, integer), public.agentctl_ensure_user(uuid, text, text),
    public.agentctl_schema_version(), public.agentctl_agent_status(uuid) TO authenticated, service_role;
