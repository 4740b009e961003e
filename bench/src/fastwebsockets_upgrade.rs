//! The HTTP upgrade by hand for the fastwebsockets servers (included with
//! `#[path]` by `benches/loopback_echo.rs` and `src/bin/echo_fastwebsockets.rs`):
//! read the request head, parse it with httparse, answer 101 with
//! `wsmachine::handshake::accept_key`. fastwebsockets itself only takes the
//! stream after the handshake (`WebSocket::after_handshake`).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Reads the upgrade request and answers it. The client sends nothing more
/// until it has our 101, so everything read here is the request head.
pub async fn upgrade(stream: &mut TcpStream) -> Result<(), BoxError> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || head.len() > 16 * 1024 {
            return Err("bad request head".into());
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    request.parse(&head)?;
    let key = request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
        .ok_or("no Sec-WebSocket-Key")?
        .value;
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        wsmachine::handshake::accept_key(key)
    );
    stream.write_all(response.as_bytes()).await?;
    Ok(())
}
