//! The `keycred` binary: parses the command line, sets up logging and the runtime, and
//! hands over to `keycred-impl`.

use std::process::ExitCode;

use keycred_impl::config::{self, Command};
use keycred_impl::startup;

/// mimalloc instead of the system allocator: a request allocates and frees many small
/// buffers across threads, which glibc's malloc served at about a tenth of a GET's CPU
/// time (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = config::parse();
    startup::init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("keycred: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match cli.command {
        Command::Serve(serve) => runtime
            .block_on(startup::serve(serve))
            .map_err(|error| error.to_string()),
        Command::Bootstrap(bootstrap) => runtime
            .block_on(startup::bootstrap(bootstrap))
            .map_err(|error| error.to_string()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("keycred: {error}");
            ExitCode::FAILURE
        }
    }
}
