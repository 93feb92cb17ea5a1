//! `GET /organizations/{organization_id}/audit-events`: the organization's audit
//! trail, newest first, for its admins; and how a stored event is shown, which the
//! export (`keycred audit export`) shares so that both say the same.

use keycred_api::decode::Timestamp;
use keycred_api::{
    ApiError, AuditActor, AuditActorType, AuditChanges, AuditDenialReason, AuditEventListResponse,
    AuditOptionalTextChange, AuditRoleChange, AuditStatusChange, AuditStatusChangeFrom, AuditStatusChangeTo,
    AuditTarget, AuditTargetType, AuditTextChange, AuditTimeChange, ListAuditEventsParams, ListAuditEventsResponse,
};
use sha2::{Digest, Sha256};

use super::pages::ListScope;
use super::service_accounts::role_model;
use super::{expanded_permissions, storage_error, KeycredApi};
use crate::auth::{self, Action, Caller, Resource};
use keycred_store::{
    Actor, AuditAction, AuditEvent, AuditFilter, CredentialStatus, DenialReason, Position, Store, TargetKind,
};

const ORGANIZATION_NOT_FOUND: &str = "organization not found";

/// `GET /organizations/{organization_id}/audit-events`. Its cursors bind the filters
/// they were issued with, as the organization-wide credential list's do.
pub async fn list<S: Store>(
    api: &KeycredApi<S>,
    caller: Caller,
    params: ListAuditEventsParams,
) -> Result<ListAuditEventsResponse, ApiError> {
    let organization_id = api
        .caller_organization(&caller, &params.organization_id, ORGANIZATION_NOT_FOUND)
        .await?;
    auth::require(caller.role, Resource::AuditEvents, Action::Read)?;
    let filter = AuditFilter {
        actions: params.action.iter().map(|action| store_action(*action)).collect(),
        target_id: params.target_id,
        actor_service_account_id: params.actor_service_account_id,
        since: params.since.map(|time| time.0),
        until: params.until.map(|time| time.0),
    };
    let parent = filtered_scope(&organization_id, &filter);
    let scope = ListScope {
        list: "e",
        parent: &parent,
        key: &api.cursor_key,
    };
    let request = scope.request(params.limit, params.after.as_deref(), params.before.as_deref())?;
    let page = api.store.list_audit_events(&organization_id, filter, request).await;
    let page = page.map_err(storage_error)?;
    let page_info = scope.page_info(&page, position);
    Ok(ListAuditEventsResponse::Status200(AuditEventListResponse {
        items: page.items.into_iter().map(audit_event_model).collect(),
        page_info,
        permissions: expanded_permissions(&caller, &params.expand, Resource::AuditEvents),
    }))
}

/// Where an event sits in the list.
fn position(event: &AuditEvent) -> Position {
    Position {
        created_at: event.occurred_at,
        id: event.id.clone(),
    }
}

/// The scope the list's cursors are signed with: the organization and a digest of
/// every filter (the filters hold any text, so they are not written out: a `:` would
/// break the cursor).
fn filtered_scope(organization_id: &str, filter: &AuditFilter) -> String {
    let mut actions: Vec<&str> = filter.actions.iter().map(|action| action.as_str()).collect();
    actions.sort_unstable();
    actions.dedup();
    let canonical = serde_json::json!([
        actions,
        filter.target_id,
        filter.actor_service_account_id,
        filter.since,
        filter.until
    ]);
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    let hex: String = digest[..16].iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{organization_id}|{hex}")
}

/// The store's action for the API's.
fn store_action(action: keycred_api::AuditAction) -> AuditAction {
    use keycred_api::AuditAction as Api;
    match action {
        Api::CredentialCreated => AuditAction::CredentialCreated,
        Api::CredentialUpdated => AuditAction::CredentialUpdated,
        Api::CredentialDeleted => AuditAction::CredentialDeleted,
        Api::CredentialRotated => AuditAction::CredentialRotated,
        Api::CredentialDisabled => AuditAction::CredentialDisabled,
        Api::CredentialEnabled => AuditAction::CredentialEnabled,
        Api::ServiceAccountCreated => AuditAction::ServiceAccountCreated,
        Api::ServiceAccountUpdated => AuditAction::ServiceAccountUpdated,
        Api::ServiceAccountDeleted => AuditAction::ServiceAccountDeleted,
        Api::TokenIssued => AuditAction::TokenIssued,
        Api::TokenRevoked => AuditAction::TokenRevoked,
        Api::TokenDenied => AuditAction::TokenDenied,
    }
}

/// The API's action for the store's.
fn api_action(action: AuditAction) -> keycred_api::AuditAction {
    use keycred_api::AuditAction as Api;
    match action {
        AuditAction::CredentialCreated => Api::CredentialCreated,
        AuditAction::CredentialUpdated => Api::CredentialUpdated,
        AuditAction::CredentialDeleted => Api::CredentialDeleted,
        AuditAction::CredentialRotated => Api::CredentialRotated,
        AuditAction::CredentialDisabled => Api::CredentialDisabled,
        AuditAction::CredentialEnabled => Api::CredentialEnabled,
        AuditAction::ServiceAccountCreated => Api::ServiceAccountCreated,
        AuditAction::ServiceAccountUpdated => Api::ServiceAccountUpdated,
        AuditAction::ServiceAccountDeleted => Api::ServiceAccountDeleted,
        AuditAction::TokenIssued => Api::TokenIssued,
        AuditAction::TokenRevoked => Api::TokenRevoked,
        AuditAction::TokenDenied => Api::TokenDenied,
    }
}

/// An event as the API (and the export) shows it.
pub fn audit_event_model(event: AuditEvent) -> keycred_api::AuditEvent {
    keycred_api::AuditEvent {
        id: event.id,
        organization_id: event.organization_id,
        occurred_at: Timestamp(event.occurred_at),
        action: api_action(event.action),
        actor: actor_model(event.actor),
        target: event.target.map(|target| AuditTarget {
            r#type: match target.kind {
                TargetKind::Credential => AuditTargetType::Credential,
                TargetKind::ServiceAccount => AuditTargetType::ServiceAccount,
            },
            id: target.id,
            service_account_id: target.service_account_id,
        }),
        request_id: event.request_id,
        client_request_id: event.client_request_id,
        source_address: event.source_address,
        changes: event.changes.map(changes_model),
        reason: event.reason.map(reason_model),
        count: event.count,
    }
}

fn actor_model(actor: Actor) -> AuditActor {
    match actor {
        Actor::ServiceAccount {
            service_account_id,
            credential_id,
        } => AuditActor {
            r#type: AuditActorType::ServiceAccount,
            service_account_id: Some(service_account_id),
            credential_id: Some(credential_id),
            client_id: None,
        },
        Actor::Cli => AuditActor {
            r#type: AuditActorType::Cli,
            service_account_id: None,
            credential_id: None,
            client_id: None,
        },
        Actor::Client { client_id } => AuditActor {
            r#type: AuditActorType::Client,
            service_account_id: None,
            credential_id: None,
            client_id,
        },
    }
}

fn changes_model(changes: keycred_store::AuditChanges) -> AuditChanges {
    AuditChanges {
        name: changes.name.map(|change| AuditTextChange {
            from: change.from,
            to: change.to,
        }),
        description: changes.description.map(|change| AuditOptionalTextChange {
            from: change.from,
            to: change.to,
        }),
        role: changes.role.map(|change| AuditRoleChange {
            from: role_model(change.from),
            to: role_model(change.to),
        }),
        status: changes.status.map(|change| AuditStatusChange {
            from: match change.from {
                CredentialStatus::Active => AuditStatusChangeFrom::Active,
                CredentialStatus::Disabled => AuditStatusChangeFrom::Disabled,
            },
            to: match change.to {
                CredentialStatus::Active => AuditStatusChangeTo::Active,
                CredentialStatus::Disabled => AuditStatusChangeTo::Disabled,
            },
        }),
        expires_at: changes.expires_at.map(|change| AuditTimeChange {
            from: change.from.map(Timestamp),
            to: change.to.map(Timestamp),
        }),
    }
}

fn reason_model(reason: DenialReason) -> AuditDenialReason {
    match reason {
        DenialReason::UnknownClient => AuditDenialReason::UnknownClient,
        DenialReason::WrongSecret => AuditDenialReason::WrongSecret,
        DenialReason::Disabled => AuditDenialReason::Disabled,
        DenialReason::Expired => AuditDenialReason::Expired,
        DenialReason::Throttled => AuditDenialReason::Throttled,
    }
}
