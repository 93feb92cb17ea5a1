//! A credential's lifecycle: `status` (disable, enable), `expires_at` (set on create or
//! PATCH, removed with `null`) and `POST …/{credential_id}/rotate`, and what each does
//! at the token endpoint and to the tokens already minted.

use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::helpers::{
    assert_error, assert_token_error, credential_path, credentials_path, spawn_app, string_field, Bootstrapped,
    TestApp, TestResponse,
};

/// How long a test waits at most for an expiry or a grace period it set to pass.
const PATIENCE: Duration = Duration::from_secs(15);

/// Milliseconds since the Unix epoch, now.
fn now_millis() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970");
    i64::try_from(since_epoch.as_millis()).expect("a clock before 2262")
}

/// `millis` as the API writes a date-time.
fn rfc3339(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .expect("a representable time")
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// A date-time `offset_ms` from now, as the API writes it.
fn from_now(offset_ms: i64) -> String {
    rfc3339(now_millis() + offset_ms)
}

/// Polls `condition` until it holds, failing the test after [`PATIENCE`].
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "gave up waiting until {what}");
        thread::sleep(Duration::from_millis(25));
    }
}

/// A fresh credential of the admin's own service account (so its tokens can read
/// the API), created with the JSON `body`.
fn fresh_credential(app: &TestApp, admin: &Bootstrapped, token: &str, body: &str) -> (Bootstrapped, Value) {
    let created = app.create_credential(&admin.organization_id, &admin.service_account_id, token, body);
    let credential = Bootstrapped {
        credential_id: string_field(&created, "id"),
        client_id: string_field(&created, "client_id"),
        client_secret: string_field(&created, "client_secret"),
        ..admin.clone()
    };
    (credential, created)
}

/// Mints a token with a client_id and secret by HTTP Basic.
fn mint(app: &TestApp, client_id: &str, client_secret: &str) -> TestResponse {
    let who = Bootstrapped {
        organization_id: String::new(),
        organization_label: String::new(),
        service_account_id: String::new(),
        credential_id: String::new(),
        client_id: client_id.to_owned(),
        client_secret: client_secret.to_owned(),
    };
    app.post_token("grant_type=client_credentials", Some(&who))
}

/// Asserts the token endpoint refused, exactly as it refuses a client_id nobody has.
fn assert_refused_like_an_unknown_client(app: &TestApp, response: &TestResponse) {
    assert_token_error(response, 401, "invalid_client", "invalid_client");
    let unknown = mint(app, "no-such-client-id-0000", "whatever");
    assert_eq!(
        response.json(),
        unknown.json(),
        "the same body as for an unknown client"
    );
    assert_eq!(response.header("WWW-Authenticate"), unknown.header("WWW-Authenticate"));
}

/// Whether `token` is accepted by the API now.
fn works(app: &TestApp, token: &str) -> bool {
    match app.get("/organizations", token).status {
        200 => true,
        401 => false,
        other => panic!("GET /organizations answered {other}"),
    }
}

/// The rotate path of `who`'s credential.
fn rotate_path(who: &Bootstrapped) -> String {
    format!("{}/rotate", credential_path(who))
}

/// Rotates `who`'s credential with a JSON `body`, asserting a 200.
fn rotate_ok(app: &TestApp, who: &Bootstrapped, token: &str, body: &str) -> Value {
    let response = app.post_json(&rotate_path(who), token, body);
    assert_eq!(response.status, 200, "rotate {body}: {}", response.text());
    response.json()
}

/// `who` with the secret a rotation answered.
fn with_secret(who: &Bootstrapped, rotated: &Value) -> Bootstrapped {
    Bootstrapped {
        client_secret: string_field(rotated, "client_secret"),
        ..who.clone()
    }
}

#[test]
fn a_new_credential_is_active_and_shows_the_expiry_it_was_created_with() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let expires_at = from_now(3_600_000);

    let (plain, created) = fresh_credential(&app, &admin, &token, r#"{"name":"plain"}"#);
    assert_eq!(created["status"], "active");
    assert!(created.get("expires_at").is_none(), "{created}");
    let read = app.credential(&plain, &token);
    assert_eq!(read["status"], "active");
    for absent in ["expires_at", "secret_rotated_at", "previous_secret_expires_at"] {
        assert!(read.get(absent).is_none(), "{absent} in {read}");
    }

    let body = format!(r#"{{"name":"expiring","expires_at":"{expires_at}"}}"#);
    let (expiring, created) = fresh_credential(&app, &admin, &token, &body);
    assert_eq!(created["expires_at"], expires_at.as_str());
    assert_eq!(created["status"], "active");
    assert_eq!(app.credential(&expiring, &token)["expires_at"], expires_at.as_str());
    let minted = mint(&app, &expiring.client_id, &expiring.client_secret);
    assert_eq!(minted.status, 200, "{}", minted.text());
}

#[test]
fn an_expiry_in_the_past_is_refused_on_create_and_on_update() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let past = from_now(-1_000);

    let body = format!(r#"{{"name":"late","expires_at":"{past}"}}"#);
    let response = app.post_json(
        &credentials_path(&admin.organization_id, &admin.service_account_id),
        &token,
        &body,
    );
    assert_error(&response, 400, "invalid_request");
    assert!(response.json()["message"].as_str().unwrap().contains("expires_at"));

    let response = app.patch_json(
        &credential_path(&admin),
        &token,
        &format!(r#"{{"expires_at":"{past}"}}"#),
    );
    assert_error(&response, 400, "invalid_request");
    let response = app.patch_json(&credential_path(&admin), &token, r#"{"expires_at":"tomorrow"}"#);
    assert_error(&response, 400, "invalid_request");
    assert!(app.credential(&admin, &token).get("expires_at").is_none());
}

#[test]
fn patch_sets_an_expiry_leaves_it_when_absent_and_removes_it_with_null() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let (credential, _) = fresh_credential(&app, &admin, &token, r#"{"name":"c"}"#);
    let path = credential_path(&credential);
    let expires_at = from_now(3_600_000);

    let set = app.patch_json(&path, &token, &format!(r#"{{"expires_at":"{expires_at}"}}"#));
    assert_eq!(set.status, 200, "{}", set.text());
    assert_eq!(set.json()["expires_at"], expires_at.as_str());

    let renamed = app.patch_json(&path, &token, r#"{"name":"renamed"}"#);
    assert_eq!(renamed.json()["expires_at"], expires_at.as_str(), "absent leaves it");

    let cleared = app.patch_json(&path, &token, r#"{"expires_at":null}"#);
    assert_eq!(cleared.status, 200, "{}", cleared.text());
    assert!(cleared.json().get("expires_at").is_none(), "{}", cleared.text());
    assert!(app.credential(&credential, &token).get("expires_at").is_none());
}

#[test]
fn null_is_still_refused_for_name_and_description_and_expired_is_no_status_to_set() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let path = credential_path(&admin);

    for body in [
        r#"{"name":null}"#,
        r#"{"description":null}"#,
        r#"{"status":null}"#,
        r#"{"status":"expired"}"#,
        r#"{"status":"paused"}"#,
        r#"{"status":true}"#,
        r#"{"expires_at":1893456000}"#,
    ] {
        let response = app.patch_json(&path, &token, body);
        assert_error(&response, 400, "invalid_request");
    }
    assert_eq!(app.credential(&admin, &token)["status"], "active");
}

#[test]
fn a_minted_tokens_lifetime_never_runs_past_its_credentials_expiry() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let body = format!(r#"{{"name":"short","expires_at":"{}"}}"#, from_now(30_000));
    let (credential, _) = fresh_credential(&app, &admin, &token, &body);

    let minted = mint(&app, &credential.client_id, &credential.client_secret);
    assert_eq!(minted.status, 200, "{}", minted.text());
    let expires_in = minted.json()["expires_in"].as_i64().unwrap();
    assert!((1..=30).contains(&expires_in), "expires_in {expires_in}");
}

#[test]
fn a_passing_expiry_ends_minting_and_the_tokens_already_minted() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let (credential, _) = fresh_credential(&app, &admin, &token, r#"{"name":"soon"}"#);
    let early = app.token_for(&credential);

    let expires_at = now_millis() + 1_500;
    let patched = app.patch_json(
        &credential_path(&credential),
        &token,
        &format!(r#"{{"expires_at":"{}"}}"#, rfc3339(expires_at)),
    );
    assert_eq!(patched.status, 200, "{}", patched.text());
    let late = app.token_for(&credential);
    assert!(works(&app, &early) && works(&app, &late));

    wait_until("the early token stops working", || !works(&app, &early));
    assert!(now_millis() >= expires_at, "a token died before its credential expired");
    assert!(!works(&app, &late), "the token minted after the PATCH died too");
    assert_refused_like_an_unknown_client(&app, &mint(&app, &credential.client_id, &credential.client_secret));
    assert_eq!(app.credential(&credential, &token)["status"], "expired");
}

#[test]
fn disabling_kills_the_tokens_at_once_and_enabling_revives_none() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let (credential, _) = fresh_credential(&app, &admin, &token, r#"{"name":"switch"}"#);
    let old = app.token_for(&credential);
    assert!(works(&app, &old));

    let disabled = app.patch_json(&credential_path(&credential), &token, r#"{"status":"disabled"}"#);
    assert_eq!(disabled.status, 200, "{}", disabled.text());
    assert_eq!(disabled.json()["status"], "disabled");
    assert!(!works(&app, &old), "disabling revokes at once");
    assert_refused_like_an_unknown_client(&app, &mint(&app, &credential.client_id, &credential.client_secret));

    let enabled = app.patch_json(&credential_path(&credential), &token, r#"{"status":"active"}"#);
    assert_eq!(enabled.json()["status"], "active");
    assert!(!works(&app, &old), "enabling revives no token");
    let new = app.token_for(&credential);
    assert!(works(&app, &new));
}

#[test]
fn a_disabled_credentials_attempts_count_as_failed_authentications() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let (credential, _) = fresh_credential(&app, &admin, &token, r#"{"name":"off"}"#);
    let disabled = app.patch_json(&credential_path(&credential), &token, r#"{"status":"disabled"}"#);
    assert_eq!(disabled.status, 200);

    for _ in 0..10 {
        let refused = mint(&app, &credential.client_id, &credential.client_secret);
        assert_token_error(&refused, 401, "invalid_client", "invalid_client");
    }
    let throttled = mint(&app, &credential.client_id, &credential.client_secret);
    assert_eq!(throttled.status, 429, "{}", throttled.text());
}

#[test]
fn a_disabled_credential_past_its_expiry_reads_disabled() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let expires_at = now_millis() + 1_000;
    let body = format!(r#"{{"name":"both","expires_at":"{}"}}"#, rfc3339(expires_at));
    let (credential, _) = fresh_credential(&app, &admin, &token, &body);
    let disabled = app.patch_json(&credential_path(&credential), &token, r#"{"status":"disabled"}"#);
    assert_eq!(disabled.json()["status"], "disabled");

    wait_until("the expiry passes", || now_millis() > expires_at + 50);
    assert_eq!(app.credential(&credential, &token)["status"], "disabled");
}

#[test]
fn a_rotation_without_grace_refuses_the_old_secret_at_once_and_keeps_the_tokens() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let (credential, _) = fresh_credential(&app, &admin, &token, r#"{"name":"rotating"}"#);
    let old_token = app.token_for(&credential);

    let rotated = rotate_ok(&app, &credential, &token, "{}");
    let secret = string_field(&rotated, "client_secret");
    assert_eq!(secret.len(), 64);
    assert!(secret.bytes().all(|byte| byte.is_ascii_alphanumeric()));
    assert_ne!(secret, credential.client_secret);
    assert_eq!(rotated["client_id"], credential.client_id.as_str());
    assert_eq!(rotated["status"], "active");
    assert!(rotated["secret_rotated_at"].is_string(), "{rotated}");
    assert!(rotated.get("previous_secret_expires_at").is_none(), "{rotated}");

    assert_refused_like_an_unknown_client(&app, &mint(&app, &credential.client_id, &credential.client_secret));
    let rotated_credential = with_secret(&credential, &rotated);
    assert!(works(&app, &app.token_for(&rotated_credential)));
    assert!(works(&app, &old_token), "a rotation revokes no token unless asked");
    let read = app.credential(&credential, &token);
    assert_eq!(read["secret_rotated_at"], rotated["secret_rotated_at"]);
    assert!(read.get("client_secret").is_none());
}

#[test]
fn a_rotation_with_grace_accepts_both_secrets_until_the_grace_ends() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let (credential, _) = fresh_credential(&app, &admin, &token, r#"{"name":"graceful"}"#);

    let rotated = rotate_ok(&app, &credential, &token, r#"{"previous_secret_valid_for_seconds":1}"#);
    let grace_end = rotated["previous_secret_expires_at"]
        .as_str()
        .expect("a grace end")
        .to_owned();
    let rotated_credential = with_secret(&credential, &rotated);
    assert_eq!(mint(&app, &credential.client_id, &credential.client_secret).status, 200);
    assert_eq!(
        mint(&app, &rotated_credential.client_id, &rotated_credential.client_secret).status,
        200
    );
    assert_eq!(
        app.credential(&credential, &token)["previous_secret_expires_at"],
        grace_end.as_str()
    );

    wait_until("the previous secret is refused", || {
        mint(&app, &credential.client_id, &credential.client_secret).status == 401
    });
    assert_refused_like_an_unknown_client(&app, &mint(&app, &credential.client_id, &credential.client_secret));
    assert_eq!(
        mint(&app, &rotated_credential.client_id, &rotated_credential.client_secret).status,
        200
    );
    assert!(app
        .credential(&credential, &token)
        .get("previous_secret_expires_at")
        .is_none());
}

#[test]
fn a_rotation_that_revokes_tokens_kills_them_at_once() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let (credential, _) = fresh_credential(&app, &admin, &token, r#"{"name":"leaked"}"#);
    let old_token = app.token_for(&credential);

    let rotated = rotate_ok(&app, &credential, &token, r#"{"revoke_tokens":true}"#);
    assert!(!works(&app, &old_token));
    assert!(works(&app, &app.token_for(&with_secret(&credential, &rotated))));
}

#[test]
fn a_second_rotation_refuses_the_first_secret_at_once() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let (first, _) = fresh_credential(&app, &admin, &token, r#"{"name":"twice"}"#);
    let hour = r#"{"previous_secret_valid_for_seconds":3600}"#;

    let second = with_secret(&first, &rotate_ok(&app, &first, &token, hour));
    let third = with_secret(&first, &rotate_ok(&app, &first, &token, hour));

    assert_refused_like_an_unknown_client(&app, &mint(&app, &first.client_id, &first.client_secret));
    assert_eq!(
        mint(&app, &second.client_id, &second.client_secret).status,
        200,
        "still in its grace"
    );
    assert_eq!(mint(&app, &third.client_id, &third.client_secret).status, 200);
}

#[test]
fn a_rotation_takes_no_body_an_empty_body_or_an_empty_object() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let (credential, _) = fresh_credential(&app, &admin, &token, r#"{"name":"bodies"}"#);
    let authorization = format!("Bearer {token}");
    let path = rotate_path(&credential);

    let no_body = app.request("POST", &path, &[("Authorization", &authorization)], None);
    let empty = app.request(
        "POST",
        &path,
        &[("Authorization", &authorization), ("Content-Type", "application/json")],
        Some(b""),
    );
    let empty_object = app.post_json(&path, &token, "{}");
    for response in [no_body, empty, empty_object] {
        assert_eq!(response.status, 200, "{}", response.text());
        assert!(response.json().get("previous_secret_expires_at").is_none());
    }
    let form = app.request(
        "POST",
        &path,
        &[("Authorization", &authorization), ("Content-Type", "text/plain")],
        Some(b"x"),
    );
    assert_error(&form, 415, "unsupported_media_type");
}

#[test]
fn bad_rotation_bodies_are_refused_and_change_nothing() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let (credential, _) = fresh_credential(&app, &admin, &token, r#"{"name":"strict"}"#);

    for body in [
        r#"{"previous_secret_valid_for_seconds":-1}"#,
        r#"{"previous_secret_valid_for_seconds":604801}"#,
        r#"{"previous_secret_valid_for_seconds":"60"}"#,
        r#"{"previous_secret_valid_for_seconds":1.5}"#,
        r#"{"previous_secret_valid_for_seconds":null}"#,
        r#"{"revoke_tokens":"yes"}"#,
        r#"{"revoke_tokens":null}"#,
        "[]",
        "{",
    ] {
        let response = app.post_json(&rotate_path(&credential), &token, body);
        assert_error(&response, 400, "invalid_request");
    }
    assert_eq!(mint(&app, &credential.client_id, &credential.client_secret).status, 200);
    assert!(app.credential(&credential, &token).get("secret_rotated_at").is_none());
    rotate_ok(
        &app,
        &credential,
        &token,
        r#"{"previous_secret_valid_for_seconds":604800}"#,
    );
}

#[test]
fn a_rotation_with_a_stale_if_match_is_412_and_changes_nothing() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let (credential, _) = fresh_credential(&app, &admin, &token, r#"{"name":"guarded"}"#);
    let path = credential_path(&credential);
    let read = app.get(&path, &token);
    let etag = read.header("ETag").expect("an ETag").to_owned();
    let authorization = format!("Bearer {token}");
    let rotate_if = |tag: &str| {
        let headers = [
            ("Authorization", authorization.as_str()),
            ("Content-Type", "application/json"),
            ("If-Match", tag),
        ];
        app.request("POST", &rotate_path(&credential), &headers, Some(b"{}"))
    };

    let renamed = app.patch_json(&path, &token, r#"{"name":"renamed"}"#);
    let current = renamed.header("ETag").expect("an ETag").to_owned();
    assert_error(&rotate_if(&etag), 412, "precondition_failed");
    assert_eq!(mint(&app, &credential.client_id, &credential.client_secret).status, 200);

    let rotated = rotate_if(&current);
    assert_eq!(rotated.status, 200, "{}", rotated.text());
    let new_tag = rotated.header("ETag").expect("an ETag on the rotation").to_owned();
    assert_ne!(new_tag, current, "a rotation is a change");
    assert_eq!(app.get(&path, &token).header("ETag"), Some(new_tag.as_str()));
}

#[test]
fn only_an_admin_may_rotate_while_a_member_may_disable() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let admin_token = app.token_for(&admin);
    let (credential, _) = fresh_credential(&app, &admin, &admin_token, r#"{"name":"guarded"}"#);

    for role in ["org_viewer", "org_member"] {
        let caller = app.with_role("acme", role);
        let token = app.token_for(&caller);
        let response = app.post_json(&rotate_path(&credential), &token, "{}");
        assert_error(&response, 403, "forbidden");
    }
    assert_eq!(mint(&app, &credential.client_id, &credential.client_secret).status, 200);

    let viewer = app.token_for(&app.with_role("acme", "org_viewer"));
    let response = app.patch_json(&credential_path(&credential), &viewer, r#"{"status":"disabled"}"#);
    assert_error(&response, 403, "forbidden");
    let member = app.token_for(&app.with_role("acme", "org_member"));
    let response = app.patch_json(&credential_path(&credential), &member, r#"{"status":"disabled"}"#);
    assert_eq!(response.status, 200, "{}", response.text());
    rotate_ok(&app, &credential, &admin_token, "{}");
}

#[test]
fn rotating_a_credential_of_another_organization_is_404_like_a_missing_one() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let other = app.admin("globex");
    let other_token = app.token_for(&other);

    let foreign = app.post_json(&rotate_path(&admin), &other_token, "{}");
    assert_error(&foreign, 404, "not_found");
    let missing = Bootstrapped {
        credential_id: "0".repeat(26),
        ..other.clone()
    };
    let absent = app.post_json(&rotate_path(&missing), &other_token, "{}");
    assert_eq!(foreign.json(), absent.json());
    let own_path_foreign_ids = Bootstrapped {
        organization_id: other.organization_id.clone(),
        ..admin.clone()
    };
    let crossed = app.post_json(&rotate_path(&own_path_foreign_ids), &other_token, "{}");
    assert_error(&crossed, 404, "not_found");
    assert_eq!(mint(&app, &admin.client_id, &admin.client_secret).status, 200);
}
