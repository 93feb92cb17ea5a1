//! Scale-out: three `keycred serve` processes on one PostgreSQL database, started at
//! once on an empty database (so they migrate it concurrently), answering requests
//! for the same data.
//!
//! What they must guarantee, and these tests check:
//!
//! - no lost update: concurrent PATCHes of different fields of one credential, sent
//!   through different instances, never undo each other (each PATCH is one
//!   `UPDATE … RETURNING`), and the final state is the last acknowledged write of
//!   each field, whichever instance took it;
//! - a write acknowledged by one instance is read by every other at once (nothing
//!   but tokens is cached), and a token minted on one works on all;
//! - revocation: deleting a credential, changing a service account's role, or a
//!   client revoking its token (RFC 7009) binds at once on the instance that did it,
//!   and on the others in under [`REVOCATION_BOUND`] (1 s) of the acknowledgement,
//!   far within the token cache's TTL ([`TOKEN_CACHE_TTL`], 5 s): each instance hears
//!   the others' revocations over PostgreSQL `LISTEN`/`NOTIFY`. The latency over
//!   twenty revocations is measured and printed. A listener whose connection is
//!   ended connects again and empties its token cache, since it may have missed an
//!   announcement meanwhile.
//!
//! PostgreSQL only: `#[ignore]`d in a plain run, run by `scripts/test.sh` with
//! `KEYCRED_TEST_BACKEND=postgres` and `-- --include-ignored`. `If-Match` across
//! instances is tested in `etags.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use keycred_impl::token_cache::TOKEN_CACHE_TTL;
use serde_json::Value;

use crate::helpers::{
    basic_auth, credential_path, new_label, require_postgres, spawn_instances, Bootstrapped, TestApp, TestResponse,
};

/// How many keycred processes share the database.
const INSTANCES: usize = 3;

/// PATCHes each writer thread sends.
const ROUNDS: usize = 12;

/// How soon after its acknowledgement a revocation must bind on every other instance:
/// a notification's round trip, with room for a loaded machine, and far below
/// [`TOKEN_CACHE_TTL`], so that the TTL cannot be what makes a test pass.
const REVOCATION_BOUND: Duration = Duration::from_secs(1);

/// How often a revoked token is retried on the other instances.
const POLL_INTERVAL: Duration = Duration::from_millis(2);

/// How many revocations the latency measurement makes.
const MEASURED_REVOCATIONS: usize = 20;

/// The application name of each instance's revocation listener connection.
const LISTENER_APPLICATION_NAME: &str = "keycred-revocations";

/// The two fields a credential PATCH can change.
const FIELDS: [&str; 2] = ["name", "description"];

/// Three instances on one new database, an admin credential and its token (minted on
/// the first instance).
fn three_instances() -> (Vec<TestApp>, Bootstrapped, String) {
    require_postgres();
    let apps = spawn_instances(INSTANCES);
    let admin = apps[1].admin(&new_label());
    let token = apps[0].token_for(&admin);
    (apps, admin, token)
}

/// The PATCH body that sets `field` to `value`.
fn patch_body(field: &str, value: &str) -> String {
    serde_json::json!({ field: value }).to_string()
}

#[test]
#[ignore = "PostgreSQL only: runs with KEYCRED_TEST_BACKEND=postgres and --include-ignored (scripts/test.sh)"]
fn concurrent_patches_through_three_instances_lose_no_update() {
    let (apps, admin, token) = three_instances();
    let apps = Arc::new(apps);
    // Three credentials, each made through a different instance.
    let credentials: Vec<Bootstrapped> = (0..3)
        .map(|index| apps[index].new_credential(&admin, &token, &admin.service_account_id, &format!("cred-{index}")))
        .collect();
    let paths: Arc<Vec<String>> = Arc::new(credentials.iter().map(credential_path).collect());

    // The last acknowledged value of each (credential, field). Writes of one field of
    // one credential take its lock from request to acknowledgement, so which write
    // was last is known; writes of the other field of the same credential, and of
    // other credentials, run at the same time, through all three instances.
    type Slot = Arc<Mutex<Option<String>>>;
    let last: Arc<BTreeMap<(usize, &str), Slot>> = Arc::new(
        (0..credentials.len())
            .flat_map(|credential| FIELDS.map(|field| ((credential, field), Slot::default())))
            .collect(),
    );
    // Every value any write sent, to check each answer's other field against.
    let written: Arc<Mutex<BTreeSet<String>>> = Arc::default();

    let mut writers = Vec::new();
    for credential in 0..credentials.len() {
        for field in FIELDS {
            for instance in 0..INSTANCES {
                let (apps, paths, last, written, token) = (
                    Arc::clone(&apps),
                    Arc::clone(&paths),
                    Arc::clone(&last),
                    Arc::clone(&written),
                    token.clone(),
                );
                writers.push(thread::spawn(move || {
                    for round in 0..ROUNDS {
                        let value = format!("{field}-c{credential}-i{instance}-r{round}");
                        let slot = &last[&(credential, field)];
                        let mut acknowledged = slot.lock().unwrap();
                        written.lock().unwrap().insert(value.clone());
                        let response =
                            apps[instance].patch_json(&paths[credential], &token, &patch_body(field, &value));
                        assert_eq!(
                            response.status,
                            200,
                            "PATCH through instance {instance}: {}",
                            response.text()
                        );
                        let body = response.json();
                        // Read-your-writes: the answer shows this very write, and the
                        // other field as some write (or the creation) left it.
                        assert_eq!(body[field], value.as_str(), "{body}");
                        let other = if field == "name" { "description" } else { "name" };
                        let other_value = body[other].as_str().unwrap_or_default();
                        let known = other_value.is_empty()
                            || other_value == format!("cred-{credential}")
                            || written.lock().unwrap().contains(other_value);
                        assert!(known, "{other} holds a value nobody wrote: {body}");
                        *acknowledged = Some(value);
                    }
                }));
            }
        }
    }
    for writer in writers {
        writer.join().expect("a writer thread");
    }

    let written = written.lock().unwrap();
    for (index, path) in paths.iter().enumerate() {
        for (instance, app) in apps.iter().enumerate() {
            let stored = app.get_ok(path, &token);
            for field in FIELDS {
                let expected = last[&(index, field)]
                    .lock()
                    .unwrap()
                    .clone()
                    .expect("a write was acknowledged");
                assert_eq!(
                    stored[field],
                    expected.as_str(),
                    "credential {index}, {field}, read through instance {instance}: not the last acknowledged write"
                );
                assert!(written.contains(stored[field].as_str().unwrap_or_default()));
            }
        }
    }
    println!(
        "multi-instance: {} PATCHes ({} credentials x {} fields x {INSTANCES} instances x {ROUNDS} rounds), \
         no update lost",
        credentials.len() * FIELDS.len() * INSTANCES * ROUNDS,
        credentials.len(),
        FIELDS.len()
    );
}

#[test]
#[ignore = "PostgreSQL only: runs with KEYCRED_TEST_BACKEND=postgres and --include-ignored (scripts/test.sh)"]
fn unserialized_patches_of_one_field_leave_one_acknowledged_value_everywhere() {
    let (apps, admin, token) = three_instances();
    let path = credential_path(&admin);
    let acknowledged: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let apps = Arc::new(apps);

    let writers: Vec<_> = (0..INSTANCES)
        .map(|instance| {
            let (apps, path, token, acknowledged) = (
                Arc::clone(&apps),
                path.clone(),
                token.clone(),
                Arc::clone(&acknowledged),
            );
            thread::spawn(move || {
                for round in 0..ROUNDS {
                    let value = format!("free-for-all-i{instance}-r{round}");
                    let response = apps[instance].patch_json(&path, &token, &patch_body("name", &value));
                    assert_eq!(response.status, 200, "{}", response.text());
                    assert_eq!(response.json()["name"], value.as_str());
                    acknowledged.lock().unwrap().insert(value);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("a writer thread");
    }

    let names: BTreeSet<String> = apps
        .iter()
        .map(|app| {
            app.get_ok(&path, &token)["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(names.len(), 1, "the instances disagree: {names:?}");
    let name = names.into_iter().next().unwrap_or_default();
    assert!(
        acknowledged.lock().unwrap().contains(&name),
        "{name} was never acknowledged"
    );
}

#[test]
#[ignore = "PostgreSQL only: runs with KEYCRED_TEST_BACKEND=postgres and --include-ignored (scripts/test.sh)"]
fn tokens_and_writes_of_one_instance_are_good_on_every_other() {
    let (apps, admin, admin_token) = three_instances();

    for (minted_on, minter) in apps.iter().enumerate() {
        let token = minter.token_for(&admin);
        for (used_on, user) in apps.iter().enumerate() {
            let response = user.get(&credential_path(&admin), &token);
            assert_eq!(
                response.status,
                200,
                "minted on {minted_on}, used on {used_on}: {}",
                response.text()
            );
        }
    }

    // A credential made through one instance is there, with its secret working,
    // through the others at once.
    let made = apps[2].new_credential(&admin, &admin_token, &admin.service_account_id, "made-on-2");
    let token = apps[0].token_for(&made);
    let renamed = apps[1].patch_json(&credential_path(&made), &token, r#"{"name":"renamed-on-1"}"#);
    assert_eq!(renamed.status, 200, "{}", renamed.text());
    for app in &apps {
        assert_eq!(app.credential(&made, &admin_token)["name"], "renamed-on-1");
    }
}

/// Polls `request` on `app` until it answers `status`; how long after `since` that
/// was (the first answer counts too). Panics if it takes longer than `limit`.
fn time_until_status(
    app: &TestApp,
    since: Instant,
    limit: Duration,
    status: u16,
    request: impl Fn() -> u16,
) -> Duration {
    loop {
        let answered = request();
        let elapsed = since.elapsed();
        if answered == status {
            return elapsed;
        }
        assert!(
            elapsed <= limit,
            "{} still answered {answered} (not {status}) {elapsed:?} after the change was acknowledged",
            app.address
        );
        thread::sleep(POLL_INTERVAL);
    }
}

/// Asserts that a change acknowledged at `since` shows as `status` on `apps[0]` (where
/// it was made) at once and on every other instance within the bound, and stays
/// so; returns how long each other instance took.
fn assert_bound(apps: &[TestApp], since: Instant, status: u16, request: impl Fn(&TestApp) -> u16) -> Vec<Duration> {
    assert_eq!(
        request(&apps[0]),
        status,
        "the instance that made the change must apply it at once"
    );
    let took: Vec<Duration> = apps[1..]
        .iter()
        .map(|app| time_until_status(app, since, REVOCATION_BOUND, status, || request(app)))
        .collect();
    for app in apps {
        for _ in 0..3 {
            assert_eq!(request(app), status, "{} went back on the change", app.address);
        }
    }
    took
}

#[test]
#[ignore = "PostgreSQL only: runs with KEYCRED_TEST_BACKEND=postgres and --include-ignored (scripts/test.sh)"]
fn a_deleted_credential_is_rejected_at_once_where_deleted_and_within_a_second_elsewhere() {
    let (apps, admin, admin_token) = three_instances();
    let doomed = apps[0].new_credential(&admin, &admin_token, &admin.service_account_id, "doomed");
    let token = apps[0].token_for(&doomed);
    let path = credential_path(&doomed);
    // Every instance has the token in its cache, the others as freshly as possible:
    // the worst case for the bound.
    for app in apps.iter().rev() {
        assert_eq!(app.get(&path, &token).status, 200);
    }

    let deleted = apps[0].delete(&path, &admin_token);
    let acknowledged = Instant::now();
    assert_eq!(deleted.status, 204, "{}", deleted.text());

    let took = assert_bound(&apps, acknowledged, 401, |app| app.get(&path, &token).status);
    println!(
        "multi-instance: a deleted credential's token was rejected at once by the deleting instance and after \
         {took:?} by the others (bound: {REVOCATION_BOUND:?}; TTL {TOKEN_CACHE_TTL:?})"
    );
}

#[test]
#[ignore = "PostgreSQL only: runs with KEYCRED_TEST_BACKEND=postgres and --include-ignored (scripts/test.sh)"]
fn a_role_change_binds_at_once_where_made_and_within_a_second_elsewhere() {
    let (apps, admin, admin_token) = three_instances();
    let member = apps[0].with_role(&admin.organization_label, "org_member");
    let token = apps[0].token_for(&member);
    let path = credential_path(&member);
    let rename = |app: &TestApp| app.patch_json(&path, &token, r#"{"name":"renamed"}"#).status;
    for app in apps.iter().rev() {
        assert_eq!(rename(app), 200, "a member may rename a credential");
    }

    let service_account = format!(
        "/organizations/{}/service-accounts/{}",
        member.organization_id, member.service_account_id
    );
    let demoted = apps[0].patch_json(&service_account, &admin_token, r#"{"role":"org_viewer"}"#);
    let acknowledged = Instant::now();
    assert_eq!(demoted.status, 200, "{}", demoted.text());
    let body: Value = demoted.json();
    assert_eq!(body["role"], "org_viewer");

    let took = assert_bound(&apps, acknowledged, 403, rename);
    println!(
        "multi-instance: a demoted service account's token was refused at once by the instance that demoted it \
         and after {took:?} by the others (bound: {REVOCATION_BOUND:?}; TTL {TOKEN_CACHE_TTL:?})"
    );
}

#[test]
#[ignore = "PostgreSQL only: runs with KEYCRED_TEST_BACKEND=postgres and --include-ignored (scripts/test.sh)"]
fn disabling_or_rotating_with_revoke_binds_at_once_where_made_and_within_a_second_elsewhere() {
    let (apps, admin, admin_token) = three_instances();
    for (change, body) in [
        ("disabled", r#"{"status":"disabled"}"#),
        ("rotated with revoke_tokens", r#"{"revoke_tokens":true}"#),
    ] {
        let credential = apps[0].new_credential(&admin, &admin_token, &admin.service_account_id, change);
        let token = apps[0].token_for(&credential);
        let path = credential_path(&credential);
        for app in apps.iter().rev() {
            assert_eq!(app.get(&path, &token).status, 200);
        }

        let answer = if change == "disabled" {
            apps[0].patch_json(&path, &admin_token, body)
        } else {
            apps[0].post_json(&format!("{path}/rotate"), &admin_token, body)
        };
        let acknowledged = Instant::now();
        assert_eq!(answer.status, 200, "{}", answer.text());

        let took = assert_bound(&apps, acknowledged, 401, |app| app.get(&path, &token).status);
        println!(
            "multi-instance: a {change} credential's token was refused at once by the instance that made the \
             change and after {took:?} by the others (bound: {REVOCATION_BOUND:?})"
        );
    }
}

/// Revokes `token` through `app` (RFC 7009) with `who`'s credentials, asserting the 200.
fn revoke(app: &TestApp, who: &Bootstrapped, token: &str) {
    let authorization = basic_auth(&who.client_id, &who.client_secret);
    let form = format!("token={token}");
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Authorization", authorization.as_str()),
    ];
    let response: TestResponse = app.request("POST", "/service-account-token/revoke", &headers, Some(form.as_bytes()));
    assert_eq!(response.status, 200, "{}", response.text());
}

#[test]
#[ignore = "PostgreSQL only: runs with KEYCRED_TEST_BACKEND=postgres and --include-ignored (scripts/test.sh)"]
fn a_token_revoked_by_its_client_is_refused_at_once_where_revoked_and_within_a_second_elsewhere() {
    let (apps, admin, admin_token) = three_instances();
    let token = apps[1].token_for(&admin);
    let path = credential_path(&admin);
    for app in apps.iter().rev() {
        assert_eq!(app.get(&path, &token).status, 200);
    }

    revoke(&apps[0], &admin, &token);
    let acknowledged = Instant::now();

    let took = assert_bound(&apps, acknowledged, 401, |app| app.get(&path, &token).status);
    for app in &apps {
        assert_eq!(app.get(&path, &admin_token).status, 200, "only that token is revoked");
    }
    println!(
        "multi-instance: a token revoked by its client (RFC 7009) was refused at once by the revoking instance \
         and after {took:?} by the others (bound: {REVOCATION_BOUND:?}; TTL {TOKEN_CACHE_TTL:?})"
    );
}

/// The `q`-quantile (0 to 1) of sorted `samples`, by the nearest rank.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[test]
#[ignore = "PostgreSQL only: runs with KEYCRED_TEST_BACKEND=postgres and --include-ignored (scripts/test.sh)"]
fn revocations_reach_the_other_instances_in_milliseconds() {
    let (apps, admin, _) = three_instances();
    let path = credential_path(&admin);
    let mut latencies = Vec::new();
    for _ in 0..MEASURED_REVOCATIONS {
        let token = apps[0].token_for(&admin);
        // Cached everywhere, so that only the announcement can make the others refuse it.
        for app in &apps {
            assert_eq!(app.get(&path, &token).status, 200);
        }
        revoke(&apps[0], &admin, &token);
        let acknowledged = Instant::now();
        // Both other instances are polled at once, each from a thread of its own.
        let took: Vec<Duration> = thread::scope(|scope| {
            let pollers: Vec<_> = apps[1..]
                .iter()
                .map(|app| {
                    let (path, token) = (&path, &token);
                    scope.spawn(move || {
                        time_until_status(app, acknowledged, REVOCATION_BOUND, 401, || app.get(path, token).status)
                    })
                })
                .collect();
            pollers
                .into_iter()
                .map(|poller| poller.join().expect("a poller"))
                .collect()
        });
        latencies.extend(took);
    }
    latencies.sort();
    println!(
        "multi-instance: revocation latency on the other instances over {MEASURED_REVOCATIONS} RFC 7009 revocations \
         ({} samples, from the revoking instance's 200 to the first 401, polled every {POLL_INTERVAL:?}): \
         min {:?}, median {:?}, p90 {:?}, max {:?}",
        latencies.len(),
        latencies[0],
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.9),
        latencies[latencies.len() - 1],
    );
}

/// How many revocations of `kind` `app` has heard, by its metrics.
fn revocations_heard(app: &TestApp, kind: &str) -> u64 {
    let metrics = app.metrics_request("GET", "/metrics").text();
    let prefix = format!("keycred_revocations_heard_total{{kind=\"{kind}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in the metrics:\n{metrics}"))
}

/// The process IDs of the instances' revocation listener connections.
fn listener_pids(app: &TestApp) -> BTreeSet<String> {
    let sql = format!(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name = '{LISTENER_APPLICATION_NAME}'"
    );
    app.database.postgres_column(&sql).into_iter().collect()
}

#[test]
#[ignore = "PostgreSQL only: runs with KEYCRED_TEST_BACKEND=postgres and --include-ignored (scripts/test.sh)"]
fn a_listener_whose_connection_is_ended_reconnects_and_empties_the_token_cache() {
    let (apps, admin, _) = three_instances();
    let path = credential_path(&admin);
    let token = apps[0].token_for(&admin);
    let listening = listener_pids(&apps[0]);
    assert_eq!(listening.len(), INSTANCES, "one listener per instance: {listening:?}");
    let flushes_before = revocations_heard(&apps[1], "everything");

    // The token is cached on instance 1, then deleted behind every instance's back:
    // nothing is announced, so only the cache's TTL would end it.
    let cached_at = Instant::now();
    assert_eq!(apps[1].get(&path, &token).status, 200);
    let (token_id, _) = token.split_once('.').expect("a token is <id>.<secret>");
    let deleted = apps[0]
        .database
        .postgres_column(&format!("DELETE FROM tokens WHERE id = '{token_id}' RETURNING id"));
    assert_eq!(deleted.len(), 1);
    assert_eq!(apps[1].get(&path, &token).status, 200, "still honoured from the cache");

    let ended = apps[0].database.postgres_column(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name = '{LISTENER_APPLICATION_NAME}'"
    ));
    let killed = Instant::now();
    assert_eq!(ended.len(), INSTANCES);

    // Reconnected, it assumes it missed something and forgets every token.
    let took = time_until_status(&apps[1], killed, REVOCATION_BOUND, 401, || {
        apps[1].get(&path, &token).status
    });
    assert!(
        cached_at.elapsed() < TOKEN_CACHE_TTL,
        "too slow to tell the flush from the TTL"
    );
    assert!(revocations_heard(&apps[1], "everything") > flushes_before);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now_listening = listener_pids(&apps[0]);
        if now_listening.len() == INSTANCES && now_listening.is_disjoint(&listening) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "listeners now: {now_listening:?}, before: {listening:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
    // And it hears announcements again.
    let another = apps[0].token_for(&admin);
    assert_eq!(apps[1].get(&path, &another).status, 200);
    revoke(&apps[0], &admin, &another);
    let acknowledged = Instant::now();
    time_until_status(&apps[1], acknowledged, REVOCATION_BOUND, 401, || {
        apps[1].get(&path, &another).status
    });
    println!("multi-instance: a listener whose connection was ended emptied its token cache after {took:?}");
}
