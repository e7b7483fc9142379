-- agentctl schema 0001 (SQLite): users, agents, chunks, agent_versions, agent_runs,
-- agent_schedules, agent_exports.
-- Timestamps are UTC ISO-8601 text of fixed width, so text order is time order.
-- JSON columns hold text; ids are canonical UUID text.

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    email       TEXT,
    created_at  TEXT NOT NULL
);

CREATE TABLE agents (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id),
    name             TEXT NOT NULL,
    description      TEXT,
    loom_url         TEXT NOT NULL,
    github_repo_url  TEXT,
    params           TEXT NOT NULL DEFAULT '{}',
    settings         TEXT NOT NULL DEFAULT '{}',
    status           TEXT NOT NULL DEFAULT 'Not Started',
    version          INTEGER NOT NULL CHECK (version >= 1),
    last_run_at      TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX agents_user_updated ON agents (user_id, updated_at);
CREATE INDEX agents_user_created ON agents (user_id, created_at);
CREATE INDEX agents_user_name ON agents (user_id, lower(name));
CREATE INDEX agents_user_status ON agents (user_id, status);

CREATE TABLE chunks (
    id               TEXT PRIMARY KEY,
    agent_id         TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    "order"          INTEGER NOT NULL CHECK ("order" >= 1),
    name             TEXT,
    start_time       TEXT,
    end_time         TEXT,
    status           TEXT NOT NULL DEFAULT 'Not Started' CHECK (status IN (
                         'Not Started', 'Running', 'Awaiting Approval', 'Completed',
                         'Failed', 'Skipped', 'Needs Review')),
    retries          INTEGER,
    learned_actions  TEXT NOT NULL DEFAULT '[]',
    error_details    TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_run_id      TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (agent_id, "order")
);

CREATE TABLE agent_versions (
    agent_id    TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    snapshot    TEXT NOT NULL,
    author      TEXT,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (agent_id, version)
);

CREATE TABLE agent_runs (
    flow_run_id    TEXT PRIMARY KEY,
    agent_id       TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    agent_version  INTEGER NOT NULL,
    mode           TEXT NOT NULL,
    status         TEXT NOT NULL,
    started_at     TEXT NOT NULL,
    finished_at    TEXT,
    triggered_by   TEXT,
    params         TEXT NOT NULL DEFAULT '{}',
    chunks         TEXT,
    notes          TEXT NOT NULL DEFAULT '[]',
    error          TEXT
);
CREATE INDEX agent_runs_agent_started ON agent_runs (agent_id, started_at);
CREATE INDEX agent_runs_status ON agent_runs (status);

CREATE TABLE agent_schedules (
    agent_id    TEXT PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    cron        TEXT NOT NULL,
    timezone    TEXT NOT NULL DEFAULT 'UTC',
    mode        TEXT NOT NULL DEFAULT 'automatic',
    params      TEXT NOT NULL DEFAULT '{}',
    active      INTEGER NOT NULL DEFAULT 1,
    updated_at  TEXT NOT NULL
);

CREATE TABLE agent_exports (
    id             TEXT PRIMARY KEY,
    agent_id       TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    agent_version  INTEGER NOT NULL,
    target         TEXT NOT NULL,
    repository     TEXT NOT NULL,
    branch         TEXT,
    path           TEXT NOT NULL,
    commit_sha     TEXT,
    tag            TEXT,
    author         TEXT,
    exported_at    TEXT NOT NULL
);
CREATE INDEX agent_exports_agent ON agent_exports (agent_id, exported_at);
