-- 0005: the audit trail, PostgreSQL's spelling of sqlite/0005_audit_events.sql.
-- One row per recorded event, written in the same transaction as the change it
-- records; keycred only ever inserts rows (and counts folded denials up) and
-- prunes those older than the retention. No foreign keys: an event outlives the
-- organization, service account or credential it names, as evidence. Identifiers
-- use COLLATE "C" (byte order), as in 0001. Timestamps are Unix epoch milliseconds.

-- An event's ID begins with its time (see store/src/audit.rs), so its primary key
-- is in time order: the export and retention pruning read by it.
CREATE TABLE audit_events (
    id                        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    -- NULL only for a token denial no organization owns (unknown client_id,
    -- throttled attempt): in the export, never in an organization's list.
    organization_id           TEXT COLLATE "C",
    occurred_at               BIGINT NOT NULL,
    action                    TEXT COLLATE "C" NOT NULL,
    actor_type                TEXT COLLATE "C" NOT NULL
        CHECK (actor_type IN ('service_account', 'cli', 'client')),
    actor_service_account_id  TEXT COLLATE "C",
    actor_credential_id       TEXT COLLATE "C",
    actor_client_id           TEXT COLLATE "C",
    target_type               TEXT COLLATE "C" CHECK (target_type IN ('credential', 'service_account')),
    target_id                 TEXT COLLATE "C",
    target_service_account_id TEXT COLLATE "C",
    request_id                TEXT,
    client_request_id         TEXT,
    source_address            TEXT,
    -- JSON: {"field": {"from": …, "to": …}, …} for updates; NULL otherwise.
    changes                   TEXT,
    reason                    TEXT,
    count                     BIGINT NOT NULL DEFAULT 1 CHECK (count >= 1),
    -- Set only on token denials: equal keys within one minute fold into one row.
    fold_key                  TEXT COLLATE "C"
);

-- An organization's list, newest first: one range scan per page.
CREATE INDEX audit_events_organization_id_occurred_at_id ON audit_events (organization_id, occurred_at, id);

-- Folding of token denials: at most one row per key.
CREATE UNIQUE INDEX audit_events_fold_key ON audit_events (fold_key) WHERE fold_key IS NOT NULL;

-- (SQLite's 0005 also makes the table its readiness check writes; PostgreSQL's
-- readiness check does not write, so it has none.)
