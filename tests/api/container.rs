//! The Dockerfile: images cannot be built here, so what can be checked is checked:
//! its `ENTRYPOINT` + `CMD` start the real binary (every flag is one `keycred serve`
//! knows), its environment variables are ones the CLI reads, its `HEALTHCHECK` probes
//! the port the server listens on and passes against a running server, and it runs as
//! a non-root user with the database in its volume.

use std::process::Command;

use crate::helpers::{keycred_binary, ServerFromCommand};

/// The Dockerfile at the repository's root.
fn dockerfile() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).expect("read the Dockerfile")
}

/// The lines of the final stage (after the last `FROM`), continuation lines joined.
fn runtime_stage(text: &str) -> Vec<String> {
    let joined = text.replace("\\\n", " ");
    let lines: Vec<&str> = joined
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .collect();
    let last_from = lines
        .iter()
        .rposition(|line| line.starts_with("FROM "))
        .expect("a FROM line");
    lines[last_from..].iter().map(|line| (*line).to_owned()).collect()
}

/// The argument of the one instruction `name` in `stage`.
fn instruction<'a>(stage: &'a [String], name: &str) -> &'a str {
    let prefix = format!("{name} ");
    let found: Vec<&str> = stage.iter().filter_map(|line| line.strip_prefix(&prefix)).collect();
    assert_eq!(found.len(), 1, "one {name} in the final stage: {found:?}");
    found[0].trim()
}

/// An exec-form (`["a", "b"]`) argument as its words.
fn exec_form(argument: &str) -> Vec<String> {
    serde_json::from_str(argument).unwrap_or_else(|error| panic!("{argument} is not exec form: {error}"))
}

/// The `NAME=value` pairs of the stage's `ENV` instructions.
fn environment(stage: &[String]) -> Vec<(String, String)> {
    stage
        .iter()
        .filter_map(|line| line.strip_prefix("ENV "))
        .flat_map(|pairs| pairs.split_whitespace())
        .map(|pair| {
            let (name, value) = pair.split_once('=').expect("ENV in NAME=value form");
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

/// The value after `flag` in `words`.
fn flag_value<'a>(words: &'a [String], flag: &str) -> &'a str {
    let at = words
        .iter()
        .position(|word| word == flag)
        .unwrap_or_else(|| panic!("{flag} in {words:?}"));
    &words[at + 1]
}

#[test]
fn the_dockerfile_runs_as_a_non_root_user_with_the_database_in_its_volume() {
    let text = dockerfile();
    let stage = runtime_stage(&text);

    let user = instruction(&stage, "USER");
    let volume = instruction(&stage, "VOLUME");
    let environment = environment(&stage);
    let database = &environment
        .iter()
        .find(|(name, _)| name == "KEYCRED_DATABASE")
        .expect("KEYCRED_DATABASE is set")
        .1;

    assert!(user != "root" && user != "0", "USER {user}");
    assert!(
        database.starts_with(&format!("{volume}/")),
        "{database} is not in the volume {volume}"
    );
    let build = text
        .lines()
        .find(|line| line.starts_with("FROM rust:"))
        .expect("a Rust build stage");
    let version = build
        .trim_start_matches("FROM rust:")
        .split('-')
        .next()
        .unwrap_or_default();
    assert_eq!(
        version.split('.').count(),
        3,
        "the toolchain is pinned to x.y.z: {build}"
    );
    assert!(instruction(&stage, "HEALTHCHECK").contains("CMD"));
}

#[test]
fn every_environment_variable_of_the_dockerfile_is_one_keycred_serve_reads() {
    let stage = runtime_stage(&dockerfile());
    let help = Command::new(keycred_binary())
        .args(["serve", "--help"])
        .output()
        .expect("run keycred serve --help");
    let help = String::from_utf8_lossy(&help.stdout);

    for (name, _) in environment(&stage) {
        assert!(
            help.contains(&format!("env: {name}=")),
            "keycred serve does not read {name}"
        );
    }
}

#[test]
fn the_dockerfile_command_starts_the_server_and_its_healthcheck_passes_against_it() {
    let stage = runtime_stage(&dockerfile());
    let entrypoint = exec_form(instruction(&stage, "ENTRYPOINT"));
    let command = exec_form(instruction(&stage, "CMD"));
    let healthcheck = instruction(&stage, "HEALTHCHECK");
    let probe = exec_form(&healthcheck[healthcheck.find("CMD ").expect("HEALTHCHECK … CMD") + 4..]);
    assert_eq!(entrypoint, ["keycred"]);
    assert_eq!(probe[0], "keycred");
    let listen_port = flag_value(&command, "--listen").rsplit(':').next().unwrap().to_owned();
    let probed = flag_value(&probe, "--address").to_owned();
    assert_eq!(
        probed,
        format!("127.0.0.1:{listen_port}"),
        "the health check probes the API port"
    );
    let data = tempfile::tempdir().expect("a temp dir");

    // The same command line, with free ports and a database of its own.
    let arguments: Vec<String> = command
        .iter()
        .map(|word| match word.as_str() {
            "0.0.0.0:8080" | "0.0.0.0:9090" => "127.0.0.1:0".to_owned(),
            _ => word.clone(),
        })
        .collect();
    let mut serve = Command::new(keycred_binary());
    serve.args(&arguments).env_remove("KEYCRED_METRICS_LISTEN");
    for (name, value) in environment(&stage) {
        let value = match name.as_str() {
            "KEYCRED_DATABASE" => data.path().join("keycred.db").to_string_lossy().into_owned(),
            _ => value,
        };
        serve.env(name, value);
    }
    let server = ServerFromCommand::start(serve);
    let probe_arguments: Vec<String> = probe[1..]
        .iter()
        .map(|word| {
            if *word == probed {
                server.address.clone()
            } else {
                word.clone()
            }
        })
        .collect();
    let checked = Command::new(keycred_binary())
        .args(&probe_arguments)
        .output()
        .expect("run the health check");

    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    assert_eq!(String::from_utf8_lossy(&checked.stdout), "ready\n");
    assert!(
        data.path().join("keycred.db").exists(),
        "the database is where KEYCRED_DATABASE says"
    );
}

#[test]
fn the_probe_fails_with_one_line_when_nothing_answers() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("take a port");
    let address = taken.local_addr().unwrap().to_string();
    drop(taken);

    let checked = Command::new(keycred_binary())
        .args(["probe", "--address", &address])
        .output()
        .expect("run keycred probe");

    let stderr = String::from_utf8_lossy(&checked.stderr);
    assert!(!checked.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("http://{address}/readyz: ")), "{stderr}");
}
