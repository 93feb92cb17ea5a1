//! Crash consistency: writers on several threads PATCH and create credentials while
//! the server is killed with SIGKILL at random moments, round after round on the same
//! database. After each restart every acknowledged write is there, a write that
//! was in flight at the kill is there whole or not at all, and the audit trail agrees
//! with the state exactly: one `credential.created` per credential, one
//! `credential.updated` per PATCH that landed (the newest naming the name found), and
//! no event of a write that did not land.
//!
//! The kill moments and the writers' choices come from a seeded generator. The seed
//! is in every failure message; `KEYCRED_CRASH_SEED=<seed>` replays the same plan
//! (how the threads interleave still varies from run to run).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::helpers::{credential_path_of, credentials_path, spawn_app, string_field, Bootstrapped, TestApp};

/// How many times the server is killed.
const ROUNDS: u64 = 24;
/// Threads writing at once.
const WRITERS: usize = 4;
/// Credentials each writer keeps PATCHing.
const PATCHED_PER_WRITER: usize = 2;
/// The kill comes this many milliseconds into a round, at random between the two.
const KILL_AFTER_MILLIS: (u64, u64) = (5, 150);
/// The whole test must stay well under a minute.
const TIME_BUDGET: Duration = Duration::from_secs(60);
/// Writers give up on a round this long after it started, so a kill that never
/// comes fails the test instead of hanging it.
const ROUND_LIMIT: Duration = Duration::from_secs(10);

/// A small, fast, well-mixed generator (SplitMix64) whose sequence never changes
/// with a dependency's version, so a printed seed replays the same plan forever.
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64, stream: u64) -> SplitMix64 {
        SplitMix64(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

/// The seed from `KEYCRED_CRASH_SEED`, or a new one from the clock.
fn crash_seed() -> u64 {
    std::env::var("KEYCRED_CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
            since_epoch.as_nanos() as u64
        })
}

/// The name and description one PATCH sets together; each names the other's
/// version, so a PATCH applied in part cannot go unnoticed.
fn patched_fields(label: &str, version: u64) -> (String, String) {
    (
        format!("{label}-v{version}"),
        format!("set together with {label}-v{version}"),
    )
}

/// The description a credential created as `name` was given.
fn created_description(name: &str) -> String {
    format!("created together with {name}")
}

/// A credential one writer PATCHes, and what it knows of its state.
struct Patched {
    id: String,
    label: String,
    /// The last version a 200 acknowledged (after a restart: the version found).
    acknowledged: u64,
    /// The version of a PATCH cut off by the kill, which may or may not have landed.
    in_flight: Option<u64>,
}

/// One writer thread's view: what it PATCHes, what it created, what was cut off.
struct Writer {
    patched: Vec<Patched>,
    /// Credentials whose create was acknowledged: ID and name.
    created: Vec<(String, String)>,
    /// The name of a create cut off by the kill.
    create_in_flight: Option<String>,
    creates: u64,
    acknowledged_writes: u64,
}

/// Everything the rounds share: who writes, to which service account, and the seed.
struct Plan<'a> {
    admin: &'a Bootstrapped,
    token: &'a str,
    /// A service account of the writers' own, whose credentials are all theirs.
    service_account: String,
    seed: u64,
}

impl Plan<'_> {
    fn credentials(&self) -> String {
        credentials_path(&self.admin.organization_id, &self.service_account)
    }

    fn credential(&self, id: &str) -> String {
        credential_path_of(&self.admin.organization_id, &self.service_account, id)
    }

    /// Sends a write; `None` when the exchange failed (the server is gone).
    fn send(&self, app: &TestApp, method: &str, path: &str, body: &Value) -> Option<(u16, Value)> {
        let authorization = format!("Bearer {}", self.token);
        let headers = [
            ("Authorization", authorization.as_str()),
            ("Content-Type", "application/json"),
        ];
        let body = body.to_string();
        let response = app.try_request(method, path, &headers, Some(body.as_bytes())).ok()?;
        let json = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        Some((response.status, json))
    }

    /// Writes as `writer` until the server dies. Returns a problem if anything but a
    /// 200 or a cut-off exchange happened, or the server failed before it was killed.
    fn write_until_killed(
        &self,
        app: &TestApp,
        writer: &mut Writer,
        rng: &mut SplitMix64,
        killed: &AtomicBool,
    ) -> Option<String> {
        let deadline = Instant::now() + ROUND_LIMIT;
        loop {
            if Instant::now() > deadline {
                return Some(format!("the server was not killed within {ROUND_LIMIT:?}"));
            }
            let pick = rng.between(0, writer.patched.len() as u64) as usize;
            let answered = if pick < writer.patched.len() {
                self.patch(app, &mut writer.patched[pick])
            } else {
                self.create(app, writer)
            };
            match answered {
                Ok(true) => writer.acknowledged_writes += 1,
                Ok(false) if killed.load(Ordering::SeqCst) => return None,
                Ok(false) => return Some("an exchange failed before the kill".to_owned()),
                Err(problem) => return Some(problem),
            }
        }
    }

    /// One PATCH of name and description together; `Ok(false)` if it was cut off.
    fn patch(&self, app: &TestApp, credential: &mut Patched) -> Result<bool, String> {
        let version = credential.acknowledged.max(credential.in_flight.unwrap_or(0)) + 1;
        let (name, description) = patched_fields(&credential.label, version);
        credential.in_flight = Some(version);
        let body = serde_json::json!({"name": name, "description": description});
        let Some((status, answer)) = self.send(app, "PATCH", &self.credential(&credential.id), &body) else {
            return Ok(false);
        };
        if status != 200 || answer["name"] != name.as_str() || answer["description"] != description.as_str() {
            return Err(format!("PATCH {name} answered {status}: {answer}"));
        }
        credential.acknowledged = version;
        credential.in_flight = None;
        Ok(true)
    }

    /// One create; `Ok(false)` if it was cut off.
    fn create(&self, app: &TestApp, writer: &mut Writer) -> Result<bool, String> {
        writer.creates += 1;
        let name = format!("{}-created-{}", writer.patched[0].label, writer.creates);
        writer.create_in_flight = Some(name.clone());
        let body = serde_json::json!({"name": name, "description": created_description(&name)});
        let Some((status, answer)) = self.send(app, "POST", &self.credentials(), &body) else {
            return Ok(false);
        };
        if status != 200 || answer["name"] != name.as_str() {
            return Err(format!("create {name} answered {status}: {answer}"));
        }
        writer.created.push((string_field(&answer, "id"), name));
        writer.create_in_flight = None;
        Ok(true)
    }

    /// Every credential of the service account as the restarted server has it: ID to
    /// (name, description).
    fn stored(&self, app: &TestApp) -> BTreeMap<String, (String, String)> {
        app.walk_forward(&self.credentials(), 100, self.token)
            .iter()
            .flat_map(|page| page.body["items"].as_array().cloned().unwrap_or_default())
            .map(|item| {
                let description = item["description"].as_str().unwrap_or("<none>").to_owned();
                (string_field(&item, "id"), (string_field(&item, "name"), description))
            })
            .collect()
    }
}

/// What the audit trail says of the writers' credentials: per credential ID, how many
/// `credential.created` and `credential.updated` events it has, and the name the
/// newest update set.
#[derive(Default, Debug)]
struct Recorded {
    created: usize,
    updated: usize,
    newest_name: Option<String>,
}

impl Plan<'_> {
    /// The audit trail's events about the writers' service account's credentials.
    fn recorded(&self, app: &TestApp) -> BTreeMap<String, Recorded> {
        let path = format!(
            "/organizations/{}/audit-events?action=credential.created&action=credential.updated",
            self.admin.organization_id
        );
        let mut recorded: BTreeMap<String, Recorded> = BTreeMap::new();
        for page in app.walk_forward(&path, 100, self.token) {
            for event in page.body["items"].as_array().cloned().unwrap_or_default() {
                if event["target"]["service_account_id"] != self.service_account.as_str() {
                    continue;
                }
                let entry = recorded.entry(string_field(&event["target"], "id")).or_default();
                if event["action"] == "credential.created" {
                    entry.created += 1;
                } else {
                    entry.updated += 1;
                    // Newest first: the first update seen is the newest.
                    if entry.newest_name.is_none() {
                        entry.newest_name = event["changes"]["name"]["to"].as_str().map(str::to_owned);
                    }
                }
            }
        }
        recorded
    }
}

/// Checks the audit trail against the state the restarted server holds, which
/// [`check_after_restart`] has just made the writers' known state: every
/// credential created once, every PATCH that landed updated once, nothing else.
fn audit_problems(
    recorded: &BTreeMap<String, Recorded>,
    stored: &BTreeMap<String, (String, String)>,
    writers: &[Writer],
) -> Vec<String> {
    let mut problems = Vec::new();
    for id in recorded.keys().filter(|id| !stored.contains_key(*id)) {
        problems.push(format!(
            "events of credential {id}, which was never made: {:?}",
            recorded[id]
        ));
    }
    let none = Recorded::default();
    for writer in writers {
        for credential in &writer.patched {
            let events = recorded.get(&credential.id).unwrap_or(&none);
            let name = &stored[&credential.id].0;
            let newest_ok = credential.acknowledged == 0 || events.newest_name.as_ref() == Some(name);
            if events.created != 1 || events.updated as u64 != credential.acknowledged || !newest_ok {
                problems.push(format!(
                    "{} is at version {} named {name:?}, but its events are {events:?}",
                    credential.label, credential.acknowledged
                ));
            }
        }
        for (id, name) in &writer.created {
            let events = recorded.get(id).unwrap_or(&none);
            if events.created != 1 || events.updated != 0 {
                problems.push(format!("created {name} ({id}) has the events {events:?}"));
            }
        }
    }
    problems
}

/// What a restart found: what was wrong, and how many cut-off writes had landed.
#[derive(Default)]
struct Findings {
    problems: Vec<String>,
    landed: usize,
}

/// Checks the restarted server against what the writers know, then makes what was
/// found the new known state (a cut-off write that landed is durable from now on).
fn check_after_restart(stored: &BTreeMap<String, (String, String)>, writers: &mut [Writer]) -> Findings {
    let mut findings = Findings::default();
    let problems = &mut findings.problems;
    let mut accounted = std::collections::BTreeSet::new();
    for writer in writers.iter_mut() {
        for credential in &mut writer.patched {
            accounted.insert(credential.id.clone());
            let Some((name, description)) = stored.get(&credential.id) else {
                problems.push(format!("{} is gone", credential.label));
                continue;
            };
            let found = [Some(credential.acknowledged), credential.in_flight]
                .into_iter()
                .flatten()
                .find(|version| patched_fields(&credential.label, *version) == (name.clone(), description.clone()));
            match found {
                Some(version) => {
                    findings.landed += usize::from(version != credential.acknowledged);
                    credential.acknowledged = version;
                }
                None => problems.push(format!(
                    "{}: found name {name:?} and description {description:?}, but the acknowledged version is \
                     {} and the one in flight {:?}",
                    credential.label, credential.acknowledged, credential.in_flight
                )),
            }
            credential.in_flight = None;
        }
        for (id, name) in &writer.created {
            accounted.insert(id.clone());
            match stored.get(id) {
                Some(found) if *found == (name.clone(), created_description(name)) => {}
                other => problems.push(format!("acknowledged create {name} ({id}) is {other:?}")),
            }
        }
    }
    for (id, (name, description)) in stored {
        if accounted.contains(id) {
            continue;
        }
        let writer = writers
            .iter_mut()
            .find(|writer| writer.create_in_flight.as_deref() == Some(name.as_str()));
        match writer {
            Some(writer) if *description == created_description(name) => {
                writer.created.push((id.clone(), name.clone()))
            }
            _ => problems.push(format!(
                "credential {id} ({name:?}, {description:?}) was neither acknowledged nor in flight, or is half made"
            )),
        }
    }
    for writer in writers.iter_mut() {
        writer.create_in_flight = None;
    }
    findings
}

/// Sets up one writer: its own credentials to PATCH, each at version 0.
fn new_writer(app: &TestApp, plan: &Plan, index: usize) -> Writer {
    let patched = (0..PATCHED_PER_WRITER)
        .map(|k| {
            let label = format!("w{index}c{k}");
            let (name, description) = patched_fields(&label, 0);
            let body = serde_json::json!({"name": name, "description": description});
            let created = app.create_credential(
                &plan.admin.organization_id,
                &plan.service_account,
                plan.token,
                &body.to_string(),
            );
            Patched {
                id: string_field(&created, "id"),
                label,
                acknowledged: 0,
                in_flight: None,
            }
        })
        .collect();
    Writer {
        patched,
        created: Vec::new(),
        create_in_flight: None,
        creates: 0,
        acknowledged_writes: 0,
    }
}

#[test]
fn every_acknowledged_write_survives_repeated_kill_9_and_none_is_half_applied() {
    let started = Instant::now();
    let seed = crash_seed();
    println!("crash consistency seed: {seed} (replay with KEYCRED_CRASH_SEED={seed})");
    let mut app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let plan = Plan {
        admin: &admin,
        token: &token,
        service_account: app.new_service_account(&admin, &token, "org_viewer"),
        seed,
    };
    let mut writers: Vec<Writer> = (0..WRITERS).map(|index| new_writer(&app, &plan, index)).collect();
    let (mut cut_off, mut landed) = (0, 0);

    for round in 0..ROUNDS {
        let killed = AtomicBool::new(false);
        let mut kill_rng = SplitMix64::new(plan.seed, round);
        let kill_after = Duration::from_millis(kill_rng.between(KILL_AFTER_MILLIS.0, KILL_AFTER_MILLIS.1));
        let problems: Vec<String> = thread::scope(|scope| {
            let running: Vec<_> = writers
                .iter_mut()
                .enumerate()
                .map(|(index, writer)| {
                    let (app, plan, killed) = (&app, &plan, &killed);
                    let mut rng = SplitMix64::new(plan.seed, (round + 1) * 1000 + index as u64);
                    scope.spawn(move || plan.write_until_killed(app, writer, &mut rng, killed))
                })
                .collect();
            thread::sleep(kill_after);
            killed.store(true, Ordering::SeqCst);
            app.send_sigkill();
            running
                .into_iter()
                .filter_map(|writer| writer.join().expect("a writer thread panicked"))
                .collect()
        });
        assert!(
            problems.is_empty(),
            "seed {seed}, round {round}: {problems:?}\n--- log ---\n{}",
            app.logs()
        );
        cut_off += writers
            .iter()
            .map(|writer| {
                let patches = writer
                    .patched
                    .iter()
                    .filter(|patched| patched.in_flight.is_some())
                    .count();
                patches + usize::from(writer.create_in_flight.is_some())
            })
            .sum::<usize>();

        app = app.kill_and_restart();

        let stored = plan.stored(&app);
        let findings = check_after_restart(&stored, &mut writers);
        assert!(
            findings.problems.is_empty(),
            "seed {seed}, after the kill of round {round}:\n{}",
            findings.problems.join("\n")
        );
        let audit = audit_problems(&plan.recorded(&app), &stored, &writers);
        assert!(
            audit.is_empty(),
            "seed {seed}, after the kill of round {round}, the audit trail disagrees with the state:\n{}",
            audit.join("\n")
        );
        landed += findings.landed;
    }

    let acknowledged: u64 = writers.iter().map(|writer| writer.acknowledged_writes).sum();
    println!(
        "{ROUNDS} kills, {acknowledged} acknowledged writes, {cut_off} cut off by a kill, {landed} of them landed"
    );
    assert!(
        acknowledged >= ROUNDS * 4,
        "seed {seed}: only {acknowledged} writes were acknowledged in {ROUNDS} rounds"
    );
    assert!(cut_off > 0, "seed {seed}: no kill ever landed during a write");
    assert!(
        started.elapsed() < TIME_BUDGET,
        "seed {seed}: the test took {:?}",
        started.elapsed()
    );
}
