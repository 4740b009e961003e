//! A wss:// echo server made of two sans-IO machines, rustls'
//! `ServerConnection` and wsmachine's `Connection`, over a plain
//! `std::net` socket: no runtime, no adapter, one thread per connection.
//!
//! ```text
//! cargo run --release --example wss_sansio --features self-signed [ADDR] [CERT_FILE]
//! # default 127.0.0.1:9443; the self-signed certificate (DER) is written to
//! # CERT_FILE (default target/wss_sansio.der) for clients to trust.
//! ```
//!
//! Each turn of the loop moves bytes one step along the chain:
//!
//! ```text
//! socket ──read_tls──► rustls ──reader()──► wsmachine ──events──► echo
//! socket ◄─write_tls── rustls ◄─writer()─── wsmachine ◄─send─────┘
//! ```
//!
//! Two rules keep memory bounded: rustls' plaintext is drained into the
//! WebSocket machine before more ciphertext is read (and ciphertext is read
//! only while the machine wants more), and rustls' outbound buffer limit is
//! backpressure: the WebSocket output is handed over only as far as rustls
//! takes it, the rest waits in the machine.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wsmachine::tls::rustls::{self, ServerConfig, ServerConnection};
use wsmachine::{Accept, Clock, Config, Connection, Event};

/// Plaintext rustls may hold for sending before it takes no more.
const TLS_OUTBOUND_LIMIT: usize = 256 * 1024;

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9443".into());
    let cert_file = args
        .next()
        .unwrap_or_else(|| "target/wss_sansio.der".into());
    let listener = TcpListener::bind(&addr)?;
    let local = listener.local_addr()?;
    let (cert, key) = wsmachine::tls::self_signed(&["localhost", &local.ip().to_string()])
        .map_err(io::Error::other)?;
    std::fs::write(&cert_file, cert.as_ref())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls_config = Arc::new(
        ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .map_err(io::Error::other)?,
    );
    println!("wss_sansio listening on wss://{local}/ (certificate in {cert_file})");
    for socket in listener.incoming().flatten() {
        let tls_config = tls_config.clone();
        std::thread::spawn(move || {
            if let Err(e) = serve(socket, tls_config) {
                eprintln!("connection: {e}");
            }
        });
    }
    Ok(())
}

/// Runs one connection until both machines are done with it.
pub fn serve(mut socket: TcpStream, tls_config: Arc<ServerConfig>) -> io::Result<()> {
    socket.set_nodelay(true)?;
    let mut tls = ServerConnection::new(tls_config).map_err(io::Error::other)?;
    tls.set_buffer_limit(Some(TLS_OUTBOUND_LIMIT));
    let clock = Clock::new();
    let mut ws = Connection::server(Config::default());
    let mut plaintext = vec![0u8; 16 * 1024];
    loop {
        ws.handle_timeout(clock.now());

        // rustls -> wsmachine: everything decrypted so far.
        loop {
            match tls.reader().read(&mut plaintext) {
                Ok(0) => {
                    ws.receive_eof(); // close_notify: no more bytes will come
                    break;
                }
                Ok(n) => ws.receive(&plaintext[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }

        // The events, answered while held.
        if ws.handshake_request().is_some() {
            ws.accept(Accept::new()).ok();
        }
        {
            let (mut rx, mut tx) = ws.split_mut();
            while let Some(event) = rx.next_event() {
                // A send fails only once we are closing; the echo is then moot.
                let _ = match event {
                    Event::Text(text) => tx.send_text(text),
                    Event::Binary(data) => tx.send_binary(data),
                    Event::HandshakeRequest(_) => break, // accepted above, next turn
                    _ => Ok(()),
                };
            }
        }
        if ws.handshake_request().is_some() {
            continue;
        }

        // wsmachine -> rustls, as far as rustls takes it.
        loop {
            let out = ws.pending_output();
            if out.is_empty() {
                break;
            }
            let taken = tls.writer().write(out)?;
            if taken == 0 {
                break; // rustls is full: the rest waits in the machine
            }
            ws.consume_output(taken);
        }
        if ws.should_close_transport() {
            tls.send_close_notify();
        }

        // rustls -> socket.
        while tls.wants_write() {
            tls.write_tls(&mut socket)?;
        }
        if ws.should_close_transport() {
            return Ok(());
        }
        if !ws.pending_output().is_empty() {
            continue; // rustls has room again: hand it the rest first
        }

        // socket -> rustls, waiting no longer than the next deadline, and
        // only while the WebSocket machine takes more.
        let wait = ws
            .poll_timeout()
            .map(|at| clock.instant(at).saturating_duration_since(Instant::now()));
        if wait == Some(Duration::ZERO) {
            continue;
        }
        socket.set_read_timeout(wait.map(|w| w.max(Duration::from_millis(1))))?;
        if !(tls.wants_read() && ws.wants_read()) {
            if let Some(wait) = wait {
                std::thread::sleep(wait);
            }
            continue;
        }
        match tls.read_tls(&mut socket) {
            Ok(0) => ws.receive_eof(),
            Ok(_) => {
                if let Err(error) = tls.process_new_packets() {
                    // Tell the peer why (an alert), then give up.
                    let _ = tls.write_tls(&mut socket);
                    return Err(io::Error::new(ErrorKind::InvalidData, error));
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
    }
}
