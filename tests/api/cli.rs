//! `keycred bootstrap`: making organizations, service accounts and credentials from
//! the command line, also while the server runs on the same database.

use crate::helpers::{credential_path, new_label, spawn_app, Bootstrapped, BOOTSTRAP_KEYS};

#[test]
fn bootstrapping_the_same_label_twice_reuses_the_organization() {
    let app = spawn_app();
    let label = new_label();

    let first = app.admin(&label);
    let second = app.admin(&label);

    assert_eq!(first.organization_label, label);
    assert_eq!(second.organization_label, label);
    assert_eq!(first.organization_id, second.organization_id);
    assert_ne!(first.service_account_id, second.service_account_id);
    assert_ne!(first.credential_id, second.credential_id);
    assert_ne!(first.client_id, second.client_id);
}

#[test]
fn different_labels_make_different_organizations() {
    let app = spawn_app();

    let acme = app.admin("acme");
    let globex = app.admin("globex");

    assert_ne!(acme.organization_id, globex.organization_id);
    assert_eq!(
        (acme.organization_label.as_str(), globex.organization_label.as_str()),
        ("acme", "globex")
    );
}

#[test]
fn bootstrap_with_role_org_viewer_makes_a_read_only_credential() {
    let app = spawn_app();

    let viewer = app.with_role("acme", "org_viewer");

    let token = app.token_for(&viewer);
    let response = app.get(&format!("{}?expand=permissions", credential_path(&viewer)), &token);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.json()["permissions"]["service_account_credentials"]["update"],
        false
    );
}

#[test]
fn bootstrap_rejects_an_invalid_role() {
    let app = spawn_app();

    let output = app.bootstrap_command(&["--org-label", "acme", "--role", "org_superuser", "--json"]);

    assert!(
        !output.status.success(),
        "bootstrap accepted an invalid role: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(!output.stderr.is_empty(), "bootstrap failed without saying why");
}

#[test]
fn bootstrap_works_while_the_server_runs_and_the_credential_mints_at_once() {
    let app = spawn_app();
    assert_eq!(app.request("GET", "/healthz", &[], None).status, 200);

    let fresh = app.admin(&new_label());

    let response = app.post_token("grant_type=client_credentials", Some(&fresh));
    assert_eq!(response.status, 200, "{}", response.text());
    let token = response.json()["access_token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(app.credential(&fresh, &token)["id"], fresh.credential_id.as_str());
}

#[test]
fn bootstrap_without_json_prints_the_six_names_with_their_values() {
    let app = spawn_app();

    let output = app.bootstrap_command(&["--org-label", "acme", "--role", "org_admin"]);

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bootstrap failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value_of = |name: &str| -> String {
        stdout
            .lines()
            .find_map(|line| {
                let rest = line.trim().strip_prefix(name)?;
                let rest = rest.trim_start().strip_prefix([':', '='])?;
                Some(rest.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no `{name}: value` line in:\n{stdout}"))
    };
    let values: Vec<String> = BOOTSTRAP_KEYS.iter().map(|name| value_of(name)).collect();
    assert!(
        values.iter().all(|value| !value.is_empty()),
        "empty values in:\n{stdout}"
    );
    let printed = Bootstrapped {
        organization_id: values[0].clone(),
        organization_label: values[1].clone(),
        service_account_id: values[2].clone(),
        credential_id: values[3].clone(),
        client_id: values[4].clone(),
        client_secret: values[5].clone(),
    };
    assert_eq!(printed.organization_label, "acme");

    let token = app.token_for(&printed);
    assert_eq!(
        app.credential(&printed, &token)["client_id"],
        printed.client_id.as_str()
    );
}

#[test]
fn bootstrap_refuses_a_label_shaped_like_an_organization_id() {
    let app = spawn_app();
    let acme = app.admin("acme");

    for label in [acme.organization_id.as_str(), "0123456789abcdefghijklmnop"] {
        let output = app.bootstrap_command(&["--org-label", label, "--json"]);

        assert!(
            !output.status.success(),
            "bootstrap accepted the label {label}: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("organization ID"), "{stderr}");
    }
    // The existing organization is still found by its ID, not shadowed.
    let token = app.token_for(&acme);
    let organization = app.get_ok(&format!("/organizations/{}", acme.organization_id), &token);
    assert_eq!(organization["label"], "acme");
}

#[test]
fn bootstrap_refuses_blank_and_over_long_names() {
    let app = spawn_app();
    let long = "n".repeat(256);

    for args in [
        ["--org-name", "   "],
        ["--org-name", long.as_str()],
        ["--service-account-name", "\t"],
        ["--service-account-name", long.as_str()],
    ] {
        let label = new_label();
        let output = app.bootstrap_command(&["--org-label", &label, args[0], args[1], "--json"]);

        assert!(!output.status.success(), "bootstrap accepted {args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("255"), "{stderr}");
    }
}
