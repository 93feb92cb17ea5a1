//! The command line: `keycred serve`, `bootstrap`, `backup`, `probe` and `audit export`, with their flags
//! and environment variables, and the `--log-format` every one of them takes. This is a
//! contract other tools rely on; change it with care.

use std::fmt;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::client_address::TrustedProxies;

/// keycred: a self-hostable implementation of the Keycard API's service-account credentials.
#[derive(Debug, Parser)]
#[command(name = "keycred", version, about)]
pub struct Cli {
    /// How log lines are written to stderr: `text` for people, or `json`, one JSON
    /// object per line for log collectors.
    #[arg(long, global = true, value_enum, env = "KEYCRED_LOG_FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written, as `--log-format` / `KEYCRED_LOG_FORMAT` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line per event for people to read: time, level, message, `name=value` fields.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `message`, and every field as a
    /// key of its own, for log collectors to index without parsing text.
    Json,
}

/// keycred's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API over HTTP, or HTTPS with --tls-cert and --tls-key.
    Serve(ServeConfig),
    /// Create an organization (or reuse it), a service account and a credential, and
    /// print the credential's client_id and client_secret (shown this once).
    Bootstrap(BootstrapConfig),
    /// Copy a SQLite database, consistently, while servers write to it; the copy is
    /// verified, written atomically, and readable by its owner only.
    Backup(BackupConfig),
    /// Ask a running keycred whether it is ready (`GET /readyz`); exits 0 if so. For
    /// container health checks.
    Probe(ProbeConfig),
    /// Read the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
}

/// `keycred audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write audit events to stdout as JSON Lines (one event per line, oldest first,
    /// shaped as the API shows them), for shipping to a SIEM. Works while servers run.
    Export(AuditExportConfig),
}

/// Which events `keycred audit export` writes.
#[derive(Debug, Clone, Args)]
pub struct AuditExportConfig {
    /// A SQLite database file or a PostgreSQL URL, as for `serve`.
    #[arg(long, env = "KEYCRED_DATABASE", default_value = "./keycred.db", value_parser = Database::parse)]
    pub database: Database,
    /// Only this organization's events (by ID or label). Without it, every event,
    /// including token denials no organization owns.
    #[arg(long, value_name = "ID|LABEL")]
    pub organization: Option<String>,
    /// Only events that occurred at or after this time (RFC 3339, e.g.
    /// `2026-01-01T00:00:00Z`).
    #[arg(long, value_name = "DATE-TIME", value_parser = parse_date_time)]
    pub since: Option<i64>,
}

/// An RFC 3339 date-time as Unix epoch milliseconds.
fn parse_date_time(value: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|time| time.timestamp_millis())
        .map_err(|error| format!("not an RFC 3339 date-time ({error}), e.g. 2026-01-01T00:00:00Z"))
}

/// How `keycred serve` runs.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on; a port of 0 picks a free one.
    #[arg(long, env = "KEYCRED_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Address of a second listener that serves `/metrics` (Prometheus text) and
    /// nothing else; a port of 0 picks a free one. Without it (or with an empty value)
    /// `/metrics` is not served.
    #[arg(long, env = "KEYCRED_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// A SQLite database file (created if missing), or a PostgreSQL URL
    /// (`postgres://…` or `postgresql://…`) for several instances sharing one database.
    #[arg(long, env = "KEYCRED_DATABASE", default_value = "./keycred.db", value_parser = Database::parse)]
    pub database: Database,
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
    /// A PEM file with the server's certificate (then any intermediates): serve HTTPS.
    /// Re-read, with the key, on SIGHUP.
    #[arg(long, env = "KEYCRED_TLS_CERT", value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM file with the certificate's private key.
    #[arg(long, env = "KEYCRED_TLS_KEY", value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Testing knob: the length of the window failed client authentications are
    /// counted in, in milliseconds (default one minute). Not for production.
    #[arg(long, env = "KEYCRED_AUTH_FAILURE_WINDOW_MS", hide = true,
          default_value_t = crate::rate_limit::FAILURE_WINDOW.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub auth_failure_window_ms: u64,
    /// Proxies whose `X-Forwarded-For` / `Forwarded: for=` headers are believed, as
    /// `CIDR[,CIDR…]` (a bare address is one host). When a request's peer is one of
    /// them, its client address is the right-most forwarded address that is not a
    /// trusted proxy. Default: none, so forwarded headers are ignored.
    #[arg(long, env = "KEYCRED_TRUSTED_PROXIES", value_name = "CIDR[,CIDR…]", default_value = "",
          hide_default_value = true, value_parser = TrustedProxies::parse)]
    pub trusted_proxies: TrustedProxies,
    /// Days the audit trail keeps its events; older ones are pruned in the
    /// background, a few hundred at a time.
    #[arg(long, env = "KEYCRED_AUDIT_RETENTION_DAYS", value_name = "DAYS", default_value_t = 400,
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub audit_retention_days: u32,
    /// Testing knob: the audit retention in milliseconds, instead of days. Not for
    /// production.
    #[arg(long, env = "KEYCRED_AUDIT_RETENTION_MS", hide = true,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub audit_retention_ms: Option<u64>,
    /// Testing knob: how often, in milliseconds, pruning looks for events past the
    /// retention (default one minute). Not for production.
    #[arg(long, env = "KEYCRED_AUDIT_PRUNE_INTERVAL_MS", hide = true,
          default_value_t = crate::audit::PRUNE_INTERVAL.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub audit_prune_interval_ms: u64,
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

    /// The certificate and key files to serve HTTPS with, if both are given.
    pub fn tls_files(&self) -> Option<crate::tls::TlsFiles> {
        Some(crate::tls::TlsFiles {
            cert: self.tls_cert.clone()?,
            key: self.tls_key.clone()?,
        })
    }

    /// The metrics listener's address, if there is to be one (an empty value, as an
    /// environment variable set to nothing gives, means none).
    pub fn metrics_listen(&self) -> Option<&str> {
        self.metrics_listen.as_deref().filter(|address| !address.is_empty())
    }

    /// How long audit events are kept.
    pub fn audit_retention(&self) -> crate::audit::Retention {
        match self.audit_retention_ms {
            Some(millis) => crate::audit::Retention {
                keep: std::time::Duration::from_millis(millis),
            },
            None => crate::audit::Retention::days(self.audit_retention_days),
        }
    }

    /// How often pruning looks for events past the retention.
    pub fn audit_prune_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.audit_prune_interval_ms)
    }

    /// The window failed client authentications are counted in.
    pub fn auth_failure_window(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.auth_failure_window_ms)
    }
}

/// What `keycred bootstrap` creates.
#[derive(Debug, Clone, Args)]
pub struct BootstrapConfig {
    /// A SQLite database file (created if missing) or a PostgreSQL URL, as for `serve`.
    /// May be in use by running servers.
    #[arg(long, env = "KEYCRED_DATABASE", default_value = "./keycred.db", value_parser = Database::parse)]
    pub database: Database,
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

/// What `keycred backup` copies, and where to.
#[derive(Debug, Clone, Args)]
pub struct BackupConfig {
    /// The SQLite database file to copy (it may be in use by running servers). For
    /// PostgreSQL, use `pg_dump` instead.
    #[arg(long, env = "KEYCRED_DATABASE", default_value = "./keycred.db", value_parser = Database::parse)]
    pub database: Database,
    /// The file to write the copy to (replaced if it exists).
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
}

/// Which keycred `keycred probe` asks.
#[derive(Debug, Clone, Args)]
pub struct ProbeConfig {
    /// The server's address (`HOST:PORT`, as its `--listen` but with a host to reach).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub address: String,
    /// The path asked.
    #[arg(long, default_value = "/readyz")]
    pub path: String,
}

/// Where keycred keeps its data, as `--database` / `KEYCRED_DATABASE` names it.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// The embedded default: one SQLite file (any value that is not a PostgreSQL URL).
    Sqlite(PathBuf),
    /// A PostgreSQL server, by its `postgres://` or `postgresql://` URL (kept whole:
    /// the driver parses it; it may carry a password, so it is never shown as is).
    Postgres(String),
}

impl Database {
    /// The URL schemes that select PostgreSQL; anything else is a SQLite path.
    const POSTGRES_SCHEMES: [&'static str; 2] = ["postgres://", "postgresql://"];

    /// Reads a `--database` value: a PostgreSQL URL if it starts with one of the
    /// schemes (and then it must parse as one), else a SQLite file path. A bad URL is
    /// refused without repeating it, since it may hold a password.
    pub fn parse(value: &str) -> Result<Database, String> {
        let is_url = Self::POSTGRES_SCHEMES.iter().any(|scheme| value.starts_with(scheme));
        if !is_url {
            return Ok(Database::Sqlite(PathBuf::from(value)));
        }
        value.parse::<tokio_postgres::Config>().map_err(|error| {
            // The driver's messages name options, never their values.
            let cause = std::error::Error::source(&error).map(|cause| format!(": {cause}"));
            format!("not a valid PostgreSQL URL ({error}{})", cause.unwrap_or_default())
        })?;
        Ok(Database::Postgres(value.to_owned()))
    }

    /// A description for logs and messages: the path, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(path) => path.display().to_string(),
            Database::Postgres(url) => redact_password(url),
        }
    }
}

/// Never prints a PostgreSQL password, even in `{:?}` output.
impl fmt::Debug for Database {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => formatter.debug_tuple("Sqlite").field(path).finish(),
            Database::Postgres(_) => formatter.debug_tuple("Postgres").field(&self.describe()).finish(),
        }
    }
}

/// A PostgreSQL URL with the password of its user-info part, and any `password`
/// query parameter, replaced by `***`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The user-info ends at the last `@` before the path or query starts.
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, hosts)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{hosts}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Parses the process's command line (exits with usage on error).
pub fn parse() -> Cli {
    Cli::parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_select_postgres_and_everything_else_is_a_sqlite_path() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/test",
            "postgresql://u:p@db.example/keycred?sslmode=disable",
        ] {
            assert_eq!(Database::parse(url), Ok(Database::Postgres(url.to_owned())), "{url}");
        }
        for path in [
            "./keycred.db",
            "keycred.db",
            "/var/lib/keycred/db",
            "postgres.db",
            "postgres:/x",
        ] {
            assert_eq!(
                Database::parse(path),
                Ok(Database::Sqlite(PathBuf::from(path))),
                "{path}"
            );
        }
    }

    #[test]
    fn a_malformed_postgres_url_is_refused_without_repeating_it() {
        let error = Database::parse("postgres://user:s3cret@host:notaport/db").unwrap_err();
        assert!(!error.contains("s3cret"), "{error}");
    }

    #[test]
    fn passwords_never_show() {
        let database = Database::parse("postgresql://keycred:s3cret@db:5432/keycred?password=other&sslmode=disable")
            .expect("a valid URL");
        let shown = format!("{} {database:?}", database.describe());
        assert!(!shown.contains("s3cret") && !shown.contains("other"), "{shown}");
        assert!(
            shown.contains("postgresql://keycred:***@db:5432/keycred?password=***&sslmode=disable"),
            "{shown}"
        );
        let no_password = Database::parse("postgres://postgres@127.0.0.1/test").expect("a valid URL");
        assert_eq!(no_password.describe(), "postgres://postgres@127.0.0.1/test");
    }
}
