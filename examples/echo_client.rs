//! Echo client over `std::net`.
//!
//! ```text
//! cargo run --release --example echo_client ws://127.0.0.1:9001/path?query
//! ```
//!
//! Connects (path and query sent intact), echoes every message it receives,
//! answers the server's Close, and exits 0 after a clean closing handshake
//! (1 on a failed connection, 2 on bad usage).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;
use wsmachine::{ClientRequest, Config, Connection, Event};

fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: echo_client ws://HOST:PORT/PATH");
        return ExitCode::from(2);
    };
    match run(&url) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("echo_client: {e}");
            ExitCode::FAILURE
        }
    }
}

enum Echo {
    Text,
    Binary,
}

/// Returns whether the connection ended with a clean closing handshake.
pub fn run(url: &str) -> Result<bool, Box<dyn std::error::Error>> {
    let request = ClientRequest::from_url(url)?;
    let mut stream = TcpStream::connect(request.host())?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(300)))?;
    let mut conn = Connection::client(request, Config::default())?;
    let mut read_buf = vec![0u8; 64 * 1024];
    let mut echo_buf = Vec::new();
    let mut clean = false;
    loop {
        flush(&mut stream, &mut conn)?;
        if conn.should_close_transport() {
            // Give the server the chance to close TCP first (§7.1.1).
            stream.set_read_timeout(Some(Duration::from_secs(2)))?;
            let _ = stream.read(&mut read_buf);
            return Ok(clean);
        }
        let n = stream.read(&mut read_buf)?;
        if n == 0 {
            conn.receive_eof();
        } else {
            conn.receive(&read_buf[..n]);
        }
        loop {
            let echo = match conn.next_event() {
                None => break,
                Some(Event::Connected(response)) => {
                    eprintln!("connected (protocol {:?})", response.protocol());
                    continue;
                }
                Some(Event::HandshakeRejected(response)) => {
                    eprintln!("rejected: {} {}", response.status(), response.reason());
                    continue;
                }
                Some(Event::Text(text)) => {
                    echo_buf.clear();
                    echo_buf.extend_from_slice(text.as_bytes());
                    Echo::Text
                }
                Some(Event::Binary(data)) => {
                    echo_buf.clear();
                    echo_buf.extend_from_slice(data);
                    Echo::Binary
                }
                Some(Event::Close { code, reason }) => {
                    eprintln!("closed by server: {code:?} {reason:?}");
                    clean = true;
                    continue;
                }
                Some(Event::Failed(error)) => {
                    eprintln!("connection failed: {error}");
                    continue;
                }
                Some(_) => continue,
            };
            let _ = match echo {
                Echo::Text => conn.send_text(std::str::from_utf8(&echo_buf).unwrap_or_default()),
                Echo::Binary => conn.send_binary(&echo_buf),
            };
        }
    }
}

fn flush(stream: &mut TcpStream, conn: &mut Connection) -> io::Result<()> {
    while !conn.pending_output().is_empty() {
        let written = stream.write(conn.pending_output())?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        conn.consume_output(written);
    }
    Ok(())
}
