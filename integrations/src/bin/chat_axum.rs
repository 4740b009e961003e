//! The chat example on axum, over https: HTTP/2 (ALPN `h2`) and HTTP/1.1 on
//! one port, with a self-signed certificate made at start. The page, routes
//! and room are `examples/chat.rs`'s (see `wsmachine_integrations::chat`); a
//! browser that loads the page over HTTP/2 opens its WebSocket with an
//! extended CONNECT (RFC 8441) on the same connection. `GET /stats` lists
//! how each WebSocket arrived.
//!
//! ```text
//! cargo run --release -p wsmachine-integrations --bin chat_axum [ADDR]   # default 127.0.0.1:8443
//! ```
//!
//! Tell the browser to trust the certificate once, or start Chromium with
//! `--ignore-certificate-errors` for a test. Ctrl-C closes every member with
//! 1001 "server shutting down" and exits.

use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8443".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    let (shutdown, stop) = tokio::sync::watch::channel(false);
    wsmachine_integrations::chat::serve_tls(listener, None, stop).await?;
    println!("chat_axum: open https://{local}/ in a browser");
    let _ = tokio::signal::ctrl_c().await;
    println!("chat_axum: shutting down");
    let _ = shutdown.send(true);
    // The members' tasks send their 1001 Close now; give them a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(())
}
