//! HTTPS (`--tls-cert`, `--tls-key`).

use std::io::Write;

use crate::helpers::tls::{PairFiles, TestAuthority};
use crate::helpers::{read_response, spawn_app_with, ServeOptions};

#[test]
fn debug_big_body() {
    let files = PairFiles::write(&TestAuthority::get().server_pair("a"));
    let app = spawn_app_with(ServeOptions {
        env: files.env(),
        database: None,
    });
    for early in [false, true] {
        let mut stream = app.connect();
        if let crate::helpers::TestStream::Tls(tls) = &mut stream {
            if !early {
                tls.alpn_protocol().unwrap();
            }
        }
        let body = format!("{{\"name\":\"big\"}}{}", " ".repeat(65536));
        let request = format!(
            "PATCH /x HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(request.as_bytes());
        eprintln!(
            "early={early} {:?}",
            crate::helpers::http_try_read(&mut stream).map(|r| r.status)
        );
    }
}
