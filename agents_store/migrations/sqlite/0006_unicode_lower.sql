-- The store's connections fold case with Python's str.lower() (Unicode) in place of SQLite's
-- lower() (ASCII only): rebuild the index that holds lower(name) with it.
REINDEX agents_user_name;
