//! Echo server on the tokio front-end: every text and binary message comes
//! back, Pings are answered, the closing handshake is completed, and
//! keepalive, the handshake deadline and backpressure come with it.
//!
//! ```text
//! cargo run --release --example echo_server_tokio [ADDR]   # default 127.0.0.1:9002
//! ```

use wsmachine::tokio::{accept, Listener};
use wsmachine::Config;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".into());
    let mut listener = Listener::bind(&addr).await?;
    println!(
        "echo_server_tokio listening on ws://{}",
        listener.local_addr()?
    );
    let config = std::sync::Arc::new(Config::default());
    loop {
        // Out of file descriptors, the client waiting is answered 503 and
        // the loop goes on: it neither spins nor stops (see `Listener`).
        let (stream, _) = listener.accept().await?;
        tokio::spawn(serve(stream, config.clone()));
    }
}

/// Echoes until the peer closes. `feed` queues without writing: the next
/// `recv` writes the whole batch in one go before it waits for more.
pub async fn serve(stream: tokio::net::TcpStream, config: std::sync::Arc<Config>) {
    let _ = stream.set_nodelay(true);
    let Ok(mut ws) = accept(stream, config).await else {
        return;
    };
    while let Some(Ok(message)) = ws.recv().await {
        if ws.feed(message).await.is_err() {
            break;
        }
    }
}
