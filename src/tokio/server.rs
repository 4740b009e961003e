//! Accepting a connection: the opening handshake over a stream the caller
//! accepted, with an optional say in it.

use super::driver::Driver;
use super::socket::WebSocket;
use crate::frontend::Reject;
use crate::message::OwnedEvent;
use crate::ws_error::WsError;
use crate::{Accept, Config, Connection, HandshakeRequest, ReadyState};
use alloc::sync::Arc;
use core::task::{ready, Poll};
use std::future::poll_fn;
use tokio::io::{AsyncRead, AsyncWrite};

/// Runs the server's opening handshake on `stream`, accepting any valid
/// upgrade (extensions as `config` allows, no subprotocol).
///
/// Cancel safe in the sense that dropping it drops the connection; nothing
/// else is affected.
pub async fn accept<S>(stream: S, config: impl Into<Arc<Config>>) -> Result<WebSocket<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    accept_with(stream, config, |_| Ok(Accept::new())).await
}

/// Runs the server's opening handshake, letting `decide` look at the
/// request (path, Origin, protocols, cookies) and accept it, with a
/// subprotocol and headers, or answer it otherwise. A rejected (or plainly
/// served) request gives [`WsError::Refused`] with the status.
///
/// ```no_run
/// use wsmachine::tokio::{accept_with, Reject};
/// use wsmachine::{Accept, Config};
/// # async fn demo(stream: tokio::net::TcpStream) -> Result<(), wsmachine::WsError> {
/// let ws = accept_with(stream, Config::default(), |request| {
///     match request.origin() {
///         Some("https://example.com") => Ok(Accept::new().protocol("chat")),
///         _ => Err(Reject::new(403, "origin not allowed")),
///     }
/// })
/// .await?;
/// # let _ = ws; Ok(()) }
/// ```
///
/// The handshake is bounded by
/// [`Config::handshake_timeout`](crate::Config::handshake_timeout): a slow
/// client gets 408.
pub async fn accept_with<S, F>(
    stream: S,
    config: impl Into<Arc<Config>>,
    decide: F,
) -> Result<WebSocket<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&HandshakeRequest) -> Result<Accept, Reject>,
{
    // The handshake's state (a whole connection and its driver) lives on
    // the heap while it runs: the caller's future, which holds the
    // WebSocket afterwards, does not also reserve room for it, and an idle
    // connection's task stays small.
    Box::pin(handshake(stream, config.into(), decide)).await
}

async fn handshake<S, F>(stream: S, config: Arc<Config>, decide: F) -> Result<WebSocket<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&HandshakeRequest) -> Result<Accept, Reject>,
{
    let mut driver = Driver::new(Connection::server(config), stream);
    driver.tick();
    let mut decide = Some(decide);
    let mut refused = None;
    let mut unsendable = None;
    poll_fn(|cx| {
        let writer = cx.waker();
        loop {
            if driver.conn.ready_state() == ReadyState::Open {
                // The 101 goes out now; its write errors surface on first use.
                let _ = driver.poll_write_out(writer);
                return Poll::Ready(Ok(()));
            }
            match ready!(driver.poll_event(cx.waker(), writer)) {
                Some(OwnedEvent::HandshakeRequest) => {
                    let (Some(request), Some(decide)) =
                        (driver.conn.handshake_request(), decide.take())
                    else {
                        continue;
                    };
                    let answer = decide(request);
                    let result = match answer {
                        Ok(accept) => driver.conn.accept(accept),
                        Err(reject) => {
                            refused = Some(reject.status);
                            driver
                                .conn
                                .reject(reject.status, &reject.header_pairs(), &reject.body)
                        }
                    };
                    if let Err(error) = result {
                        // The caller's answer cannot be sent as given (a
                        // protocol the client did not offer, a bad header).
                        unsendable = Some(error);
                        let _ = driver.conn.reject(500, &[], b"");
                    }
                }
                Some(_) => {}
                None => {
                    let failure = driver.take_failure();
                    return Poll::Ready(Err(match (failure, unsendable, refused) {
                        (Some(failure), _, _) => failure,
                        (None, Some(error), _) => WsError::Send(error),
                        (None, None, Some(status)) => WsError::Refused(status),
                        (None, None, None) => WsError::Closed,
                    }));
                }
            }
        }
    })
    .await?;
    Ok(WebSocket::from_driver(driver))
}
