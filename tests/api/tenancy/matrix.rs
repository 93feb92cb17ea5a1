//! The tenancy matrix (OWASP API1, broken object level authorization): every operation
//! of `openapi.yaml`, on the caller's own organization and on another one, addressed
//! by organization ID and by label, by each of seven callers, must answer exactly the
//! status a small explicit table gives, and the other organization never changes.
//!
//! The expected status: a caller without a valid token gets 401 before anything else;
//! anything of another organization is 404; in its own organization the role table
//! decides between the operation's success status and 403.

use serde_json::{json, Value};

use crate::helpers::{
    assert_error, assert_token_error, credential_path_of, credentials_path, organization_credentials_path,
    organization_path, service_account_path, service_accounts_path, spawn_app, string_field, Bootstrapped, TestApp,
    TestResponse,
};

const ORGANIZATIONS: &str = "organizations";
const SERVICE_ACCOUNTS: &str = "service_accounts";
const CREDENTIALS: &str = "service_account_credentials";
const EVERY_ROLE: &[&str] = &["org_admin", "org_member", "org_viewer"];

/// Who may do what in their own organization, as the README's "Roles" table says.
const ROLE_TABLE: &[(&str, &str, &[&str])] = &[
    (ORGANIZATIONS, "read", EVERY_ROLE),
    (SERVICE_ACCOUNTS, "read", EVERY_ROLE),
    (SERVICE_ACCOUNTS, "create", &["org_admin"]),
    (SERVICE_ACCOUNTS, "update", &["org_admin"]),
    (SERVICE_ACCOUNTS, "delete", &["org_admin"]),
    (CREDENTIALS, "read", EVERY_ROLE),
    (CREDENTIALS, "create", &["org_admin"]),
    (CREDENTIALS, "update", &["org_admin", "org_member"]),
    (CREDENTIALS, "delete", &["org_admin"]),
    (CREDENTIALS, "rotate", &["org_admin"]),
];

/// Whether the role table lets `role` do `action` on `resource`.
fn role_allows(role: &str, resource: &str, action: &str) -> bool {
    ROLE_TABLE
        .iter()
        .any(|(r, a, roles)| *r == resource && *a == action && roles.contains(&role))
}

/// Where an operation sits, which decides which rules apply to it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// `GET /healthz`: no authentication at all.
    Public,
    /// The token endpoint authenticates clients by their credentials, never by a bearer token.
    TokenEndpoint,
    /// Bearer-authenticated, without an organization in the path.
    Caller,
    /// Bearer-authenticated, inside the organization its path names.
    Organization,
}

/// One operation of the spec: how to send it and what it needs to succeed.
struct Operation {
    name: &'static str,
    scope: Scope,
    method: &'static str,
    path: fn(&Things) -> String,
    body: Option<&'static str>,
    resource: &'static str,
    action: &'static str,
    success: u16,
    /// A successful attempt removes its target, so each attempt gets a fresh one.
    consumes_target: bool,
}

/// The things an attempt is aimed at: an organization (by ID or label), and a
/// service account with a credential in it.
#[derive(Clone)]
struct Things {
    organization: String,
    service_account: String,
    credential: String,
}

const OPERATIONS: [Operation; 17] = [
    Operation {
        name: "getHealthz",
        scope: Scope::Public,
        method: "GET",
        path: |_| "/healthz".to_owned(),
        body: None,
        resource: "",
        action: "",
        success: 200,
        consumes_target: false,
    },
    Operation {
        name: "createServiceAccountToken",
        scope: Scope::TokenEndpoint,
        method: "POST",
        path: |_| "/service-account-token".to_owned(),
        body: Some("grant_type=client_credentials"),
        resource: "",
        action: "",
        success: 200,
        consumes_target: false,
    },
    Operation {
        name: "revokeServiceAccountToken",
        scope: Scope::TokenEndpoint,
        method: "POST",
        path: |_| "/service-account-token/revoke".to_owned(),
        body: Some("token=not-a-token"),
        resource: "",
        action: "",
        success: 200,
        consumes_target: false,
    },
    Operation {
        name: "listOrganizations",
        scope: Scope::Caller,
        method: "GET",
        path: |_| "/organizations".to_owned(),
        body: None,
        resource: ORGANIZATIONS,
        action: "read",
        success: 200,
        consumes_target: false,
    },
    Operation {
        name: "getOrganization",
        scope: Scope::Organization,
        method: "GET",
        path: |t| organization_path(&t.organization),
        body: None,
        resource: ORGANIZATIONS,
        action: "read",
        success: 200,
        consumes_target: false,
    },
    Operation {
        name: "listServiceAccounts",
        scope: Scope::Organization,
        method: "GET",
        path: |t| service_accounts_path(&t.organization),
        body: None,
        resource: SERVICE_ACCOUNTS,
        action: "read",
        success: 200,
        consumes_target: false,
    },
    Operation {
        name: "createServiceAccount",
        scope: Scope::Organization,
        method: "POST",
        path: |t| service_accounts_path(&t.organization),
        body: Some(r#"{"name":"matrix","role":"org_viewer"}"#),
        resource: SERVICE_ACCOUNTS,
        action: "create",
        success: 200,
        consumes_target: false,
    },
    Operation {
        name: "getServiceAccount",
        scope: Scope::Organization,
        method: "GET",
        path: |t| service_account_path(&t.organization, &t.service_account),
        body: None,
        resource: SERVICE_ACCOUNTS,
        action: "read",
        success: 200,
        consumes_target: false,
    },
    Operation {
        name: "updateServiceAccount",
        scope: Scope::Organization,
        method: "PATCH",
        path: |t| service_account_path(&t.organization, &t.service_account),
        body: Some(r#"{"name":"renamed by the matrix"}"#),
        resource: SERVICE_ACCOUNTS,
        action: "update",
        success: 200,
        consumes_target: false,
    },
    Operation {
        name: "deleteServiceAccount",
        scope: Scope::Organization,
        method: "DELETE",
        path: |t| service_account_path(&t.organization, &t.service_account),
        body: None,
        resource: SERVICE_ACCOUNTS,
        action: "delete",
        success: 204,
        consumes_target: true,
    },
    Operation {
        name: "listServiceAccountCredentials",
        scope: Scope::Organization,
        method: "GET",
        path: |t| credentials_path(&t.organization, &t.service_account),
        body: None,
        resource: CREDENTIALS,
        action: "read",
        success: 200,
        consumes_target: false,
    },
    Operation {
        name: "listOrganizationCredentials",
        scope: Scope::Organization,
        method: "GET",
        path: |t| organization_credentials_path(&t.organization),
        body: None,
        resource: CREDENTIALS,
        action: "read",
        success: 200,
        consumes_target: false,
    },
    Operation {
        name: "createServiceAccountCredential",
        scope: Scope::Organization,
        method: "POST",
        path: |t| credentials_path(&t.organization, &t.service_account),
        body: Some(r#"{"name":"made by the matrix"}"#),
        resource: CREDENTIALS,
        action: "create",
        success: 200,
        consumes_target: false,
    },
    Operation {
        name: "getServiceAccountCredential",
        scope: Scope::Organization,
        method: "GET",
        path: |t| credential_path_of(&t.organization, &t.service_account, &t.credential),
        body: None,
        resource: CREDENTIALS,
        action: "read",
        success: 200,
        consumes_target: false,
    },
    Operation {
        name: "updateServiceAccountCredential",
        scope: Scope::Organization,
        method: "PATCH",
        path: |t| credential_path_of(&t.organization, &t.service_account, &t.credential),
        body: Some(r#"{"name":"renamed by the matrix","description":"matrix"}"#),
        resource: CREDENTIALS,
        action: "update",
        success: 200,
        consumes_target: false,
    },
    Operation {
        name: "deleteServiceAccountCredential",
        scope: Scope::Organization,
        method: "DELETE",
        path: |t| credential_path_of(&t.organization, &t.service_account, &t.credential),
        body: None,
        resource: CREDENTIALS,
        action: "delete",
        success: 204,
        consumes_target: true,
    },
    Operation {
        name: "rotateServiceAccountCredential",
        scope: Scope::Organization,
        method: "POST",
        path: |t| {
            format!(
                "{}/rotate",
                credential_path_of(&t.organization, &t.service_account, &t.credential)
            )
        },
        body: Some(r#"{"previous_secret_valid_for_seconds":0}"#),
        resource: CREDENTIALS,
        action: "rotate",
        success: 200,
        consumes_target: false,
    },
];

/// One of the seven callers: a role's valid token, or a token that must not work.
struct Caller {
    name: &'static str,
    /// The role of a valid token; `None` for a caller that is not authenticated.
    role: Option<&'static str>,
    /// The `Authorization` header it sends, if any.
    authorization: Option<String>,
}

/// Whose organization an attempt is aimed at.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Whose {
    Own,
    Other,
}

/// The status an attempt must get, from the rules in the module doc and the role table.
fn expected_status(operation: &Operation, caller: &Caller, whose: Whose) -> u16 {
    match operation.scope {
        Scope::Public => return operation.success,
        Scope::TokenEndpoint => return 401,
        Scope::Caller | Scope::Organization => {}
    }
    let Some(role) = caller.role else {
        return 401;
    };
    if whose == Whose::Other {
        return 404;
    }
    if role_allows(role, operation.resource, operation.action) {
        operation.success
    } else {
        403
    }
}

/// Sends `operation` at `things` as `caller`.
fn attempt(app: &TestApp, operation: &Operation, things: &Things, caller: &Caller) -> TestResponse {
    let mut headers = Vec::new();
    if let Some(authorization) = &caller.authorization {
        headers.push(("Authorization", authorization.as_str()));
    }
    if operation.body.is_some() {
        let content_type = match operation.scope {
            Scope::TokenEndpoint => "application/x-www-form-urlencoded",
            _ => "application/json",
        };
        headers.push(("Content-Type", content_type));
    }
    let body = operation.body.map(str::as_bytes);
    app.request(operation.method, &(operation.path)(things), &headers, body)
}

/// Checks the answer's status and, for an error, its exact shape and code.
fn check_answer(operation: &Operation, response: &TestResponse, expected: u16) -> Result<(), String> {
    let shape = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_eq!(response.status, expected);
        match (operation.scope, expected) {
            (Scope::TokenEndpoint, 401) => assert_token_error(response, 401, "invalid_client", "invalid_client"),
            (_, 401) => assert_error(response, 401, "unauthorized"),
            (_, 403) => assert_error(response, 403, "forbidden"),
            (_, 404) => assert_error(response, 404, "not_found"),
            _ => {}
        }
    }));
    shape.map_err(|_| format!("expected {expected}, got {} {}", response.status, response.text()))
}

/// Two organizations, seven callers in the first, and the things to aim at in each.
struct World {
    own_admin: Bootstrapped,
    own_token: String,
    own_things: Things,
    other_admin: Bootstrapped,
    other_token: String,
    other_things: Things,
    callers: Vec<Caller>,
}

/// A service account of `role` with one credential, made by `admin` in its organization.
fn new_things(app: &TestApp, admin: &Bootstrapped, token: &str, role: &str) -> Things {
    let service_account = app.new_service_account(admin, token, role);
    let credential = app.new_credential(admin, token, &service_account, "target");
    Things {
        organization: admin.organization_id.clone(),
        service_account,
        credential: credential.credential_id,
    }
}

/// A token for `who` written straight into the database, so no server has ever seen
/// it (and none could have cached it), expiring `expires_in_ms` from now.
fn token_in_database(app: &TestApp, who: &Bootstrapped, expires_in_ms: i64) -> String {
    let now = now_millis();
    let token = keycred_impl::auth::mint_token(now);
    app.database.insert_token(
        &token.id,
        token.secret_hash.as_slice(),
        &who.credential_id,
        now - 60_000,
        now + expires_in_ms,
    );
    token.access_token
}

/// The current time in Unix epoch milliseconds, as the tokens table keeps it.
fn now_millis() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is past 1970");
    i64::try_from(since_epoch.as_millis()).expect("milliseconds fit in i64")
}

fn build_world(app: &TestApp) -> World {
    let own_admin = app.admin("acme");
    let own_token = app.token_for(&own_admin);
    let other_admin = app.admin("globex");
    let other_token = app.token_for(&other_admin);
    let bearer = |token: &str| Some(format!("Bearer {token}"));
    let mut callers: Vec<Caller> = EVERY_ROLE
        .iter()
        .map(|role| Caller {
            name: role,
            role: Some(role),
            authorization: bearer(&app.token_for(&app.with_role("acme", role))),
        })
        .collect();
    let (token_id, _) = own_token.split_once('.').expect("a token is <id>.<secret>");
    let deleted = app.with_role("acme", "org_admin");
    let deleted_token = app.token_for(&deleted);
    let deleted_path = credential_path_of(
        &deleted.organization_id,
        &deleted.service_account_id,
        &deleted.credential_id,
    );
    assert_eq!(app.delete(&deleted_path, &own_token).status, 204);
    callers.extend([
        Caller {
            name: "no token",
            role: None,
            authorization: None,
        },
        Caller {
            name: "a bad token (a real token's ID, a wrong secret)",
            role: None,
            authorization: bearer(&format!("{token_id}.{}", "w".repeat(43))),
        },
        Caller {
            name: "an expired token",
            role: None,
            authorization: bearer(&token_in_database(app, &app.admin("acme"), -1_000)),
        },
        Caller {
            name: "the token of a deleted credential",
            role: None,
            authorization: bearer(&deleted_token),
        },
    ]);
    World {
        own_things: new_things(app, &own_admin, &own_token, "org_viewer"),
        other_things: new_things(app, &other_admin, &other_token, "org_admin"),
        own_admin,
        own_token,
        other_admin,
        other_token,
        callers,
    }
}

impl World {
    /// What an attempt is aimed at: a fresh target when a success would consume it.
    fn things(&self, app: &TestApp, operation: &Operation, whose: Whose, by_label: bool) -> Things {
        let (admin, token, shared) = match whose {
            Whose::Own => (&self.own_admin, &self.own_token, &self.own_things),
            Whose::Other => (&self.other_admin, &self.other_token, &self.other_things),
        };
        // Attempts on the other organization must all fail, so they share one target:
        // the unchanged state at the end then shows that none of them did anything.
        let mut things = if operation.consumes_target && whose == Whose::Own {
            new_things(app, admin, token, "org_viewer")
        } else {
            shared.clone()
        };
        if by_label {
            things.organization = admin.organization_label.clone();
        }
        things
    }

    /// Everything in the other organization, as its own admin sees it.
    fn other_state(&self, app: &TestApp) -> Value {
        let token = &self.other_token;
        let organization = &self.other_admin.organization_id;
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

#[test]
fn every_operation_by_every_caller_on_either_organization_answers_exactly_the_expected_status() {
    let app = spawn_app();
    let world = build_world(&app);
    let other_before = world.other_state(&app);
    let mut problems = Vec::new();
    let mut attempts = 0;

    for operation in &OPERATIONS {
        let aims: &[(Whose, bool)] = match operation.scope {
            Scope::Organization => &[
                (Whose::Own, false),
                (Whose::Own, true),
                (Whose::Other, false),
                (Whose::Other, true),
            ],
            _ => &[(Whose::Own, false)],
        };
        for &(whose, by_label) in aims {
            for caller in &world.callers {
                let things = world.things(&app, operation, whose, by_label);
                let expected = expected_status(operation, caller, whose);

                let response = attempt(&app, operation, &things, caller);

                attempts += 1;
                if let Err(problem) = check_answer(operation, &response, expected) {
                    let by = if by_label { "label" } else { "ID" };
                    problems.push(format!(
                        "{} on {whose:?} organization by {by}, as {}: {problem}",
                        operation.name, caller.name
                    ));
                }
            }
        }
    }

    assert!(
        problems.is_empty(),
        "{} of {attempts} attempts went wrong:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(attempts, 13 * 4 * 7 + 4 * 7);
    assert_eq!(world.other_state(&app), other_before, "the other organization changed");
}

#[test]
fn list_organizations_shows_each_role_its_own_organization_only() {
    let app = spawn_app();
    let world = build_world(&app);

    for caller in world.callers.iter().filter(|caller| caller.role.is_some()) {
        let authorization = caller.authorization.as_deref().unwrap_or_default();
        let response = app.request("GET", "/organizations", &[("Authorization", authorization)], None);

        assert_eq!(response.status, 200, "{}: {}", caller.name, response.text());
        let ids: Vec<String> = response.json()["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|item| string_field(item, "id"))
            .collect();
        assert_eq!(ids, [world.own_admin.organization_id.as_str()], "{}", caller.name);
    }
}

#[test]
fn a_token_written_into_the_database_works_until_it_expires() {
    let app = spawn_app();
    let admin = app.admin("acme");

    let live = token_in_database(&app, &admin, 60_000);
    let expired = token_in_database(&app, &admin, -1_000);

    assert_eq!(app.get("/organizations", &live).status, 200);
    assert_error(&app.get("/organizations", &expired), 401, "unauthorized");
}

#[test]
fn the_matrix_role_table_is_the_servers_own() {
    use keycred_impl::auth::{allows, Action, Resource};
    use keycred_store::Role;

    let resources = [
        (ORGANIZATIONS, Resource::Organizations),
        (SERVICE_ACCOUNTS, Resource::ServiceAccounts),
        (CREDENTIALS, Resource::ServiceAccountCredentials),
    ];
    let actions = [
        ("read", Action::Read),
        ("create", Action::Create),
        ("update", Action::Update),
        ("delete", Action::Delete),
    ];
    for role in Role::ALL {
        for (resource_name, resource) in resources {
            for (action_name, action) in actions {
                assert_eq!(
                    role_allows(role.as_str(), resource_name, action_name),
                    allows(role, resource, action),
                    "{} {action_name} {resource_name}",
                    role.as_str()
                );
            }
        }
    }
}
