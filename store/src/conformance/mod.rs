//! The conformance suite: every behaviour the [`Store`] trait promises, written once
//! and run against each backend.
//!
//! Each behaviour is one `async fn` taking a [`Backend`], a fresh database with a
//! store open on it; [`conformance_tests!`] turns the whole list into one test per
//! behaviour for a backend, which each backend's test module invokes once (the
//! PostgreSQL one with `#[ignore]`, so a plain `cargo test` needs no server). What
//! only one backend has (SQLite's writer and checkpointer, PostgreSQL's pool,
//! migration lock and collation) is tested in that backend's own tests.

pub(crate) mod audit;
pub(crate) mod credentials;
pub(crate) mod lifecycle;
pub(crate) mod lists;
pub(crate) mod organizations;
pub(crate) mod tokens;

use std::future::Future;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{
    AuditContext, Credential, CredentialKey, CredentialStatus, Millis, NewCredential, NewToken, Organization, Role,
    ServiceAccount, StorageError, StorageObserver, Store,
};

/// A fresh database of one backend, for the suite: what differs between backends
/// when testing them. Each test gets a database of its own.
pub(crate) trait Database: Sized {
    /// The backend's store.
    type Store: Store;

    /// A new, empty database.
    fn create() -> impl Future<Output = Self>;

    /// A store on the database (migrating it, the first time), reporting to `observer`.
    fn open(&self, observer: Arc<dyn StorageObserver>) -> impl Future<Output = Self::Store>;

    /// Runs one statement on a connection of its own, as another program would.
    fn execute(&self, sql: &str) -> impl Future<Output = ()>;

    /// How many rows `table` holds, counted on a connection of its own.
    fn count_rows(&self, table: &str) -> impl Future<Output = i64>;
}

/// A backend under test: a fresh database of its own with a store open on it,
/// which reports to a [`RecordedEvents`].
pub(crate) struct Backend<D: Database> {
    /// The database.
    database: D,
    /// What the stores opened here reported.
    events: Arc<RecordedEvents>,
    /// The open store, shareable with spawned tasks.
    store: Arc<D::Store>,
}

impl<D: Database> Backend<D> {
    /// A new, empty database with a store open on it.
    pub(crate) async fn create() -> Backend<D> {
        let database = D::create().await;
        let events = Arc::new(RecordedEvents::default());
        let store = Arc::new(database.open(Arc::clone(&events) as _).await);
        Backend {
            database,
            events,
            store,
        }
    }

    /// The open store.
    pub(crate) fn store(&self) -> &Arc<D::Store> {
        &self.store
    }

    /// What the stores opened here reported.
    pub(crate) fn events(&self) -> &RecordedEvents {
        &self.events
    }

    /// Another store on the same database, as a second keycred instance (or the
    /// CLI beside the server) would open.
    pub(crate) async fn open_another(&self) -> D::Store {
        self.database.open(Arc::clone(&self.events) as _).await
    }

    /// Opens the database again with a new store and closes the old one.
    pub(crate) async fn reopen(&mut self) {
        self.store = Arc::new(self.open_another().await);
    }

    /// Runs one statement on a connection of its own, as another program would.
    pub(crate) async fn execute(&self, sql: &str) {
        self.database.execute(sql).await;
    }

    /// How many rows `table` holds, counted on a connection of its own.
    pub(crate) async fn count_rows(&self, table: &str) -> i64 {
        self.database.count_rows(table).await
    }
}

/// Declares one test per behaviour of the suite for the [`Database`] `$backend`,
/// each with the attributes given after it (e.g. `#[ignore = "needs PostgreSQL"]`).
macro_rules! conformance_tests {
    ($backend:ty $(, #[$attr:meta])*) => {
        $crate::conformance::conformance_tests!(@each $backend, [$(#[$attr])*],
            organizations::organizations_are_found_by_id_and_by_label,
            organizations::an_id_match_wins_over_a_label_match,
            organizations::a_taken_label_is_a_conflict,
            organizations::creating_under_a_missing_parent_fails_with_a_clear_message,
            organizations::service_accounts_are_found_only_in_their_own_organization,
            organizations::updating_a_service_account_changes_only_what_the_patch_changes,
            organizations::service_accounts_are_updated_and_deleted_only_through_their_own_organization,
            organizations::a_deleted_service_account_takes_its_credentials_and_tokens_with_it,
            organizations::two_stores_on_one_database_see_each_others_writes,
            organizations::keys_holding_nul_find_nothing_and_fail_nothing,
            credentials::credentials_are_reached_only_through_their_own_ids,
            credentials::a_taken_client_id_is_a_conflict,
            credentials::a_credential_outside_its_service_accounts_organization_is_not_created,
            credentials::updating_a_credential_changes_only_what_the_patch_changes,
            credentials::every_update_answers_the_credential_it_stored,
            credentials::a_conditional_update_applies_only_to_the_expected_state,
            credentials::a_conditional_delete_deletes_only_the_version_expected,
            credentials::updating_a_credential_through_wrong_ids_finds_nothing,
            credentials::credentials_are_deleted_only_through_their_own_ids,
            credentials::concurrent_writes_all_commit_and_survive_reopening,
            credentials::concurrent_updates_of_different_fields_never_undo_each_other,
            lifecycle::a_credential_is_created_active_with_the_expiry_given,
            lifecycle::disabling_a_credential_deletes_its_tokens_and_refuses_new_ones,
            lifecycle::an_expiry_caps_the_tokens_and_can_be_removed,
            lifecycle::a_token_never_outlives_its_credentials_expiry,
            lifecycle::rotating_keeps_at_most_one_previous_secret,
            lifecycle::a_rotation_checks_ids_and_the_expected_state,
            tokens::clients_are_found_by_client_id_with_their_secret_hash,
            tokens::inserting_a_token_marks_the_credential_used_and_finds_its_role,
            tokens::inserting_a_token_removes_the_credentials_expired_tokens,
            tokens::a_token_of_a_missing_credential_is_refused_and_stores_nothing,
            tokens::a_deleted_credential_takes_its_tokens_with_it,
            tokens::a_credential_deleted_by_another_program_takes_its_tokens_with_it,
            tokens::a_token_is_revoked_only_by_its_own_credential_with_its_secret,
            organizations::writes_and_failures_are_reported_to_the_observer,
            organizations::a_store_on_a_healthy_database_is_ready,
            organizations::the_cursor_key_is_made_once_and_shared_by_every_store_on_the_database,
            lists::list_pages_carry_the_whole_items,
            lists::organization_credentials_are_filtered_by_status_expiry_and_last_use,
            audit::every_write_records_its_event,
            audit::writes_that_change_nothing_record_nothing,
            audit::token_denials_fold_within_a_minute,
            audit::the_list_filters_and_pages_newest_first,
            audit::events_are_exported_oldest_first_and_pruned_in_batches,
        );
        $crate::conformance::conformance_tests!(@each_list $backend, [$(#[$attr])*],
            lists::an_empty_list_has_empty_pages_with_nothing_either_side,
            lists::a_list_of_exactly_limit_items_is_one_page,
            lists::a_list_of_limit_plus_one_items_is_two_pages,
            lists::walking_forward_then_backward_visits_every_item_once_in_order,
            lists::a_deleted_items_position_still_starts_a_page,
            lists::items_created_in_the_same_millisecond_are_ordered_by_id,
            lists::ids_are_ordered_byte_by_byte,
            lists::lists_are_confined_to_their_organization_and_service_account,
        );
    };
    (@each $backend:ty, $attrs:tt, $($module:ident :: $name:ident),* $(,)?) => {
        $($crate::conformance::conformance_tests!(@one $backend, $attrs, $module::$name);)*
    };
    (@each_list $backend:ty, $attrs:tt, $($module:ident :: $name:ident),* $(,)?) => {
        $($crate::conformance::conformance_tests!(@one_per_list $backend, $attrs, $module::$name);)*
    };
    (@one $backend:ty, [$($attr:tt)*], $module:ident :: $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attr)*
        async fn $name() {
            let mut backend = $crate::conformance::Backend::<$backend>::create().await;
            $crate::conformance::$module::$name(&mut backend).await;
        }
    };
    (@one_per_list $backend:ty, [$($attr:tt)*], $module:ident :: $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attr)*
        async fn $name() {
            // Each list on a database of its own, so neither sees the other's rows.
            for list in $crate::conformance::lists::LISTS {
                let backend = $crate::conformance::Backend::<$backend>::create().await;
                let store = backend.store().as_ref();
                $crate::conformance::lists::setup(store, list).await;
                $crate::conformance::$module::$name(store, list).await;
            }
        }
    };
}

pub(crate) use conformance_tests;

/// Remembers what a store reported, as the server's metrics would publish it.
#[derive(Default)]
pub(crate) struct RecordedEvents {
    /// Writes waiting now; never below zero.
    pub(crate) queue_depth: AtomicIsize,
    /// Writes that waited and then ran.
    pub(crate) waits: AtomicUsize,
    /// The writes of each committed transaction.
    pub(crate) commits: Mutex<Vec<usize>>,
    /// Calls that failed as `Unavailable`.
    pub(crate) unavailable: AtomicUsize,
    /// Calls that failed otherwise.
    pub(crate) other_failures: AtomicUsize,
}

impl RecordedEvents {
    /// The writes of each committed transaction so far.
    pub(crate) fn commits(&self) -> Vec<usize> {
        self.commits.lock().unwrap().clone()
    }
}

impl StorageObserver for RecordedEvents {
    fn write_queue_changed(&self, delta: isize) {
        let depth = self.queue_depth.fetch_add(delta, Ordering::SeqCst) + delta;
        assert!(depth >= 0, "the queue depth went below zero");
    }

    fn write_waited(&self, _wait: Duration) {
        self.waits.fetch_add(1, Ordering::SeqCst);
    }

    fn committed(&self, writes: usize, _latency: Duration) {
        self.commits.lock().unwrap().push(writes);
    }

    fn storage_failed(&self, error: &StorageError) {
        let counter = match error {
            StorageError::Unavailable(_) => &self.unavailable,
            _ => &self.other_failures,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// An organization created at 1000.
pub(crate) fn organization(id: &str, label: &str) -> Organization {
    Organization {
        id: id.to_owned(),
        label: label.to_owned(),
        name: format!("Organization {label}"),
        created_at: 1_000,
        updated_at: 1_000,
    }
}

/// A service account created at 2000.
pub(crate) fn service_account(id: &str, organization_id: &str, role: Role) -> ServiceAccount {
    ServiceAccount {
        id: id.to_owned(),
        organization_id: organization_id.to_owned(),
        name: format!("Service account {id}"),
        description: Some("robot".to_owned()),
        role,
        created_at: 2_000,
        updated_at: 2_000,
    }
}

/// A credential created at 3000, with client_id `client-{id}` and secret hash `[7; 32]`.
pub(crate) fn credential(id: &str, organization_id: &str, service_account_id: &str) -> NewCredential {
    NewCredential {
        credential: Credential {
            id: id.to_owned(),
            organization_id: organization_id.to_owned(),
            service_account_id: service_account_id.to_owned(),
            client_id: format!("client-{id}"),
            name: format!("Credential {id}"),
            description: Some("original description".to_owned()),
            created_at: 3_000,
            updated_at: 3_000,
            last_used_at: None,
            status: CredentialStatus::Active,
            expires_at: None,
            secret_rotated_at: None,
            previous_secret_expires_at: None,
        },
        secret_hash: [7; 32],
    }
}

/// A token of `credential_id` (of service account `sa` in organization `org`, as
/// its `token.issued` event says), with secret hash `[9; 32]`.
pub(crate) fn token(id: &str, credential_id: &str, created_at: Millis, expires_at: Millis) -> NewToken {
    NewToken {
        id: id.to_owned(),
        secret_hash: [9; 32],
        credential_id: credential_id.to_owned(),
        service_account_id: "sa".to_owned(),
        organization_id: "org".to_owned(),
        created_at,
        expires_at,
    }
}

/// The audit context of the tests' writes: the CLI, at 5000.
pub(crate) fn audit() -> AuditContext {
    AuditContext::cli(5_000)
}

/// The key of credential `id`.
pub(crate) fn key<'a>(organization_id: &'a str, service_account_id: &'a str, id: &'a str) -> CredentialKey<'a> {
    CredentialKey {
        organization_id,
        service_account_id,
        credential_id: id,
    }
}

/// Creates service account `id` in `organization_id`.
pub(crate) async fn add_service_account(store: &impl Store, id: &str, organization_id: &str, role: Role) {
    store
        .create_service_account(service_account(id, organization_id, role), audit())
        .await
        .expect("create service account");
}

/// Creates organization `org` (label `acme`), its service account `sa` (admin) and
/// credential `cred`.
pub(crate) async fn seed(store: &impl Store) {
    store
        .create_organization(organization("org", "acme"))
        .await
        .expect("create organization");
    add_service_account(store, "sa", "org", Role::OrgAdmin).await;
    let created = store
        .create_credential(credential("cred", "org", "sa"), audit())
        .await
        .expect("create credential");
    assert!(created);
}
