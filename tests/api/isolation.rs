//! Cross-organization isolation for every operation on organizations, service accounts
//! and credentials: another organization's things, addressed by its ID, by its label,
//! or under the caller's own organization, are a 404 exactly like missing ones, and
//! nothing of theirs changes.

use serde_json::{json, Value};

use crate::helpers::{
    credential_path, credential_path_of, credentials_path, organization_path, service_account_path,
    service_accounts_path, spawn_app, Bootstrapped, TestApp, TestResponse, MISSING_ID,
};

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

const OPERATIONS: [Operation; 11] = [
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

/// What a client could tell two errors apart by.
fn shape(response: &TestResponse) -> (u16, Value, Value) {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    (response.status, body["code"].clone(), body["message"].clone())
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
