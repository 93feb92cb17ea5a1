//! `keycred bootstrap` from the tests: running it, parsing its `--json` output, and
//! turning what it made into tokens and API paths.

use std::collections::BTreeSet;
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use serde_json::Value;

use super::{keycred_binary, TestApp, TestResponse};

impl TestApp {
    /// Runs `keycred bootstrap --database <db> <args>` and returns its output.
    pub fn bootstrap_command(&self, args: &[&str]) -> Output {
        Command::new(keycred_binary())
            .arg("bootstrap")
            .arg("--database")
            .arg(self.database.argument())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run keycred bootstrap")
    }

    /// Runs `keycred bootstrap --database <db> <args> --json` and parses what it printed.
    pub fn bootstrap(&self, args: &[&str]) -> Bootstrapped {
        let mut all = args.to_vec();
        all.push("--json");
        let output = self.bootstrap_command(&all);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "keycred bootstrap {all:?} failed with {}.\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
        );
        Bootstrapped::from_json(&stdout)
    }

    /// An org_admin credential in the organization labelled `label` (made if new).
    pub fn admin(&self, label: &str) -> Bootstrapped {
        self.with_role(label, "org_admin")
    }

    /// A credential whose service account has `role`, in the organization labelled `label`.
    pub fn with_role(&self, label: &str, role: &str) -> Bootstrapped {
        self.bootstrap(&["--org-label", label, "--role", role])
    }

    /// Mints a token for `who` with HTTP Basic, asserting it works.
    pub fn token_for(&self, who: &Bootstrapped) -> String {
        let response = self.post_token("grant_type=client_credentials", Some(who));
        assert_eq!(response.status, 200, "minting a token failed: {}", response.text());
        response.json()["access_token"]
            .as_str()
            .expect("access_token is a string")
            .to_owned()
    }

    /// POSTs a form to the token endpoint, with `who`'s credentials by HTTP Basic if given.
    pub fn post_token(&self, form: &str, who: Option<&Bootstrapped>) -> TestResponse {
        let authorization = who.map(|who| basic_auth(&who.client_id, &who.client_secret));
        let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
        if let Some(authorization) = &authorization {
            headers.push(("Authorization", authorization));
        }
        self.request("POST", "/service-account-token", &headers, Some(form.as_bytes()))
    }

    /// GETs `who`'s credential with `token`, asserting a 200, and returns the body.
    pub fn credential(&self, who: &Bootstrapped, token: &str) -> Value {
        let response = self.get(&credential_path(who), token);
        assert_eq!(response.status, 200, "GET credential: {}", response.text());
        response.json()
    }
}

/// What `keycred bootstrap --json` prints: one new credential and where it lives.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    pub organization_id: String,
    pub organization_label: String,
    pub service_account_id: String,
    pub credential_id: String,
    pub client_id: String,
    pub client_secret: String,
}

/// The keys `keycred bootstrap` reports, in the order the struct holds them.
pub const BOOTSTRAP_KEYS: [&str; 6] = [
    "organization_id",
    "organization_label",
    "service_account_id",
    "credential_id",
    "client_id",
    "client_secret",
];

impl Bootstrapped {
    /// Parses the one JSON object with exactly the six bootstrap keys, all strings.
    pub fn from_json(stdout: &str) -> Bootstrapped {
        let value: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|error| panic!("bootstrap --json printed no JSON ({error}): {stdout}"));
        let object = value.as_object().unwrap_or_else(|| panic!("not an object: {stdout}"));
        let keys: BTreeSet<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(BOOTSTRAP_KEYS), "bootstrap --json keys: {stdout}");
        let field = |name: &str| {
            let text = object[name]
                .as_str()
                .unwrap_or_else(|| panic!("{name} is not a string: {stdout}"));
            assert!(!text.is_empty(), "{name} is empty: {stdout}");
            text.to_owned()
        };
        Bootstrapped {
            organization_id: field("organization_id"),
            organization_label: field("organization_label"),
            service_account_id: field("service_account_id"),
            credential_id: field("credential_id"),
            client_id: field("client_id"),
            client_secret: field("client_secret"),
        }
    }
}

/// The API path of `who`'s credential, addressed by organization ID.
pub fn credential_path(who: &Bootstrapped) -> String {
    credential_path_of(&who.organization_id, &who.service_account_id, &who.credential_id)
}

/// The API path of a credential from its three path parameters.
pub fn credential_path_of(organization: &str, service_account: &str, credential: &str) -> String {
    format!("/organizations/{organization}/service-accounts/{service_account}/credentials/{credential}")
}

/// An `Authorization: Basic …` value for a client_id/client_secret pair.
pub fn basic_auth(client_id: &str, client_secret: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{client_secret}"));
    format!("Basic {encoded}")
}

/// A fresh organization label, so tests never collide.
pub fn new_label() -> String {
    format!("org-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}
