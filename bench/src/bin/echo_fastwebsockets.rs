//! Load-race echo server: fastwebsockets with its defaults (auto-pong,
//! auto-close), `read_frame` / `write_frame`, on a `current_thread` runtime.
//! The HTTP upgrade is done by hand (read the head, httparse, answer 101;
//! `src/fastwebsockets_upgrade.rs`, shared with `benches/loopback_echo.rs`). `echo_fastwebsockets [PORT]`.

#[path = "../load_race_server.rs"]
mod server;

#[path = "../fastwebsockets_upgrade.rs"]
mod fastwebsockets_upgrade;

use fastwebsockets::{Frame, OpCode, Role, WebSocket};
use fastwebsockets_upgrade::{upgrade, BoxError};
use tokio::net::TcpStream;

fn main() -> std::io::Result<()> {
    server::run("fastwebsockets", |stream| async move {
        let _ = serve(stream).await;
    })
}

async fn serve(mut stream: TcpStream) -> Result<(), BoxError> {
    upgrade(&mut stream).await?;
    let mut ws = WebSocket::after_handshake(stream, Role::Server);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()), // auto-close already answered it
            // Rebuilt without the client's masking key: written as read it
            // would go back masked, which a client must reject (RFC 6455
            // §5.1). The payload moves, no copy.
            OpCode::Text | OpCode::Binary => {
                let echo = Frame::new(frame.fin, frame.opcode, None, frame.payload);
                ws.write_frame(echo).await?;
            }
            _ => {}
        }
    }
}
