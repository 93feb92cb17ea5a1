//! Minting while the credential, or its service account, is being deleted: every
//! answer is a 200 (minted before the delete; the token then dies with it) or a 401
//! `invalid_client`, never a 500, and no token minted in the race works afterwards.
//!
//! The mints after the delete are failed authentications, which count against the
//! address they come from; each round comes from an address of its own (forwarded by
//! a trusted proxy) so that the rounds never add up to a throttle.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use crate::helpers::{
    basic_auth, credentials_path, service_account_path, spawn_app_with, string_field, Bootstrapped, ServeOptions,
    TestApp, TestResponse,
};

/// Threads minting at once with the credential being deleted.
const MINTERS: usize = 4;

/// Mints each thread completes before the delete is sent, so that it lands mid-stream.
const MINTS_BEFORE_THE_DELETE: usize = 2 * MINTERS;

/// Mints each thread sends once the delete has been answered. Every thread stops at
/// its first 401, as a real client would, so a round makes at most 2 × [`MINTERS`]
/// failed authentications, fewer than throttle a (client_id, address) pair.
const MINTS_AFTER_THE_DELETE: usize = 1;

/// A fresh service account with one credential: their paths and the credential's
/// client_id and client_secret.
struct Victim {
    service_account: String,
    credential: String,
    client_id: String,
    client_secret: String,
    /// The client address its mints come from.
    address: String,
}

/// A server that trusts the proxy on 127.0.0.1, so each round can have its own address.
fn spawn_app_behind_a_proxy() -> TestApp {
    spawn_app_with(ServeOptions {
        env: vec![("KEYCRED_TRUSTED_PROXIES".into(), "127.0.0.1/32".into())],
        database: None,
    })
}

fn victim(app: &TestApp, admin: &Bootstrapped, token: &str, round: u8) -> Victim {
    let service_account = app.new_service_account(admin, token, "org_viewer");
    let credentials = credentials_path(&admin.organization_id, &service_account);
    let response = app.post_json(&credentials, token, r#"{"name":"racer"}"#);
    assert_eq!(response.status, 200, "{}", response.text());
    let created = response.json();
    Victim {
        credential: format!("{credentials}/{}", string_field(&created, "id")),
        service_account: service_account_path(&admin.organization_id, &service_account),
        client_id: string_field(&created, "client_id"),
        client_secret: string_field(&created, "client_secret"),
        address: format!("198.51.100.{round}"),
    }
}

fn mint(app: &TestApp, victim: &Victim) -> TestResponse {
    let authorization = basic_auth(&victim.client_id, &victim.client_secret);
    app.request(
        "POST",
        "/service-account-token",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", &authorization),
            ("X-Forwarded-For", &victim.address),
        ],
        Some(b"grant_type=client_credentials"),
    )
}

/// Mints with `victim` from [`MINTERS`] threads while `path` (the credential or its
/// service account) is deleted; returns every answer.
fn race_mints_against_the_delete_of(app: &TestApp, token: &str, victim: &Victim, path: &str) -> Vec<TestResponse> {
    let minted = AtomicUsize::new(0);
    let deleted = AtomicBool::new(false);
    let stopped = AtomicUsize::new(0);
    thread::scope(|scope| {
        let minters: Vec<_> = (0..MINTERS)
            .map(|_| {
                scope.spawn(|| {
                    let mut answers = Vec::new();
                    while !deleted.load(Ordering::SeqCst) {
                        let answer = mint(app, victim);
                        let refused = answer.status != 200;
                        answers.push(answer);
                        minted.fetch_add(1, Ordering::SeqCst);
                        if refused {
                            break;
                        }
                    }
                    stopped.fetch_add(1, Ordering::SeqCst);
                    answers.extend((0..MINTS_AFTER_THE_DELETE).map(|_| mint(app, victim)));
                    answers
                })
            })
            .collect();
        // Until enough mints are through, or every minter stopped at a refusal.
        let started = || minted.load(Ordering::SeqCst) >= MINTS_BEFORE_THE_DELETE;
        while !started() && stopped.load(Ordering::SeqCst) < MINTERS {
            thread::yield_now();
        }
        let response = app.delete(path, token);
        deleted.store(true, Ordering::SeqCst);
        assert_eq!(response.status, 204, "DELETE {path}: {}", response.text());
        minters
            .into_iter()
            .flat_map(|minter| minter.join().expect("a minting thread"))
            .collect()
    })
}

/// Every answer is a 200 or a 401 `invalid_client`; no token minted works now.
fn assert_only_200_or_401_and_no_token_survives(app: &TestApp, answers: &[TestResponse], organization: &str) {
    let mut tokens = Vec::new();
    for answer in answers {
        match answer.status {
            200 => tokens.push(string_field(&answer.json(), "access_token")),
            401 => assert_eq!(answer.json()["error"], "invalid_client", "{}", answer.text()),
            _ => panic!("a mint racing a delete answered {}: {}", answer.status, answer.text()),
        }
    }
    assert!(
        answers.iter().any(|answer| answer.status == 401),
        "the race never reached the delete"
    );
    for token in tokens {
        let response = app.get(&format!("/organizations/{organization}"), &token);
        assert_eq!(
            response.status,
            401,
            "a token minted in the race still works: {}",
            response.text()
        );
    }
}

#[test]
fn minting_while_the_credential_is_deleted_answers_200_or_401_and_leaves_no_working_token() {
    let app = spawn_app_behind_a_proxy();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    for round in 0..5 {
        let victim = victim(&app, &admin, &token, round);
        let answers = race_mints_against_the_delete_of(&app, &token, &victim, &victim.credential);
        assert_only_200_or_401_and_no_token_survives(&app, &answers, &admin.organization_id);
    }
}

#[test]
fn minting_while_the_service_account_is_deleted_answers_200_or_401_and_leaves_no_working_token() {
    let app = spawn_app_behind_a_proxy();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    for round in 0..5 {
        let victim = victim(&app, &admin, &token, round);
        let answers = race_mints_against_the_delete_of(&app, &token, &victim, &victim.service_account);
        assert_only_200_or_401_and_no_token_survives(&app, &answers, &admin.organization_id);
    }
}
