//! Entity tags (`ETag`) of credentials and service accounts, and the `If-Match` check
//! of their updates: optimistic concurrency, an addition to the Keycard API.
//!
//! A tag is a hash of the resource's stored, client-settable state plus `updated_at`,
//! so it needs no column of its own and changes exactly when that state does. The
//! handler only decides whether `If-Match` names the state it read; the store then
//! applies the patch only if the row is still in that very state (a compare-and-set
//! in one statement), which is what makes the check hold across keycred instances.

use keycred_api::request::EntityTag;
use keycred_api::{ApiError, ErrorCode};
use sha2::{Digest, Sha256};

use keycred_store::{Credential, CredentialStatus, ServiceAccount};

/// The tag of a credential as stored. `last_used_at` is left out: minting a token is
/// not an edit, and must not make a client's pending update fail. The lifecycle
/// fields (status, expiry, last rotation) are framed in only when they differ from a
/// new credential's, so the tags of credentials that never used them are those
/// earlier keycred versions gave.
pub fn credential(credential: &Credential) -> EntityTag {
    let updated_at = credential.updated_at.to_string();
    let disabled = (credential.status != CredentialStatus::Active).then(|| credential.status.as_str());
    let expires_at = credential.expires_at.map(|at| format!("expires_at:{at}"));
    let rotated_at = credential.secret_rotated_at.map(|at| format!("secret_rotated_at:{at}"));
    let mut fields = vec![
        Some("credential"),
        Some(credential.id.as_str()),
        Some(updated_at.as_str()),
        Some(credential.name.as_str()),
        credential.description.as_deref(),
    ];
    fields.extend(
        [disabled, expires_at.as_deref(), rotated_at.as_deref()]
            .into_iter()
            .flatten()
            .map(Some),
    );
    tag(&fields)
}

/// The tag of a service account as stored.
pub fn service_account(service_account: &ServiceAccount) -> EntityTag {
    let updated_at = service_account.updated_at.to_string();
    tag(&[
        Some("service_account"),
        Some(&service_account.id),
        Some(&updated_at),
        Some(&service_account.name),
        service_account.description.as_deref(),
        Some(service_account.role.as_str()),
    ])
}

/// The 412 of an update whose `If-Match` names another version of `what`.
pub fn precondition_failed(what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::PreconditionFailed,
        format!("the {what} has changed since it was read (If-Match does not match its ETag)"),
    )
}

/// A strong tag of `fields`: the first 64 bits of their SHA-256, in hex, quoted. Each
/// field is framed (present or not, then its length) so that no two different lists
/// hash the same bytes, e.g. a missing description and an empty one.
fn tag(fields: &[Option<&str>]) -> EntityTag {
    let mut hasher = Sha256::new();
    for field in fields {
        match field {
            None => hasher.update([0]),
            Some(text) => {
                hasher.update([1]);
                hasher.update((text.len() as u64).to_be_bytes());
                hasher.update(text.as_bytes());
            }
        }
    }
    let digest = hasher.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut quoted = String::with_capacity(18);
    quoted.push('"');
    for byte in &digest[..8] {
        quoted.push(char::from(HEX[usize::from(byte >> 4)]));
        quoted.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    quoted.push('"');
    EntityTag(quoted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use keycred_store::Role;

    fn account() -> ServiceAccount {
        ServiceAccount {
            id: "sa".into(),
            organization_id: "org".into(),
            name: "name".into(),
            description: None,
            role: Role::OrgViewer,
            created_at: 1,
            updated_at: 1,
        }
    }

    #[test]
    fn a_tag_is_the_first_8_bytes_of_the_framed_sha256_in_quoted_hex() {
        // sha256(0x01 ‖ be64(1) ‖ "a" ‖ 0x00), as tags were written from the start:
        // a tag a client holds stays valid across keycred versions.
        assert_eq!(tag(&[Some("a"), None]).0, "\"79932a6254534fdd\"");
    }

    #[test]
    fn the_tag_changes_with_every_settable_field_and_updated_at() {
        let base = service_account(&account());
        assert_eq!(base, service_account(&account()));
        assert!(base.0.starts_with('"') && base.0.ends_with('"') && base.0.len() == 18);
        let changes: [fn(&mut ServiceAccount); 4] = [
            |sa| sa.name = "other".into(),
            |sa| sa.description = Some(String::new()),
            |sa| sa.role = Role::OrgAdmin,
            |sa| sa.updated_at = 2,
        ];
        for change in changes {
            let mut changed = account();
            change(&mut changed);
            assert_ne!(service_account(&changed), base);
        }
        let mut other_org = account();
        other_org.organization_id = "elsewhere".into();
        assert_eq!(
            service_account(&other_org),
            base,
            "the tag covers only what the API shows"
        );
    }

    #[test]
    fn if_match_compares_strongly_and_star_matches_anything() {
        let tag = EntityTag("\"abc\"".into());
        assert!(tag.matches("*"));
        assert!(tag.matches("\"abc\""));
        assert!(tag.matches("\"x\", \"abc\""));
        assert!(!tag.matches("W/\"abc\""));
        assert!(!tag.matches("abc"));
        assert!(!tag.matches(""));
    }
}
