//! The audit trail, end to end: every write and token decision appears in
//! `GET /organizations/{id}/audit-events` with its actor, target, changes, request IDs
//! and source address; denials fold; only admins read it; organizations never see one
//! another's; filters and cursors; retention pruning; `keycred audit export`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{
    assert_error, credential_path, credential_path_of, keycred_binary, organization_path, service_account_path,
    spawn_app, spawn_app_with, string_field, with_query, Bootstrapped, ServeOptions, TestApp,
};

/// The path of an organization's audit trail.
fn audit_path(organization: &str) -> String {
    format!("{}/audit-events", organization_path(organization))
}

/// Every event of `organization` the API lists with `query`, newest first, walking
/// every page.
fn events(app: &TestApp, organization: &str, token: &str, query: &str) -> Vec<Value> {
    let mut path = with_query(&audit_path(organization), &format!("limit=100&{query}"));
    let mut events = Vec::new();
    loop {
        let page = app.get_ok(&path, token);
        events.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["page_info"]["end_cursor"].as_str() {
            Some(cursor) if page["page_info"]["has_next_page"] == true => {
                path = with_query(&audit_path(organization), &format!("limit=100&{query}&after={cursor}"));
            }
            _ => return events,
        }
    }
}

/// The `action` of each event, in order.
fn actions(events: &[Value]) -> Vec<String> {
    events.iter().map(|event| string_field(event, "action")).collect()
}

/// Waits (at most ten seconds) until `organization`'s events with `query` satisfy
/// `done`, and returns them: denials are written up to a second after they happen.
fn events_once(
    app: &TestApp,
    organization: &str,
    token: &str,
    query: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = events(app, organization, token, query);
        if done(&found) || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A request with a bearer token, an X-Client-Request-ID and maybe a JSON body;
/// asserts a 2xx and returns the response's X-Request-ID.
fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    client_request_id: &str,
    body: Option<&str>,
) -> (String, Value) {
    let authorization = format!("Bearer {token}");
    let mut headers = vec![
        ("Authorization", authorization.as_str()),
        ("X-Client-Request-ID", client_request_id),
    ];
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    let response = app.request(method, path, &headers, body.map(str::as_bytes));
    assert!(
        (200..300).contains(&response.status),
        "{method} {path}: {} {}",
        response.status,
        response.text()
    );
    let request_id = response.header("x-request-id").expect("X-Request-ID").to_owned();
    let body = if response.status == 204 {
        Value::Null
    } else {
        response.json()
    };
    (request_id, body)
}

/// The one event among `events` whose request ID is `request_id`.
fn by_request<'a>(events: &'a [Value], request_id: &str) -> &'a Value {
    let matching: Vec<&Value> = events
        .iter()
        .filter(|event| event["request_id"] == request_id)
        .collect();
    assert_eq!(matching.len(), 1, "events of request {request_id}: {events:#?}");
    matching[0]
}

#[test]
fn every_api_write_is_recorded_with_its_actor_target_changes_request_ids_and_address() {
    let app = spawn_app();
    let admin = app.admin(&crate::helpers::new_label());
    let token = app.token_for(&admin);
    let org = &admin.organization_id;
    let client_request_id = uuid::Uuid::new_v4().to_string();
    let call =
        |method: &str, path: &str, body: Option<&str>| send(&app, method, path, &token, &client_request_id, body);

    let (create_sa, made) = call(
        "POST",
        &format!("{}/service-accounts", organization_path(org)),
        Some(r#"{"name":"robot","role":"org_viewer"}"#),
    );
    let robot = string_field(&made, "id");
    let robot_path = service_account_path(org, &robot);
    let (update_sa, _) = call("PATCH", &robot_path, Some(r#"{"role":"org_member","name":"robot-2"}"#));
    let (create_credential, made) = call(
        "POST",
        &format!("{robot_path}/credentials"),
        Some(r#"{"name":"key","description":"first"}"#),
    );
    let key = string_field(&made, "id");
    let key_secret = string_field(&made, "client_secret");
    let key_client_id = string_field(&made, "client_id");
    let key_path = credential_path_of(org, &robot, &key);
    let (update_credential, _) = call(
        "PATCH",
        &key_path,
        Some(r#"{"description":"second","expires_at":"2999-01-01T00:00:00.000Z"}"#),
    );
    let (disable, _) = call("PATCH", &key_path, Some(r#"{"status":"disabled","name":"key-off"}"#));
    let (enable, _) = call("PATCH", &key_path, Some(r#"{"status":"active"}"#));
    let (nothing, _) = call("PATCH", &key_path, Some(r#"{"status":"active"}"#));
    let (rotate, rotated) = call("POST", &format!("{key_path}/rotate"), Some("{}"));
    let key = Bootstrapped {
        organization_id: org.clone(),
        organization_label: admin.organization_label.clone(),
        service_account_id: robot.clone(),
        credential_id: key.clone(),
        client_id: key_client_id.clone(),
        client_secret: string_field(&rotated, "client_secret"),
    };
    assert_ne!(key.client_secret, key_secret);
    let minted = app.post_token("grant_type=client_credentials", Some(&key));
    assert_eq!(minted.status, 200, "{}", minted.text());
    let mint_request = minted.header("x-request-id").unwrap().to_owned();
    let access_token = string_field(&minted.json(), "access_token");
    let revoked = app
        .request(
            "POST",
            "/service-account-token/revoke",
            &[
                (
                    "Authorization",
                    &crate::helpers::basic_auth(&key.client_id, &key.client_secret),
                ),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            Some(format!("token={access_token}").as_bytes()),
        )
        .header("x-request-id")
        .map(str::to_owned)
        .expect("the revocation's X-Request-ID");
    let (delete_credential, _) = call("DELETE", &key_path, None);
    let (second_key, _) = call(
        "POST",
        &format!("{robot_path}/credentials"),
        Some(r#"{"name":"spare"}"#),
    );
    let (delete_sa, _) = call("DELETE", &robot_path, None);

    let all = events(&app, org, &token, "");
    let expect = |request_id: &str, action: &str| -> &Value {
        let event = by_request(&all, request_id);
        assert_eq!(event["action"], action, "{event:#}");
        assert_eq!(event["organization_id"], org.as_str());
        assert_eq!(event["count"], 1);
        assert_eq!(event["source_address"], "127.0.0.1", "{event:#}");
        event
    };
    for (request_id, action) in [
        (&create_sa, "service_account.created"),
        (&update_sa, "service_account.updated"),
        (&create_credential, "credential.created"),
        (&update_credential, "credential.updated"),
        (&disable, "credential.disabled"),
        (&enable, "credential.enabled"),
        (&rotate, "credential.rotated"),
        (&second_key, "credential.created"),
    ] {
        let event = expect(request_id, action);
        assert_eq!(event["client_request_id"], client_request_id.as_str());
        assert_eq!(
            event["actor"],
            serde_json::json!({"type": "service_account", "service_account_id": admin.service_account_id, "credential_id": admin.credential_id})
        );
    }
    assert!(
        all.iter().all(|event| event["request_id"] != nothing.as_str()),
        "a PATCH that changes nothing records nothing"
    );
    assert_eq!(
        expect(&create_sa, "service_account.created")["target"],
        serde_json::json!({"type": "service_account", "id": robot})
    );
    assert_eq!(
        expect(&update_sa, "service_account.updated")["changes"],
        serde_json::json!({"name": {"from": "robot", "to": "robot-2"}, "role": {"from": "org_viewer", "to": "org_member"}})
    );
    let updated = expect(&update_credential, "credential.updated");
    assert_eq!(
        updated["target"],
        serde_json::json!({"type": "credential", "id": key.credential_id, "service_account_id": robot})
    );
    assert_eq!(
        updated["changes"],
        serde_json::json!({"description": {"from": "first", "to": "second"}, "expires_at": {"to": "2999-01-01T00:00:00.000Z"}})
    );
    assert_eq!(
        expect(&disable, "credential.disabled")["changes"],
        serde_json::json!({"name": {"from": "key", "to": "key-off"}, "status": {"from": "active", "to": "disabled"}})
    );
    assert!(expect(&rotate, "credential.rotated").get("changes").is_none());

    let issued = expect(&mint_request, "token.issued");
    assert_eq!(
        issued["actor"],
        serde_json::json!({"type": "client", "client_id": key_client_id})
    );
    assert_eq!(issued["target"]["id"], key.credential_id.as_str());
    assert!(issued.get("client_request_id").is_none(), "none was sent: {issued:#}");
    let revocation = expect(&revoked, "token.revoked");
    assert_eq!(revocation["actor"]["client_id"], key_client_id.as_str());

    expect(&delete_credential, "credential.deleted");
    let deleted: Vec<&str> = all
        .iter()
        .filter(|event| event["request_id"] == delete_sa.as_str())
        .map(|event| event["action"].as_str().unwrap())
        .collect();
    let mut deleted = deleted;
    deleted.sort_unstable();
    assert_eq!(
        deleted,
        ["credential.deleted", "service_account.deleted"],
        "the service account's delete records its remaining credential's too"
    );
    let times: Vec<String> = all.iter().map(|event| string_field(event, "occurred_at")).collect();
    let mut newest_first = times.clone();
    newest_first.sort_by(|one, other| other.cmp(one));
    assert_eq!(times, newest_first, "newest first");
    assert!(
        all.iter().all(|event| !event.to_string().contains(&key.client_secret)
            && !event.to_string().contains(&key_secret)
            && !event.to_string().contains(&access_token)),
        "never a secret or a token"
    );
}

#[test]
fn bootstrap_is_recorded_as_the_cli_and_the_events_outlive_what_they_name() {
    let app = spawn_app();
    let admin = app.admin(&crate::helpers::new_label());
    let other = app.bootstrap(&["--org-label", &admin.organization_label, "--role", "org_viewer"]);
    let token = app.token_for(&admin);
    assert_eq!(
        app.delete(
            &service_account_path(&other.organization_id, &other.service_account_id),
            &token
        )
        .status,
        204
    );

    let about_other = events(
        &app,
        &admin.organization_id,
        &token,
        &format!("target_id={}", other.service_account_id),
    );
    assert_eq!(
        actions(&about_other),
        ["service_account.deleted", "service_account.created"]
    );
    let created = &about_other[1];
    assert_eq!(created["actor"], serde_json::json!({"type": "cli"}));
    assert!(
        created.get("request_id").is_none() && created.get("source_address").is_none(),
        "{created:#}"
    );
    let credential_created = events(
        &app,
        &admin.organization_id,
        &token,
        &format!("target_id={}", other.credential_id),
    );
    assert_eq!(
        actions(&credential_created),
        ["credential.deleted", "credential.created"]
    );
}

#[test]
fn failed_client_authentications_fold_into_one_counted_event_per_client_address_and_reason() {
    let app = spawn_app();
    let admin = app.admin(&crate::helpers::new_label());
    let token = app.token_for(&admin);
    let wrong = Bootstrapped {
        client_secret: "not-the-secret".to_owned(),
        ..admin.clone()
    };
    for _ in 0..5 {
        assert_eq!(
            app.post_token("grant_type=client_credentials", Some(&wrong)).status,
            401
        );
    }
    let unknown = Bootstrapped {
        client_id: "nobody-has-this-id".to_owned(),
        ..admin.clone()
    };
    assert_eq!(
        app.post_token("grant_type=client_credentials", Some(&unknown)).status,
        401
    );

    let denied = events_once(&app, &admin.organization_id, &token, "action=token.denied", |found| {
        found.first().is_some_and(|event| event["count"] == 5)
    });
    assert_eq!(denied.len(), 1, "one event for five equal attempts: {denied:#?}");
    let event = &denied[0];
    assert_eq!(event["count"], 5, "{event:#}");
    assert_eq!(event["reason"], "wrong_secret");
    assert_eq!(
        event["actor"],
        serde_json::json!({"type": "client", "client_id": admin.client_id})
    );
    assert_eq!(event["target"]["id"], admin.credential_id.as_str());
    assert_eq!(event["source_address"], "127.0.0.1");
    assert!(!event.to_string().contains("not-the-secret"));
    // The unknown client belongs to no organization: only the export has it.
    let exported = export(&app, &[]);
    let orphan = exported
        .iter()
        .find(|event| event["actor"]["client_id"] == "nobody-has-this-id")
        .unwrap_or_else(|| panic!("the unknown client's denial is exported: {exported:#?}"));
    assert_eq!(orphan["reason"], "unknown_client");
    assert!(orphan.get("organization_id").is_none() && orphan.get("target").is_none());
}

#[test]
fn only_admins_read_the_audit_trail_and_permissions_say_so() {
    let app = spawn_app();
    let admin = app.admin(&crate::helpers::new_label());
    let admin_token = app.token_for(&admin);
    for role in ["org_member", "org_viewer"] {
        let who = app.with_role(&admin.organization_label, role);
        let response = app.get(&audit_path(&who.organization_id), &app.token_for(&who));
        assert_error(&response, 403, "forbidden");
    }
    let body = app.get_ok(
        &with_query(&audit_path(&admin.organization_label), "expand=permissions"),
        &admin_token,
    );
    assert_eq!(body["permissions"], serde_json::json!({"audit_events": {"read": true}}));
    assert_error(
        &app.get(&audit_path(&admin.organization_id), "not-a-token"),
        401,
        "unauthorized",
    );
}

#[test]
fn organizations_never_see_each_others_events_by_id_or_by_label() {
    let app = spawn_app();
    let ours = app.admin(&crate::helpers::new_label());
    let theirs = app.admin(&crate::helpers::new_label());
    let our_token = app.token_for(&ours);
    let their_token = app.token_for(&theirs);
    app.create_service_account(&theirs.organization_id, &their_token, r#"{"name":"secret-project"}"#);

    for organization in [&theirs.organization_id, &theirs.organization_label] {
        assert_error(&app.get(&audit_path(organization), &our_token), 404, "not_found");
    }
    let ours_seen = events(&app, &ours.organization_label, &our_token, "");
    assert!(!ours_seen.is_empty());
    assert!(
        ours_seen
            .iter()
            .all(|event| event["organization_id"] == ours.organization_id.as_str()),
        "{ours_seen:#?}"
    );
    assert!(ours_seen
        .iter()
        .all(|event| !event.to_string().contains("secret-project")));
}

#[test]
fn the_list_filters_by_action_target_actor_and_time_and_its_cursors_keep_their_filters() {
    let app = spawn_app();
    let admin = app.admin(&crate::helpers::new_label());
    let token = app.token_for(&admin);
    let org = &admin.organization_id;
    let path = credential_path(&admin);
    let mut renames = Vec::new();
    for index in 0..7 {
        crate::helpers::next_millisecond();
        let response = app.patch_json(&path, &token, &format!(r#"{{"name":"name-{index}"}}"#));
        assert_eq!(response.status, 200, "{}", response.text());
        renames.push(response.header("x-request-id").unwrap().to_owned());
    }

    let updates = events(&app, org, &token, "action=credential.updated");
    assert_eq!(updates.len(), 7);
    let request_ids: Vec<String> = updates.iter().map(|event| string_field(event, "request_id")).collect();
    let mut newest_first = renames.clone();
    newest_first.reverse();
    assert_eq!(request_ids, newest_first);
    let two = events(
        &app,
        org,
        &token,
        "action=credential.created&action[]=service_account.created",
    );
    let mut two = actions(&two);
    two.sort();
    assert_eq!(two, ["credential.created", "service_account.created"]);
    assert_eq!(
        events(&app, org, &token, &format!("target_id={}", admin.service_account_id)).len(),
        1
    );
    assert_eq!(
        events(
            &app,
            org,
            &token,
            &format!("actor_service_account_id={}", admin.service_account_id)
        )
        .len(),
        7,
        "the token mint's actor is the client, bootstrap's the CLI"
    );
    let middle = string_field(&updates[3], "occurred_at");
    let newest = string_field(&updates[0], "occurred_at");
    let since = events(&app, org, &token, &format!("action=credential.updated&since={middle}"));
    assert_eq!(since.len(), 4, "since is inclusive");
    let window = events(
        &app,
        org,
        &token,
        &format!("action=credential.updated&since={middle}&until={newest}"),
    );
    assert_eq!(window.len(), 3, "until is exclusive");

    // Pages of two, and a cursor is refused with other filters.
    let first = app.get_ok(
        &with_query(&audit_path(org), "limit=2&action=credential.updated"),
        &token,
    );
    let cursor = first["page_info"]["end_cursor"].as_str().unwrap().to_owned();
    let second = app.get_ok(
        &with_query(
            &audit_path(org),
            &format!("limit=2&action=credential.updated&after={cursor}"),
        ),
        &token,
    );
    assert_eq!(second["items"][0]["request_id"], updates[2]["request_id"]);
    assert_eq!(second["page_info"]["has_prev_page"], true);
    let other_filter = app.get(
        &with_query(&audit_path(org), &format!("limit=2&action=token.issued&after={cursor}")),
        &token,
    );
    assert_error(&other_filter, 400, "invalid_request");

    assert_error(
        &app.get(&with_query(&audit_path(org), "action=credential.expired"), &token),
        400,
        "invalid_request",
    );
    assert_error(
        &app.get(&with_query(&audit_path(org), "since=yesterday"), &token),
        400,
        "invalid_request",
    );
}

#[test]
fn events_past_the_retention_are_pruned_in_the_background() {
    let app = spawn_app_with(ServeOptions {
        env: vec![
            ("KEYCRED_AUDIT_RETENTION_MS".to_owned(), "2000".to_owned()),
            ("KEYCRED_AUDIT_PRUNE_INTERVAL_MS".to_owned(), "100".to_owned()),
        ],
        ..ServeOptions::default()
    });
    let admin = app.admin(&crate::helpers::new_label());
    let token = app.token_for(&admin);
    let old = events(&app, &admin.organization_id, &token, "");
    assert_eq!(actions(&old).len(), 3, "{old:#?}");

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        // A fresh event each round: it stays while the old ones go.
        let response = app.patch_json(
            &credential_path(&admin),
            &token,
            &format!(r#"{{"name":"n{}"}}"#, uuid::Uuid::new_v4()),
        );
        assert_eq!(response.status, 200);
        let now = events(&app, &admin.organization_id, &token, "");
        let old_left = old.iter().filter(|event| now.contains(event)).count();
        if old_left == 0 {
            assert!(!now.is_empty(), "the newest events are kept");
            break;
        }
        assert!(Instant::now() < deadline, "old events were never pruned: {now:#?}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Runs `keycred audit export --database <db> <args>` and parses each line.
fn export(app: &TestApp, args: &[&str]) -> Vec<Value> {
    let output = Command::new(keycred_binary())
        .args(["audit", "export", "--database"])
        .arg(app.database.argument())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run keycred audit export");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "keycred audit export {args:?} failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("not one JSON object ({error}): {line}")))
        .collect()
}

#[test]
fn the_export_writes_the_api_s_events_oldest_first_as_json_lines_while_the_server_runs() {
    let app = spawn_app();
    let admin = app.admin(&crate::helpers::new_label());
    let other = app.admin(&crate::helpers::new_label());
    let token = app.token_for(&admin);
    for index in 0..3 {
        crate::helpers::next_millisecond();
        let response = app.patch_json(&credential_path(&admin), &token, &format!(r#"{{"name":"n-{index}"}}"#));
        assert_eq!(response.status, 200);
    }
    let mut listed = events(&app, &admin.organization_id, &token, "");
    listed.reverse();

    for organization in [&admin.organization_id, &admin.organization_label] {
        assert_eq!(
            export(&app, &["--organization", organization]),
            listed,
            "the API's events, oldest first"
        );
    }
    let since = string_field(&listed[3], "occurred_at");
    let later = export(&app, &["--organization", &admin.organization_label, "--since", &since]);
    assert_eq!(later, listed[3..].to_vec());
    let everything = export(&app, &[]);
    assert!(everything
        .iter()
        .any(|event| event["organization_id"] == other.organization_id.as_str()));
    assert!(everything.len() > listed.len());

    let unknown = Command::new(keycred_binary())
        .args(["audit", "export", "--organization", "no-such-org", "--database"])
        .arg(app.database.argument())
        .output()
        .expect("run keycred audit export");
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no-such-org"));
}

#[test]
fn disabled_expired_and_throttled_attempts_are_recorded_with_their_reasons() {
    let app = spawn_app();
    let admin = app.admin(&crate::helpers::new_label());
    let token = app.token_for(&admin);
    let robot = app.new_service_account(&admin, &token, "org_viewer");
    let disabled = app.new_credential(&admin, &token, &robot, "disabled");
    let response = app.patch_json(&credential_path(&disabled), &token, r#"{"status":"disabled"}"#);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        app.post_token("grant_type=client_credentials", Some(&disabled)).status,
        401
    );
    let expiring = app.new_credential(&admin, &token, &robot, "expiring");
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(300);
    let response = app.patch_json(
        &credential_path(&expiring),
        &token,
        &format!(r#"{{"expires_at":"{}"}}"#, soon.format("%Y-%m-%dT%H:%M:%S%.3fZ")),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        app.post_token("grant_type=client_credentials", Some(&expiring)).status,
        401
    );
    // Ten wrong secrets throttle the (client_id, address) pair: the eleventh is refused.
    let wrong = Bootstrapped {
        client_secret: "wrong".to_owned(),
        ..admin.clone()
    };
    for _ in 0..10 {
        assert_eq!(
            app.post_token("grant_type=client_credentials", Some(&wrong)).status,
            401
        );
    }
    assert_eq!(
        app.post_token("grant_type=client_credentials", Some(&wrong)).status,
        429
    );

    let reasons = |found: &[Value]| -> Vec<(String, i64)> {
        let mut reasons: Vec<(String, i64)> = found
            .iter()
            .map(|event| (string_field(event, "reason"), event["count"].as_i64().unwrap()))
            .collect();
        reasons.sort();
        reasons
    };
    let denied = events_once(&app, &admin.organization_id, &token, "action=token.denied", |found| {
        reasons(found).iter().map(|(_, count)| count).sum::<i64>() >= 12
    });
    assert_eq!(
        reasons(&denied),
        [
            ("disabled".to_owned(), 1),
            ("expired".to_owned(), 1),
            ("wrong_secret".to_owned(), 10)
        ]
    );
    // A throttled attempt is refused before the client_id is looked up: it belongs to
    // no organization, and is in the export with its client_id (the pair's throttle).
    let exported = export(&app, &[]);
    let throttled: Vec<&Value> = exported.iter().filter(|event| event["reason"] == "throttled").collect();
    assert_eq!(throttled.len(), 1, "{exported:#?}");
    assert_eq!(throttled[0]["actor"]["client_id"], admin.client_id.as_str());
    assert!(throttled[0].get("organization_id").is_none());
}

#[test]
fn a_flood_of_guessed_client_ids_from_one_address_makes_a_few_events_not_one_per_guess() {
    let app = spawn_app();
    let admin = app.admin(&crate::helpers::new_label());
    let guesses = 200;
    let mut refused = 0;
    for index in 0..guesses {
        let guess = Bootstrapped {
            client_id: format!("guess-{index}"),
            client_secret: "guess".to_owned(),
            ..admin.clone()
        };
        let status = app.post_token("grant_type=client_credentials", Some(&guess)).status;
        assert!(status == 401 || status == 429, "{status}");
        refused += usize::from(status == 429);
    }
    assert!(refused > 0, "the address was never throttled");

    let deadline = Instant::now() + Duration::from_secs(10);
    let denied = loop {
        let denied: Vec<Value> = export(&app, &[])
            .into_iter()
            .filter(|event| event["action"] == "token.denied")
            .collect();
        let counted: i64 = denied.iter().map(|event| event["count"].as_i64().unwrap()).sum();
        if counted == guesses || Instant::now() > deadline {
            assert_eq!(counted, guesses, "every attempt is counted: {denied:#?}");
            break denied;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // The guesses before the address's throttle are one event each; every refusal
    // after it folds into one event per minute without a client_id.
    let throttled: Vec<&Value> = denied.iter().filter(|event| event["reason"] == "throttled").collect();
    assert!(throttled.len() <= 2, "one per minute: {throttled:#?}");
    assert!(throttled.iter().all(|event| event["actor"].get("client_id").is_none()));
    assert!(
        denied.len() <= guesses as usize - refused + 2,
        "{} events for {guesses} guesses",
        denied.len()
    );
}
