-- 0006: nothing to change on PostgreSQL. The SQLite migration of this number
-- rewrites audit_events' actor_type check, which SQLite evaluated through a
-- temporary B-tree for every event; PostgreSQL checks the same list cheaply.
SELECT 1;
