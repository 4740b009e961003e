//! Servers that put wsmachine behind axum and hyper, for the binaries and
//! tests of this member: HTTP/1.1 and HTTP/2 cleartext on one port
//! (RFC 8441's extended CONNECT enabled), and the same over TLS with ALPN.

use axum::response::Response;
use axum::routing::any;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use wsmachine::axum::WebSocketUpgrade;

/// An app that echoes every message on any path, over either HTTP version.
pub fn echo_app() -> Router {
    Router::new().fallback(any(echo))
}

async fn echo(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if socket.feed(message).await.is_err() {
                break;
            }
        }
    })
}

/// Serves `app` on `listener`: HTTP/1.1 and HTTP/2 (prior knowledge) on
/// the same port, extended CONNECT enabled, one task per connection.
pub async fn serve(listener: TcpListener, app: Router) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let service = TowerToHyperService::new(app);
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http2().enable_connect_protocol();
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Binds 127.0.0.1 on `port` (0: any) and returns the listener and address.
pub async fn bind(port: u16) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}
