//! The command line: `keycred serve` and `keycred bootstrap`, with their flags and
//! environment variables. This is a contract other tools rely on; change it with care.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// keycred: a self-hostable implementation of the Keycard API's service-account credentials.
#[derive(Debug, Parser)]
#[command(name = "keycred", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// keycred's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API over HTTP.
    Serve(ServeConfig),
    /// Create an organization (or reuse it), a service account and a credential, and
    /// print the credential's client_id and client_secret (shown this once).
    Bootstrap(BootstrapConfig),
}

/// How `keycred serve` runs.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on; a port of 0 picks a free one.
    #[arg(long, env = "KEYCRED_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// SQLite database file; created if missing.
    #[arg(long, env = "KEYCRED_DATABASE", default_value = "./keycred.db")]
    pub database: PathBuf,
    /// The most connections served at once; further ones wait in the kernel's backlog.
    /// Lowered to what the open-file limit (`ulimit -n`) allows.
    #[arg(long, env = "KEYCRED_MAX_CONNECTIONS", default_value_t = crate::server::MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Seconds a client has to send a request head; also how long an idle keep-alive
    /// connection stays open.
    #[arg(long, env = "KEYCRED_HEADER_TIMEOUT", value_name = "SECONDS",
          default_value_t = crate::server::HEADER_READ_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,
    /// Seconds a client has to send a request body, from the end of its head.
    #[arg(long, env = "KEYCRED_BODY_TIMEOUT", value_name = "SECONDS",
          default_value_t = crate::server::REQUEST_BODY_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout: u64,
    /// Testing knob: the length of the window failed client authentications are
    /// counted in, in milliseconds (default one minute). Not for production.
    #[arg(long, env = "KEYCRED_AUTH_FAILURE_WINDOW_MS", hide = true,
          default_value_t = crate::rate_limit::FAILURE_WINDOW.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub auth_failure_window_ms: u64,
}

impl ServeConfig {
    /// The connection limits and timeouts these flags ask for.
    pub fn limits(&self) -> crate::server::Limits {
        crate::server::Limits {
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            header_read_timeout: std::time::Duration::from_secs(self.header_timeout),
            request_body_timeout: std::time::Duration::from_secs(self.body_timeout),
        }
    }

    /// The window failed client authentications are counted in.
    pub fn auth_failure_window(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.auth_failure_window_ms)
    }
}

/// What `keycred bootstrap` creates.
#[derive(Debug, Clone, Args)]
pub struct BootstrapConfig {
    /// SQLite database file; created if missing. May be in use by a running server.
    #[arg(long, env = "KEYCRED_DATABASE", default_value = "./keycred.db")]
    pub database: PathBuf,
    /// The organization's label (a DNS label); the organization is created if it is new.
    #[arg(long)]
    pub org_label: String,
    /// The organization's display name, when it is created (defaults to the label).
    #[arg(long)]
    pub org_name: Option<String>,
    /// The new service account's role.
    #[arg(long, default_value = "org_admin", value_parser = ["org_admin", "org_member", "org_viewer"])]
    pub role: String,
    /// The new service account's name.
    #[arg(long, default_value = "bootstrap")]
    pub service_account_name: String,
    /// Print one JSON object instead of `name: value` lines.
    #[arg(long)]
    pub json: bool,
}

/// Parses the process's command line (exits with usage on error).
pub fn parse() -> Cli {
    Cli::parse()
}
