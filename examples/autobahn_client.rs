//! Client for the Autobahn TestSuite's fuzzingserver.
//!
//! ```text
//! cargo run --release --example autobahn_client [BASE_URL] [AGENT]
//! # defaults: ws://127.0.0.1:9001 wsmachine
//! ```
//!
//! Asks `/getCaseCount`, runs every case on `/runCase?case=N&agent=AGENT`
//! (echoing each message back), then asks `/updateReports?agent=AGENT`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use wsmachine::{ClientRequest, Config, Connection, Event};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let agent = args.next().unwrap_or_else(|| "wsmachine".into());
    let base = base.trim_end_matches('/');

    let count: u32 = run(&format!("{base}/getCaseCount"))?
        .ok_or("no case count received")?
        .trim()
        .parse()?;
    println!("{count} cases");
    for case in 1..=count {
        if let Err(e) = run(&format!("{base}/runCase?case={case}&agent={agent}")) {
            eprintln!("case {case}: {e}");
        }
    }
    run(&format!("{base}/updateReports?agent={agent}"))?;
    println!("reports updated");
    Ok(())
}

enum Echo {
    Text,
    Binary,
}

/// Connects to `url`, echoes every message until the connection closes, and
/// returns the first text message received.
fn run(url: &str) -> Result<Option<String>, Box<dyn std::error::Error>> {
    let request = ClientRequest::from_url(url)?;
    let mut stream = TcpStream::connect(request.host())?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut conn = Connection::client(request, Config::default())?;
    let mut read_buf = vec![0u8; 64 * 1024];
    let mut echo_buf = Vec::new();
    let mut first_text = None;
    loop {
        flush(&mut stream, &mut conn)?;
        if conn.should_close_transport() {
            // The server closes the TCP connection first (§7.1.1); wait briefly.
            stream.set_read_timeout(Some(Duration::from_secs(2)))?;
            let _ = stream.read(&mut read_buf);
            return Ok(first_text);
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
                Some(Event::Text(text)) => {
                    first_text.get_or_insert_with(|| text.to_owned());
                    echo_buf.clear();
                    echo_buf.extend_from_slice(text.as_bytes());
                    Echo::Text
                }
                Some(Event::Binary(data)) => {
                    echo_buf.clear();
                    echo_buf.extend_from_slice(data);
                    Echo::Binary
                }
                Some(Event::HandshakeRejected(response)) => {
                    return Err(format!("handshake rejected: {}", response.status()).into());
                }
                Some(_) => continue,
            };
            let _ = match echo {
                Echo::Text => conn.send_text(std::str::from_utf8(&echo_buf).unwrap_or_default()),
                Echo::Binary => conn.send_binary(&echo_buf),
            };
        }
        if n == 0 {
            flush(&mut stream, &mut conn)?;
            return Ok(first_text);
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
