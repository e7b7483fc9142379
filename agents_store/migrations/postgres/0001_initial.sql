-- agentctl schema 0001 (PostgreSQL): users, agents, chunks, agent_versions, agent_runs,
-- agent_schedules, agent_exports.

CREATE TABLE users (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    email       text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agents (
    id               uuid PRIMARY KEY,
    user_id          uuid NOT NULL REFERENCES users (id),
    name             text NOT NULL,
    description      text,
    loom_url         text NOT NULL,
    github_repo_url  text,
    params           jsonb NOT NULL DEFAULT '{}'::jsonb,
    settings         jsonb NOT NULL DEFAULT '{}'::jsonb,
    status           text NOT NULL DEFAULT 'Not Started',
    version          integer NOT NULL CHECK (version >= 1),
    last_run_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_user_updated ON agents (user_id, updated_at);
CREATE INDEX agents_user_created ON agents (user_id, created_at);
CREATE INDEX agents_user_name ON agents (user_id, lower(name));
CREATE INDEX agents_user_status ON agents (user_id, status);

CREATE TABLE chunks (
    id               uuid PRIMARY KEY,
    agent_id         uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
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

CREATE TABLE agent_versions (
    agent_id    uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    version     integer NOT NULL,
    snapshot    jsonb NOT NULL,
    author      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, version)
);

CREATE TABLE agent_runs (
    flow_run_id    uuid PRIMARY KEY,
    agent_id       uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
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
CREATE INDEX agent_runs_agent_started ON agent_runs (agent_id, started_at);
CREATE INDEX agent_runs_status ON agent_runs (status);

CREATE TABLE agent_schedules (
    agent_id    uuid PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    cron        text NOT NULL,
    timezone    text NOT NULL DEFAULT 'UTC',
    mode        text NOT NULL DEFAULT 'automatic',
    params      jsonb NOT NULL DEFAULT '{}'::jsonb,
    active      boolean NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agent_exports (
    id             uuid PRIMARY KEY,
    agent_id       uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
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
CREATE INDEX agent_exports_agent ON agent_exports (agent_id, exported_at);
