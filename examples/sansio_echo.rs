//! Echo server that drives the bare machine by hand, over tokio's sockets
//! but none of the crate's front-ends: the reference for writing a front-end
//! for another runtime (smol, glommio, an embedded executor).
//!
//! ```text
//! cargo run --release --example sansio_echo [ADDR]   # default 127.0.0.1:9003
//! ```
//!
//! One task per connection. Each turn of its loop tells the machine the time,
//! takes its events (answering them through the split borrows while they are
//! held), then waits in `tokio::select!` for whichever comes first: bytes to
//! read, room to write the pending output, or the machine's next deadline
//! (handshake timeout, keepalive Ping, closing timeout). Use the `tokio` or
//! `blocking` front-end instead unless you are writing one.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep_until, Instant};
use wsmachine::{Accept, Config, Connection, Event, ReadyState, Timestamp};

/// How long a closed connection may take to write its last bytes (the Close
/// frame) to a peer that does not read them.
const CLOSED_WRITE_LIMIT: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9003".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("sansio_echo listening on ws://{}", listener.local_addr()?);
    loop {
        let (stream, peer) = listener.accept().await?;
        tokio::spawn(async move {
            if let Err(e) = serve(stream).await {
                eprintln!("{peer}: {e}");
            }
        });
    }
}

pub async fn serve(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (mut reader, mut writer) = stream.split();
    let mut conn = Connection::server(Config::default());
    let mut read_buf = vec![0u8; 64 * 1024];
    // The machine counts time as a Duration since an origin we keep fixed.
    let origin = Instant::now();
    // Set while the peer does not read our echoes fast enough.
    let mut backpressured = false;
    // Once closed, a peer that does not read gets this long for our last bytes.
    let mut give_up_at = None;

    loop {
        conn.handle_timeout(Timestamp::from_duration(origin.elapsed()));
        // Events borrow the receive half; the send half answers them.
        if conn.handshake_request().is_some() {
            conn.accept(Accept::new()).ok();
        }
        {
            // The halves stay on this thread: keep them out of the awaits below.
            let (mut rx, mut tx) = conn.split_mut();
            while let Some(event) = rx.next_event() {
                // A send fails only once we are closing; the echo is then moot.
                let _ = match event {
                    Event::HandshakeRequest(_) => break, // accepted above, next turn
                    Event::Text(text) => tx.send_text(text),
                    Event::Binary(data) => tx.send_binary(data),
                    Event::WriteBackpressure(high) => {
                        backpressured = high;
                        Ok(())
                    }
                    _ => Ok(()),
                };
            }
        }
        if conn.handshake_request().is_some() {
            conn.accept(Accept::new()).ok();
            continue;
        }
        if conn.should_close_transport() {
            break;
        }
        if conn.ready_state() == ReadyState::Closed {
            let limit = *give_up_at.get_or_insert_with(|| Instant::now() + CLOSED_WRITE_LIMIT);
            if Instant::now() >= limit {
                return Ok(()); // drop the transport: the peer is not reading
            }
        }

        // Read only while the peer keeps up with our writes; this bounds the
        // memory a peer that sends without reading can make us use.
        let reading = conn.wants_read() && !backpressured;
        let deadline = conn
            .poll_timeout()
            .map(Timestamp::since_origin)
            .map(|at| origin + at)
            .or(give_up_at);
        let output = conn.pending_output();
        tokio::select! {
            read = reader.read(&mut read_buf), if reading => match read {
                Ok(0) | Err(_) => conn.receive_eof(),
                Ok(n) => conn.receive(&read_buf[..n]),
            },
            written = writer.write(output), if !output.is_empty() => match written {
                Ok(0) | Err(_) => return Ok(()), // the peer is gone
                Ok(n) => conn.consume_output(n),
            },
            () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {}
            // Nothing to read, write or wait for: the connection is over.
            else => break,
        }
    }

    // Close our side first (RFC 6455 §7.1.1), then read what the peer still
    // sends for a moment, so unread bytes do not turn our FIN into a reset.
    stream.shutdown().await?;
    let drain = async {
        let mut buf = [0u8; 4096];
        while let Ok(1..) = stream.read(&mut buf).await {}
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
    Ok(())
}
