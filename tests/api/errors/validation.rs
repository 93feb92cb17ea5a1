//! Request validation: malformed PATCH bodies and over-long path parameters are 400s
//! whose message names the field and the rule, never the rejected value.

use crate::helpers::{
    assert_error, credential_path, credential_path_of, credentials_path, message_of, service_accounts_path, spawn_app,
    Bootstrapped, TestApp,
};

/// PATCHes `body`, asserts a 400 `invalid_request` and that nothing changed; returns the message.
fn rejected(app: &TestApp, who: &Bootstrapped, token: &str, body: &str) -> String {
    let before = app.credential(who, token);
    let response = app.patch_json(&credential_path(who), token, body);
    assert_error(&response, 400, "invalid_request");
    assert_eq!(
        app.credential(who, token),
        before,
        "a rejected PATCH {body} changed the credential"
    );
    message_of(&response)
}

#[test]
fn a_null_name_is_400_naming_name_and_null() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    let message = rejected(&app, &admin, &token, r#"{"name":null}"#);

    assert!(message.contains("name") && message.contains("null"), "{message}");
}

#[test]
fn a_null_description_is_400_naming_description() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    let message = rejected(&app, &admin, &token, r#"{"name":"fine","description":null}"#);

    assert!(message.contains("description") && message.contains("null"), "{message}");
}

#[test]
fn a_description_that_is_not_a_string_is_400_naming_description() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    let message = rejected(&app, &admin, &token, r#"{"description":5}"#);

    assert!(message.contains("description"), "{message}");
}

#[test]
fn a_body_that_is_not_an_object_is_400() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    for body in ["[]", r#""x""#, "5", "null", "true", r#"[{"name":"x"}]"#] {
        rejected(&app, &admin, &token, body);
    }
}

#[test]
fn malformed_json_is_400() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    for body in [
        r#"{"name":"#,
        r#"{"name":"x",}"#,
        "{name: 'x'}",
        r#"{"name":"x"} trailing"#,
    ] {
        rejected(&app, &admin, &token, body);
    }
}

#[test]
fn an_empty_body_is_400() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    for body in ["", "   "] {
        rejected(&app, &admin, &token, body);
    }
}

#[test]
fn a_patch_without_any_body_is_400() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let authorization = format!("Bearer {token}");
    let headers = [
        ("Authorization", authorization.as_str()),
        ("Content-Type", "application/json"),
    ];

    let response = app.request("PATCH", &credential_path(&admin), &headers, None);

    assert_error(&response, 400, "invalid_request");
}

#[test]
fn a_501_character_description_is_400_mentioning_500() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let body = serde_json::json!({ "description": "é".repeat(501) }).to_string();

    let message = rejected(&app, &admin, &token, &body);

    assert!(message.contains("description") && message.contains("500"), "{message}");
}

#[test]
fn the_name_is_unchanged_after_a_failed_patch() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    app.patch_json(&credential_path(&admin), &token, r#"{"name":"original"}"#);

    rejected(
        &app,
        &admin,
        &token,
        &serde_json::json!({"name": "changed", "description": "x".repeat(501)}).to_string(),
    );
    rejected(&app, &admin, &token, r#"{"name":"changed","description":5}"#);

    assert_eq!(app.credential(&admin, &token)["name"], "original");
}

#[test]
fn a_400_never_echoes_the_rejected_value() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let long_secret = format!("{}-SENTINEL", "s3cr3t".repeat(90));

    for (body, value) in [
        (r#"{"name": 12345678}"#.to_owned(), "12345678"),
        (r#"{"description": 87654321}"#.to_owned(), "87654321"),
        (
            serde_json::json!({ "description": long_secret }).to_string(),
            "SENTINEL",
        ),
        (r#"{"name": ["hunter2"]}"#.to_owned(), "hunter2"),
        (r#"{"name": "hunter3""#.to_owned(), "hunter3"),
    ] {
        let response = app.patch_json(&credential_path(&admin), &token, &body);

        assert_error(&response, 400, "invalid_request");
        assert!(
            !response.text().contains(value),
            "the 400 for {body} echoes {value}: {}",
            response.text()
        );
    }
}

#[test]
fn path_parameters_over_255_characters_are_400_naming_the_parameter() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let long = "a".repeat(256);
    let (org, sa, cred) = (&admin.organization_id, &admin.service_account_id, &admin.credential_id);

    for (path, parameter) in [
        (credential_path_of(org, sa, &long), "credential_id"),
        (credential_path_of(org, &long, cred), "service_account_id"),
        (credential_path_of(&long, sa, cred), "organization_id"),
    ] {
        let response = app.get(&path, &token);

        assert_error(&response, 400, "invalid_request");
        let message = message_of(&response);
        assert!(message.contains(parameter), "{parameter}: {message}");
        assert!(!message.contains(&long), "{parameter}: the message echoes the value");
    }
}

#[test]
fn path_parameters_of_255_characters_are_valid_but_not_found() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let long = "a".repeat(255);
    let (org, sa, cred) = (&admin.organization_id, &admin.service_account_id, &admin.credential_id);

    for path in [
        credential_path_of(org, sa, &long),
        credential_path_of(org, &long, cred),
        credential_path_of(&long, sa, cred),
    ] {
        let response = app.get(&path, &token);

        assert_error(&response, 404, "not_found");
    }
}

#[test]
fn an_over_long_path_parameter_is_400_on_patch_too() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let path = credential_path_of(&admin.organization_id, &admin.service_account_id, &"a".repeat(256));

    let response = app.patch_json(&path, &token, r#"{"name":"x"}"#);

    assert_error(&response, 400, "invalid_request");
    assert!(message_of(&response).contains("credential_id"), "{}", response.text());
}

#[test]
fn text_holding_nul_is_400_naming_the_field_on_every_backend() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    // PostgreSQL cannot store NUL in text, so neither backend takes it: the same
    // request gets the same answer whichever database keycred runs on.
    for (body, field) in [
        (r#"{"name":"a\u0000b"}"#, "name"),
        (r#"{"description":"\u0000"}"#, "description"),
    ] {
        let message = rejected(&app, &admin, &token, body);
        assert!(message.starts_with(field) && message.contains("NUL"), "{message}");
    }
    let organization = &admin.organization_id;
    for (path, body) in [
        (service_accounts_path(organization), r#"{"name":"robot\u0000"}"#),
        (
            credentials_path(organization, &admin.service_account_id),
            r#"{"name":"ok","description":"a\u0000"}"#,
        ),
    ] {
        assert_error(&app.post_json(&path, &token, body), 400, "invalid_request");
    }
}

#[test]
fn path_parameters_holding_nul_are_not_found_on_every_backend() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    for path in [
        credential_path_of(&admin.organization_id, &admin.service_account_id, "a%00b"),
        credential_path_of(&admin.organization_id, "%00", &admin.credential_id),
        credential_path_of("acme%00", &admin.service_account_id, &admin.credential_id),
    ] {
        assert_error(&app.get(&path, &token), 404, "not_found");
        assert_error(&app.patch_json(&path, &token, r#"{"name":"x"}"#), 404, "not_found");
        assert_error(&app.delete(&path, &token), 404, "not_found");
    }
    assert_eq!(app.credential(&admin, &token)["id"], admin.credential_id.as_str());

    let form = "grant_type=client_credentials&client_id=a%00b&client_secret=x";
    let headers = [("Content-Type", "application/x-www-form-urlencoded")];
    let response = app.request("POST", "/service-account-token", &headers, Some(form.as_bytes()));
    assert_eq!(response.status, 401, "{}", response.text());
}

/// Names the API refuses: empty, blank, one character too many.
fn bad_names() -> Vec<String> {
    vec![
        String::new(),
        "   ".to_owned(),
        "\t\r\n ".to_owned(),
        "n".repeat(256),
        "é".repeat(256),
    ]
}

#[test]
fn names_of_credentials_must_be_1_to_255_characters_and_not_blank() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let list = credentials_path(&admin.organization_id, &admin.service_account_id);

    for name in bad_names() {
        let body = serde_json::json!({ "name": name }).to_string();
        let created = app.post_json(&list, &token, &body);
        assert_error(&created, 400, "invalid_request");
        assert!(message_of(&created).contains("name"), "{}", created.text());
        let message = rejected(&app, &admin, &token, &body);
        assert!(message.contains("name"), "{message}");
    }
    // 255 characters, counted as characters rather than bytes, are fine.
    let longest = serde_json::json!({ "name": "é".repeat(255) }).to_string();
    assert_eq!(app.post_json(&list, &token, &longest).status, 200);
    assert_eq!(app.patch_json(&credential_path(&admin), &token, &longest).status, 200);
}

#[test]
fn names_of_service_accounts_must_be_1_to_255_characters_and_not_blank() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let list = service_accounts_path(&admin.organization_id);
    let own = format!("{list}/{}", admin.service_account_id);

    for name in bad_names() {
        let body = serde_json::json!({ "name": name }).to_string();
        let created = app.post_json(&list, &token, &body);
        assert_error(&created, 400, "invalid_request");
        let updated = app.patch_json(&own, &token, &body);
        assert_error(&updated, 400, "invalid_request");
        assert!(message_of(&updated).contains("name"), "{}", updated.text());
    }
    let longest = serde_json::json!({ "name": "é".repeat(255) }).to_string();
    assert_eq!(app.post_json(&list, &token, &longest).status, 200);
    assert_eq!(app.patch_json(&own, &token, &longest).status, 200);
}
