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
