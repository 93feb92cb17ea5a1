//! Tenancy: a caller sees only its own organization. Another organization's
//! credentials, service accounts and organization, addressed by its ID, by its label,
//! or under the caller's own organization, are a 404 indistinguishable from a missing
//! one, for every operation and every role, and nothing of theirs changes. `matrix`
//! holds the full table of every operation by every caller on either organization.

mod matrix;

use serde_json::{json, Value};

use crate::helpers::{
    assert_error, credential_path, credential_path_of, credentials_path, organization_credentials_path,
    organization_path, service_account_path, service_accounts_path, spawn_app, Bootstrapped, TestApp, TestResponse,
    MISSING_ID,
};

/// What a client could tell two errors apart by.
fn shape(response: &TestResponse) -> (u16, Value, Value) {
    let body = response.json();
    (response.status, body["code"].clone(), body["message"].clone())
}

#[test]
fn a_credential_of_another_organization_is_404_by_its_organization_id() {
    let app = spawn_app();
    let mine = app.admin("acme");
    let theirs = app.admin("globex");
    let token = app.token_for(&mine);

    let response = app.get(&credential_path(&theirs), &token);

    assert_error(&response, 404, "not_found");
}

#[test]
fn a_credential_of_another_organization_is_404_by_its_organization_label() {
    let app = spawn_app();
    let mine = app.admin("acme");
    let theirs = app.admin("globex");
    let token = app.token_for(&mine);
    let path = credential_path_of("globex", &theirs.service_account_id, &theirs.credential_id);

    let response = app.get(&path, &token);

    assert_error(&response, 404, "not_found");
}

#[test]
fn a_credential_of_another_organization_is_404_under_the_callers_own_organization() {
    let app = spawn_app();
    let mine = app.admin("acme");
    let theirs = app.admin("globex");
    let token = app.token_for(&mine);

    for organization in [mine.organization_id.as_str(), "acme"] {
        let path = credential_path_of(organization, &theirs.service_account_id, &theirs.credential_id);

        assert_error(&app.get(&path, &token), 404, "not_found");
    }
}

#[test]
fn another_organizations_credential_looks_exactly_like_a_missing_one() {
    let app = spawn_app();
    let mine = app.admin("acme");
    let theirs = app.admin("globex");
    let token = app.token_for(&mine);
    let missing = credential_path_of(
        &mine.organization_id,
        &mine.service_account_id,
        "zzzzzzzzzzzzzzzzzzzzzzzzzz",
    );
    let expected = shape(&app.get(&missing, &token));
    assert_eq!(expected.0, 404);

    for path in [
        credential_path(&theirs),
        credential_path_of("globex", &theirs.service_account_id, &theirs.credential_id),
        credential_path_of(&mine.organization_id, &theirs.service_account_id, &theirs.credential_id),
        credential_path_of(&mine.organization_id, &mine.service_account_id, &theirs.credential_id),
    ] {
        assert_eq!(shape(&app.get(&path, &token)), expected, "GET {path}");
    }
}

#[test]
fn updating_a_credential_of_another_organization_is_404_and_changes_nothing() {
    let app = spawn_app();
    let mine = app.admin("acme");
    let theirs = app.admin("globex");
    let token = app.token_for(&mine);
    let their_token = app.token_for(&theirs);
    let before = app.credential(&theirs, &their_token);

    for path in [
        credential_path(&theirs),
        credential_path_of("globex", &theirs.service_account_id, &theirs.credential_id),
        credential_path_of(&mine.organization_id, &theirs.service_account_id, &theirs.credential_id),
    ] {
        let response = app.patch_json(&path, &token, r#"{"name":"pwned","description":"pwned"}"#);

        assert_error(&response, 404, "not_found");
    }
    assert_eq!(app.credential(&theirs, &their_token), before);
}

#[test]
fn a_credential_addressed_under_the_wrong_service_account_is_404() {
    let app = spawn_app();
    let first = app.admin("acme");
    let second = app.admin("acme");
    let token = app.token_for(&first);
    let path = credential_path_of(&first.organization_id, &first.service_account_id, &second.credential_id);

    assert_error(&app.get(&path, &token), 404, "not_found");
    assert_error(&app.patch_json(&path, &token, r#"{"name":"x"}"#), 404, "not_found");
    assert_ne!(app.credential(&second, &token)["name"], "x");
}

#[test]
fn a_viewer_cannot_tell_another_organizations_credential_from_a_missing_one() {
    let app = spawn_app();
    let viewer = app.with_role("acme", "org_viewer");
    let theirs = app.admin("globex");
    let token = app.token_for(&viewer);
    let nothing = "zzzzzzzzzzzzzzzzzzzzzzzzzz";
    let (mine, sa) = (viewer.organization_id.as_str(), viewer.service_account_id.as_str());

    for (existing, missing) in [
        (
            credential_path(&theirs),
            credential_path_of(&theirs.organization_id, &theirs.service_account_id, nothing),
        ),
        (
            credential_path_of("globex", &theirs.service_account_id, &theirs.credential_id),
            credential_path_of("globex", nothing, nothing),
        ),
        (
            credential_path_of(mine, &theirs.service_account_id, &theirs.credential_id),
            credential_path_of(mine, sa, nothing),
        ),
    ] {
        let for_existing = app.patch_json(&existing, &token, r#"{"name":"x"}"#);
        let for_missing = app.patch_json(&missing, &token, r#"{"name":"x"}"#);

        assert!(
            matches!(for_existing.status, 403 | 404),
            "PATCH {existing}: {}",
            for_existing.text()
        );
        assert_eq!(
            shape(&for_existing),
            shape(&for_missing),
            "PATCH {existing} vs {missing}"
        );
    }
}

/// What an operation's path names last, which decides how else it can be addressed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Organization,
    ServiceAccount,
    Credential,
}

/// How an operation is sent: method, path from (organization, service account,
/// credential), and a JSON body if it has one.
struct Operation {
    name: &'static str,
    level: Level,
    method: &'static str,
    path: fn(&str, &str, &str) -> String,
    body: Option<&'static str>,
}

const OPERATIONS: [Operation; 12] = [
    Operation {
        name: "getOrganization",
        level: Level::Organization,
        method: "GET",
        path: |o, _, _| organization_path(o),
        body: None,
    },
    Operation {
        name: "listServiceAccounts",
        level: Level::Organization,
        method: "GET",
        path: |o, _, _| service_accounts_path(o),
        body: None,
    },
    Operation {
        name: "listOrganizationCredentials",
        level: Level::Organization,
        method: "GET",
        path: |o, _, _| organization_credentials_path(o),
        body: None,
    },
    Operation {
        name: "createServiceAccount",
        level: Level::Organization,
        method: "POST",
        path: |o, _, _| service_accounts_path(o),
        body: Some(r#"{"name":"intruder","role":"org_admin"}"#),
    },
    Operation {
        name: "getServiceAccount",
        level: Level::ServiceAccount,
        method: "GET",
        path: |o, s, _| service_account_path(o, s),
        body: None,
    },
    Operation {
        name: "updateServiceAccount",
        level: Level::ServiceAccount,
        method: "PATCH",
        path: |o, s, _| service_account_path(o, s),
        body: Some(r#"{"name":"pwned","role":"org_viewer"}"#),
    },
    Operation {
        name: "listServiceAccountCredentials",
        level: Level::ServiceAccount,
        method: "GET",
        path: |o, s, _| credentials_path(o, s),
        body: None,
    },
    Operation {
        name: "createServiceAccountCredential",
        level: Level::ServiceAccount,
        method: "POST",
        path: |o, s, _| credentials_path(o, s),
        body: Some(r#"{"name":"backdoor"}"#),
    },
    Operation {
        name: "getServiceAccountCredential",
        level: Level::Credential,
        method: "GET",
        path: credential_path_of,
        body: None,
    },
    Operation {
        name: "updateServiceAccountCredential",
        level: Level::Credential,
        method: "PATCH",
        path: credential_path_of,
        body: Some(r#"{"name":"pwned"}"#),
    },
    Operation {
        name: "deleteServiceAccountCredential",
        level: Level::Credential,
        method: "DELETE",
        path: credential_path_of,
        body: None,
    },
    Operation {
        name: "deleteServiceAccount",
        level: Level::ServiceAccount,
        method: "DELETE",
        path: |o, s, _| service_account_path(o, s),
        body: None,
    },
];

/// Two organizations: ours (acme) and theirs (globex), whose extra service account
/// has a credential of its own.
struct World {
    mine: Bootstrapped,
    theirs: Bootstrapped,
    their_token: String,
    their_credential: Bootstrapped,
}

fn two_organizations(app: &TestApp) -> World {
    let mine = app.admin("acme");
    let theirs = app.admin("globex");
    let their_token = app.token_for(&theirs);
    let their_service_account = app.new_service_account(&theirs, &their_token, "org_member");
    let their_credential = app.new_credential(&theirs, &their_token, &their_service_account, "theirs");
    World {
        mine,
        theirs,
        their_token,
        their_credential,
    }
}

impl World {
    /// The ways to address their things, each with the deepest-level operations it fits
    /// (an organization-only path cannot name their service account under ours), the
    /// (organization, service account, credential) to send, and a missing thing addressed alike.
    fn addressings(&self) -> Vec<(&'static str, Level, [String; 3], [String; 3])> {
        let sa = self.their_credential.service_account_id.clone();
        let credential = self.their_credential.credential_id.clone();
        let (my_org, my_sa) = (self.mine.organization_id.clone(), self.mine.service_account_id.clone());
        let missing = MISSING_ID.to_owned();
        vec![
            (
                "by their organization ID",
                Level::Organization,
                [self.theirs.organization_id.clone(), sa.clone(), credential.clone()],
                ["no-such-org".to_owned(), sa.clone(), credential.clone()],
            ),
            (
                "by their organization label",
                Level::Organization,
                ["globex".to_owned(), sa.clone(), credential.clone()],
                ["no-such-org".to_owned(), sa.clone(), credential.clone()],
            ),
            (
                "under our organization ID",
                Level::ServiceAccount,
                [my_org.clone(), sa.clone(), credential.clone()],
                [my_org.clone(), missing.clone(), missing.clone()],
            ),
            (
                "under our organization and service account",
                Level::Credential,
                [my_org.clone(), my_sa.clone(), credential],
                [my_org, my_sa, missing],
            ),
        ]
    }

    /// Everything in their organization, as they see it.
    fn their_state(&self, app: &TestApp) -> Value {
        let token = &self.their_token;
        let organization = &self.theirs.organization_id;
        let service_accounts = app.page(&service_accounts_path(organization), "limit=100", token);
        let credentials: Vec<Value> = service_accounts
            .ids
            .iter()
            .map(|id| app.page(&credentials_path(organization, id), "limit=100", token).body)
            .collect();
        json!({
            "organization": app.get_ok(&organization_path(organization), token),
            "service_accounts": service_accounts.body,
            "credentials": credentials,
        })
    }
}

fn send(app: &TestApp, operation: &Operation, ids: &[String; 3], token: &str) -> TestResponse {
    let path = (operation.path)(&ids[0], &ids[1], &ids[2]);
    let authorization = format!("Bearer {token}");
    let mut headers = vec![("Authorization", authorization.as_str())];
    if operation.body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    app.request(operation.method, &path, &headers, operation.body.map(str::as_bytes))
}

/// Sends every operation every way as `caller`, returning what went wrong: anything but
/// a 404 `not_found` (or a 403 `forbidden`, if `denied_is_fine`), or any difference from
/// the answer about a missing thing.
fn probe(app: &TestApp, world: &World, caller: &str, token: &str, denied_is_fine: bool) -> Vec<String> {
    let mut problems = Vec::new();
    for operation in &OPERATIONS {
        let applicable = world
            .addressings()
            .into_iter()
            .filter(|(_, level, _, _)| *level <= operation.level);
        for (how, _, theirs, missing) in applicable {
            let for_theirs = shape(&send(app, operation, &theirs, token));
            let for_missing = shape(&send(app, operation, &missing, token));
            let acceptable = match (for_theirs.0, for_theirs.1.as_str()) {
                (404, Some("not_found")) => true,
                (403, Some("forbidden")) => denied_is_fine,
                _ => false,
            };
            if !acceptable {
                problems.push(format!("{caller} {} {how}: got {for_theirs:?}", operation.name));
            } else if for_theirs != for_missing {
                problems.push(format!(
                    "{caller} {} {how}: {for_theirs:?}, but missing is {for_missing:?}",
                    operation.name
                ));
            }
        }
    }
    problems
}

#[test]
fn every_operation_on_another_organization_is_a_404_like_a_missing_resource() {
    let app = spawn_app();
    let world = two_organizations(&app);
    let token = app.token_for(&world.mine);
    let before = world.their_state(&app);

    let problems = probe(&app, &world, "org_admin", &token, false);

    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(world.their_state(&app), before, "their organization changed");
}

#[test]
fn lesser_roles_cannot_tell_another_organizations_things_from_missing_ones() {
    let app = spawn_app();
    let world = two_organizations(&app);
    let before = world.their_state(&app);
    let mut problems = Vec::new();

    for role in ["org_member", "org_viewer"] {
        let caller = app.with_role("acme", role);
        let token = app.token_for(&caller);
        problems.extend(probe(&app, &world, role, &token, true));
    }

    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(world.their_state(&app), before, "their organization changed");
}

#[test]
fn their_credentials_and_tokens_keep_working_after_every_attempt() {
    let app = spawn_app();
    let world = two_organizations(&app);
    let token = app.token_for(&world.mine);

    probe(&app, &world, "org_admin", &token, false);

    assert_eq!(
        app.get("/organizations", &world.their_token).status,
        200,
        "their token broke"
    );
    let path = credential_path(&world.their_credential);
    assert_eq!(app.get_ok(&path, &world.their_token)["name"], "theirs");
    assert_eq!(app.get("/organizations", &app.token_for(&world.theirs)).status, 200);
    let client = app.post_token("grant_type=client_credentials", Some(&world.their_credential));
    assert_eq!(
        client.status,
        200,
        "their credential can no longer mint: {}",
        client.text()
    );
}

#[test]
fn their_organization_never_shows_up_in_our_lists() {
    let app = spawn_app();
    let world = two_organizations(&app);
    let token = app.token_for(&world.mine);

    let organizations = app.all_ids("/organizations", &token);
    let service_accounts = app.all_ids(&service_accounts_path(&world.mine.organization_id), &token);

    assert_eq!(organizations, [world.mine.organization_id.as_str()]);
    assert_eq!(service_accounts, [world.mine.service_account_id.as_str()]);
}
