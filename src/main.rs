//! The `keycred` binary: parses the command line, sets up logging and the runtime, and
//! hands over to `keycred-impl`.

use std::process::ExitCode;

use keycred_impl::config::{self, AuditCommand, Command, LogFormat};
use keycred_impl::startup;

/// mimalloc instead of the system allocator: a request allocates and frees many small
/// buffers across threads, which glibc's malloc served at about a tenth of a GET's CPU
/// time (docs/perf-log.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = config::parse();
    let log_format = cli.log_format;
    let log_writer = startup::init_logging(log_format);
    let outcome = run(cli.command);
    if let (Err(error), LogFormat::Json) = (&outcome, log_format) {
        // Where every line on stderr is a JSON object, the last word is one too.
        tracing::error!(%error, "keycred stopped");
    }
    // Every queued log line is written out, and in text before the last word.
    drop(log_writer);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if log_format == LogFormat::Text {
                eprintln!("keycred: {error}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Runs `command` on a new async runtime.
fn run(command: Command) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the async runtime: {error}"))?;
    match command {
        Command::Serve(serve) => runtime
            .block_on(startup::serve(serve))
            .map_err(|error| error.to_string()),
        Command::Bootstrap(bootstrap) => runtime
            .block_on(startup::bootstrap(bootstrap))
            .map_err(|error| error.to_string()),
        Command::Backup(backup) => runtime.block_on(keycred_impl::backup::backup(backup)),
        Command::Probe(probe) => keycred_impl::probe::probe(&probe),
        Command::Audit(AuditCommand::Export(export)) => {
            runtime.block_on(keycred_impl::audit_export::export(export)).map(drop)
        }
    }
}
