//! The resource API from the tests: paths of organizations, service accounts and
//! credentials, POST and DELETE with a bearer token, and creating things to test on.

use std::thread;
use std::time::Duration;

use serde_json::Value;

use super::{Bootstrapped, TestApp, TestResponse};

/// A 26-character ID that no resource has (IDs are random over `0-9a-z`).
pub const MISSING_ID: &str = "zzzzzzzzzzzzzzzzzzzzzzzzzz";

/// The path of an organization, by ID or label.
pub fn organization_path(organization: &str) -> String {
    format!("/organizations/{organization}")
}

/// The path of an organization's service account list.
pub fn service_accounts_path(organization: &str) -> String {
    format!("/organizations/{organization}/service-accounts")
}

/// The path of one service account.
pub fn service_account_path(organization: &str, service_account: &str) -> String {
    format!("/organizations/{organization}/service-accounts/{service_account}")
}

/// The path of a service account's credential list.
pub fn credentials_path(organization: &str, service_account: &str) -> String {
    format!("/organizations/{organization}/service-accounts/{service_account}/credentials")
}

/// The path of an organization's credential list, across its service accounts.
pub fn organization_credentials_path(organization: &str) -> String {
    format!("/organizations/{organization}/credentials")
}

/// `path` with `query` appended (`?` or `&` as needed); `path` unchanged if `query` is empty.
pub fn with_query(path: &str, query: &str) -> String {
    match (query.is_empty(), path.contains('?')) {
        (true, _) => path.to_owned(),
        (false, true) => format!("{path}&{query}"),
        (false, false) => format!("{path}?{query}"),
    }
}

/// Whether `text` is a resource ID: 26 characters of `0-9a-z`.
pub fn is_resource_id(text: &str) -> bool {
    text.len() == 26
        && text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || byte.is_ascii_lowercase())
}

/// The string at `body[field]`, panicking with the body if there is none.
pub fn string_field(body: &Value, field: &str) -> String {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string in {body}"))
        .to_owned()
}

/// Waits long enough that the next write gets a later millisecond timestamp.
pub fn next_millisecond() {
    thread::sleep(Duration::from_millis(3));
}

impl TestApp {
    /// POST with a bearer token and a JSON body.
    pub fn post_json(&self, path: &str, token: &str, body: &str) -> TestResponse {
        let authorization = format!("Bearer {token}");
        let headers = [
            ("Authorization", authorization.as_str()),
            ("Content-Type", "application/json"),
        ];
        self.request("POST", path, &headers, Some(body.as_bytes()))
    }

    /// DELETE with a bearer token.
    pub fn delete(&self, path: &str, token: &str) -> TestResponse {
        let authorization = format!("Bearer {token}");
        self.request("DELETE", path, &[("Authorization", &authorization)], None)
    }

    /// GETs `path`, asserting a 200, and returns the body.
    pub fn get_ok(&self, path: &str, token: &str) -> Value {
        let response = self.get(path, token);
        assert_eq!(response.status, 200, "GET {path}: {}", response.text());
        response.json()
    }

    /// Creates a service account in `organization` from a JSON `body`, asserting a 200.
    pub fn create_service_account(&self, organization: &str, token: &str, body: &str) -> Value {
        let response = self.post_json(&service_accounts_path(organization), token, body);
        assert_eq!(
            response.status,
            200,
            "create service account {body}: {}",
            response.text()
        );
        response.json()
    }

    /// Creates a service account with `role` in `admin`'s organization and returns its ID.
    pub fn new_service_account(&self, admin: &Bootstrapped, token: &str, role: &str) -> String {
        let body = format!(r#"{{"name":"sa-{role}","role":"{role}"}}"#);
        string_field(&self.create_service_account(&admin.organization_id, token, &body), "id")
    }

    /// Creates a credential from a JSON `body`, asserting a 200; the body has the secret.
    pub fn create_credential(&self, organization: &str, service_account: &str, token: &str, body: &str) -> Value {
        let response = self.post_json(&credentials_path(organization, service_account), token, body);
        assert_eq!(response.status, 200, "create credential {body}: {}", response.text());
        response.json()
    }

    /// Creates a credential named `name` for a service account in `admin`'s organization,
    /// as a [`Bootstrapped`] so it can mint tokens like a bootstrapped one.
    pub fn new_credential(&self, admin: &Bootstrapped, token: &str, service_account: &str, name: &str) -> Bootstrapped {
        let body = format!(r#"{{"name":"{name}"}}"#);
        let created = self.create_credential(&admin.organization_id, service_account, token, &body);
        Bootstrapped {
            organization_id: admin.organization_id.clone(),
            organization_label: admin.organization_label.clone(),
            service_account_id: service_account.to_owned(),
            credential_id: string_field(&created, "id"),
            client_id: string_field(&created, "client_id"),
            client_secret: string_field(&created, "client_secret"),
        }
    }

    /// Creates `count` credentials one millisecond apart and returns their IDs in creation order.
    pub fn new_credentials(
        &self,
        admin: &Bootstrapped,
        token: &str,
        service_account: &str,
        count: usize,
    ) -> Vec<String> {
        (0..count)
            .map(|n| {
                next_millisecond();
                self.new_credential(admin, token, service_account, &format!("credential-{n}"))
                    .credential_id
            })
            .collect()
    }
}
