-- 0001: the initial schema. Timestamps are Unix epoch milliseconds (UTC).
-- Applied once, inside a transaction, by the sqlite storage module; never edit an
-- applied migration: add a new numbered file instead.

CREATE TABLE organizations (
    id         TEXT    NOT NULL PRIMARY KEY,
    label      TEXT    NOT NULL UNIQUE,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE service_accounts (
    id              TEXT    NOT NULL PRIMARY KEY,
    organization_id TEXT    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    description     TEXT,
    role            TEXT    NOT NULL CHECK (role IN ('org_admin', 'org_member', 'org_viewer')),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    -- Target of the credentials foreign key below, which pins a credential's
    -- denormalised organization_id to its service account's organization.
    UNIQUE (id, organization_id)
) STRICT;

-- Child side of the organizations foreign key: keeps ON DELETE CASCADE from scanning.
CREATE INDEX service_accounts_organization_id ON service_accounts (organization_id);

CREATE TABLE credentials (
    id                 TEXT    NOT NULL PRIMARY KEY,
    organization_id    TEXT    NOT NULL,
    service_account_id TEXT    NOT NULL,
    client_id          TEXT    NOT NULL UNIQUE,
    secret_hash        BLOB    NOT NULL CHECK (length(secret_hash) = 32),
    name               TEXT    NOT NULL,
    description        TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    last_used_at       INTEGER,
    -- Both columns at once, so a credential can never claim an organization other
    -- than its service account's; tenancy checks read credentials.organization_id.
    FOREIGN KEY (service_account_id, organization_id)
        REFERENCES service_accounts (id, organization_id) ON DELETE CASCADE
) STRICT;

-- Listing a service account's credentials, and the child side of the foreign key.
CREATE INDEX credentials_service_account_id_id ON credentials (service_account_id, id);

CREATE TABLE tokens (
    id            TEXT    NOT NULL PRIMARY KEY,
    secret_hash   BLOB    NOT NULL CHECK (length(secret_hash) = 32),
    credential_id TEXT    NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
) STRICT;

-- Child side of the credentials foreign key; expires_at serves the per-credential
-- sweep of expired tokens done on every token insert.
CREATE INDEX tokens_credential_id_expires_at ON tokens (credential_id, expires_at);
