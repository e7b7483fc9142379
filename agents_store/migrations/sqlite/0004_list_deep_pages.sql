-- A deep page of the list sorted by name chooses its ids from this index alone when it carries name
-- (SQLite has no INCLUDE: name is a trailing key column), as on PostgreSQL.
DROP INDEX agents_user_name;
CREATE INDEX agents_user_name ON agents (user_id, lower(name), id, name);
