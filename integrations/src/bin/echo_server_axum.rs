//! An echo server behind axum: HTTP/1.1 and HTTP/2 cleartext on one port,
//! WebSockets over either (RFC 8441's extended CONNECT for HTTP/2), with
//! permessage-deflate. The server the Autobahn fuzzingclient grades through
//! axum.
//!
//! ```text
//! cargo run --release -p wsmachine-integrations --bin echo_server_axum [ADDR]   # default 127.0.0.1:9004
//! ```

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9004".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "echo_server_axum listening on ws://{}",
        listener.local_addr()?
    );
    wsmachine_integrations::serve(listener, wsmachine_integrations::echo_app()).await
}
