//! Secrets: client secrets and access tokens never show up in responses, in the
//! server's log, or as plaintext in the database (SQLite's files, PostgreSQL's rows).

use crate::helpers::{
    basic_auth, contains_bytes, credential_path, credentials_path, json_log_lines, service_accounts_path, spawn_app,
    spawn_app_with, Bootstrapped, ServeOptions, TestApp, TestResponse,
};

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

/// Every form a secret could leak in: itself, a token's secret half, and the HTTP
/// Basic encoding of a client_id/client_secret pair (what a logged header would show).
fn leak_forms(client_id: &str, client_secret: &str, tokens: &[&str]) -> Vec<String> {
    let basic = basic_auth(client_id, client_secret);
    let mut forms = vec![client_secret.to_owned(), basic.trim_start_matches("Basic ").to_owned()];
    for token in tokens {
        forms.push((*token).to_owned());
        if let Some((_, secret_part)) = token.rsplit_once('.') {
            forms.push(secret_part.to_owned());
        }
    }
    forms
}

/// Requests that put a secret where a careless server might echo it: the query, the
/// bearer token's place, a header it validates, body field names, rejected values.
/// (Not the path: the log names each request's path, and a path is no place for a secret.)
fn misplaced_secret_requests(app: &TestApp, admin: &Bootstrapped, token: &str, secret: &str) -> Vec<TestResponse> {
    let path = credential_path(admin);
    let bearer = format!("Bearer {token}");
    let json = [("Authorization", bearer.as_str()), ("Content-Type", "application/json")];
    let bodies = [
        format!(r#"{{"{secret}":"x"}}"#),
        format!(r#"{{"name":["{secret}"]}}"#),
        format!(r#"{{"name":{{"{secret}":"x"}}}}"#),
        format!(r#"{{"description":"{}{secret}"}}"#, "x".repeat(500)),
        format!(r#"{{"name":"{secret}"#),
    ];
    let mut responses: Vec<TestResponse> = bodies
        .iter()
        .map(|body| app.request("PATCH", &path, &json, Some(body.as_bytes())))
        .collect();
    let org = &admin.organization_id;
    responses.extend([
        app.get(&format!("{path}?access_token={secret}&limit={secret}"), token),
        app.get(&format!("/organizations/{org}/service-accounts?limit={secret}"), token),
        app.request("GET", &path, &[("Authorization", &format!("Bearer {secret}"))], None),
        app.request("GET", &path, &[("X-Client-Request-ID", secret)], None),
        app.request(
            "GET",
            &path,
            &[("Authorization", &bearer), ("X-Client-Request-ID", secret)],
            None,
        ),
        app.request("PATCH", &path, &[("Authorization", &bearer)], Some(secret.as_bytes())),
    ]);
    responses
}

#[test]
fn no_secret_appears_after_its_one_answer_in_a_response_in_the_trace_log_or_in_the_database() {
    let app = spawn_app_with(ServeOptions {
        env: vec![("KEYCRED_LOG".to_owned(), "trace".to_owned())],
        ..ServeOptions::default()
    });

    assert_no_secret_appears_after_its_one_answer(&app);
}

#[test]
fn no_secret_appears_in_the_json_trace_log_either_and_every_line_of_it_is_json() {
    let app = spawn_app_with(ServeOptions {
        env: vec![
            ("KEYCRED_LOG".to_owned(), "trace".to_owned()),
            ("KEYCRED_LOG_FORMAT".to_owned(), "json".to_owned()),
        ],
        ..ServeOptions::default()
    });

    assert_no_secret_appears_after_its_one_answer(&app);

    // Every line, whatever its level, is one JSON object.
    let lines = json_log_lines(&app.logs());
    assert!(lines.iter().any(|line| line["message"] == "request"), "no request line");
}

/// Makes credentials and tokens, then uses and misuses each (secrets where they do
/// not belong, wrong secrets, deleted credentials) and asserts that no later response,
/// no line of `app`'s log and no byte of its database holds any of the secrets.
fn assert_no_secret_appears_after_its_one_answer(app: &TestApp) {
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let service_account = app.new_service_account(&admin, &token, "org_admin");
    let made = app.new_credential(&admin, &token, &service_account, "made-over-http");
    let made_token = app.token_for(&made);
    let mut secrets = leak_forms(&admin.client_id, &admin.client_secret, &[&token]);
    secrets.extend(leak_forms(&made.client_id, &made.client_secret, &[&made_token]));

    let mut later = Vec::new();
    for (who, who_token) in [(&admin, &token), (&made, &made_token)] {
        later.push(app.post_token("grant_type=client_credentials", Some(who)));
        use_the_credential(app, who);
        later.push(app.get(&format!("{}?expand=permissions", credential_path(who)), who_token));
        later.push(app.get(
            &format!(
                "{}?expand=permissions",
                credentials_path(&who.organization_id, &who.service_account_id)
            ),
            who_token,
        ));
        later.push(app.get(&service_accounts_path(&who.organization_id), who_token));
        later.push(app.get("/organizations?expand=permissions", who_token));
        later.push(app.post_token(
            "grant_type=client_credentials",
            Some(&Bootstrapped {
                client_secret: format!("{}x", who.client_secret),
                ..who.clone()
            }),
        ));
        for secret in [&who.client_secret, who_token] {
            later.extend(misplaced_secret_requests(app, &admin, &token, secret));
        }
    }
    later.push(app.delete(&credential_path(&made), &token));
    later.push(app.get(&credential_path(&made), &made_token));
    later.push(app.post_token("grant_type=client_credentials", Some(&made)));

    for response in &later {
        for secret in &secrets {
            assert!(
                !response.everything().contains(secret.as_str()),
                "a later {} response holds a secret ({} characters):\n{}",
                response.status,
                secret.len(),
                response.everything()
            );
        }
    }
    let last_request = later
        .last()
        .and_then(|response| response.header("x-request-id"))
        .unwrap_or_default();
    let logs = app.logs_once_they_contain(last_request);
    assert!(
        logs.contains(last_request),
        "the last request is not in the log:\n{logs}"
    );
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret ({} characters) is in the trace log:\n{logs}",
            secret.len()
        );
    }
    for (place, bytes) in app.database.stored_bytes() {
        for secret in &secrets {
            assert!(
                !contains_bytes(&bytes, secret.as_bytes()),
                "{place} holds a secret ({} characters) in plaintext",
                secret.len()
            );
        }
    }
}
