//! Echo server on the blocking front-end, one thread per connection.
//!
//! ```text
//! cargo run --release --example echo_server [ADDR]   # default 127.0.0.1:9001
//! ```
//!
//! Echoes every text and binary message, answers Pings and the closing
//! handshake (echoing the code and reason), and survives whatever a
//! connection does. This is the server the Autobahn fuzzingclient grades.
//! Pair it with a client that speaks first: the README's blocking client,
//! a browser, Python's `websockets`. Not with `echo_client`, which only
//! answers: the two would wait for each other forever.

use std::net::{TcpListener, TcpStream};
use wsmachine::blocking::accept;
use wsmachine::{Config, WsError};

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr)?;
    println!("echo_server listening on ws://{}", listener.local_addr()?);
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            if let Err(e) = serve(stream) {
                eprintln!("connection: {e}");
            }
        });
    }
    Ok(())
}

/// Echoes until the peer closes. `feed` queues; `recv` writes the batch
/// before it waits for more.
pub fn serve(stream: TcpStream) -> Result<(), WsError> {
    stream.set_nodelay(true)?;
    let mut ws = accept(stream, Config::default())?;
    while let Some(message) = ws.recv() {
        ws.feed(message?)?;
    }
    Ok(())
}
