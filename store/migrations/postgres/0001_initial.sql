-- 0001: the initial schema, PostgreSQL's spelling of sqlite/0001_initial.sql.
-- Timestamps are Unix epoch milliseconds (UTC). Applied once, inside a transaction
-- holding the migration advisory lock, by the postgres storage module; never edit an
-- applied migration: add a new numbered file (for both backends) instead.
--
-- Identifiers use COLLATE "C" (byte order), so that lists ordered by (created_at, id)
-- come out in exactly the order SQLite gives them, whatever the database's locale.
-- Constraints that the store maps to plain words are named explicitly.

CREATE TABLE organizations (
    id         TEXT COLLATE "C" NOT NULL,
    label      TEXT COLLATE "C" NOT NULL,
    name       TEXT             NOT NULL,
    created_at BIGINT           NOT NULL,
    updated_at BIGINT           NOT NULL,
    CONSTRAINT organizations_pkey PRIMARY KEY (id),
    CONSTRAINT organizations_label_key UNIQUE (label)
);

CREATE TABLE service_accounts (
    id              TEXT COLLATE "C" NOT NULL,
    organization_id TEXT COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT             NOT NULL,
    description     TEXT,
    role            TEXT             NOT NULL CHECK (role IN ('org_admin', 'org_member', 'org_viewer')),
    created_at      BIGINT           NOT NULL,
    updated_at      BIGINT           NOT NULL,
    CONSTRAINT service_accounts_pkey PRIMARY KEY (id),
    -- Target of the credentials foreign key below, which pins a credential's
    -- denormalised organization_id to its service account's organization.
    CONSTRAINT service_accounts_id_organization_id_key UNIQUE (id, organization_id)
);

-- Child side of the organizations foreign key: keeps ON DELETE CASCADE from scanning.
CREATE INDEX service_accounts_organization_id ON service_accounts (organization_id);

CREATE TABLE credentials (
    id                 TEXT COLLATE "C" NOT NULL,
    organization_id    TEXT COLLATE "C" NOT NULL,
    service_account_id TEXT COLLATE "C" NOT NULL,
    client_id          TEXT COLLATE "C" NOT NULL,
    secret_hash        BYTEA            NOT NULL CHECK (length(secret_hash) = 32),
    name               TEXT             NOT NULL,
    description        TEXT,
    created_at         BIGINT           NOT NULL,
    updated_at         BIGINT           NOT NULL,
    last_used_at       BIGINT,
    CONSTRAINT credentials_pkey PRIMARY KEY (id),
    CONSTRAINT credentials_client_id_key UNIQUE (client_id),
    -- Both columns at once, so a credential can never claim an organization other
    -- than its service account's; tenancy checks read credentials.organization_id.
    CONSTRAINT credentials_service_account_fkey FOREIGN KEY (service_account_id, organization_id)
        REFERENCES service_accounts (id, organization_id) ON DELETE CASCADE
);

-- Listing a service account's credentials, and the child side of the foreign key.
CREATE INDEX credentials_service_account_id_id ON credentials (service_account_id, id);

CREATE TABLE tokens (
    id            TEXT COLLATE "C" NOT NULL,
    secret_hash   BYTEA            NOT NULL CHECK (length(secret_hash) = 32),
    credential_id TEXT COLLATE "C" NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    created_at    BIGINT           NOT NULL,
    expires_at    BIGINT           NOT NULL,
    CONSTRAINT tokens_pkey PRIMARY KEY (id)
);

-- Child side of the credentials foreign key; expires_at serves the per-credential
-- sweep of expired tokens done on every token insert.
CREATE INDEX tokens_credential_id_expires_at ON tokens (credential_id, expires_at);
