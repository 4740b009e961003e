//! Connecting: a TCP connection (or a stream the caller opened) and the
//! client's opening handshake.

use super::driver::Driver;
use super::socket::WebSocket;
use crate::frontend::{client_builder_setters, ClientOptions};
use crate::message::OwnedEvent;
use crate::ws_error::WsError;
use crate::{ClientRequest, Config, Connection, HandshakeResponse};
use core::task::{ready, Poll};
use std::future::poll_fn;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Connects to a `ws://` URL with the default [`Config`] and runs the
/// opening handshake; returns the socket and the server's 101 response.
///
/// ```no_run
/// # async fn demo() -> Result<(), wsmachine::WsError> {
/// let (mut ws, _) = wsmachine::tokio::connect("ws://127.0.0.1:9001/chat").await?;
/// ws.send("hello").await?;
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<(WebSocket<TcpStream>, HandshakeResponse), WsError> {
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
    handshake(stream, request, config).await
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

    /// Connects over TCP and runs the handshake.
    pub async fn connect(self) -> Result<(WebSocket<TcpStream>, HandshakeResponse), WsError> {
        let ClientOptions {
            request,
            config,
            connect_timeout,
        } = self.options;
        let request = request?;
        if request.is_secure() {
            return Err(WsError::TlsUnavailable);
        }
        let connecting = TcpStream::connect(request.address());
        let stream = match connect_timeout {
            Some(limit) => tokio::time::timeout(limit, connecting)
                .await
                .map_err(|_| WsError::Timeout)??,
            None => connecting.await?,
        };
        stream.set_nodelay(true)?;
        handshake(stream, request, config).await
    }

    /// Runs the handshake over a stream the caller opened.
    pub async fn connect_on<S>(
        self,
        stream: S,
    ) -> Result<(WebSocket<S>, HandshakeResponse), WsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        handshake(stream, self.options.request?, self.options.config).await
    }
}

async fn handshake<S>(
    stream: S,
    request: ClientRequest,
    config: Config,
) -> Result<(WebSocket<S>, HandshakeResponse), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut driver = Driver::new(Connection::client(request, config)?, stream);
    driver.tick();
    let response = poll_fn(|cx| {
        let writer = cx.waker().clone();
        loop {
            match ready!(driver.poll_event(cx, &writer)) {
                Some(OwnedEvent::Connected(response)) => return Poll::Ready(Ok(response)),
                Some(OwnedEvent::HandshakeRejected(response)) => {
                    return Poll::Ready(Err(WsError::Rejected(Box::new(response))))
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
