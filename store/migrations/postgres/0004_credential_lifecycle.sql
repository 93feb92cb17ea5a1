-- 0004: a credential's security lifecycle, PostgreSQL's spelling of
-- sqlite/0004_credential_lifecycle.sql. A credential is `active` or `disabled`
-- as stored; `expired` is never stored but derived when read (expires_at set and
-- passed). A rotated secret may keep being accepted for a grace period:
-- previous_secret_hash and previous_secret_expires_at are both set while it is,
-- and both NULL otherwise. Timestamps are Unix epoch milliseconds.

ALTER TABLE credentials ADD COLUMN status TEXT COLLATE "C" NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'disabled'));
ALTER TABLE credentials ADD COLUMN expires_at BIGINT;
ALTER TABLE credentials ADD COLUMN secret_rotated_at BIGINT;
ALTER TABLE credentials ADD COLUMN previous_secret_hash BYTEA
    CHECK (previous_secret_hash IS NULL OR length(previous_secret_hash) = 32);
ALTER TABLE credentials ADD COLUMN previous_secret_expires_at BIGINT;
ALTER TABLE credentials ADD CONSTRAINT credentials_previous_secret_complete
    CHECK ((previous_secret_hash IS NULL) = (previous_secret_expires_at IS NULL));

-- The organization-wide list of credentials (GET /organizations/{id}/credentials),
-- ordered by (created_at, id) like the other lists: one range scan per page.
CREATE INDEX credentials_organization_id_created_at_id
    ON credentials (organization_id, created_at, id);

-- A service account's list filters on both service_account_id and
-- organization_id. With organization_id in its index too, that list matches two
-- equality columns here against one in the index above, so the planner keeps
-- choosing this one (a service account's range, not its organization's). Its
-- leading column still serves the service_accounts foreign key's child side.
CREATE INDEX credentials_service_account_id_organization_id_created_at_id
    ON credentials (service_account_id, organization_id, created_at, id);
DROP INDEX credentials_service_account_id_created_at_id;
