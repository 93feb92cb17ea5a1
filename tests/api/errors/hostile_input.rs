//! Hostile input, as a catalogue: oversized, malformed, lying and strange requests,
//! each answered cleanly (the spec's error shape wherever keycred writes the answer,
//! a bare 4xx where hyper refuses the request before keycred sees it), after each of
//! which the server still answers `GET /healthz` and a normal PATCH.
//!
//! Two documented rules are pinned here too: a NUL character (`"\u0000"`) in a name
//! or description is a 400 on every backend (PostgreSQL cannot store it); and of
//! duplicate keys in a JSON object the last one counts.

use std::io::Write;
use std::net::Shutdown;

use base64::Engine as _;
use serde_json::Value;

use crate::helpers::{
    assert_error, assert_token_error, credential_path, credential_path_of, credentials_path, read_response, spawn_app,
    Bootstrapped, TestApp, TestResponse,
};

/// The largest body keycred reads.
const MAX_BODY: usize = 64 * 1024;

/// The server and a credential to aim at.
struct Target {
    app: TestApp,
    admin: Bootstrapped,
    token: String,
}

impl Target {
    fn path(&self) -> String {
        credential_path(&self.admin)
    }

    fn authorization(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// The path of a credential named `credential` under the admin's service account.
    fn credential_named(&self, credential: &str) -> String {
        credential_path_of(&self.admin.organization_id, &self.admin.service_account_id, credential)
    }

    /// PATCHes the credential with exactly these body bytes as `application/json`.
    fn patch_bytes(&self, body: &[u8]) -> TestResponse {
        self.patch_as(body, "application/json")
    }

    /// PATCHes the credential with these body bytes and this Content-Type.
    fn patch_as(&self, body: &[u8], content_type: &str) -> TestResponse {
        let authorization = self.authorization();
        let headers = [
            ("Authorization", authorization.as_str()),
            ("Content-Type", content_type),
        ];
        self.app.request("PATCH", &self.path(), &headers, Some(body))
    }

    /// The path of the admin's service account's credential list.
    fn credentials(&self) -> String {
        credentials_path(&self.admin.organization_id, &self.admin.service_account_id)
    }

    /// GETs `path` with the token.
    fn get(&self, path: &str) -> TestResponse {
        self.app.get(path, &self.token)
    }

    /// POSTs a form body to the token endpoint.
    fn post_form(&self, body: &[u8]) -> TestResponse {
        let headers = [("Content-Type", "application/x-www-form-urlencoded")];
        self.app.request("POST", "/service-account-token", &headers, Some(body))
    }

    /// The head of a PATCH of the credential, with `framing` (e.g. `Content-Length: 9`).
    fn patch_head(&self, framing: &str) -> String {
        format!(
            "PATCH {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: {}\r\n\
             Content-Type: application/json\r\n{framing}\r\n\r\n",
            self.path(),
            self.app.address,
            self.authorization()
        )
    }

    /// Writes `bytes`, closes the sending half (the client gives up), reads the answer.
    fn send_then_close(&self, bytes: &[u8]) -> TestResponse {
        let mut stream = self.app.connect();
        let _ = stream.write_all(bytes);
        let _ = stream.shutdown(Shutdown::Write);
        read_response(&mut stream)
    }

    /// The credential as stored now.
    fn stored(&self) -> Value {
        self.app.credential(&self.admin, &self.token)
    }
}

/// What a case must get back.
enum Expect {
    /// The spec's `{message, code, status}` error with this status and code.
    Error(u16, &'static str),
    /// The token endpoint's error: status, RFC 6749 `error`, and `code`.
    TokenError(u16, &'static str, &'static str),
    /// Refused by hyper before keycred sees the request: this status, and a body
    /// that is either empty or the spec's error shape.
    Refused(u16),
    /// Accepted with this status, and then `check` holds.
    Accepted(u16, fn(&Target, &TestResponse)),
}

/// One hostile request: what it is, how to send it, and what it must get.
struct Case {
    name: &'static str,
    send: fn(&Target) -> TestResponse,
    expect: Expect,
}

/// A JSON document nested `depth` arrays deep, never closed.
fn nested_arrays(depth: usize) -> Vec<u8> {
    "[".repeat(depth).into_bytes()
}

/// `count` copies of `pair` joined by `&`.
fn repeated_query(pair: &str, count: usize) -> String {
    vec![pair; count].join("&")
}

/// `body` as chunks of at most 8 KiB, ending with the last chunk.
fn chunked(body: &[u8]) -> Vec<u8> {
    let mut framed = Vec::new();
    for piece in body.chunks(8192) {
        framed.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        framed.extend_from_slice(piece);
        framed.extend_from_slice(b"\r\n");
    }
    framed.extend_from_slice(b"0\r\n\r\n");
    framed
}

/// The answer and the stored credential both have the name `second`.
fn named_second(target: &Target, response: &TestResponse) {
    assert_eq!(response.json()["name"], "second", "{}", response.text());
    assert_eq!(target.stored()["name"], "second");
}

const CASES: &[Case] = &[
    Case {
        name: "a JSON body one byte over 64 KiB",
        send: |t| t.patch_bytes(format!(r#"{{"name":"big"}}{}"#, " ".repeat(MAX_BODY)).as_bytes()),
        expect: Expect::Error(413, "payload_too_large"),
    },
    Case {
        name: "a form body over 64 KiB on the token endpoint",
        send: |t| t.post_form(format!("grant_type=client_credentials&pad={}", "a".repeat(MAX_BODY)).as_bytes()),
        expect: Expect::TokenError(413, "invalid_request", "payload_too_large"),
    },
    Case {
        name: "a chunked body over 64 KiB",
        send: |t| {
            let mut bytes = t.patch_head("Transfer-Encoding: chunked").into_bytes();
            bytes.extend(chunked(
                format!(r#"{{"name":"big"}}{}"#, " ".repeat(MAX_BODY + 10)).as_bytes(),
            ));
            t.app.raw(&bytes)
        },
        expect: Expect::Error(413, "payload_too_large"),
    },
    Case {
        name: "10 000 unclosed [",
        send: |t| t.patch_bytes(&nested_arrays(10_000)),
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "10 000 closed [ ] as a field's value",
        send: |t| {
            let value = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
            t.patch_bytes(format!(r#"{{"description":{value}}}"#).as_bytes())
        },
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "10 000 nested objects",
        send: |t| t.patch_bytes(r#"{"a":"#.repeat(10_000).as_bytes()),
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "invalid UTF-8 inside a JSON string",
        send: |t| t.patch_bytes(b"{\"name\":\"\xff\xfe\xc3\"}"),
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "a lone surrogate escape in a JSON string",
        send: |t| t.patch_bytes(br#"{"name":"\ud800"}"#),
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "invalid UTF-8 in a form body",
        send: |t| t.post_form(b"grant_type=client_credentials&client_id=\xff\xfe&client_secret=x"),
        expect: Expect::TokenError(400, "invalid_request", "invalid_request"),
    },
    Case {
        name: "percent-encoded invalid UTF-8 in a form field",
        send: |t| t.post_form(b"grant_type=client_credentials&client_id=%FF%FE&client_secret=%00"),
        expect: Expect::TokenError(401, "invalid_client", "invalid_client"),
    },
    Case {
        name: "a NUL character inside the name",
        send: |t| t.patch_bytes(br#"{"name":"nul\u0000inside","description":"\u0000"}"#),
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "a name that is one NUL character",
        send: |t| t.patch_bytes(br#"{"name":"\u0000"}"#),
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "a duplicate key, the last one a string",
        send: |t| t.patch_bytes(br#"{"name":"first","name":"second"}"#),
        expect: Expect::Accepted(200, named_second),
    },
    Case {
        name: "a duplicate key, the first one null",
        send: |t| t.patch_bytes(br#"{"name":null,"name":"second"}"#),
        expect: Expect::Accepted(200, named_second),
    },
    Case {
        name: "a duplicate key, the last one null",
        send: |t| t.patch_bytes(br#"{"name":"first","name":null}"#),
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "a 64 KiB header value",
        send: |t| {
            t.app
                .request("GET", "/healthz", &[("X-Padding", &"a".repeat(MAX_BODY))], None)
        },
        // hyper reads request heads of up to about 400 KiB, so this one is served.
        expect: Expect::Accepted(200, |_, response| assert_eq!(response.json()["status"], "ok")),
    },
    Case {
        name: "a 64 KiB bearer token",
        send: |t| t.app.get(&t.path(), &"a".repeat(MAX_BODY)),
        expect: Expect::Error(401, "unauthorized"),
    },
    Case {
        name: "a 1 MiB header value",
        send: |t| {
            t.app
                .request("GET", "/healthz", &[("X-Padding", &"a".repeat(1 << 20))], None)
        },
        expect: Expect::Refused(431),
    },
    Case {
        name: "200 headers",
        send: |t| {
            let names: Vec<String> = (0..200).map(|n| format!("X-Header-{n}")).collect();
            let headers: Vec<(&str, &str)> = names.iter().map(|name| (name.as_str(), "x")).collect();
            t.app.request("GET", "/healthz", &headers, None)
        },
        expect: Expect::Refused(431),
    },
    Case {
        name: "a NUL byte in a header value",
        send: |t| {
            t.app
                .request("GET", "/healthz", &[("X-Client-Request-ID", "a\0b")], None)
        },
        expect: Expect::Refused(400),
    },
    Case {
        name: "a 100 KiB path",
        send: |t| t.get(&format!("/{}", "a".repeat(100 * 1024))),
        expect: Expect::Refused(414),
    },
    Case {
        name: "a credential ID of 100 KiB",
        send: |t| t.get(&t.credential_named(&"a".repeat(100 * 1024))),
        expect: Expect::Refused(414),
    },
    Case {
        name: "a credential ID of 256 characters",
        send: |t| t.get(&t.credential_named(&"a".repeat(256))),
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "a credential ID of %2F",
        send: |t| t.get(&t.credential_named("%2F")),
        expect: Expect::Error(404, "not_found"),
    },
    Case {
        name: "a credential ID of ..%2F..%2F",
        send: |t| t.get(&t.credential_named("..%2F..%2F")),
        expect: Expect::Error(404, "not_found"),
    },
    Case {
        name: "a credential ID of %00",
        send: |t| t.get(&t.credential_named("%00")),
        expect: Expect::Error(404, "not_found"),
    },
    Case {
        name: "a credential ID of é, percent-encoded",
        send: |t| t.get(&t.credential_named("%C3%A9")),
        expect: Expect::Error(404, "not_found"),
    },
    Case {
        name: "a credential ID of an emoji, percent-encoded",
        send: |t| t.get(&t.credential_named("%F0%9F%A6%80")),
        expect: Expect::Error(404, "not_found"),
    },
    Case {
        name: "a credential ID of é as raw UTF-8 bytes",
        send: |t| {
            let head = format!(
                "GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: {}\r\n\r\n",
                t.credential_named("é"),
                t.authorization()
            );
            t.app.raw(head.as_bytes())
        },
        expect: Expect::Error(404, "not_found"),
    },
    Case {
        name: "an organization label of an emoji as raw UTF-8 bytes",
        send: |t| t.get("/organizations/🦀"),
        expect: Expect::Error(404, "not_found"),
    },
    Case {
        name: "a service account ID of %FF (not UTF-8)",
        send: |t| {
            t.get(&credential_path_of(
                &t.admin.organization_id,
                "%FF",
                &t.admin.credential_id,
            ))
        },
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "an organization ID of a cut-off UTF-8 sequence",
        send: |t| t.get("/organizations/%E2%82"),
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "expand repeated 10 000 times",
        send: |t| {
            t.get(&format!(
                "{}?{}",
                t.path(),
                repeated_query("expand=permissions", 10_000)
            ))
        },
        // 10 000 of anything does not fit in the 64 KiB that a URI may have.
        expect: Expect::Refused(414),
    },
    Case {
        name: "expand and expand[] repeated 3 000 times",
        send: |t| {
            let query = repeated_query("expand=permissions&expand[]=permissions&expand=nonsense", 1_000);
            t.get(&format!("{}?{query}", t.path()))
        },
        expect: Expect::Accepted(200, |_, response| {
            let body = response.json();
            let permissions = body["permissions"].as_object().expect("permissions are expanded");
            assert_eq!(permissions.len(), 1, "{body}");
        }),
    },
    Case {
        name: "a limit too large for any integer",
        send: |t| {
            let path = format!(
                "/organizations/{}/service-accounts?limit=99999999999999999999999",
                t.admin.organization_id
            );
            t.get(&path)
        },
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "a cursor of garbage",
        send: |t| t.get(&format!("{}?after=%FF%00!!", t.credentials())),
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "an empty cursor",
        send: |t| t.get(&format!("{}?before=", t.credentials())),
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "a forged cursor whose ID holds NUL characters",
        send: |t| {
            let position = format!("c:{}:{}:{}", t.admin.service_account_id, i64::MIN, "\u{0}".repeat(100));
            let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(position);
            t.get(&format!("{}?after={cursor}", t.credentials()))
        },
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "a forged (unsigned) cursor at the earliest time there is",
        send: |t| {
            let position = format!("c:{}:{}:{}", t.admin.service_account_id, i64::MIN, "0");
            let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(position);
            t.get(&format!("{}?after={cursor}", t.credentials()))
        },
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "a text/plain body",
        send: |t| t.patch_as(br#"{"name":"x"}"#, "text/plain"),
        expect: Expect::Error(415, "unsupported_media_type"),
    },
    Case {
        name: "an application/jsonx body",
        send: |t| t.patch_as(br#"{"name":"x"}"#, "application/jsonx"),
        expect: Expect::Error(415, "unsupported_media_type"),
    },
    Case {
        name: "a body without a Content-Type",
        send: |t| {
            let authorization = t.authorization();
            let headers = [("Authorization", authorization.as_str())];
            t.app.request("PATCH", &t.path(), &headers, Some(br#"{"name":"x"}"#))
        },
        expect: Expect::Error(415, "unsupported_media_type"),
    },
    Case {
        name: "a JSON body on the token endpoint",
        send: |t| {
            let headers = [("Content-Type", "application/json")];
            let body = br#"{"grant_type":"client_credentials"}"#;
            t.app.request("POST", "/service-account-token", &headers, Some(body))
        },
        expect: Expect::TokenError(415, "invalid_request", "unsupported_media_type"),
    },
    Case {
        name: "a chunk that promises more than is sent, then the client closes",
        send: |t| {
            let mut bytes = t.patch_head("Transfer-Encoding: chunked").into_bytes();
            bytes.extend_from_slice(b"100\r\n{\"name\":\"cut");
            t.send_then_close(&bytes)
        },
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "a chunk size that is not hexadecimal",
        send: |t| {
            let mut bytes = t.patch_head("Transfer-Encoding: chunked").into_bytes();
            bytes.extend_from_slice(b"zz\r\n{}\r\n0\r\n\r\n");
            t.send_then_close(&bytes)
        },
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "a Content-Length larger than the body, then the client closes",
        send: |t| {
            let mut bytes = t.patch_head("Content-Length: 100").into_bytes();
            bytes.extend_from_slice(br#"{"name":"cut"}"#);
            t.send_then_close(&bytes)
        },
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "two Content-Lengths that disagree",
        send: |t| {
            t.app.raw(
                format!(
                    "{}{{\"name\":\"x\"}}",
                    t.patch_head("Content-Length: 12\r\nContent-Length: 13")
                )
                .as_bytes(),
            )
        },
        expect: Expect::Refused(400),
    },
    Case {
        name: "a negative Content-Length",
        send: |t| {
            t.app
                .raw(format!("{}{{}}", t.patch_head("Content-Length: -1")).as_bytes())
        },
        expect: Expect::Refused(400),
    },
    Case {
        name: "a Transfer-Encoding hyper does not know",
        send: |t| t.send_then_close(format!("{}{{}}", t.patch_head("Transfer-Encoding: gzip")).as_bytes()),
        expect: Expect::Refused(400),
    },
    Case {
        name: "both Content-Length and chunked, which is read as chunked",
        send: |t| {
            let framing = "Content-Length: 3\r\nTransfer-Encoding: chunked";
            let body = "11\r\n{\"name\":\"second\"}\r\n0\r\n\r\n";
            t.app.raw(format!("{}{body}", t.patch_head(framing)).as_bytes())
        },
        expect: Expect::Accepted(200, named_second),
    },
    Case {
        name: "a Content-Length over 64 KiB with Expect: 100-continue and no body",
        send: |t| {
            t.send_then_close(
                t.patch_head("Content-Length: 100000\r\nExpect: 100-continue")
                    .as_bytes(),
            )
        },
        expect: Expect::Error(413, "payload_too_large"),
    },
    Case {
        name: "a TLS handshake sent to the plain-HTTP port",
        send: |t| {
            t.app
                .raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00\x00\x00\x00")
        },
        expect: Expect::Refused(400),
    },
    Case {
        name: "a truncated JSON body",
        send: |t| t.patch_bytes(br#"{"name":"trunc"#),
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "an empty JSON body",
        send: |t| t.patch_bytes(b""),
        expect: Expect::Error(400, "invalid_request"),
    },
    Case {
        name: "a number too large for any type",
        send: |t| t.patch_bytes(br#"{"name":1e999999}"#),
        expect: Expect::Error(400, "invalid_request"),
    },
];

/// Sends `case` and returns what was wrong with the answer, if anything.
fn check(target: &Target, case: &Case) -> Result<(), String> {
    let before = target.stored();
    let response = (case.send)(target);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &case.expect {
        Expect::Error(status, code) => assert_error(&response, *status, code),
        Expect::TokenError(status, error, code) => assert_token_error(&response, *status, error, code),
        Expect::Refused(status) => {
            assert_eq!(response.status, *status, "{}", response.text());
            if !response.body.is_empty() {
                assert_error(&response, *status, response.json()["code"].as_str().unwrap_or_default());
            }
        }
        Expect::Accepted(status, then) => {
            assert_eq!(response.status, *status, "{}", response.text());
            then(target, &response);
        }
    }));
    if outcome.is_err() {
        return Err(format!("{}: got {} {}", case.name, response.status, response.text()));
    }
    if !matches!(case.expect, Expect::Accepted(..)) && target.stored() != before {
        return Err(format!("{}: was refused but changed the credential", case.name));
    }
    Ok(())
}

/// Whether the server still serves: `GET /healthz` is 200 and a normal PATCH is 200.
fn still_serving(target: &Target, after: &str) -> Result<(), String> {
    let health = target.app.try_request("GET", "/healthz", &[], None)?;
    if health.status != 200 {
        return Err(format!("after {after}: GET /healthz is {}", health.status));
    }
    let name = format!("after {after}").chars().take(255).collect::<String>();
    let body = serde_json::json!({ "name": name }).to_string();
    let patch = target.patch_bytes(body.as_bytes());
    if patch.status != 200 || patch.json()["name"] != name.as_str() {
        return Err(format!(
            "after {after}: a normal PATCH is {} {}",
            patch.status,
            patch.text()
        ));
    }
    Ok(())
}

#[test]
fn every_hostile_request_gets_a_clean_answer_and_the_server_keeps_serving() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let target = Target { app, admin, token };
    let mut problems = Vec::new();

    for case in CASES {
        if let Err(problem) = check(&target, case) {
            problems.push(problem);
        }
        if let Err(problem) = still_serving(&target, case.name) {
            problems.push(problem);
        }
    }

    assert!(
        problems.is_empty(),
        "{} of {} cases went wrong:\n{}\n--- log ---\n{}",
        problems.len(),
        CASES.len(),
        problems.join("\n"),
        target.app.logs()
    );
    assert!(
        !target.app.logs().contains("panicked"),
        "a request panicked:\n{}",
        target.app.logs()
    );
}

#[test]
fn of_duplicate_json_keys_the_last_one_counts() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    let response = app.patch_json(
        &credential_path(&admin),
        &token,
        r#"{"name":"first","description":"kept","name":"last"}"#,
    );

    assert_eq!(response.status, 200, "{}", response.text());
    let stored = app.credential(&admin, &token);
    assert_eq!(
        (stored["name"].as_str(), stored["description"].as_str()),
        (Some("last"), Some("kept"))
    );
}
