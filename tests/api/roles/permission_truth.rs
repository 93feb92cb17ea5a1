//! The permission truth: for every role and every operation, what `expand=permissions`
//! reports is what the API then does (allowed ⇒ 2xx, denied ⇒ 403), and denied
//! actions are reported as `false`, never left out.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::helpers::{
    credential_path_of, credentials_path, organization_credentials_path, organization_path, service_account_path,
    service_accounts_path, spawn_app, Bootstrapped, TestApp, TestResponse,
};

const ROLES: [&str; 3] = ["org_admin", "org_member", "org_viewer"];
const ORGANIZATIONS: &str = "organizations";
const SERVICE_ACCOUNTS: &str = "service_accounts";
const CREDENTIALS: &str = "service_account_credentials";

/// Fresh things for one attempt of one operation, made by an admin of the caller's organization.
struct Target<'a> {
    app: &'a TestApp,
    organization: String,
    service_account: String,
    credential: String,
}

impl Target<'_> {
    fn service_account(&self) -> String {
        service_account_path(&self.organization, &self.service_account)
    }

    fn credentials(&self) -> String {
        credentials_path(&self.organization, &self.service_account)
    }

    fn credential(&self) -> String {
        credential_path_of(&self.organization, &self.service_account, &self.credential)
    }
}

/// An operation of the API, the permission it needs, and how to attempt it with a token.
struct Operation {
    name: &'static str,
    resource: &'static str,
    action: &'static str,
    attempt: fn(&Target, &str) -> TestResponse,
}

const OPERATIONS: [Operation; 14] = [
    Operation {
        name: "listOrganizations",
        resource: ORGANIZATIONS,
        action: "read",
        attempt: |t, token| t.app.get("/organizations", token),
    },
    Operation {
        name: "getOrganization",
        resource: ORGANIZATIONS,
        action: "read",
        attempt: |t, token| t.app.get(&organization_path(&t.organization), token),
    },
    Operation {
        name: "listServiceAccounts",
        resource: SERVICE_ACCOUNTS,
        action: "read",
        attempt: |t, token| t.app.get(&service_accounts_path(&t.organization), token),
    },
    Operation {
        name: "getServiceAccount",
        resource: SERVICE_ACCOUNTS,
        action: "read",
        attempt: |t, token| t.app.get(&t.service_account(), token),
    },
    Operation {
        name: "createServiceAccount",
        resource: SERVICE_ACCOUNTS,
        action: "create",
        attempt: |t, token| {
            t.app
                .post_json(&service_accounts_path(&t.organization), token, r#"{"name":"truth"}"#)
        },
    },
    Operation {
        name: "updateServiceAccount",
        resource: SERVICE_ACCOUNTS,
        action: "update",
        attempt: |t, token| t.app.patch_json(&t.service_account(), token, r#"{"name":"truth"}"#),
    },
    Operation {
        name: "deleteServiceAccount",
        resource: SERVICE_ACCOUNTS,
        action: "delete",
        attempt: |t, token| t.app.delete(&t.service_account(), token),
    },
    Operation {
        name: "listServiceAccountCredentials",
        resource: CREDENTIALS,
        action: "read",
        attempt: |t, token| t.app.get(&t.credentials(), token),
    },
    Operation {
        name: "listOrganizationCredentials",
        resource: CREDENTIALS,
        action: "read",
        attempt: |t, token| t.app.get(&organization_credentials_path(&t.organization), token),
    },
    Operation {
        name: "getServiceAccountCredential",
        resource: CREDENTIALS,
        action: "read",
        attempt: |t, token| t.app.get(&t.credential(), token),
    },
    Operation {
        name: "createServiceAccountCredential",
        resource: CREDENTIALS,
        action: "create",
        attempt: |t, token| t.app.post_json(&t.credentials(), token, r#"{"name":"truth"}"#),
    },
    Operation {
        name: "updateServiceAccountCredential",
        resource: CREDENTIALS,
        action: "update",
        attempt: |t, token| t.app.patch_json(&t.credential(), token, r#"{"name":"truth"}"#),
    },
    Operation {
        name: "deleteServiceAccountCredential",
        resource: CREDENTIALS,
        action: "delete",
        attempt: |t, token| t.app.delete(&t.credential(), token),
    },
    Operation {
        name: "rotateServiceAccountCredential",
        resource: CREDENTIALS,
        action: "rotate",
        attempt: |t, token| t.app.post_json(&format!("{}/rotate", t.credential()), token, "{}"),
    },
];

/// A fresh service account with one credential, for an operation to act on.
fn fresh_target<'a>(app: &'a TestApp, admin: &Bootstrapped, admin_token: &str) -> Target<'a> {
    let service_account = app.new_service_account(admin, admin_token, "org_viewer");
    let credential = app
        .new_credential(admin, admin_token, &service_account, "target")
        .credential_id;
    Target {
        app,
        organization: admin.organization_id.clone(),
        service_account,
        credential,
    }
}

/// Every place that reports `permissions` to `token`: (where, resource type, the object).
fn reported_permissions(target: &Target, token: &str) -> Vec<(String, &'static str, Value)> {
    let sources = [
        ("/organizations".to_owned(), ORGANIZATIONS),
        (organization_path(&target.organization), ORGANIZATIONS),
        (service_accounts_path(&target.organization), SERVICE_ACCOUNTS),
        (target.service_account(), SERVICE_ACCOUNTS),
        (target.credentials(), CREDENTIALS),
        (organization_credentials_path(&target.organization), CREDENTIALS),
        (target.credential(), CREDENTIALS),
    ];
    sources
        .into_iter()
        .map(|(path, resource)| {
            let body = target.app.get_ok(&format!("{path}?expand=permissions"), token);
            (format!("GET {path}"), resource, body["permissions"][resource].clone())
        })
        .collect()
}

/// What the role's permissions say about `action` on `resource`, or why they say nothing.
fn permission(reported: &[(String, &'static str, Value)], resource: &str, action: &str) -> Result<bool, String> {
    let mut answers = BTreeMap::new();
    for (source, _, permissions) in reported.iter().filter(|(_, kind, _)| *kind == resource) {
        match &permissions[action] {
            Value::Bool(allowed) => answers.insert(source.clone(), *allowed),
            Value::Null => return Err(format!("{source} leaves out {resource}.{action}")),
            other => return Err(format!("{source} reports {resource}.{action} as {other}")),
        };
    }
    let mut values = answers.values().copied();
    let first = values.next().ok_or_else(|| format!("nothing reports {resource}"))?;
    if values.any(|value| value != first) {
        return Err(format!("the reports of {resource}.{action} disagree: {answers:?}"));
    }
    Ok(first)
}

#[test]
fn every_role_may_do_exactly_what_its_permissions_say() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let admin_token = app.token_for(&admin);
    let mut disagreements = Vec::new();

    for role in ROLES {
        let caller = app.with_role("acme", role);
        let token = app.token_for(&caller);
        let reported = reported_permissions(&fresh_target(&app, &admin, &admin_token), &token);
        for operation in &OPERATIONS {
            let said = permission(&reported, operation.resource, operation.action);
            let response = (operation.attempt)(&fresh_target(&app, &admin, &admin_token), &token);
            let did = match response.status {
                200..=299 => Some(true),
                403 if response.json()["code"] == "forbidden" => Some(false),
                _ => None,
            };
            if did.is_some() && said.as_ref().ok() == did.as_ref() {
                continue;
            }
            let said = said.map_or_else(|problem| problem, |allowed| format!("permissions say {allowed}"));
            let answer = match did {
                Some(_) => response.status.to_string(),
                None => format!("{} {}", response.status, response.text()),
            };
            disagreements.push(format!(
                "{role} {} ({}.{}): {said}; the API answered {answer}",
                operation.name, operation.resource, operation.action
            ));
        }
    }

    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

#[test]
fn denied_actions_are_reported_as_false_not_left_out() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let admin_token = app.token_for(&admin);

    for role in ROLES {
        let caller = app.with_role("acme", role);
        let token = app.token_for(&caller);
        let reported = reported_permissions(&fresh_target(&app, &admin, &admin_token), &token);

        for (source, resource, permissions) in &reported {
            let actions: &[&str] = match *resource {
                ORGANIZATIONS => &["read"],
                CREDENTIALS => &["read", "create", "update", "delete", "rotate"],
                _ => &["read", "create", "update", "delete"],
            };
            for action in actions {
                assert!(
                    permissions[*action].is_boolean(),
                    "{role}: {source} reports {resource}.{action} as {}",
                    permissions[*action]
                );
            }
        }
    }
}

#[test]
fn the_reported_permissions_are_the_documented_roles() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let admin_token = app.token_for(&admin);
    // org_admin everything, org_member read everything and update credentials, org_viewer only read.
    let documented = |role: &str, resource: &str, action: &str| {
        matches!(
            (role, resource, action),
            (_, _, "read") | ("org_admin", _, _) | ("org_member", CREDENTIALS, "update")
        )
    };
    let mut wrong = Vec::new();

    for role in ROLES {
        let caller = app.with_role("acme", role);
        let token = app.token_for(&caller);
        let reported = reported_permissions(&fresh_target(&app, &admin, &admin_token), &token);
        for operation in &OPERATIONS {
            let expected = documented(role, operation.resource, operation.action);
            let said = permission(&reported, operation.resource, operation.action);
            if said != Ok(expected) {
                wrong.push(format!("{role} {}: want {expected}, reported {said:?}", operation.name));
            }
        }
    }

    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
