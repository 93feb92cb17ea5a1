//! Secrets: client secrets and access tokens never show up in responses, in the
//! server's log, or as plaintext in the database (SQLite's files, PostgreSQL's rows).

use crate::helpers::{basic_auth, contains_bytes, credential_path, spawn_app, Bootstrapped, TestApp};

/// The strings that must never leak: the client secret, the token, and the token's
/// secret part (after the last `.`), when it has one long enough to matter.
fn secrets_of(who: &Bootstrapped, token: &str) -> Vec<String> {
    let mut secrets = vec![who.client_secret.clone(), token.to_owned()];
    if let Some((_, secret_part)) = token.rsplit_once('.') {
        if secret_part.len() >= 16 {
            secrets.push(secret_part.to_owned());
        }
    }
    secrets
}

/// Exercises the server with `who`'s credential: token, reads, writes, failures.
fn use_the_credential(app: &TestApp, who: &Bootstrapped) -> String {
    let token = app.token_for(who);
    let path = credential_path(who);
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        who.client_id, who.client_secret
    );
    let headers = [("Content-Type", "application/x-www-form-urlencoded")];
    assert_eq!(
        app.request("POST", "/service-account-token", &headers, Some(form.as_bytes()))
            .status,
        200
    );
    assert_eq!(app.get(&format!("{path}?expand=permissions"), &token).status, 200);
    assert_eq!(
        app.patch_json(&path, &token, r#"{"name":"used","description":"a lot"}"#)
            .status,
        200
    );
    assert_eq!(app.patch_json(&path, &token, r#"{"name":null}"#).status, 400);
    let as_basic = basic_auth(&who.client_id, &who.client_secret);
    assert_eq!(
        app.request("GET", &path, &[("Authorization", &as_basic)], None).status,
        401
    );
    assert_eq!(app.get("/no/such/route", &token).status, 404);
    token
}

#[test]
fn secrets_never_appear_in_the_log() {
    let app = spawn_app();
    let admin = app.admin("acme");

    let token = use_the_credential(&app, &admin);

    let logs = app.logs_once_they_contain("no/such/route");
    assert!(
        logs.contains("/service-account-token"),
        "requests are not logged to stderr:\n{logs}"
    );
    for secret in secrets_of(&admin, &token) {
        assert!(
            !logs.contains(&secret),
            "a secret ({} characters) is in the log:\n{logs}",
            secret.len()
        );
    }
}

#[test]
fn a_rejected_basic_secret_never_appears_in_the_response_or_the_log() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let wrong_secret = "WrongSecretThatMustNotLeak0123456789";
    let headers = [("Content-Type", "application/x-www-form-urlencoded")];

    let by_basic = {
        let authorization = basic_auth(&admin.client_id, wrong_secret);
        let headers = [headers[0], ("Authorization", authorization.as_str())];
        app.request(
            "POST",
            "/service-account-token",
            &headers,
            Some(b"grant_type=client_credentials"),
        )
    };
    let by_form = {
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={wrong_secret}",
            admin.client_id
        );
        app.request("POST", "/service-account-token", &headers, Some(form.as_bytes()))
    };
    let unsupported = app.post_token("grant_type=password", Some(&admin));

    for response in [&by_basic, &by_form, &unsupported] {
        assert!(
            !response.everything().contains(wrong_secret),
            "{}",
            response.everything()
        );
        assert!(
            !response.everything().contains(&admin.client_secret),
            "{}",
            response.everything()
        );
    }
    assert_eq!((by_basic.status, by_form.status, unsupported.status), (401, 401, 400));
    let last_request = unsupported.header("x-request-id").unwrap_or("/service-account-token");
    let logs = app.logs_once_they_contain(last_request);
    assert!(
        logs.contains("/service-account-token"),
        "requests are not logged to stderr:\n{logs}"
    );
    assert!(
        !logs.contains(wrong_secret),
        "the rejected secret is in the log:\n{logs}"
    );
    assert!(
        !logs.contains(&admin.client_secret),
        "the client secret is in the log:\n{logs}"
    );
}

#[test]
fn the_token_response_does_not_repeat_the_client_secret() {
    let app = spawn_app();
    let admin = app.admin("acme");

    let response = app.post_token("grant_type=client_credentials", Some(&admin));

    assert_eq!(response.status, 200);
    assert!(!response.everything().contains(&admin.client_secret));
}

/// Lower-case hex of `text`'s bytes, as PostgreSQL shows a binary column.
fn hex(text: &str) -> String {
    text.bytes().map(|byte| format!("{byte:02x}")).collect()
}

#[test]
fn the_database_holds_no_secret_in_plaintext() {
    let mut app = spawn_app();
    let admin = app.admin("acme");
    let other = app.with_role("acme", "org_viewer");
    let token = use_the_credential(&app, &admin);
    let other_token = app.token_for(&other);
    let mut secrets = secrets_of(&admin, &token);
    secrets.extend(secrets_of(&other, &other_token));

    let database = std::sync::Arc::clone(&app.database);
    let check = |when: &str| {
        let stored = database.stored_bytes();
        // The client_id is stored as is: finding it shows the search sees the data.
        assert!(
            stored
                .iter()
                .any(|(_, bytes)| contains_bytes(bytes, admin.client_id.as_bytes())),
            "{when}: the stored data does not even hold the client_id"
        );
        for (part, bytes) in stored {
            for secret in &secrets {
                // As text, and as the hex a binary column would be shown in.
                for form in [secret.clone(), hex(secret)] {
                    assert!(
                        !contains_bytes(&bytes, form.as_bytes()),
                        "{when}: {part} holds a secret ({} characters) in plaintext",
                        secret.len()
                    );
                }
            }
        }
    };
    check("while running");
    let status = app.stop_with_sigterm();
    assert!(status.success(), "exit status {status}");
    check("after shutdown");
}
