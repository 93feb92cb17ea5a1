//! A tiny HTTP/1.1 client over `std::net::TcpStream` (or TLS over it, when the server
//! serves HTTPS): one request per connection, `Connection: close`, read until EOF,
//! chunked responses decoded.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use serde_json::Value;

use super::tls::TlsClientStream;
use super::TestApp;

/// A connection to the server: plain TCP, or TLS when the server serves HTTPS. Used
/// as a socket is: read, write, clone for a writer thread, time out, shut down.
pub enum TestStream {
    Plain(TcpStream),
    Tls(TlsClientStream),
}

impl TestStream {
    /// A second handle on the same connection.
    pub fn try_clone(&self) -> io::Result<TestStream> {
        match self {
            TestStream::Plain(stream) => stream.try_clone().map(TestStream::Plain),
            TestStream::Tls(stream) => stream.try_clone().map(TestStream::Tls),
        }
    }

    /// The underlying socket.
    pub fn socket(&self) -> &TcpStream {
        match self {
            TestStream::Plain(stream) => stream,
            TestStream::Tls(stream) => stream.socket(),
        }
    }

    /// How long a read may wait (`None`: forever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket().set_read_timeout(timeout)
    }

    /// Shuts down one or both halves (over TLS, saying close_notify first).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            TestStream::Plain(stream) => stream.shutdown(how),
            TestStream::Tls(stream) => stream.shutdown(how),
        }
    }
}

impl Read for TestStream {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            TestStream::Plain(stream) => stream.read(buffer),
            TestStream::Tls(stream) => stream.read(buffer),
        }
    }
}

impl Write for TestStream {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        match self {
            TestStream::Plain(stream) => stream.write(buffer),
            TestStream::Tls(stream) => stream.write(buffer),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            TestStream::Plain(stream) => stream.flush(),
            TestStream::Tls(stream) => stream.flush(),
        }
    }
}

/// How long one HTTP exchange may take.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

impl TestApp {
    /// Opens a connection to the server (TLS when it serves HTTPS: the ClientHello is
    /// sent at once, and the handshake completes as the connection is read).
    pub fn connect(&self) -> TestStream {
        self.try_connect().expect("connect to keycred")
    }

    /// [`TestApp::connect`] that reports a failure instead of panicking.
    pub fn try_connect(&self) -> io::Result<TestStream> {
        let stream = TcpStream::connect(&self.address)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        if self.https {
            TlsClientStream::start(stream).map(TestStream::Tls)
        } else {
            Ok(TestStream::Plain(stream))
        }
    }

    /// One HTTP/1.1 request. `Host`, `Connection: close` and (with a body)
    /// `Content-Length` are added unless `headers` already has them.
    pub fn request(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> TestResponse {
        self.raw(&self.request_bytes(method, path_and_query, headers, body))
    }

    /// [`TestApp::request`] that reports a failed exchange (no server, a connection
    /// cut before the whole response head arrived) instead of panicking.
    pub fn try_request(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<TestResponse, String> {
        let bytes = self.request_bytes(method, path_and_query, headers, body);
        let mut stream = self.try_connect().map_err(|error| format!("connect: {error}"))?;
        let _ = stream.write_all(&bytes);
        try_read_response(&mut stream)
    }

    /// The bytes of the request [`TestApp::request`] sends.
    fn request_bytes(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Vec<u8> {
        let has = |name: &str| headers.iter().any(|(key, _)| key.eq_ignore_ascii_case(name));
        let mut head = format!("{method} {path_and_query} HTTP/1.1\r\n");
        if !has("host") {
            head.push_str(&format!("Host: {}\r\n", self.address));
        }
        if !has("connection") {
            head.push_str("Connection: close\r\n");
        }
        if let Some(body) = body.filter(|_| !has("content-length")) {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body.unwrap_or_default());
        bytes
    }

    /// Writes exactly `bytes` on a new connection and reads the response.
    pub fn raw(&self, bytes: &[u8]) -> TestResponse {
        let mut stream = self.connect();
        // The server may answer (and close) before reading everything, e.g. a 413.
        let _ = stream.write_all(bytes);
        read_response(&mut stream)
    }

    /// GET with a bearer token.
    pub fn get(&self, path: &str, token: &str) -> TestResponse {
        let authorization = format!("Bearer {token}");
        self.request("GET", path, &[("Authorization", &authorization)], None)
    }

    /// PATCH with a bearer token and a JSON body.
    pub fn patch_json(&self, path: &str, token: &str, body: &str) -> TestResponse {
        let authorization = format!("Bearer {token}");
        let headers = [
            ("Authorization", authorization.as_str()),
            ("Content-Type", "application/json"),
        ];
        self.request("PATCH", path, &headers, Some(body.as_bytes()))
    }
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct TestResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl TestResponse {
    /// The first value of a header, looked up case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, panicking with the body if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("{} response is not JSON ({error}): {}", self.status, self.text()))
    }

    /// Headers and body together, for "never appears in the response" checks.
    pub fn everything(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(key, value)| format!("{key}: {value}"))
            .collect();
        format!("{}\n\n{}", headers.join("\n"), self.text())
    }
}

/// Reads one response until the server closes the connection.
pub fn read_response(stream: &mut impl Read) -> TestResponse {
    try_read_response(stream).unwrap_or_else(|error| panic!("{error}"))
}

/// Reads one response until the server closes the connection; an error if the
/// connection fails before a whole response head has arrived.
pub fn try_read_response(stream: &mut impl Read) -> Result<TestResponse, String> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 16384];
    let has_head = |bytes: &[u8]| bytes.windows(4).any(|window| window == b"\r\n\r\n");
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => bytes.extend_from_slice(&chunk[..read]),
            // A signal arrived during a long wait (e.g. for a write blocked on a lock).
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            // A reset after the response arrived (the server closed with unread input).
            Err(_) if has_head(&bytes) => break,
            Err(error) => return Err(format!("reading the response failed: {error}")),
        }
    }
    if !has_head(&bytes) {
        return Err(format!(
            "no complete response head in {:?}",
            String::from_utf8_lossy(&bytes)
        ));
    }
    Ok(parse_response(&bytes))
}

/// Parses a whole response already read (head, then a body by length, chunks or EOF).
pub fn parse_response(bytes: &[u8]) -> TestResponse {
    let split = bytes
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response head in {:?}", String::from_utf8_lossy(bytes)));
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let rest = &bytes[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let mut response = TestResponse {
        status,
        headers,
        body: Vec::new(),
    };
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|value| value.to_ascii_lowercase().contains("chunked"));
    response.body = if chunked {
        dechunk(rest)
    } else if let Some(length) = response
        .header("content-length")
        .and_then(|value| value.parse::<usize>().ok())
    {
        rest[..length.min(rest.len())].to_vec()
    } else {
        rest.to_vec()
    };
    response
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(end) = rest.windows(2).position(|window| window == b"\r\n") {
        let size_text = String::from_utf8_lossy(&rest[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size {size_text:?}"));
        rest = &rest[end + 2..];
        if size == 0 {
            break;
        }
        body.extend_from_slice(&rest[..size.min(rest.len())]);
        rest = &rest[(size + 2).min(rest.len())..];
    }
    body
}
