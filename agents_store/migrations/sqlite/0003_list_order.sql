-- List pages sorted by last run or by name read an index in the page's own order (id breaks ties)
-- instead of sorting all of a user's agents for every page.
CREATE INDEX agents_user_last_run ON agents (user_id, last_run_at);
DROP INDEX agents_user_name;
CREATE INDEX agents_user_name ON agents (user_id, lower(name), id);
