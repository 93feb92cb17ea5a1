//! Conformance: the audit trail — each write's event, in the same transaction, and
//! nothing for writes that change nothing; folded denials; the list, the export and
//! retention pruning.

use super::{add_service_account, audit, credential, key, organization, seed, token, Backend, Database};
use crate::{
    Actor, AuditAction, AuditContext, AuditEvent, AuditFilter, AuditTarget, Change, CredentialPatch, CredentialStatus,
    DenialReason, DeniedCredential, Millis, Page, PageRequest, PageStart, Position, Role, Rotation,
    ServiceAccountPatch, Store, TokenDenial,
};

/// An API call's context at `occurred_at`, as service account `sa` with credential
/// `cred`, from 192.0.2.7.
fn api_call(occurred_at: Millis) -> AuditContext {
    AuditContext {
        actor: Actor::ServiceAccount {
            service_account_id: "sa".to_owned(),
            credential_id: "cred".to_owned(),
        },
        occurred_at,
        request_id: Some(format!("request-{occurred_at}")),
        client_request_id: Some("client-request".to_owned()),
        source_address: Some("192.0.2.7".to_owned()),
    }
}

/// The position before every event, where an export starts.
pub(crate) fn beginning() -> Position {
    Position {
        created_at: Millis::MIN,
        id: String::new(),
    }
}

/// Every event of organization `org`, newest first.
async fn all_events(store: &impl Store, organization_id: &str) -> Vec<AuditEvent> {
    list(store, organization_id, AuditFilter::default()).await
}

/// The events of organization `org` that meet `filter`, newest first (one page).
async fn list(store: &impl Store, organization_id: &str, filter: AuditFilter) -> Vec<AuditEvent> {
    let page = PageRequest {
        start: PageStart::First,
        limit: 1_000,
    };
    store
        .list_audit_events(organization_id, filter, page)
        .await
        .unwrap()
        .items
}

/// The actions of `events`, in order.
fn actions(events: &[AuditEvent]) -> Vec<AuditAction> {
    events.iter().map(|event| event.action).collect()
}

/// Renames credential `cred` once at each of `times`, as an API call (one
/// `credential.updated` each).
async fn rename_credential_at(store: &impl Store, times: std::ops::Range<Millis>) {
    for time in times {
        let patch = CredentialPatch {
            name: Some(format!("name {time}")),
            ..CredentialPatch::default()
        };
        let cred = key("org", "sa", "cred");
        store
            .update_credential(cred, patch, time, None, api_call(time))
            .await
            .unwrap();
    }
}

/// A denial of client `client-cred` from `address` for `reason` at `occurred_at`.
fn denial(occurred_at: Millis, address: &str, reason: DenialReason) -> TokenDenial {
    TokenDenial {
        occurred_at,
        client_id: Some("client-cred".to_owned()),
        credential: Some(DeniedCredential {
            organization_id: "org".to_owned(),
            service_account_id: "sa".to_owned(),
            credential_id: "cred".to_owned(),
        }),
        source_address: Some(address.to_owned()),
        reason,
        request_id: Some(format!("denied-{occurred_at}")),
        client_request_id: None,
        count: 1,
    }
}

/// Each write that changes something records one event naming what it did, who did
/// it and from where, and what changed; the events outlive what they name.
pub(crate) async fn every_write_records_its_event<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    store.create_organization(organization("org", "acme")).await.unwrap();
    store
        .create_service_account(super::service_account("sa", "org", Role::OrgViewer), api_call(10))
        .await
        .unwrap();
    let rename = ServiceAccountPatch {
        name: Some("renamed".to_owned()),
        role: Some(Role::OrgAdmin),
        ..ServiceAccountPatch::default()
    };
    store
        .update_service_account("org", "sa", rename, 11, None, api_call(11))
        .await
        .unwrap();
    assert!(store
        .create_credential(credential("cred", "org", "sa"), api_call(12))
        .await
        .unwrap());
    let cred = key("org", "sa", "cred");
    let patch = CredentialPatch {
        description: Some("new words".to_owned()),
        expires_at: Some(Some(99_000)),
        ..CredentialPatch::default()
    };
    store
        .update_credential(cred, patch, 13, None, api_call(13))
        .await
        .unwrap();
    let disable = CredentialPatch {
        status: Some(CredentialStatus::Disabled),
        name: Some("off".to_owned()),
        ..CredentialPatch::default()
    };
    store
        .update_credential(cred, disable, 14, None, api_call(14))
        .await
        .unwrap();
    let enable = CredentialPatch {
        status: Some(CredentialStatus::Active),
        ..CredentialPatch::default()
    };
    store
        .update_credential(cred, enable, 15, None, api_call(15))
        .await
        .unwrap();
    let rotation = Rotation {
        secret_hash: [8; 32],
        now: 16,
        previous_secret_expires_at: None,
        revoke_tokens: false,
    };
    store
        .rotate_credential(cred, rotation, None, api_call(16))
        .await
        .unwrap();
    let minted = AuditContext {
        actor: Actor::Client {
            client_id: Some("client-cred".to_owned()),
        },
        ..api_call(17)
    };
    assert!(store
        .insert_token(token("tok", "cred", 17, 90_000), minted.clone())
        .await
        .unwrap());
    let revoked = AuditContext {
        occurred_at: 18,
        ..minted
    };
    assert!(store.revoke_token("tok", [9; 32], cred, revoked).await.unwrap());
    assert!(store
        .create_credential(credential("other", "org", "sa"), api_call(19))
        .await
        .unwrap());
    assert!(store.delete_credential(cred, None, api_call(20)).await.unwrap());
    assert!(store
        .delete_service_account("org", "sa", None, api_call(21))
        .await
        .unwrap());

    let events = all_events(store, "org").await;
    let mut oldest_first = actions(&events);
    oldest_first.reverse();
    use AuditAction::*;
    assert_eq!(oldest_first.len(), 13, "{oldest_first:?}");
    assert_eq!(
        oldest_first[..11],
        [
            ServiceAccountCreated,
            ServiceAccountUpdated,
            CredentialCreated,
            CredentialUpdated,
            CredentialDisabled,
            CredentialEnabled,
            CredentialRotated,
            TokenIssued,
            TokenRevoked,
            CredentialCreated,
            CredentialDeleted,
        ]
    );
    // The service account's delete records its own and its last credential's, in
    // the same millisecond (so in ID order between themselves).
    let mut last_two = oldest_first[oldest_first.len() - 2..].to_vec();
    last_two.sort_by_key(|action| action.as_str());
    assert_eq!(last_two, [CredentialDeleted, ServiceAccountDeleted]);
    let other_deleted = events
        .iter()
        .find(|event| event.action == CredentialDeleted && event.occurred_at == 21)
        .expect("the service account's credential has its deletion recorded");
    assert_eq!(other_deleted.target, Some(AuditTarget::credential("other", "sa")));

    let by_time = |time: Millis| events.iter().find(|event| event.occurred_at == time).unwrap();
    let created = by_time(10);
    assert_eq!(created.organization_id.as_deref(), Some("org"));
    assert_eq!(created.actor, api_call(10).actor);
    assert_eq!(created.target, Some(AuditTarget::service_account("sa")));
    assert_eq!(created.request_id.as_deref(), Some("request-10"));
    assert_eq!(created.client_request_id.as_deref(), Some("client-request"));
    assert_eq!(created.source_address.as_deref(), Some("192.0.2.7"));
    assert_eq!(
        (created.changes.as_ref(), created.reason, created.count),
        (None, None, 1)
    );

    let changes = by_time(11).changes.clone().unwrap();
    assert_eq!(
        changes.name,
        Some(Change {
            from: "Service account sa".to_owned(),
            to: "renamed".to_owned()
        })
    );
    assert_eq!(
        changes.role,
        Some(Change {
            from: Role::OrgViewer,
            to: Role::OrgAdmin
        })
    );
    assert_eq!((changes.description, changes.status), (None, None));

    let updated = by_time(13);
    assert_eq!(updated.target, Some(AuditTarget::credential("cred", "sa")));
    let changes = updated.changes.clone().unwrap();
    assert_eq!(
        changes.description,
        Some(Change {
            from: Some("original description".to_owned()),
            to: Some("new words".to_owned())
        })
    );
    assert_eq!(
        changes.expires_at,
        Some(Change {
            from: None,
            to: Some(99_000)
        })
    );
    assert_eq!(changes.name, None);

    let disabled = by_time(14).changes.clone().unwrap();
    assert_eq!(
        disabled.status,
        Some(Change {
            from: CredentialStatus::Active,
            to: CredentialStatus::Disabled
        })
    );
    assert!(disabled.name.is_some(), "every field changed is in the changes");

    let issued = by_time(17);
    assert_eq!(
        issued.actor,
        Actor::Client {
            client_id: Some("client-cred".to_owned())
        }
    );
    assert_eq!(issued.target, Some(AuditTarget::credential("cred", "sa")));
    assert_eq!(by_time(18).action, TokenRevoked);
}

/// Writes that change nothing record nothing: a patch to the values stored, a
/// conditional write whose condition failed, a delete or token of what is not there.
pub(crate) async fn writes_that_change_nothing_record_nothing<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;
    let before = all_events(store, "org").await.len();
    let cred = key("org", "sa", "cred");
    let stored = store.find_credential(cred).await.unwrap().unwrap();

    let same = CredentialPatch {
        name: Some(stored.name.clone()),
        ..CredentialPatch::default()
    };
    store.update_credential(cred, same, 50, None, audit()).await.unwrap();
    let same_role = ServiceAccountPatch {
        role: Some(Role::OrgAdmin),
        ..ServiceAccountPatch::default()
    };
    store
        .update_service_account("org", "sa", same_role, 50, None, audit())
        .await
        .unwrap();
    let mut stale = stored.clone();
    stale.updated_at -= 1;
    let rename = CredentialPatch {
        name: Some("x".to_owned()),
        ..CredentialPatch::default()
    };
    assert!(store
        .update_credential(cred, rename, 50, Some(stale.clone()), audit())
        .await
        .unwrap()
        .is_none());
    assert!(!store.delete_credential(cred, Some(stale), audit()).await.unwrap());
    assert!(!store
        .delete_credential(key("org", "sa", "nope"), None, audit())
        .await
        .unwrap());
    assert!(!store
        .delete_service_account("org", "nope", None, audit())
        .await
        .unwrap());
    assert!(!store
        .create_credential(credential("c2", "org", "nope"), audit())
        .await
        .unwrap());
    assert!(!store.insert_token(token("tok", "nope", 50, 90), audit()).await.unwrap());
    assert!(!store.revoke_token("nope", [9; 32], cred, audit()).await.unwrap());

    assert_eq!(all_events(store, "org").await.len(), before);
}

/// Equal token denials (client_id, address, reason) within one minute are one
/// event that counts them; another minute, address or reason is another event.
/// A denial no organization owns is in the export only.
pub(crate) async fn token_denials_fold_within_a_minute<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;
    let wrong = |time| denial(time, "192.0.2.9", DenialReason::WrongSecret);
    store
        .record_token_denials(vec![wrong(60_000), wrong(60_001)])
        .await
        .unwrap();
    store.record_token_denials(vec![wrong(119_999)]).await.unwrap();
    store
        .record_token_denials(vec![
            wrong(120_000),
            denial(60_002, "192.0.2.10", DenialReason::WrongSecret),
            denial(60_003, "192.0.2.9", DenialReason::Disabled),
        ])
        .await
        .unwrap();
    let unknown = TokenDenial {
        client_id: Some("guess".to_owned()),
        credential: None,
        ..denial(60_004, "192.0.2.9", DenialReason::UnknownClient)
    };
    store
        .record_token_denials(vec![unknown.clone(), unknown])
        .await
        .unwrap();

    let filter = AuditFilter {
        actions: vec![AuditAction::TokenDenied],
        ..AuditFilter::default()
    };
    let denied = list(store, "org", filter).await;
    let summary: Vec<(Millis, &str, DenialReason, i64)> = denied
        .iter()
        .map(|event| {
            let address = event.source_address.as_deref().unwrap();
            (event.occurred_at, address, event.reason.unwrap(), event.count)
        })
        .collect();
    assert_eq!(
        summary,
        [
            (120_000, "192.0.2.9", DenialReason::WrongSecret, 1),
            (60_003, "192.0.2.9", DenialReason::Disabled, 1),
            (60_002, "192.0.2.10", DenialReason::WrongSecret, 1),
            (60_000, "192.0.2.9", DenialReason::WrongSecret, 3),
        ]
    );
    let first = denied.last().unwrap();
    assert_eq!(first.request_id.as_deref(), Some("denied-60000"), "the first attempt's");
    assert_eq!(first.target, Some(AuditTarget::credential("cred", "sa")));

    let everything = store.export_audit_events(None, beginning(), 1_000).await.unwrap();
    let orphan = everything
        .iter()
        .find(|event| event.organization_id.is_none())
        .expect("an unknown client's denial is exported");
    assert_eq!((orphan.reason, orphan.count), (Some(DenialReason::UnknownClient), 2));
    assert_eq!(orphan.target, None);
    assert_eq!(
        orphan.actor,
        Actor::Client {
            client_id: Some("guess".to_owned())
        }
    );
}

/// The list is newest first, pages both ways, and filters by action, target, actor
/// and time; no organization sees another's events.
pub(crate) async fn the_list_filters_and_pages_newest_first<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;
    store.create_organization(organization("org2", "other")).await.unwrap();
    add_service_account(store, "sa2", "org2", Role::OrgAdmin).await;
    rename_credential_at(store, 100..110).await;

    let updates = AuditFilter {
        actions: vec![AuditAction::CredentialUpdated],
        ..AuditFilter::default()
    };
    let times: Vec<Millis> = list(store, "org", updates.clone())
        .await
        .iter()
        .map(|event| event.occurred_at)
        .collect();
    assert_eq!(times, (100..110).rev().collect::<Vec<_>>());

    let two_actions = AuditFilter {
        actions: vec![AuditAction::CredentialCreated, AuditAction::ServiceAccountCreated],
        ..AuditFilter::default()
    };
    let mut created = actions(&list(store, "org", two_actions).await);
    created.sort_by_key(|action| action.as_str());
    assert_eq!(
        created,
        [AuditAction::CredentialCreated, AuditAction::ServiceAccountCreated]
    );

    let window = AuditFilter {
        since: Some(103),
        until: Some(106),
        ..AuditFilter::default()
    };
    let times: Vec<Millis> = list(store, "org", window).await.iter().map(|e| e.occurred_at).collect();
    assert_eq!(times, [105, 104, 103], "since is inclusive, until exclusive");

    let by_target = AuditFilter {
        target_id: Some("sa".to_owned()),
        ..AuditFilter::default()
    };
    assert_eq!(
        actions(&list(store, "org", by_target).await),
        [AuditAction::ServiceAccountCreated]
    );
    let by_actor = AuditFilter {
        actor_service_account_id: Some("sa".to_owned()),
        ..AuditFilter::default()
    };
    assert_eq!(
        list(store, "org", by_actor).await.len(),
        10,
        "the CLI's events are not the API's"
    );
    assert_eq!(
        actions(&all_events(store, "org2").await),
        [AuditAction::ServiceAccountCreated],
        "organizations never see each other's events"
    );

    // Pages of three, forward then back.
    let page = |start| PageRequest { start, limit: 3 };
    let first: Page<AuditEvent> = store
        .list_audit_events("org", updates.clone(), page(PageStart::First))
        .await
        .unwrap();
    assert_eq!((first.has_prev_page, first.has_next_page), (false, true));
    let position = |event: &AuditEvent| Position {
        created_at: event.occurred_at,
        id: event.id.clone(),
    };
    let second = store
        .list_audit_events(
            "org",
            updates.clone(),
            page(PageStart::After(position(first.items.last().unwrap()))),
        )
        .await
        .unwrap();
    let times: Vec<Millis> = second.items.iter().map(|e| e.occurred_at).collect();
    assert_eq!(times, [106, 105, 104]);
    assert_eq!((second.has_prev_page, second.has_next_page), (true, true));
    let back = store
        .list_audit_events("org", updates, page(PageStart::Before(position(&second.items[0]))))
        .await
        .unwrap();
    assert_eq!(back.items, first.items);
    assert_eq!((back.has_prev_page, back.has_next_page), (false, true));
}

/// The export reads oldest first from a position, one organization's or all; pruning
/// deletes only events older than its time, at most a batch at a time.
pub(crate) async fn events_are_exported_oldest_first_and_pruned_in_batches<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;
    store.create_organization(organization("org2", "other")).await.unwrap();
    rename_credential_at(store, 100..105).await;
    store
        .create_service_account(super::service_account("sa2", "org2", Role::OrgAdmin), api_call(102))
        .await
        .unwrap();

    let ours = store
        .export_audit_events(Some("org"), beginning(), 1_000)
        .await
        .unwrap();
    let times: Vec<Millis> = ours.iter().map(|event| event.occurred_at).collect();
    assert_eq!(times, [100, 101, 102, 103, 104, 5_000, 5_000]);
    let since = Position {
        created_at: 102,
        id: String::new(),
    };
    let later = store.export_audit_events(Some("org"), since, 2).await.unwrap();
    assert_eq!(later.iter().map(|e| e.occurred_at).collect::<Vec<_>>(), [102, 103]);
    let all = store.export_audit_events(None, beginning(), 1_000).await.unwrap();
    assert_eq!(all.len(), ours.len() + 1);

    assert_eq!(store.prune_audit_events(103, 2).await.unwrap(), 2);
    assert_eq!(store.prune_audit_events(103, 100).await.unwrap(), 2);
    assert_eq!(store.prune_audit_events(103, 100).await.unwrap(), 0);
    let left: Vec<Millis> = store
        .export_audit_events(None, beginning(), 1_000)
        .await
        .unwrap()
        .iter()
        .map(|event| event.occurred_at)
        .collect();
    assert_eq!(left, [103, 104, 5_000, 5_000]);
}
