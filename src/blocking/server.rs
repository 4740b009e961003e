//! Accepting a connection on a blocking stream.

use super::engine::Engine;
use super::socket::WebSocket;
use super::Transport;
use crate::frontend::Reject;
use crate::message::OwnedEvent;
use crate::ws_error::WsError;
use crate::{Accept, Config, Connection, HandshakeRequest, ReadyState};
use std::sync::Arc;

/// Runs the server's opening handshake on `stream`, accepting any valid
/// upgrade (extensions as `config` allows, no subprotocol).
pub fn accept<S: Transport>(
    stream: S,
    config: impl Into<Arc<Config>>,
) -> Result<WebSocket<S>, WsError> {
    accept_with(stream, config, |_| Ok(Accept::new()))
}

/// Runs the server's opening handshake, letting `decide` look at the request
/// and accept it (with a subprotocol and headers) or answer it otherwise; a
/// refused or plainly served request gives [`WsError::Refused`]. Bounded by
/// [`Config::handshake_timeout`](crate::Config::handshake_timeout) (408).
///
/// ```no_run
/// use wsmachine::blocking::{accept_with, Reject};
/// use wsmachine::{Accept, Config};
/// # fn demo(stream: std::net::TcpStream) -> Result<(), wsmachine::WsError> {
/// let ws = accept_with(stream, Config::default(), |request| match request.path() {
///     "/chat" => Ok(Accept::new()),
///     _ => Err(Reject::new(404, "no such endpoint")),
/// })?;
/// # let _ = ws; Ok(()) }
/// ```
pub fn accept_with<S, F>(
    stream: S,
    config: impl Into<Arc<Config>>,
    decide: F,
) -> Result<WebSocket<S>, WsError>
where
    S: Transport,
    F: FnOnce(&HandshakeRequest) -> Result<Accept, Reject>,
{
    let mut engine = Engine::new(Connection::server(config), stream);
    let mut decide = Some(decide);
    let mut refused = None;
    let mut unsendable = None;
    while engine.conn.ready_state() != ReadyState::Open {
        match engine.next_event() {
            Some(OwnedEvent::HandshakeRequest) => {
                let (Some(request), Some(decide)) =
                    (engine.conn.handshake_request(), decide.take())
                else {
                    continue;
                };
                let result = match decide(request) {
                    Ok(accept) => engine.conn.accept(accept),
                    Err(reject) => {
                        refused = Some(reject.status());
                        engine
                            .conn
                            .reject(reject.status(), &reject.header_pairs(), &reject.body)
                    }
                };
                if let Err(error) = result {
                    unsendable = Some(error);
                    let _ = engine.conn.reject(500, &[], b"");
                }
            }
            Some(_) => {}
            None => {
                return Err(match (engine.take_failure(), unsendable, refused) {
                    (Some(failure), _, _) => failure,
                    (None, Some(error), _) => WsError::Send(error),
                    (None, None, Some(status)) => WsError::Refused(status),
                    (None, None, None) => WsError::Closed,
                })
            }
        }
    }
    engine.write_out().map_err(|error| engine.fail_io(error))?;
    Ok(WebSocket::from_engine(engine))
}
