-- 0005: the audit trail. One row per recorded event, written in the same
-- transaction as the change it records; keycred only ever inserts rows (and
-- counts folded denials up) and prunes those older than the retention. No
-- foreign keys: an event outlives the organization, service account or
-- credential it names, as evidence. Timestamps are Unix epoch milliseconds.

-- An event's ID begins with its time (see store/src/audit.rs), so the table, kept
-- in ID order (WITHOUT ROWID), is in time order: new events are appended, and the
-- export and retention pruning read it in that order, with no index of their own.
CREATE TABLE audit_events (
    id                        TEXT    NOT NULL PRIMARY KEY,
    -- NULL only for a token denial no organization owns (unknown client_id,
    -- throttled attempt): in the export, never in an organization's list.
    organization_id           TEXT,
    occurred_at               INTEGER NOT NULL,
    action                    TEXT    NOT NULL,
    actor_type                TEXT    NOT NULL CHECK (actor_type IN ('service_account', 'cli', 'client')),
    actor_service_account_id  TEXT,
    actor_credential_id       TEXT,
    actor_client_id           TEXT,
    target_type               TEXT    CHECK (target_type IN ('credential', 'service_account')),
    target_id                 TEXT,
    target_service_account_id TEXT,
    request_id                TEXT,
    client_request_id         TEXT,
    source_address            TEXT,
    -- JSON: {"field": {"from": …, "to": …}, …} for updates; NULL otherwise.
    changes                   TEXT,
    reason                    TEXT,
    count                     INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1),
    -- Set only on token denials: equal keys within one minute fold into one row.
    fold_key                  TEXT
) STRICT, WITHOUT ROWID;

-- An organization's list, newest first: one range scan per page.
CREATE INDEX audit_events_organization_id_occurred_at_id ON audit_events (organization_id, occurred_at, id);

-- Folding of token denials: at most one row per key.
CREATE UNIQUE INDEX audit_events_fold_key ON audit_events (fold_key) WHERE fold_key IS NOT NULL;

-- The readiness check's write (see the sqlite store's readiness module): with the
-- audit trail, an ordinary write commits several pages, so a check writing one page
-- could pass on a disk too full for any real write. The check rewrites this one
-- row's 64 KiB, more pages than any ordinary write, so it fails first.
CREATE TABLE readiness_check (
    id     INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    filler BLOB    NOT NULL
) STRICT;
