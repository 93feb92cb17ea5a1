//! `keycred bootstrap`: the first-run path from an empty database to a credential that
//! can mint a token. Safe to run while a server uses the same database.

use serde::Serialize;

use crate::auth;
use crate::config::BootstrapConfig;
use crate::ids;
use keycred_store::{
    AuditContext, Credential, CredentialStatus, NewCredential, Organization, Role, ServiceAccount, StorageError, Store,
};

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

/// The most characters a name (of an organization, service account or credential) may have.
pub const MAX_NAME_CHARS: usize = 255;

/// Whether `name` is a valid name: 1 to [`MAX_NAME_CHARS`] characters, no NUL, and not
/// only spaces, tabs and line breaks (the API's rule for names).
pub fn is_valid_name(name: &str) -> bool {
    let blank = |character: char| matches!(character, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r');
    name.chars().count() <= MAX_NAME_CHARS && !name.contains('\0') && !name.chars().all(blank)
}

/// Checks the flags before anything is written.
fn check_flags(config: &BootstrapConfig) -> Result<Role, BootstrapError> {
    if !is_dns_label(&config.org_label) {
        return Err(BootstrapError::Invalid(format!(
            "--org-label must be a DNS label (lowercase letters, digits and inner hyphens, at most 63): {:?}",
            config.org_label
        )));
    }
    // An organization is addressed by its ID or its label: a label shaped like an ID
    // could one day equal another organization's ID and shadow it, or be shadowed.
    if ids::looks_like_resource_id(&config.org_label) {
        return Err(BootstrapError::Invalid(format!(
            "--org-label must not look like an organization ID (26 lowercase letters and digits): {:?}",
            config.org_label
        )));
    }
    let role =
        Role::parse(&config.role).ok_or_else(|| BootstrapError::Invalid(format!("unknown role {:?}", config.role)))?;
    if !is_valid_name(&config.service_account_name)
        || config.org_name.as_deref().is_some_and(|name| !is_valid_name(name))
    {
        return Err(BootstrapError::Invalid(format!(
            "--org-name and --service-account-name must be 1 to {MAX_NAME_CHARS} characters, not blank"
        )));
    }
    Ok(role)
}

/// Creates (or reuses) the organization, then a service account and its credential.
pub async fn bootstrap<S: Store>(store: &S, config: &BootstrapConfig) -> Result<Bootstrapped, BootstrapError> {
    let role = check_flags(config)?;
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
    store
        .create_service_account(service_account.clone(), AuditContext::cli(now))
        .await?;

    let client_secret = ids::client_secret();
    let credential = Credential {
        id: ids::resource_id(),
        organization_id: organization.id.clone(),
        service_account_id: service_account.id.clone(),
        client_id: ids::client_id(),
        name: credential_name(&config.service_account_name),
        description: None,
        created_at: now,
        updated_at: now,
        last_used_at: None,
        status: CredentialStatus::Active,
        expires_at: None,
        secret_rotated_at: None,
        previous_secret_expires_at: None,
    };
    let new_credential = NewCredential {
        credential: credential.clone(),
        secret_hash: auth::hash_secret(&client_secret),
    };
    if !store.create_credential(new_credential, AuditContext::cli(now)).await? {
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

/// `"<service account name> credential"`, the service account's name cut short if
/// need be so that the whole stays within [`MAX_NAME_CHARS`].
fn credential_name(service_account_name: &str) -> String {
    const SUFFIX: &str = " credential";
    let kept: String = service_account_name
        .chars()
        .take(MAX_NAME_CHARS - SUFFIX.len())
        .collect();
    format!("{kept}{SUFFIX}")
}

async fn find_or_create_organization<S: Store>(
    store: &S,
    config: &BootstrapConfig,
    now: i64,
) -> Result<Organization, BootstrapError> {
    match store.find_organization(&config.org_label).await? {
        Some(organization) if organization.label == config.org_label => return Ok(organization),
        Some(organization) => {
            return Err(BootstrapError::Invalid(format!(
                "--org-label {:?} is the ID of another organization (labelled {:?}); choose another label",
                config.org_label, organization.label
            )))
        }
        None => {}
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
    fn names_are_1_to_255_characters_and_not_blank() {
        for good in ["a", " a ", &"é".repeat(255), "\u{3000}"] {
            assert!(is_valid_name(good), "{good:?}");
        }
        for bad in ["", "   ", "\t\n\r", &"a".repeat(256), "a\0b"] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_credential_name_stays_within_the_limit() {
        assert_eq!(credential_name("deploy"), "deploy credential");
        assert_eq!(credential_name(&"é".repeat(255)).chars().count(), MAX_NAME_CHARS);
    }

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
