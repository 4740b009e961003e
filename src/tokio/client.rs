//! Connecting: a TCP connection (or a stream the caller opened) and the
//! client's opening handshake.

use super::driver::Driver;
use super::socket::WebSocket;
use super::stream::MaybeTlsStream;
use crate::frontend::{client_builder_setters, ClientOptions, Route};
use crate::message::OwnedEvent;
use crate::proxy::{Tunnel, TunnelStatus};
use crate::ws_error::WsError;
use crate::{ClientRequest, Config, Connection, HandshakeResponse};
use core::task::{ready, Poll};
use std::future::poll_fn;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connects to a `ws://` or `wss://` URL (through the proxy the
/// environment names, if any) with the default [`Config`] and runs the
/// opening handshake; returns the socket and the server's 101 response.
///
/// ```no_run
/// # async fn demo() -> Result<(), wsmachine::WsError> {
/// let (mut ws, _) = wsmachine::tokio::connect("ws://127.0.0.1:9001/chat").await?;
/// ws.send("hello").await?;
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<(WebSocket<MaybeTlsStream>, HandshakeResponse), WsError> {
    ClientBuilder::new(url).connect().await
}

/// Runs the client's opening handshake over a stream the caller opened
/// (through a proxy, over TLS, a Unix socket, ...).
pub async fn connect_on<S>(
    stream: S,
    request: ClientRequest,
    config: Config,
) -> Result<(WebSocket<S>, HandshakeResponse), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    handshake(stream, request, config, &[]).await
}

/// A client connection with options: headers, subprotocols, Origin, the
/// [`Config`] (compression offer, limits, keepalive) and timeouts.
///
/// ```no_run
/// use std::time::Duration;
/// use wsmachine::tokio::ClientBuilder;
/// # async fn demo() -> Result<(), wsmachine::WsError> {
/// let (ws, response) = ClientBuilder::new("ws://127.0.0.1:9001/chat")
///     .protocol("chat")
///     .header("Authorization", "Bearer 123")
///     .connect_timeout(Duration::from_secs(5))
///     .connect()
///     .await?;
/// assert_eq!(ws.protocol(), Some("chat"));
/// # let _ = response; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    options: ClientOptions,
}

impl ClientBuilder {
    /// A client for `url` (`ws://host[:port]/path?query`).
    pub fn new(url: &str) -> Self {
        ClientBuilder {
            options: ClientOptions::new(url),
        }
    }

    client_builder_setters!();

    /// Connects (over TCP; through the proxy; then TLS for `wss://`) and
    /// runs the handshake. The connect timeout bounds everything up to the
    /// WebSocket handshake, which the handshake timeout bounds.
    pub async fn connect(self) -> Result<(WebSocket<MaybeTlsStream>, HandshakeResponse), WsError> {
        let mut options = self.options;
        let route = options.route()?;
        let opening = open(&route, &options);
        let (stream, leftover) = match options.connect_timeout {
            Some(limit) => tokio::time::timeout(limit, opening)
                .await
                .map_err(|_| WsError::Timeout)??,
            None => opening.await?,
        };
        handshake(stream, route.request, options.config, &leftover).await
    }

    /// Runs the handshake over a stream the caller opened.
    pub async fn connect_on<S>(
        self,
        stream: S,
    ) -> Result<(WebSocket<S>, HandshakeResponse), WsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        handshake(stream, self.options.request?, self.options.config, &[]).await
    }
}

/// TCP to the proxy or the target, the proxy's tunnel, TLS for `wss://`.
/// Returns the stream and any bytes the tunnel read past its answer.
async fn open(
    route: &Route,
    options: &ClientOptions,
) -> Result<(MaybeTlsStream, Vec<u8>), WsError> {
    let mut tcp = TcpStream::connect(&route.address).await?;
    tcp.set_nodelay(true)?;
    let mut leftover = Vec::new();
    if let Some(proxy) = &route.proxy {
        let request = &route.request;
        let mut tunnel = Tunnel::new(proxy, request.hostname(), request.port());
        let mut buf = [0u8; 4096];
        loop {
            let out = tunnel.pending_output().to_vec();
            tcp.write_all(&out).await?;
            tunnel.consume_output(out.len());
            let n = tcp.read(&mut buf).await?;
            if n == 0 {
                return Err(WsError::Proxy(crate::proxy::ProxyError::Malformed));
            }
            if tunnel.receive(&buf[..n])? == TunnelStatus::Open {
                leftover.extend_from_slice(tunnel.leftover());
                break;
            }
        }
    }
    if !route.request.is_secure() {
        return Ok((MaybeTlsStream::Plain(tcp), leftover));
    }
    #[cfg(feature = "rustls")]
    {
        if !leftover.is_empty() {
            // A TLS server speaks only after the client: these bytes are not TLS.
            return Err(WsError::Proxy(crate::proxy::ProxyError::Malformed));
        }
        let config = options
            .tls
            .clone()
            .unwrap_or_else(crate::tls::default_client_config);
        let name = crate::tls::server_name(route.request.hostname())?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(WsError::Tls)?;
        Ok((MaybeTlsStream::Rustls(Box::new(tls)), leftover))
    }
    #[cfg(not(feature = "rustls"))]
    {
        let _ = options;
        Err(WsError::TlsUnavailable)
    }
}

async fn handshake<S>(
    stream: S,
    request: ClientRequest,
    config: Config,
    leftover: &[u8],
) -> Result<(WebSocket<S>, HandshakeResponse), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut conn = Connection::client(request, config)?;
    conn.receive(leftover);
    let mut driver = Driver::new(conn, stream);
    driver.tick();
    let response = poll_fn(|cx| {
        let writer = cx.waker();
        loop {
            match ready!(driver.poll_event(cx.waker(), writer)) {
                Some(OwnedEvent::Connected(response)) => return Poll::Ready(Ok(response)),
                Some(OwnedEvent::HandshakeRejected(response)) => {
                    return Poll::Ready(Err(WsError::Rejected(Box::new(response))))
                }
                // Nothing to wait for: the server is not told why.
                Some(OwnedEvent::Failed(error)) => {
                    let failure = driver.take_failure();
                    return Poll::Ready(Err(failure.unwrap_or(WsError::Protocol(error))));
                }
                Some(_) => {}
                None => {
                    return Poll::Ready(Err(driver.take_failure().unwrap_or(WsError::Closed)));
                }
            }
        }
    })
    .await?;
    Ok((WebSocket::from_driver(driver), response))
}
