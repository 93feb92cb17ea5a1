//! `keycred probe`: asks a running keycred whether it is ready (`GET /readyz`), for
//! container health checks, whose images have no HTTP client of their own.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::config::ProbeConfig;

/// How long connecting, sending and reading may each take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The most of the answer read: the status line is all that counts.
const MAX_ANSWER: u64 = 64 * 1024;

/// Exits well (prints `ready`) when `GET <path>` at the address answers 200; otherwise
/// the error says what happened, in one line.
pub fn probe(config: &ProbeConfig) -> Result<(), String> {
    let target = format!("http://{}{}", config.address, config.path);
    let status = status_of(&config.address, &config.path).map_err(|reason| format!("{target}: {reason}"))?;
    if status != 200 {
        return Err(format!("{target}: not ready (HTTP {status})"));
    }
    println!("ready");
    Ok(())
}

/// The HTTP status `GET path` gets at `address`.
fn status_of(address: &str, path: &str) -> Result<u16, String> {
    let socket = address
        .to_socket_addrs()
        .map_err(|error| format!("not a valid address ({error})"))?
        .next()
        .ok_or("the address resolves to nothing")?;
    let mut stream = TcpStream::connect_timeout(&socket, PROBE_TIMEOUT).map_err(|error| error.to_string())?;
    stream
        .set_read_timeout(Some(PROBE_TIMEOUT))
        .map_err(|error| error.to_string())?;
    stream
        .set_write_timeout(Some(PROBE_TIMEOUT))
        .map_err(|error| error.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|error| error.to_string())?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .map_err(|error| error.to_string())?;
    parse_status(&answer).ok_or_else(|| "the answer is not HTTP".to_owned())
}

/// The status code of an HTTP/1.x answer's status line.
fn parse_status(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|&byte| byte == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    parts.next().filter(|version| version.starts_with("HTTP/1."))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_comes_from_the_status_line() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"), Some(200));
        assert_eq!(parse_status(b"HTTP/1.1 503 Service Unavailable\r\n\r\n"), Some(503));
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status(b""), None);
    }
}
