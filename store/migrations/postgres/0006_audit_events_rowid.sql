-- 0006: nothing to change on PostgreSQL. The SQLite migration of this number
-- rebuilds audit_events as an ordinary table with its ID in a unique index, and
-- spells its actor_type check as comparisons; PostgreSQL's table (a heap with its
-- primary key index) and its checks already cost what those changes buy.
SELECT 1;
