//! A `keycred serve` started from a command line of the test's own (under `sh`, from a
//! Dockerfile's `CMD`), for the tests about the command line itself.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use super::listening_address;

/// A server started from a given command; killed when dropped.
pub struct ServerFromCommand {
    /// Where it listens, from its `listening on http://ADDR` line.
    pub address: String,
    child: Child,
}

impl ServerFromCommand {
    /// Runs `command` (stdout piped, stderr discarded) and waits until it says where it
    /// listens; panics if it exits first.
    pub fn start(mut command: Command) -> ServerFromCommand {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start keycred serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let address = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| listening_address(&line));
        let Some(address) = address else {
            let status = child.wait().expect("reap keycred serve");
            panic!("keycred serve exited ({status}) without saying where it listens");
        };
        ServerFromCommand { address, child }
    }
}

impl Drop for ServerFromCommand {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
