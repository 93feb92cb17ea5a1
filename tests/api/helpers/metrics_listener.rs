//! Requests to the server's metrics listener, which test servers have unless they
//! ask not to (see [`TestApp::metrics_address`]).

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use super::{read_response, TestApp, TestResponse};

/// How long one exchange with the metrics listener may take.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// The `ADDR` of a `metrics on http://ADDR` line, if the line is one.
pub fn metrics_address(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("metrics on http://")?;
    let address = rest.split_whitespace().next()?.trim_end_matches('/');
    (!address.is_empty()).then(|| address.to_owned())
}

impl TestApp {
    /// One request without a body to the metrics listener.
    pub fn metrics_request(&self, method: &str, path: &str) -> TestResponse {
        let address = self
            .metrics_address
            .as_deref()
            .expect("this server has a metrics listener");
        let mut stream = TcpStream::connect(address).expect("connect to the metrics listener");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let head =
            format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).expect("send the request");
        read_response(&mut stream)
    }
}
