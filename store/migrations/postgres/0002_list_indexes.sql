-- 0002: indexes for the keyset-paginated lists, PostgreSQL's spelling of
-- sqlite/0002_list_indexes.sql. The lists read one organization's service
-- accounts, or one service account's credentials, ordered by (created_at, id) and
-- from a (created_at, id) position, compared as a row value, which PostgreSQL turns
-- into one range scan of these indexes (backwards for a page before a position).

CREATE INDEX service_accounts_organization_id_created_at_id
    ON service_accounts (organization_id, created_at, id);

-- A prefix of the index above, which therefore also keeps the organizations
-- foreign key's ON DELETE CASCADE from scanning.
DROP INDEX service_accounts_organization_id;

-- credentials.organization_id needs no column here: the foreign key makes it the
-- same for every credential of one service account, so the list's filter on it
-- keeps all of the index range's rows or none.
CREATE INDEX credentials_service_account_id_created_at_id
    ON credentials (service_account_id, created_at, id);

-- It served the child side of the service_accounts foreign key, which the index
-- above serves as well (same leading column). Lookups by credential id use the
-- primary key.
DROP INDEX credentials_service_account_id_id;
