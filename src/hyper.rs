//! Upgrades through hyper (feature `hyper`): a server's request becomes a
//! tokio [`WebSocket`] with the negotiated subprotocol and compression, over
//! HTTP/1.1 (`Upgrade: websocket`) or HTTP/2 (extended CONNECT, RFC 8441:
//! serve with hyper's `enable_connect_protocol()`); and a client over an
//! HTTP/2 connection.
//!
//! ```no_run
//! use http_body_util::Empty;
//! use hyper::body::{Bytes, Incoming};
//! use hyper::{Request, Response};
//! use wsmachine::{Accept, Config};
//!
//! async fn handle(mut request: Request<Incoming>) -> Result<Response<Empty<Bytes>>, hyper::Error> {
//!     if !wsmachine::hyper::is_upgrade_request(&request) {
//!         return Ok(Response::new(Empty::new())); // serve something else
//!     }
//!     match wsmachine::hyper::upgrade(&mut request, Accept::new(), Config::default()) {
//!         Ok((response, websocket)) => {
//!             tokio::spawn(async move {
//!                 let Ok(mut ws) = websocket.await else { return };
//!                 while let Some(Ok(message)) = ws.recv().await {
//!                     if ws.send(message).await.is_err() {
//!                         break;
//!                     }
//!                 }
//!             });
//!             Ok(response)
//!         }
//!         // 400, 426 with `Sec-WebSocket-Version: 13`, 501 for another :protocol
//!         Err(refusal) => Ok(refusal.map(|_| Empty::new())),
//!     }
//! }
//! ```

use crate::http::error_response;
use crate::tokio::WebSocket;
use crate::ws_error::WsError;
use crate::{
    Accept, ClientHandshake, ClientRequest, Config, Connection, HandshakeRequest,
    HandshakeResponse, Negotiated, Role,
};
use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::upgrade::OnUpgrade;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;

/// The stream a WebSocket runs on after a hyper upgrade.
pub type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

/// The `:protocol` of an HTTP/2 extended CONNECT, if it is one.
fn connect_protocol<B>(request: &Request<B>) -> Option<&str> {
    if request.method() != Method::CONNECT {
        return None;
    }
    request
        .extensions()
        .get::<hyper::ext::Protocol>()
        .map(hyper::ext::Protocol::as_str)
}

/// Whether `request` asks for a WebSocket: an HTTP/1.1 `Upgrade: websocket`
/// (any method: the checks answer a wrong one with 405), or an HTTP/2
/// extended CONNECT (any `:protocol`: the checks answer another with 501).
pub fn is_upgrade_request<B>(request: &Request<B>) -> bool {
    if request.method() == Method::CONNECT {
        return connect_protocol(request).is_some();
    }
    request
        .headers()
        .get_all(hyper::header::UPGRADE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("websocket"))
}

/// Checks the request and reads it into a [`HandshakeRequest`]: the
/// HTTP/1.1 rules or RFC 8441's, as the request is.
pub fn handshake_request<B>(request: &Request<B>) -> Result<HandshakeRequest, WsError> {
    let parts_like = |request: &Request<B>| {
        let mut builder = Request::builder()
            .method(request.method().clone())
            .uri(request.uri().clone());
        if let Some(headers) = builder.headers_mut() {
            headers.clone_from(request.headers());
        }
        builder.body(()).map(|r| r.into_parts().0)
    };
    let parts =
        parts_like(request).map_err(|_| WsError::Protocol(crate::Error::MalformedRequest))?;
    let checked = match connect_protocol(request) {
        Some(protocol) => HandshakeRequest::from_extended_connect_parts(&parts, protocol),
        None => HandshakeRequest::try_from(&parts),
    };
    checked.map_err(WsError::Protocol)
}

/// The answer to a request that is not a WebSocket upgrade it can accept
/// (boxed: a response is large, and the upgrade is the common path).
pub type Refusal = Box<Response<&'static str>>;

/// Accepts the WebSocket `request` asks for: checks it, negotiates what
/// `accept` and `config` allow (subprotocol, permessage-deflate with its
/// window bits and context takeover), and returns the response to send (a
/// 101 over HTTP/1.1, a 200 over HTTP/2) and a future that resolves to the
/// [`WebSocket`] once hyper hands the connection over. A request that fails
/// the checks gets the refusal to send: 400, 405, 426 with
/// `Sec-WebSocket-Version: 13`, 501 for another `:protocol`; a subprotocol
/// the client did not offer, 500.
pub fn upgrade<B>(
    request: &mut Request<B>,
    accept: Accept,
    config: impl Into<Arc<Config>>,
) -> Result<(Response<Empty<Bytes>>, UpgradeFuture), Refusal> {
    let config = config.into();
    let checked = match handshake_request(request) {
        Ok(checked) => checked,
        Err(WsError::Protocol(error)) => return Err(Box::new(error_response(error))),
        Err(_) => return Err(Box::new(error_response(crate::Error::MalformedRequest))),
    };
    if !config
        .origin_policy
        .allows(checked.origin(), checked.host())
    {
        return Err(Box::new(error_response(crate::Error::OriginNotAllowed)));
    }
    let answer = checked.accept_with(&accept, &config).map_err(|_| {
        let mut refusal = Response::new("the upgrade cannot be answered as asked");
        *refusal.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        Box::new(refusal)
    })?;
    let on_upgrade = hyper::upgrade::on(request);
    let response = answer.to_response().map(|()| Empty::new());
    Ok((
        response,
        UpgradeFuture {
            on_upgrade,
            config,
            negotiated: Some(answer.into_negotiated()),
        },
    ))
}

/// Resolves to the server's [`WebSocket`] once hyper has sent the response
/// and handed the connection over.
#[derive(Debug)]
pub struct UpgradeFuture {
    on_upgrade: OnUpgrade,
    config: Arc<Config>,
    negotiated: Option<Negotiated>,
}

impl Future for UpgradeFuture {
    type Output = Result<WebSocket<Upgraded>, WsError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let upgraded = ready!(Pin::new(&mut self.on_upgrade).poll(cx)).map_err(hyper_error)?;
        let negotiated = self.negotiated.take().unwrap_or_default();
        let conn = Connection::upgraded_with(Role::Server, self.config.clone(), negotiated)?;
        Poll::Ready(Ok(WebSocket::from_connection(TokioIo::new(upgraded), conn)))
    }
}

fn hyper_error(error: hyper::Error) -> WsError {
    WsError::Io(std::io::Error::other(error))
}

/// Starts an HTTP/2 client connection on `io` (TCP, or TLS with `h2`
/// agreed by ALPN) for [`connect_h2`], and waits, at most `wait`, until the
/// server has announced `SETTINGS_ENABLE_CONNECT_PROTOCOL`: RFC 8441 §3 lets
/// a client send an extended CONNECT only after that, and hyper's own
/// handshake returns before the server's settings are read. The connection
/// then runs in a task of its own; every clone of the returned sender can
/// open WebSockets (and send other requests) over it.
///
/// A server that does not enable the setting within `wait` gives
/// [`WsError::Timeout`]; one that closes the connection gives
/// [`WsError::Closed`].
///
/// Cancel safety: dropping the future drops the connection.
///
/// ```no_run
/// # async fn demo() -> Result<(), wsmachine::WsError> {
/// use std::time::Duration;
/// let tcp = tokio::net::TcpStream::connect("127.0.0.1:8080").await?;
/// let mut sender = wsmachine::hyper::handshake_h2(tcp, Duration::from_secs(5)).await?;
/// let (mut ws, _) =
///     wsmachine::hyper::connect_h2(&mut sender, "ws://127.0.0.1:8080/chat", wsmachine::Config::default()).await?;
/// ws.send("hello over HTTP/2").await?;
/// # Ok(()) }
/// ```
pub async fn handshake_h2<T>(
    io: T,
    wait: core::time::Duration,
) -> Result<hyper::client::conn::http2::SendRequest<Empty<Bytes>>, WsError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let executor = hyper_util::rt::TokioExecutor::new();
    let (sender, mut connection) =
        hyper::client::conn::http2::handshake(executor, TokioIo::new(io))
            .await
            .map_err(hyper_error)?;
    let enabled = std::future::poll_fn(|cx| {
        if connection.is_extended_connect_protocol_enabled() {
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut connection).poll(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Err(WsError::Closed)),
            Poll::Ready(Err(error)) => Poll::Ready(Err(hyper_error(error))),
            Poll::Pending if connection.is_extended_connect_protocol_enabled() => {
                Poll::Ready(Ok(()))
            }
            Poll::Pending => Poll::Pending,
        }
    });
    match tokio::time::timeout(wait, enabled).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(error),
        Err(_) => return Err(WsError::Timeout),
    }
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Opens a WebSocket on an HTTP/2 connection with an extended CONNECT (RFC
/// 8441): the server must have announced `SETTINGS_ENABLE_CONNECT_PROTOCOL`
/// (take `sender` from [`handshake_h2`], which waits for it).
/// `url` is `ws://` or `wss://` (only its authority and path are sent: the
/// connection is the caller's). Compression is offered as `config` says.
///
/// ```no_run
/// # async fn demo(stream: tokio::net::TcpStream) -> Result<(), wsmachine::WsError> {
/// use std::time::Duration;
/// let mut sender = wsmachine::hyper::handshake_h2(stream, Duration::from_secs(5)).await?;
/// let (mut ws, _response) =
///     wsmachine::hyper::connect_h2(&mut sender, "ws://127.0.0.1:8080/chat", wsmachine::Config::default()).await?;
/// ws.send("hello over HTTP/2").await?;
/// # Ok(()) }
/// ```
pub async fn connect_h2(
    sender: &mut hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
    url: &str,
    config: Config,
) -> Result<(WebSocket<Upgraded>, HandshakeResponse), WsError> {
    connect_h2_request(sender, ClientRequest::from_url(url)?, config).await
}

/// [`connect_h2`] with a request of your own: subprotocols to offer,
/// an Origin, headers.
///
/// ```no_run
/// # async fn demo(stream: tokio::net::TcpStream) -> Result<(), wsmachine::WsError> {
/// use std::time::Duration;
/// use wsmachine::{ClientRequest, Config};
/// let mut sender = wsmachine::hyper::handshake_h2(stream, Duration::from_secs(5)).await?;
/// let request = ClientRequest::from_url("ws://127.0.0.1:8080/chat")?.protocol("chat");
/// let (ws, response) = wsmachine::hyper::connect_h2_request(&mut sender, request, Config::default()).await?;
/// assert_eq!(ws.protocol(), response.protocol());
/// # Ok(()) }
/// ```
pub async fn connect_h2_request(
    sender: &mut hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
    target: ClientRequest,
    config: Config,
) -> Result<(WebSocket<Upgraded>, HandshakeResponse), WsError> {
    let scheme = if target.is_secure() { "https" } else { "http" };
    let uri = format!("{scheme}://{}{}", target.host(), target.target());
    let handshake = ClientHandshake::new(target, &config)?;
    let mut request = Request::builder().method(Method::CONNECT).uri(uri);
    for (name, value) in handshake.extended_connect_headers() {
        request = request.header(name, value);
    }
    let mut request = request
        .body(Empty::new())
        .map_err(|_| WsError::Send(crate::SendError::InvalidHttp))?;
    request
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let response = sender.send_request(request).await.map_err(hyper_error)?;
    let answer = HandshakeResponse::from(&response);
    if !response.status().is_success() {
        return Err(WsError::Rejected(Box::new(answer)));
    }
    let negotiated = handshake.verify_extended_connect(&answer, &config)?;
    let upgraded = hyper::upgrade::on(response).await.map_err(hyper_error)?;
    let conn = Connection::upgraded_with(Role::Client, config, negotiated)?;
    Ok((
        WebSocket::from_connection(TokioIo::new(upgraded), conn),
        answer,
    ))
}
