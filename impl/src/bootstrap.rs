//! `keycred bootstrap`: the first-run path from an empty database to a credential that
//! can mint a token. Safe to run while a server uses the same database.

use serde::Serialize;

use crate::auth;
use crate::config::BootstrapConfig;
use crate::ids;
use keycred_store::{Credential, NewCredential, Organization, Role, ServiceAccount, StorageError, Store};

/// What bootstrap made, as printed. The client_secret is shown here and never again.
#[derive(Debug, Serialize)]
pub struct Bootstrapped {
    /// The organization's ID.
    pub organization_id: String,
    /// The organization's label.
    pub organization_label: String,
    /// The new service account's ID.
    pub service_account_id: String,
    /// The new credential's ID.
    pub credential_id: String,
    /// The new credential's client_id.
    pub client_id: String,
    /// The new credential's client_secret.
    pub client_secret: String,
}

/// Why bootstrap failed.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The flags broke a rule.
    #[error("{0}")]
    Invalid(String),
    /// The database refused.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Whether `label` is a DNS label: `^[a-z0-9]+(-[a-z0-9]+)*$`, at most 63 characters.
pub fn is_dns_label(label: &str) -> bool {
    let well_formed_parts = label.split('-').all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit())
    });
    !label.is_empty() && label.len() <= 63 && well_formed_parts
}

/// Creates (or reuses) the organization, then a service account and its credential.
pub async fn bootstrap<S: Store>(store: &S, config: &BootstrapConfig) -> Result<Bootstrapped, BootstrapError> {
    if !is_dns_label(&config.org_label) {
        return Err(BootstrapError::Invalid(format!(
            "--org-label must be a DNS label (lowercase letters, digits and inner hyphens, at most 63): {:?}",
            config.org_label
        )));
    }
    let role =
        Role::parse(&config.role).ok_or_else(|| BootstrapError::Invalid(format!("unknown role {:?}", config.role)))?;
    let name_ok = |name: &str| !name.trim().is_empty();
    if !name_ok(&config.service_account_name) || config.org_name.as_deref().is_some_and(|name| !name_ok(name)) {
        return Err(BootstrapError::Invalid("names must not be empty".to_owned()));
    }

    let now = chrono::Utc::now().timestamp_millis();
    let organization = find_or_create_organization(store, config, now).await?;
    let service_account = ServiceAccount {
        id: ids::resource_id(),
        organization_id: organization.id.clone(),
        name: config.service_account_name.clone(),
        description: None,
        role,
        created_at: now,
        updated_at: now,
    };
    store.create_service_account(service_account.clone()).await?;

    let client_secret = ids::client_secret();
    let credential = Credential {
        id: ids::resource_id(),
        organization_id: organization.id.clone(),
        service_account_id: service_account.id.clone(),
        client_id: ids::client_id(),
        name: format!("{} credential", config.service_account_name),
        description: None,
        created_at: now,
        updated_at: now,
        last_used_at: None,
    };
    let new_credential = NewCredential {
        credential: credential.clone(),
        secret_hash: auth::hash_secret(&client_secret),
    };
    if !store.create_credential(new_credential).await? {
        return Err(BootstrapError::Invalid(format!(
            "the service account {} vanished before its credential could be created (deleted meanwhile?)",
            service_account.id
        )));
    }

    Ok(Bootstrapped {
        organization_id: organization.id,
        organization_label: organization.label,
        service_account_id: service_account.id,
        credential_id: credential.id,
        client_id: credential.client_id,
        client_secret,
    })
}

async fn find_or_create_organization<S: Store>(
    store: &S,
    config: &BootstrapConfig,
    now: i64,
) -> Result<Organization, BootstrapError> {
    let existing = store.find_organization(&config.org_label).await?;
    if let Some(organization) = existing.filter(|organization| organization.label == config.org_label) {
        return Ok(organization);
    }
    let organization = Organization {
        id: ids::resource_id(),
        label: config.org_label.clone(),
        name: config.org_name.clone().unwrap_or_else(|| config.org_label.clone()),
        created_at: now,
        updated_at: now,
    };
    match store.create_organization(organization.clone()).await {
        Ok(()) => Ok(organization),
        // Another bootstrap created it a moment ago: use theirs.
        Err(StorageError::Conflict(_)) => store
            .find_organization(&config.org_label)
            .await?
            .filter(|organization| organization.label == config.org_label)
            .ok_or_else(|| BootstrapError::Invalid("organization label conflict".to_owned())),
        Err(error) => Err(error.into()),
    }
}

impl Bootstrapped {
    /// The `name: value` lines printed without `--json`.
    pub fn to_lines(&self) -> String {
        [
            ("organization_id", &self.organization_id),
            ("organization_label", &self.organization_label),
            ("service_account_id", &self.service_account_id),
            ("credential_id", &self.credential_id),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
        ]
        .iter()
        .map(|(name, value)| format!("{name}: {value}\n"))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels_are_lowercase_alphanumerics_with_inner_hyphens() {
        for good in ["acme", "a", "acme-corp", "a1-b2-c3", &"a".repeat(63)] {
            assert!(is_dns_label(good), "{good}");
        }
        for bad in [
            "",
            "Acme",
            "-acme",
            "acme-",
            "ac--me",
            "ac_me",
            "acme.corp",
            &"a".repeat(64),
        ] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }
}
