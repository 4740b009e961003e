//! Echo server over `std::net`, one thread per connection.
//!
//! ```text
//! cargo run --release --example echo_server [ADDR]   # default 127.0.0.1:9001
//! ```
//!
//! Echoes every text and binary message, answers pings (the machine does that)
//! and the closing handshake, and keeps serving whatever a connection does.
//! This is the server the Autobahn fuzzingclient grades.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};
use wsmachine::{Accept, Config, Connection, Event, Timestamp};

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr)?;
    println!("echo_server listening on ws://{}", listener.local_addr()?);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        std::thread::spawn(move || {
            let peer = stream.peer_addr().ok();
            if let Err(e) = serve(stream) {
                eprintln!("connection {peer:?}: {e}");
            }
        });
    }
    Ok(())
}

/// What to send back after the event's borrow of the connection ends.
enum Echo {
    Text,
    Binary,
}

pub fn serve(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut conn = Connection::server(Config::default());
    let mut read_buf = vec![0u8; 64 * 1024];
    let mut echo_buf = Vec::new();
    // The machine keeps the deadlines (handshake, keepalive, close); the
    // socket's read timeout wakes us for them.
    let origin = Instant::now();
    loop {
        conn.handle_timeout(Timestamp::from_duration(origin.elapsed()));
        let wait = conn
            .poll_timeout()
            .map(Timestamp::since_origin)
            .map_or(Duration::from_secs(3600), |at| {
                at.saturating_sub(origin.elapsed())
            });
        stream.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        let read = match stream.read(&mut read_buf) {
            Ok(n) => Some(n),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => return Err(e),
        };
        match read {
            Some(0) => conn.receive_eof(),
            Some(n) => conn.receive(&read_buf[..n]),
            None => conn.handle_timeout(Timestamp::from_duration(origin.elapsed())),
        }
        loop {
            let echo = match conn.next_event() {
                None => break,
                Some(Event::HandshakeRequest(_)) => {
                    conn.accept(Accept::new()).ok();
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
                Some(Event::Failed(error)) => {
                    eprintln!("connection failed: {error}");
                    continue;
                }
                Some(_) => continue,
            };
            // A send fails only if we are closing; the echo is then moot.
            let _ = match echo {
                Echo::Text => conn.send_text(std::str::from_utf8(&echo_buf).unwrap_or_default()),
                Echo::Binary => conn.send_binary(&echo_buf),
            };
        }
        flush(&mut stream, &mut conn)?;
        if conn.should_close_transport() || read == Some(0) {
            close_gracefully(stream, &mut read_buf);
            return Ok(());
        }
    }
}

/// Sends FIN and reads what the peer still had in flight, so the kernel does
/// not answer unread bytes with a reset that could destroy our last words
/// (a Close frame or an HTTP error) before the peer reads them.
pub fn close_gracefully(stream: TcpStream, buf: &mut [u8]) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut stream = stream;
    let mut drained = 0usize;
    while drained < 16 << 20 {
        match stream.read(buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
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
