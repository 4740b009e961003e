//! Echo client on the blocking front-end: it echoes what a server sends.
//!
//! ```text
//! cargo run --release --example echo_client ws://127.0.0.1:9001/path?query
//! ```
//!
//! Connects (port 80 when the URL gives none; path and query sent intact),
//! sends every message it receives back, answers the server's Close, and
//! exits 0 after a clean closing handshake (1 on a failed connection, 2 on
//! bad usage). Pair it with a server that talks first and closes (as
//! `tests/example_echo.rs` does). Not with `echo_server`: neither speaks
//! first, so the two would sit idle, answering each other's keepalive Pings,
//! forever.

use std::process::ExitCode;
use wsmachine::blocking::connect;

fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: echo_client ws://HOST[:PORT]/PATH");
        return ExitCode::from(2);
    };
    match run(&url) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo_client: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Echoes until the server closes; `Ok` after a clean closing handshake.
pub fn run(url: &str) -> Result<(), wsmachine::WsError> {
    let (mut ws, _response) = connect(url)?;
    while let Some(message) = ws.recv() {
        ws.send(message?)?;
    }
    Ok(())
}
