//! Servers that put wsmachine behind axum and hyper, for the binaries and
//! tests of this member: HTTP/1.1 and HTTP/2 on one port (RFC 8441's
//! extended CONNECT enabled), in cleartext or over TLS with ALPN; and the
//! chat example's room on axum ([`chat`]).

use axum::extract::ConnectInfo;
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;
use wsmachine::axum::WebSocketUpgrade;
use wsmachine::hyper::Upgraded;
use wsmachine::tokio::WebSocket;

pub mod chat;

/// An app that echoes every message on any path, over either HTTP version,
/// with permessage-deflate. Two paths do more: `/proto` selects the
/// subprotocol `chat` when the client offers it (`.protocols(["chat"])`),
/// and `GET /hello` is a plain HTTP answer naming the request's version.
pub fn echo_app() -> Router {
    Router::new()
        .route("/proto", any(echo_chat_protocol))
        .route("/hello", get(hello))
        .fallback(any(echo))
}

async fn echo(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(echo_messages)
}

async fn echo_chat_protocol(ws: WebSocketUpgrade) -> Response {
    ws.protocols(["chat"]).on_upgrade(echo_messages)
}

async fn hello(version: axum::http::Version) -> String {
    format!("hello over {version:?}\n")
}

/// Echoes every message until the peer closes (the front-end answers the
/// Close with the same code and reason) or the connection fails.
pub async fn echo_messages(mut socket: WebSocket<Upgraded>) {
    while let Some(Ok(message)) = socket.recv().await {
        if socket.feed(message).await.is_err() {
            break;
        }
    }
}

/// How [`serve_with`] serves each connection.
#[derive(Clone)]
pub struct Options {
    /// Announce `SETTINGS_ENABLE_CONNECT_PROTOCOL` on HTTP/2 (RFC 8441).
    /// Without it a client may not send an extended CONNECT at all.
    pub connect_protocol: bool,
    /// Accept TLS first (ALPN as the acceptor's config says).
    pub tls: Option<TlsAcceptor>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connect_protocol: true,
            tls: None,
        }
    }
}

/// Serves `app` on `listener`: HTTP/1.1 and HTTP/2 (prior knowledge) on
/// the same port, extended CONNECT enabled, one task per connection.
pub async fn serve(listener: TcpListener, app: Router) -> io::Result<()> {
    serve_with(listener, app, Options::default()).await
}

/// Serves `app` on `listener` as `options` say: HTTP/1.1 and HTTP/2 on one
/// port (hyper-util's auto builder tells them apart by the HTTP/2 preface,
/// so it works in cleartext and behind ALPN alike). Handlers can extract
/// `ConnectInfo<SocketAddr>`, the peer's address.
pub async fn serve_with(listener: TcpListener, app: Router, options: Options) -> io::Result<()> {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait, then go on.
                eprintln!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (app, options) = (app.clone(), options.clone());
        tokio::spawn(async move {
            match &options.tls {
                None => serve_connection(stream, peer, app, options.connect_protocol).await,
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(tls) => serve_connection(tls, peer, app, options.connect_protocol).await,
                    Err(e) => eprintln!("{peer}: TLS handshake failed: {e}"),
                },
            }
        });
    }
}

async fn serve_connection<S>(stream: S, peer: SocketAddr, app: Router, connect_protocol: bool)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request)
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if connect_protocol {
        builder.http2().enable_connect_protocol();
    }
    let _ = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), service)
        .await;
}

/// Binds 127.0.0.1 on `port` (0: any) and returns the listener and address.
pub async fn bind(port: u16) -> io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// TLS with a self-signed certificate for `localhost` and `local`'s address,
/// offering HTTP/2 and HTTP/1.1 by ALPN (`h2` first): a browser that loads
/// a page over it speaks HTTP/2 and opens its WebSockets with an extended
/// CONNECT on the same connection.
pub fn self_signed_acceptor(local: SocketAddr) -> io::Result<TlsAcceptor> {
    use tokio_rustls::rustls;
    let ip = local.ip().to_string();
    let (cert, key) = wsmachine::tls::self_signed(&["localhost", &ip]).map_err(io::Error::other)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(io::Error::other)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
